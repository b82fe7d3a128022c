"""Reading everything one report shows from the warehouse into the report model.

Tables of other steps are read defensively (see ``tables``): a table that does not exist yet
gives an empty answer that the report states in words, and improvement-register columns that a
version of step 7 does not have read as empty.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from assets.step6_present import sections, tables
from assets.step6_present.periods import Period
from assets.step6_present.report_model import (
    ActionRow,
    Finding,
    KpiCard,
    Objective,
    QuarantineRow,
    ReportData,
)
from resources.warehouse import scalar

MAX_TRENDS = 20

_SIGNAL_COLUMNS = {"finding_id", "kpi_id", "rule", "day", "breakdown", "breakdown_value",
                   "description"}
_TREND_COLUMNS = {"finding_id", "kpi_id", "window_end", "breakdown", "breakdown_value",
                  "window_days", "relative_change", "p_value", "classification"}
_ACTION_COLUMNS = ("action_id", "title", "kpi_id", "scope", "status", "owner", "due_date",
                   "baseline_value", "current_value", "rationale", "priority", "effect")


def _has(con: duckdb.DuckDBPyConnection, table: str, needed: set[str]) -> bool:
    return needed <= set(tables.columns(con, table))


def objectives(con: duckdb.DuckDBPyConnection) -> tuple[Objective, ...]:
    if not tables.exists(con, "strategy.objectives"):
        return ()
    targets = tables.exists(con, "strategy.targets")
    rows = con.execute(f"""
        SELECT o.objective_id, o.statement, o.owner,
               {"list(t.kpi_id ORDER BY t.kpi_id) FILTER (WHERE t.kpi_id IS NOT NULL)"
                if targets else "NULL"}
        FROM strategy.objectives o
        {"LEFT JOIN strategy.targets t USING (objective_id)" if targets else ""}
        GROUP BY ALL ORDER BY 1""").fetchall()
    return tuple(Objective(r[0], r[1], r[2], tuple(r[3] or ())) for r in rows)


def _scope(breakdown: str, value: str) -> str:
    """"all services", a service's name, or e.g. "priority 4" for other breakdowns."""
    if breakdown == "all":
        return "all services"
    return value if breakdown == "service" else f"{breakdown.replace('_', ' ')} {value}"


FINDING_TABLES = (("anomaly", "analysis.kpi_signals", _SIGNAL_COLUMNS),
                  ("trend", "analysis.kpi_trends", _TREND_COLUMNS))


def unavailable_findings(con: duckdb.DuckDBPyConnection) -> tuple[tuple[str, str], ...]:
    """(kind, table) of the finding kinds whose table is missing or lacks a needed column."""
    return tuple((kind, table) for kind, table, needed in FINDING_TABLES
                 if not _has(con, table, needed))


def findings(con: duckdb.DuckDBPyConnection, period: Period) -> tuple[Finding, ...]:
    """Control-chart signals dated in the period and the strongest degrading trends whose
    window ends in the period."""
    out: list[Finding] = []
    if _has(con, "analysis.kpi_signals", _SIGNAL_COLUMNS):
        signals = con.execute("""
            SELECT finding_id, kpi_id, rule, day, breakdown, breakdown_value, description
            FROM analysis.kpi_signals WHERE CAST(day AS DATE) BETWEEN ? AND ?
            ORDER BY day DESC, kpi_id, breakdown, breakdown_value, rule""",
            [period.start, period.end]).fetchall()
        out += [
            Finding(fid, kpi, "anomaly", pd.Timestamp(day).date(), rule.replace("_", " "), text,
                    bd == "all", _scope(bd, value))
            for fid, kpi, rule, day, bd, value, text in signals
        ]
    if _has(con, "analysis.kpi_trends", _TREND_COLUMNS):
        trends = con.execute(f"""
            SELECT finding_id, kpi_id, window_end, breakdown, breakdown_value, window_days,
                   relative_change, p_value
            FROM analysis.kpi_trends
            WHERE classification = 'degrading' AND CAST(window_end AS DATE) BETWEEN ? AND ?
            ORDER BY abs(relative_change) DESC NULLS LAST LIMIT {MAX_TRENDS}""",
            [period.start, period.end]).fetchall()
        out += [
            Finding(fid, kpi, "trend", pd.Timestamp(end).date(), f"degrading over {window} days",
                    f"Change of {change:+.0%} over the window (Mann–Kendall p = {p:.3f}).",
                    bd == "all", _scope(bd, value))
            for fid, kpi, end, bd, value, window, change, p in trends
        ]
    return tuple(out)


