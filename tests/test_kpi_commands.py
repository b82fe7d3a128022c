"""`sevenstep kpi ...` on a small warehouse with known values (tests/kpi_dataset.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from resources.project import config_dir
from resources.settings import kpis
from tests import kpi_dataset as data


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    data.build_with_facts(con)
    con.close()
    return path


def run(warehouse: Path, monkeypatch: pytest.MonkeyPatch, *args: str):
    monkeypatch.setenv("SEVENSTEP_WAREHOUSE", str(warehouse))
    return CliRunner().invoke(main, ["kpi", *args])


def test_check_accepts_the_shipped_catalogue(warehouse, monkeypatch) -> None:
    result = run(warehouse, monkeypatch, "check")
    assert result.exit_code == 0, result.output
    assert f"ok: {len(kpis().kpis)} KPIs" in result.output


def test_check_refuses_a_broken_file_with_its_line(warehouse, monkeypatch, tmp_path) -> None:
    text = (config_dir() / "kpis.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "kpis.yaml"
    bad.write_text(text.replace("measure: minutes_to_acknowledge", "measure: minutes_to_ack"),
                   encoding="utf-8")
    line = next(n for n, row in enumerate(bad.read_text().splitlines(), 1)
                if "minutes_to_ack" in row)
    result = run(warehouse, monkeypatch, "check", "--file", str(bad))
    assert result.exit_code == 1
    assert (f"kpis.yaml:{line}: kpis[4].measure (id mtta): unknown column 'minutes_to_ack' in "
            "clean.incidents; did you mean 'minutes_to_acknowledge'?") in result.output


def test_rollup_gives_exact_weekly_medians(warehouse, monkeypatch) -> None:
    result = run(warehouse, monkeypatch, "rollup", "mttr_median", "--grain", "week")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()[2:]]
    assert [(r[0], float(r[4]), int(r[5])) for r in rows] == [
        ("2026-03-02", 1680.0, 7), ("2026-03-09", 60.0, 1)]


def test_diff_shows_old_and_new_values_before_a_backfill(warehouse, monkeypatch,
                                                         tmp_path) -> None:
    text = (config_dir() / "kpis.yaml").read_text(encoding="utf-8")
    new = tmp_path / "kpis.yaml"
    new.write_text(text.replace("    measure: minutes_to_resolve\n    breakdowns: [service, "
                                "priority, assignment_group, category]",
                                "    measure: minutes_to_resolve\n    filter: priority <= 3\n"
                                "    breakdowns: [service, priority, assignment_group, "
                                "category]", 1), encoding="utf-8")
    result = run(warehouse, monkeypatch, "diff", "mttr", "--file", str(new), "--grain",
                 "window")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].startswith("old: version ") and "WHERE" not in lines[1]
    assert lines[2].startswith("new: version ") and "WHERE priority <= 3" in lines[2]
    period, old, new_value, change = lines[4].split()
    assert (period, float(old), float(new_value)) == (
        "2026-03-02", pytest.approx(9390 / 7), pytest.approx(6900 / 6))  # I4 (P4) left out
    assert float(change) == pytest.approx(6900 / 6 - 9390 / 7)
    assert lines[-1] == "1 of 1 periods differ; backfill them to record the new values"


def test_diff_of_an_unchanged_definition_changes_nothing(warehouse, monkeypatch) -> None:
    result = run(warehouse, monkeypatch, "diff", "backlog", "--grain", "day")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "0 of 8 periods differ"


def test_show_names_attribution_unit_and_fields(warehouse, monkeypatch) -> None:
    result = run(warehouse, monkeypatch, "show", "sla_resolution_compliance")
    assert "counting unit: SLA record" in result.output
    assert "reads:         clean.sla_records" in result.output
    assert run(warehouse, monkeypatch, "show", "nope").exit_code == 1
