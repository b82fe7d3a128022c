"""Broken KPI definitions are refused on load with the file, line, KPI id and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.config_files import ConfigError, load_model
from resources.config_models import KpiCatalogue, StrategyConfig
from resources.project import config_dir

GOOD = """kpis:
  - id: good
    name: Good
    description: A valid KPI before the broken one.
    unit: minutes
    direction: lower_is_better
    aggregate: mean
    table: incidents
    time_column: resolved_at
    measure: minutes_to_resolve
    owner: someone
    attribution: Day of resolution.
    counting_unit: incident
"""


def broken(**fields: str) -> str:
    """GOOD plus a second KPI (id `broken`, starting on line 14) with `fields` overridden."""
    kpi = {"id": "broken", "name": "Broken", "description": "A KPI with a fault.",
           "unit": '"%"', "direction": "higher_is_better", "aggregate": "ratio",
           "table": "incidents", "time_column": "opened_at", "numerator": "count(*)",
           "denominator": "count(*)", "owner": "someone", "attribution": "Day opened.",
           "counting_unit": "incident"} | fields
    lines = [f"  - id: {kpi.pop('id')}"] + [f"    {k}: {v}" for k, v in kpi.items()]
    return GOOD + "\n".join(lines) + "\n"


def line_of(text: str, field: str) -> int:
    """1-based line of `field:` in the broken KPI (after line 14)."""
    return next(n for n, line in enumerate(text.splitlines(), 1)
                if n >= 14 and line.strip().startswith(f"{field}:"))


def error_for(tmp_path: Path, text: str) -> str:
    path = tmp_path / "kpis.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_model(path, KpiCatalogue)
    return str(error.value)


BROKEN = {
    "unknown table": (
        {"table": "tickets"}, "table",
        "unknown table 'tickets'; a KPI reads one of incidents, changes, problems, outages, "
        "surveys, sla_records, service_days"),
    "unknown column": (
        {"numerator": "sum(minutes_to_fix)"}, "numerator",
        "unknown column 'minutes_to_fix' in clean.incidents; did you mean 'minutes_to_resolve'?"),
    "type mismatch (filter is not a condition)": (
        {"filter": "priority"}, "filter",
        "type mismatch: a filter must be a condition (BOOLEAN), this is SMALLINT"),
    "type mismatch (sum of text)": (
        {"numerator": "sum(short_description)"}, "numerator",
        "type mismatch: No function matches the given name and argument types "
        "'sum(VARCHAR)'"),
    "a second statement that writes": (
        {"numerator": '"count(*); DROP TABLE clean.incidents"'}, "numerator",
        "must be a single expression: ';' and comments are not allowed"),
    "a function with side effects": (
        {"numerator": "sum(nextval('kpi_seq'))"}, "numerator",
        "may not call nextval(): it has side effects or a different result on every call"),
    "reading a file": (
        {"numerator": "count(*) FILTER (WHERE short_description = read_text('/etc/passwd'))"},
        "numerator",
        "may not call read_text(): KPI expressions cannot read or write files, attach "
        "databases, install extensions or run other SQL"),
    "a subquery into another table": (
        {"denominator": "(SELECT count(*) FROM clean.changes)"}, "denominator",
        "may not contain a subquery: an expression reads only the rows of its own table"),
    "a query instead of an expression": (
        {"numerator": "count(*) FROM clean.changes"}, "numerator",
        "must be a single expression, not a query"),
    "the clock": (
        {"filter": "opened_at > now() - INTERVAL 7 DAY"}, "filter",
        "may not call now(): a KPI value must not depend on when it is computed"),
    "a per-row numerator": (
        {"numerator": "minutes_to_resolve"}, "numerator",
        "must aggregate rows (e.g. count(*), sum(x), count(*) FILTER (WHERE ...)); "
        "'minutes_to_resolve' is a value per row"),
    "a time column that is not a time": (
        {"time_column": "priority"}, "time_column",
        "type mismatch: column 'priority' is SMALLINT, not a timestamp or date"),
    "a breakdown the table lacks": (
        {"table": "changes", "time_column": "created_at", "breakdowns": "[priority]"},
        "breakdowns", "clean.changes has no column 'priority' to break down by"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_definition_is_refused_precisely(tmp_path: Path, case: str) -> None:
    fields, field, reason = BROKEN[case]
    text = broken(**fields)
    message = error_for(tmp_path, text)
    location = f"{field}[0]" if field == "breakdowns" else field  # the list item that is wrong
    expected = f"kpis.yaml:{line_of(text, field)}: kpis[1].{location} (id broken): {reason}"
    assert expected in message, message
    assert message.count("\n") == 1, message  # exactly one problem, the valid KPI passes


def test_shape_errors_also_name_line_and_kpi(tmp_path: Path) -> None:
    text = broken(aggregate="median")
    message = error_for(tmp_path, text)
    assert "kpis.yaml:14: kpis[1] (id broken)" in message  # the KPI's first line
    assert "needs measure" in message
    text = broken(direction="up")
    assert (f"kpis.yaml:{line_of(text, 'direction')}: kpis[1].direction (id broken): Input "
            "should be 'higher_is_better' or 'lower_is_better'") in error_for(tmp_path, text)


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = broken(numerator="sum(minutes_to_fix)", filter="priority")
    message = error_for(tmp_path, text)
    assert "kpis[1].numerator (id broken): unknown column" in message
    assert "kpis[1].filter (id broken): type mismatch" in message


def test_a_user_kpi_with_macro_lambda_and_snapshot_columns_is_accepted(tmp_path: Path) -> None:
    text = broken(
        kind="snapshot", aggregate="p90", start_column="opened_at", end_column="resolved_at",
        time_column="null", numerator="null", denominator="null",
        measure="business_minutes(opened_at, as_of, service)",
        filter="list_contains(['phone', 'email'], contact_type)")
    path = tmp_path / "kpis.yaml"
    path.write_text(text, encoding="utf-8")
    catalogue = load_model(path, KpiCatalogue)
    assert catalogue.get("broken").rollup == "last"


def test_shipped_configuration_is_valid() -> None:
    catalogue = load_model(config_dir() / "kpis.yaml", KpiCatalogue)
    assert len(catalogue.kpis) >= 25
    load_model(config_dir() / "strategy.yaml", StrategyConfig)


def test_strategy_cross_references_name_their_line(tmp_path: Path) -> None:
    text = (config_dir() / "strategy.yaml").read_text(encoding="utf-8")
    text = text.replace("business_goal: BG3", "business_goal: BG9", 1)
    text = text.replace("services: [Service Desk Portal, Email, HR Portal]",
                        "services: [Service Desk Portal, Mail, HR Portal]", 1)
    path = tmp_path / "strategy.yaml"
    path.write_text(text, encoding="utf-8")
    lines = text.splitlines()
    goal = next(n for n, line in enumerate(lines, 1) if "business_goal: BG9" in line)
    mail = next(n for n, line in enumerate(lines, 1) if "Mail, HR Portal" in line)
    with pytest.raises(ConfigError) as error:
        load_model(path, StrategyConfig)
    message = str(error.value)
    assert (f"strategy.yaml:{goal}: objectives[2].business_goal (id OBJ-CHANGE): business goal "
            "'BG9' is not among business_goals") in message
    assert (f"strategy.yaml:{mail}: objectives[3].services[1] (id OBJ-CSAT): service 'Mail' "
            "is not in services") in message
