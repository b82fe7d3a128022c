"""A backfill in chunks leaves the warehouse exactly as the nightly runs over the same days.

Two warehouses over the same three days of synthetic data: one loaded by `backfill` in chunks
of two days (two runs), one by the nightly schedule's own run requests, night after night with
a look-back of one day (so every day is processed twice, as late updates are in production).
Every table of steps 1-6 must then hold the same rows, compared with the load timestamps taken
out (the `_loaded_at` column and the load time where a text quotes it) and doubles compared to
12 significant digits (the same sum in another order can differ in the last bit).

The improvement register (schema `improve`) is left out on purpose: it is a history of the
nights it was run on (an action is proposed on the night its KPI went off target), so a
backfill records a different, equally true, history; what it reads (facts, analyses, scorecard)
is compared.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.jobs import build_nightly_schedule
from pipelines.operations import NightlyConfig
from pipelines.runner import RANGE_END, RANGE_START, backfill, run_range
from tests.conftest import pipeline_resources

pytestmark = pytest.mark.e2e

FIRST = dt.date(2026, 5, 18)
LAST = dt.date(2026, 5, 20)
HISTORY_SCHEMAS = ("improve",)


def _nightly_runs(folder: Path) -> list[dg.ExecuteInProcessResult]:
    """What the nightly schedule asks for on the nights after FIRST+1 .. LAST, run in order."""
    schedule = build_nightly_schedule(NightlyConfig(lookback_days=1))
    instance = dg.DagsterInstance.ephemeral()
    results = []
    day = FIRST + dt.timedelta(days=1)
    while day <= LAST:
        moment = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(2), tzinfo=dt.UTC)
        [request] = schedule.evaluate_tick(
            dg.build_schedule_context(scheduled_execution_time=moment)).run_requests
        first = dt.date.fromisoformat(request.tags[RANGE_START])
        last = dt.date.fromisoformat(request.tags[RANGE_END])
        results.append(run_range(first, last, job_name="sevenstep_nightly",
                                 resources=pipeline_resources(folder), dagster_instance=instance,
                                 log_level="WARNING"))
        day += dt.timedelta(days=1)
    return results


def _load_times(con: duckdb.DuckDBPyConnection, db: str) -> list[str]:
    tables = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'raw'",
        [db]).fetchall()
    times: set[str] = set()
    for (table,) in tables:
        times |= {str(t) for (t,) in con.execute(
            f'SELECT DISTINCT CAST(_loaded_at AS VARCHAR) FROM {db}.raw."{table}"').fetchall()}
    return sorted(times, key=len, reverse=True)


def _comparable(con, db: str, schema: str, table: str, load_times: list[str]) -> str:
    """SELECT of the table without load timestamps: `_loaded_at` dropped, load times quoted in
    text (a quarantined row's raw JSON, a 'after the load time' detail) replaced."""
    columns = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ? "
        "AND schema_name = ? AND table_name = ? ORDER BY column_index",
        [db, schema, table]).fetchall()
    parts = []
    for name, kind in columns:
        if name == "_loaded_at":
            continue
        expression = f'"{name}"'
        if kind in ("DOUBLE", "FLOAT"):
            # Sums of the same doubles in another order differ in the last bit.
            expression = f"printf('%.12g', {expression})"
        if kind == "VARCHAR":
            for moment in load_times:
                expression = f"replace({expression}, '{moment}', '<load time>')"
        parts.append(f'{expression} AS "{name}"')
    return f'SELECT {", ".join(parts)} FROM {db}.{schema}."{table}"'


def differences(backfilled: Path, nightly: Path) -> list[str]:
    """Every table whose rows differ, with a few rows only one side has."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{backfilled}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{nightly}' AS b (READ_ONLY)")
    times = {db: _load_times(con, db) for db in ("a", "b")}
    tables = {db: set(con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ?",
        [db]).fetchall()) for db in ("a", "b")}
    found = [f"only in the backfilled warehouse: {sorted(tables['a'] - tables['b'])}"] \
        if tables["a"] != tables["b"] else []
    for schema, table in sorted(tables["a"] & tables["b"]):
        if schema in HISTORY_SCHEMAS:
            continue
        left = _comparable(con, "a", schema, table, times["a"])
        right = _comparable(con, "b", schema, table, times["b"])
        only_a = con.execute(f"{left} EXCEPT ALL {right} LIMIT 3").fetchall()
        only_b = con.execute(f"{right} EXCEPT ALL {left} LIMIT 3").fetchall()
        if only_a or only_b:
            found.append(f"{schema}.{table}: backfill only {only_a}; nightly only {only_b}")
    con.close()
    return found


def test_a_backfill_in_chunks_equals_the_nightly_runs(tmp_path) -> None:
    backfilled, nightly = tmp_path / "backfill", tmp_path / "nightly"
    chunks = backfill(FIRST, LAST, 2, resources=pipeline_resources(backfilled),
                      dagster_instance=dg.DagsterInstance.ephemeral())
    assert [(c.first, c.last, c.result.success) for c in chunks] == [
        (FIRST, FIRST + dt.timedelta(days=1), True), (LAST, LAST, True)]
    checked = {e.event_specific_data.check_name for c in chunks for e in c.result.all_events
               if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert {"objectives_are_measured", "source_contract", "raw_rows_reconcile",
            "kpi_facts_complete"} <= checked  # the quality gates run in a backfill too
    nights = _nightly_runs(nightly)
    assert [r.success for r in nights] == [True, True]

    found = differences(backfilled / "warehouse.duckdb", nightly / "warehouse.duckdb")
    assert found == [], "\n".join(found)
    with duckdb.connect(str(nightly / "warehouse.duckdb"), read_only=True) as con:
        days = con.execute("SELECT min(day), max(day), count(DISTINCT day) FROM clean.kpi_daily"
                           ).fetchall()[0]
    assert days == (FIRST, LAST, 3)
