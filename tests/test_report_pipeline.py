"""Step 6 on the session's real pipeline run: reports, extracts, index, Dagster metadata.

Values are checked against an independent roll-up of clean.kpi_daily in pandas; the analysis
sections are exercised by adding, replacing and dropping tables in a copy of the warehouse.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import xml.etree.ElementTree as ET
from html import escape as html_escape

import dagster as dg
import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from assets.kpi_rollup import window_values
from assets.step6_present import periods
from assets.step6_present.formatting import format_value
from pipelines.cli.run_commands import report as report_command
from resources.config_models import KpiCatalogue, KpiDefinition
from resources.report_store import INDEX, ReportStore
from tests.report_support import (
    copy_warehouse,
    kpi_names,
    materialization,
    publish_period,
    publish_rolling,
)

pytestmark = pytest.mark.e2e
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def period_reports(pipeline_run, tmp_path_factory) -> ReportStore:
    """The last complete week and month of the run, and the partial month it starts in."""
    store = ReportStore(directory=str(tmp_path_factory.mktemp("period_reports")))
    week = periods.latest_complete_key("weekly", pipeline_run.last)
    for kind, key in (("weekly", week), ("monthly", "2026-05-01"), ("monthly", "2026-04-01")):
        publish_period(kind, key, pipeline_run.warehouse, store)
    return store


def _expected_rollup(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date
                     ) -> dict[str, float | None]:
    """Each KPI over [start, end]: ratios and levels recomputed here in pandas from the daily
    facts; medians and percentiles (which no daily sum can give) from the detail rows by the
    KPI roll-up of step 2 (assets/kpi_rollup.py)."""
    facts = con.execute("SELECT kpi_id, day, numerator, denominator, value FROM clean.kpi_daily "
                        "WHERE breakdown = 'all'").df()
    facts["day"] = pd.to_datetime(facts["day"]).dt.date
    rollup = dict(con.execute("SELECT kpi_id, rollup FROM measures.kpi_catalogue").fetchall())
    window = facts[(facts.day >= start) & (facts.day <= end)]
    quantiles = KpiCatalogue(kpis=[KpiDefinition.model_validate_json(r[0]) for r in con.execute(
        "SELECT definition FROM measures.kpi_catalogue WHERE rollup = 'quantile'").fetchall()])
    out: dict[str, float | None] = {
        kpi_id: _number(value) for kpi_id, value in (window_values(
            con, quantiles, start, end + dt.timedelta(days=1)) if quantiles.kpis else {}).items()}
    for kpi_id, kind in rollup.items():
        rows = window[window.kpi_id == kpi_id].sort_values("day")
        if kind == "quantile":
            continue
        if kind == "last":
            values = rows.dropna(subset=["value"])
            out[kpi_id] = float(values["value"].iloc[-1]) if len(values) else None
        else:
            denominator = rows["denominator"].sum()
            out[kpi_id] = float(rows["numerator"].sum() / denominator) if denominator else None
    return out


def _number(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _extract(path) -> pd.DataFrame:
    return duckdb.sql(f"SELECT * FROM '{path}'").df()


def test_rolling_report_extracts_match_the_scorecard(pipeline_run) -> None:
    folder = pipeline_run.reports.path()
    stem = f"report-{pipeline_run.last:%Y-%m-%d}"
    with pipeline_run.con() as con:
        scorecard = con.execute("SELECT kpi_id, value, status FROM present.scorecard "
                                "ORDER BY kpi_id").df()
        series_rows = con.execute(
            "SELECT count(*) FROM clean.kpi_daily WHERE day > ?::DATE - 91",
            [pipeline_run.last]).fetchall()[0][0]
    for fmt in ("csv", "parquet"):
        extract = _extract(folder / f"{stem}-scorecard.{fmt}")
        assert list(extract["kpi_id"]) == list(scorecard["kpi_id"])
        assert list(extract["status"]) == list(scorecard["status"])
        assert extract["value"].to_numpy() == pytest.approx(scorecard["value"].to_numpy(),
                                                            nan_ok=True)
        assert set(extract["report_kind"]) == {"rolling"}
        series = _extract(folder / f"{stem}-kpi-series.{fmt}")
        assert len(series) == series_rows
        assert {"kpi_id", "day", "breakdown", "breakdown_value", "numerator", "denominator",
                "value"} <= set(series.columns)
    index = (folder / INDEX).read_text(encoding="utf-8")
    for name in (f"{stem}.html", f"{stem}-scorecard.csv", f"{stem}-kpi-series.parquet",
                 f"{stem}-kpis.svg"):
        assert f'href="{name}"' in index


@pytest.mark.parametrize("kind", ["weekly", "monthly"])
def test_period_scorecard_is_an_exact_rollup_against_the_previous_period(
        pipeline_run, period_reports, kind) -> None:
    key = periods.latest_complete_key(kind, pipeline_run.last)
    period = periods.for_partition(kind, key)
    extract = _extract(period_reports.path() / f"{period.stem}-scorecard.parquet")
    with pipeline_run.con() as con:
        current = _expected_rollup(con, period.start, period.end)
        previous = _expected_rollup(con, period.previous_start, period.previous_end)
    assert set(extract["kpi_id"]) == set(current) == set(kpi_names(pipeline_run.warehouse))
    for row in extract.itertuples():
        assert _number(row.value) == pytest.approx(current[row.kpi_id]), row.kpi_id
        assert _number(row.previous_value) == pytest.approx(previous[row.kpi_id]), row.kpi_id
        assert pd.Timestamp(row.period_start).date() == period.start
        assert pd.Timestamp(row.period_end).date() == period.end
    html = (period_reports.path() / f"{period.stem}.html").read_text(encoding="utf-8")
    assert period.label in html
    assert f'<meta name="sevenstep-period-end" content="{period.end}">' in html


def test_partial_month_says_how_many_days_it_covers(pipeline_run, period_reports) -> None:
    html = (period_reports.path() / "report-month-2026-04.html").read_text(encoding="utf-8")
    days = (dt.date(2026, 4, 30) - pipeline_run.first).days + 1
    assert f"KPI data covers {days} of the 30 days of this period" in html


def test_period_reports_keep_their_names_and_the_index_lists_newest_first(
        pipeline_run, period_reports) -> None:
    before = sorted(p.name for p in period_reports.path().iterdir())
    publish_period("weekly", periods.latest_complete_key("weekly", pipeline_run.last),
                   pipeline_run.warehouse, period_reports)
    assert sorted(p.name for p in period_reports.path().iterdir()) == before  # replaced in place
    entries = period_reports.reports()
    assert [e.file_name for e in entries][-1] == "report-month-2026-04.html"
    ends = [e.period_end for e in entries]
    assert ends == sorted(ends, reverse=True)
    assert {e.kind for e in entries} == {"weekly", "monthly"}
    index = (period_reports.path() / INDEX).read_text(encoding="utf-8")
    positions = [index.index(f'href="{e.file_name}"') for e in entries]
    assert positions == sorted(positions)
    week = next(e for e in entries if e.kind == "weekly")
    assert week.extras == tuple(sorted(f"{week.file_name[:-5]}-{what}" for what in (
        "kpi-series.csv", "kpi-series.parquet", "kpis.svg", "scorecard.csv",
        "scorecard.parquet")))


def test_cli_prints_the_newest_report_of_each_kind(period_reports, monkeypatch) -> None:
    monkeypatch.setenv("SEVENSTEP_REPORT_DIR", str(period_reports.path()))
    runner = CliRunner()
    weekly = runner.invoke(report_command, ["--kind", "weekly"])
    assert weekly.exit_code == 0, weekly.output
    assert weekly.output.strip().endswith("report-week-2026-W22.html")
    newest = runner.invoke(report_command, [])
    assert newest.output.strip().endswith(".html")
    assert "2026-05" in newest.output or "W22" in newest.output
    missing = runner.invoke(report_command, ["--kind", "rolling"])
    assert missing.exit_code != 0
    assert "no rolling report yet" in missing.output


def test_dagster_ui_gets_scorecard_charts_and_row_counts(pipeline_run) -> None:
    """Lineage in the UI shows numbers: the scorecard as Markdown, every KPI's chart as an
    image, and a row count on every table asset."""
    result = pipeline_run.result
    metadata = materialization(result, "present/report")
    names = list(kpi_names(pipeline_run.warehouse).values())
    markdown = re.sub(r"\\(.)", r"\1", metadata["scorecard"].value)  # undo Markdown escapes
    assert all(name in markdown for name in names)
    image = re.fullmatch(r"!\[[^\]]*\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)",
                         metadata["charts"].value)
    assert image, metadata["charts"].value[:200]
    svg = ET.fromstring(base64.b64decode(image.group(1)))
    assert len(svg.findall(f"{SVG}g/{SVG}svg")) == len(names)
    assert metadata["chart_file"].value.endswith("-kpis.svg")
    assert metadata["bytes"].value > 10_000
    graph = pipeline_run.result.job_def.asset_layer.asset_graph
    for event in result.get_asset_materialization_events():
        key = event.materialization.asset_key
        if "duckdb" in graph.get(key).kinds:
            assert "dagster/row_count" in event.materialization.metadata, key
    scorecard = materialization(result, "present/scorecard")
    assert scorecard["dagster/row_count"].value == len(names)
    assert re.match(r"\| kpi_id +\|", scorecard["preview"].value)


def _drop(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    for name, kind in con.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = ?",
            [schema]).fetchall():
        con.execute(f'DROP {"VIEW" if kind == "VIEW" else "TABLE"} {schema}."{name}" CASCADE')


def test_report_says_not_available_when_analyses_and_register_are_missing(
        pipeline_run, tmp_path) -> None:
    warehouse = copy_warehouse(pipeline_run.warehouse, tmp_path)
    with warehouse.connect() as con:
        _drop(con, "analysis")
        _drop(con, "improve")
    store = ReportStore(directory=str(tmp_path / "reports"))
    publish_rolling(warehouse, store)
    html = (store.path() / f"report-{pipeline_run.last:%Y-%m-%d}.html").read_text("utf-8")
    assert html.count("Not available: the analysis step has not produced this yet") == 12
    assert "(expected in analysis.kpi_signals)" in html
    assert "Not available: no KPI forecasts" in html
    assert html.count("Not available: the improvement register (improve.actions)") == 2
    assert "Not available: the improvement step has not produced this yet" in html
    assert "No control-chart signals were found" not in html
    for name in kpi_names(warehouse).values():
        assert html_escape(name, quote=False) in html


def test_report_shows_whatever_analysis_tables_exist(pipeline_run, tmp_path) -> None:
    """Dated results are kept to the period, long tables are cut with a note, forecasts are
    charted with their interval, and a table no section knows is still shown."""
    warehouse = copy_warehouse(pipeline_run.warehouse, tmp_path)
    last = pipeline_run.last
    with warehouse.connect() as con:
        con.execute("""CREATE OR REPLACE TABLE analysis.kpi_change_points AS
            SELECT 'mttr' AS kpi_id, ?::DATE - 3 AS day, 2000.0 AS level_before,
                   5000.0 AS level_after
            UNION ALL SELECT 'mttr', ?::DATE - 200, 1.0, 2.0""", [last, last])
        con.execute("""CREATE OR REPLACE TABLE analysis.problem_candidates AS
            SELECT 'CI-' || i AS ci, 'network' AS category, 40 - i AS incidents
            FROM range(30) t(i)""")
        con.execute("""CREATE OR REPLACE TABLE analysis.kpi_forecasts AS
            SELECT 'mttr' AS kpi_id, 'all' AS breakdown, ?::DATE + i::INTEGER AS day,
                   3000.0 - 10 * i AS forecast, 2000.0 - 10 * i AS lower,
                   4000.0 - 10 * i AS upper
            FROM range(1, 29) t(i)""", [last])
        con.execute("CREATE OR REPLACE TABLE analysis.mystery_results AS SELECT 42 AS answer")
        con.execute("CREATE OR REPLACE TABLE analysis.forecast_selection AS "
                    "SELECT 'mttr' AS kpi_id, 'theta_of_mttr' AS method")
    store = ReportStore(directory=str(tmp_path / "reports"))
    publish_rolling(warehouse, store)
    html = (store.path() / f"report-{last:%Y-%m-%d}.html").read_text("utf-8")
    change_points = html[html.index('id="change-points"'):html.index('id="root-causes"')]
    assert f'<td class="date">{last - dt.timedelta(days=3)}</td>' in change_points
    assert str(last - dt.timedelta(days=200)) not in change_points
    assert "<td>Mean time to resolve</td>" in change_points
    candidates = html[html.index('id="problem-candidates"'):html.index('id="forecasts"')]
    assert candidates.count("<td>CI-") == 25
    assert candidates.index("<td>CI-0</td>") < candidates.index("<td>CI-24</td>")
    assert "Showing 25 of 30 rows" in candidates
    forecasts = html[html.index('id="forecasts"'):html.index('id="recommendations"')]
    minutes = [format_value(v - 280, "minutes") for v in (3000.0, 2000.0, 4000.0)]
    assert (f"forecast {minutes[0]} on {last + dt.timedelta(days=28)} "
            f"(interval {minutes[1]} to {minutes[2]})") in forecasts
    further = html[html.index('id="further-analysis"'):html.index('id="definitions"')]
    assert "analysis.mystery_results" in further
    assert '<td class="num">42</td>' in further
    # the forecasts' model-selection bookkeeping is not a result of its own
    assert "forecast_selection" not in html and "theta_of_mttr" not in html


def test_definitions_keep_period_reports_out_of_the_daily_jobs() -> None:
    from pipelines.definitions import defs

    for job in ("sevenstep_all", "sevenstep_nightly"):
        keys = defs.resolve_job_def(job).asset_layer.asset_graph.get_all_asset_keys()
        assert dg.AssetKey(["present", "report"]) in keys
        assert not any(k.path[-1].startswith(("weekly_", "monthly_")) for k in keys)
    for kind, partitions in (("weekly", periods.WEEKLY), ("monthly", periods.MONTHLY)):
        job = defs.resolve_job_def(f"present_{kind}_reports")
        assert job.partitions_def == partitions
        schedule = defs.resolve_schedule_def(f"present_{kind}_reports_schedule")
        assert schedule.job_name == job.name
    assert periods.WEEKLY.get_partition_keys()[0] == periods.weekly(
        periods.WEEKLY.get_partition_keys()[0]).start.isoformat()