def _date(value: object) -> dt.date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def _float(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def actions(con: duckdb.DuckDBPyConnection) -> tuple[ActionRow, ...] | None:
    """The improvement register, or None when it does not exist yet."""
    present = set(tables.columns(con, "improve.actions"))
    if not present:
        return None
    select = ", ".join(c if c in present else f"NULL AS {c}" for c in _ACTION_COLUMNS)
    rows = con.execute(f"SELECT {select} FROM improve.actions ORDER BY status, action_id")
    return tuple(
        ActionRow(
            action_id=str(r[0]), title=r[1] or "", kpi_id=r[2] or "", scope=r[3] or "",
            status=r[4] or "", owner=r[5] or "", due_date=_date(r[6]), baseline=_float(r[7]),
            current=_float(r[8]), rationale=r[9] or "", priority=r[10] or "",
            effect=r[11] or "",
        )
        for r in rows.fetchall()
    )


def quarantine(con: duckdb.DuckDBPyConnection, period: Period) -> tuple[QuarantineRow, ...]:
    """Rows set aside by step 4 from the period's days, per entity and reason, with an example."""
    if not _has(con, "clean.quarantine", {"entity", "reason_code", "detail", "_partition"}):
        return ()
    rows = con.execute("""
        SELECT entity, reason_code, count(*), arg_min(detail, _partition)
        FROM clean.quarantine WHERE CAST(_partition AS DATE) BETWEEN ? AND ?
        GROUP BY 1, 2 ORDER BY 1, 3 DESC""", [period.start, period.end]).fetchall()
    return tuple(QuarantineRow(*r) for r in rows)


def row_counts(con: duckdb.DuckDBPyConnection) -> tuple[tuple[str, int], ...]:
    names = con.execute("""
        SELECT table_schema, table_name FROM information_schema.tables
        WHERE table_schema IN ('raw', 'clean') AND table_type = 'BASE TABLE' ORDER BY 1, 2
        """).fetchall()
    return tuple(
        (f"{schema}.{name}",
         int(scalar(con, f"SELECT count(*) FROM {tables.qualified(f'{schema}.{name}')}")))
        for schema, name in names
    )


def days_with_data(con: duckdb.DuckDBPyConnection, period: Period) -> int:
    return int(scalar(con, "SELECT count(DISTINCT day) FROM clean.kpi_daily "
                           "WHERE day BETWEEN ? AND ?", [period.start, period.end]) or 0)


def title(period: Period) -> str:
    """"Weekly service improvement report: Week 22, 2026", "Service improvement report: ..."."""
    kind = {"weekly": "Weekly service", "monthly": "Monthly service"}.get(period.kind, "Service")
    return f"{kind} improvement report: {period.label}"


def report_data(
    con: duckdb.DuckDBPyConnection, cards: tuple[KpiCard, ...], period: Period
) -> ReportData:
    register = actions(con)
    return ReportData(
        title=title(period),
        period_start=period.start,
        period_end=period.end,
        generated_at=dt.datetime.now(dt.UTC),
        cards=cards,
        objectives=objectives(con),
        findings=findings(con, period),
        actions=register or (),
        quarantine=quarantine(con, period),
        row_counts=row_counts(con),
        kind=period.kind,
        previous_label=period.previous_label,
        days_with_data=days_with_data(con, period),
        sections=sections.analysis_sections(con, period),
        forecasts=sections.forecasts(con, [card.kpi_id for card in cards]),
        register_available=register is not None,
        unavailable=unavailable_findings(con),
    )
