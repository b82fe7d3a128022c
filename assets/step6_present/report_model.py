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


@dataclass(frozen=True)
class QuarantineRow:
    """How many source rows of one entity were set aside for one reason, with an example."""

    entity: str
    reason_code: str
    rows: int
    example: str


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
