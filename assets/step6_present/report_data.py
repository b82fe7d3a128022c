"""Reading everything the report shows from the warehouse into the report model."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from assets.step6_present.report_model import (
    ActionRow,
    Finding,
    KpiCard,
    Objective,
    QuarantineRow,
    ReportData,
)
from resources.warehouse import scalar

MAX_FINDINGS = 40


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(scalar(
        con, "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
        "AND table_name = ?", [schema, table]))


def objectives(con: duckdb.DuckDBPyConnection) -> tuple[Objective, ...]:
    rows = con.execute("""
        SELECT o.objective_id, o.statement, o.owner,
               list(t.kpi_id ORDER BY t.kpi_id) FILTER (WHERE t.kpi_id IS NOT NULL)
        FROM strategy.objectives o LEFT JOIN strategy.targets t USING (objective_id)
        GROUP BY ALL ORDER BY 1""").fetchall()
    return tuple(Objective(r[0], r[1], r[2], tuple(r[3] or ())) for r in rows)


def findings(con: duckdb.DuckDBPyConnection) -> tuple[Finding, ...]:
    signals = con.execute(f"""
        SELECT finding_id, kpi_id, rule, day, breakdown, breakdown_value, description
        FROM analysis.kpi_signals ORDER BY day DESC, kpi_id LIMIT {MAX_FINDINGS}""").fetchall()
    trends = con.execute("""
        SELECT finding_id, kpi_id, window_end, breakdown_value, window_days, relative_change,
               p_value
        FROM analysis.kpi_trends
        WHERE classification = 'degrading' ORDER BY abs(relative_change) DESC LIMIT 20
        """).fetchall()
    out = [
        Finding(fid, kpi, "anomaly", pd.Timestamp(day).date(),
                f"{rule.replace('_', ' ')} ({'all services' if bd == 'all' else value})", text)
        for fid, kpi, rule, day, bd, value, text in signals
    ]
    out += [
        Finding(fid, kpi, "trend", pd.Timestamp(end).date(),
                f"degrading over {window} days ({value})",
                f"Change of {change:+.0%} over the window (Mann–Kendall p = {p:.3f}).")
        for fid, kpi, end, value, window, change, p in trends
    ]
    return tuple(out)


def actions(con: duckdb.DuckDBPyConnection) -> tuple[ActionRow, ...]:
    if not _table_exists(con, "improve", "actions"):
        return ()
    rows = con.execute("""
        SELECT action_id, title, kpi_id, scope, status, coalesce(owner, ''), due_date,
               baseline_value, current_value, rationale
        FROM improve.actions ORDER BY status, action_id""").fetchall()
    return tuple(
        ActionRow(r[0], r[1], r[2], r[3], r[4], r[5],
                  pd.Timestamp(r[6]).date() if r[6] is not None else None, r[7], r[8], r[9])
        for r in rows
    )


def quarantine(con: duckdb.DuckDBPyConnection) -> tuple[QuarantineRow, ...]:
    if not _table_exists(con, "clean", "quarantine"):
        return ()
    rows = con.execute("""
        SELECT entity, reason_code, count(*), arg_min(detail, _partition)
        FROM clean.quarantine GROUP BY 1, 2 ORDER BY 1, 3 DESC""").fetchall()
    return tuple(QuarantineRow(*r) for r in rows)


def row_counts(con: duckdb.DuckDBPyConnection) -> tuple[tuple[str, int], ...]:
    tables = con.execute("""
        SELECT table_schema || '.' || table_name FROM information_schema.tables
        WHERE table_schema IN ('raw', 'clean') AND table_type = 'BASE TABLE' ORDER BY 1
        """).fetchall()
    return tuple(
        (t[0], int(scalar(con, f"SELECT count(*) FROM {t[0]}"))) for t in tables
    )


def report_data(
    con: duckdb.DuckDBPyConnection, cards: tuple[KpiCard, ...], start: dt.date, end: dt.date
) -> ReportData:
    return ReportData(
        title=f"Service improvement report {start:%d %b %Y} – {end:%d %b %Y}",
        period_start=start,
        period_end=end,
        generated_at=dt.datetime.now(dt.UTC),
        cards=cards,
        objectives=objectives(con),
        findings=findings(con),
        actions=actions(con),
        quarantine=quarantine(con),
        row_counts=row_counts(con),
    )
