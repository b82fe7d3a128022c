"""Plain data the step-6 report is rendered from.

The pipeline builds these from its DuckDB tables; rendering never queries anything itself, so
the report can be tested (and re-rendered) from in-memory values alone. Every ``str`` field may
carry text typed into tickets by anyone, so renderers must treat all of it as untrusted.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass


@dataclass(frozen=True)
class KpiCard:
    """One KPI's latest state, as shown in the scorecard and objective sections."""

    kpi_id: str
    name: str
    unit: str
    direction: str  # "higher_is_better" | "lower_is_better"
    value: float | None  # latest period value
    target: float | None
    warning: float | None
    status: str  # "on_target" | "at_risk" | "off_target" | "no_target" | "no_data"
    trend: str  # "improving" | "stable" | "degrading" | "insufficient data"
    series: tuple[tuple[datetime.date, float | None], ...]  # daily values, oldest first
    objectives: tuple[str, ...]  # objective ids it serves
    formula: str  # human-readable formula
    previous: float | None = None  # value over the previous period of the same kind
    days_with_data: int | None = None  # days of the period with a fact for this KPI


@dataclass(frozen=True)
class Objective:
    """A business objective (step 1 "identify the strategy") and the KPIs that measure it."""

    objective_id: str
    statement: str
    owner: str
    kpi_ids: tuple[str, ...]


@dataclass(frozen=True)
class Finding:
    """Something the analysis step noticed about a KPI on a given day."""

    finding_id: str
    kpi_id: str
    kind: str  # e.g. "anomaly", "trend", "change_point"
    day: datetime.date
    title: str
    detail: str
    overall: bool = True  # about the KPI as a whole (False: one service, priority, ...)
    scope: str = "all services"  # what it is about: "all services" or the service, priority


@dataclass(frozen=True)
class ActionRow:
    """An entry of the improvement register (step 7 "implement improvement")."""

    action_id: str
    title: str
    kpi_id: str
    scope: str
    status: str
    owner: str
    due_date: datetime.date | None
    baseline: float | None
    current: float | None
    rationale: str
    priority: str = ""
    effect: str = ""  # measured effect once the action has been evaluated


@dataclass(frozen=True)
class QuarantineRow:
    """How many source rows of one entity were set aside for one reason, with an example."""

    entity: str
    reason_code: str
    rows: int
    example: str


Cell = str | int | float | datetime.date | datetime.datetime | None


@dataclass(frozen=True)
class TableSection:
    """One analysis result read from a warehouse table, shown as a table in the report.

    ``source`` is the table it was read from, or None when no such table exists yet; then the
    report says so in words (``missing``) instead of leaving the section out.
    """

    anchor: str  # fixed HTML id, never data
    heading: str
    intro: str
    source: str | None
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    total_rows: int  # rows for the period before the display limit
    missing: str
    empty: str
    group: str = ""  # the report section it belongs to


@dataclass(frozen=True)
class ForecastPoint:
    """One forecast day of a KPI with its prediction interval and backtested error (each may
    be unknown)."""

    kpi_id: str
    day: datetime.date
    value: float
    lower: float | None
    upper: float | None
    method: str | None = None  # the forecasting method that won the backtest
    error: float | None = None  # its backtested mean absolute error at this lead time
    baseline_error: float | None = None  # the seasonal-naive baseline's error


@dataclass(frozen=True)
class ReportData:
    """Everything one report page shows."""

    title: str
    period_start: datetime.date
    period_end: datetime.date
    generated_at: datetime.datetime
    cards: tuple[KpiCard, ...]
    objectives: tuple[Objective, ...]
    findings: tuple[Finding, ...]
    actions: tuple[ActionRow, ...]
    quarantine: tuple[QuarantineRow, ...]
    row_counts: tuple[tuple[str, int], ...]  # table name, rows
    kind: str = "rolling"  # "rolling" | "weekly" | "monthly"
    previous_label: str = "Previous period"
    days_with_data: int | None = None  # days of the period with any KPI fact
    sections: tuple[TableSection, ...] = ()
    forecasts: tuple[ForecastPoint, ...] = ()
    register_available: bool = True  # False: the improvement register table does not exist
    extracts: tuple[tuple[str, str], ...] = ()  # (label, file name beside the report)
    unavailable: tuple[tuple[str, str], ...] = ()  # (finding kind, table it would come from)
