"""The report's analysis sections, read from whatever steps 5 and 7 have written.

Each part of a section names the tables it can show (the first that exists is used), the
columns worth reading, the rows to keep (e.g. only flagged findings) and their order, and the
column that dates a row. A table that does not exist gives a part that says "not available" in
words; rows dated outside the report's period are left out; results without a date are shown as
the latest run computed them. Analysis tables no part claims are shown at the end under
"Further analysis results", so a new analysis reaches readers before it has a section.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import duckdb
import pandas as pd

from assets.step6_present import tables
from assets.step6_present.periods import Period
from assets.step6_present.report_model import Cell, ForecastPoint, TableSection

MAX_ROWS = 25
MAX_COLUMNS = 9
HIDDEN_COLUMNS = frozenset({"finding_id", "kpi_version", "evidence", "points", "raw_row",
                            "incident_ids"})
"""Identifiers and bulky evidence stay in the warehouse and the extracts, not on the page."""

SHOWN_ELSEWHERE = frozenset({"analysis.kpi_trends", "analysis.kpi_signals",
                             "analysis.forecast_selection"})
"""Read by report_data.findings (signals by day, degrading trends); the forecast selection is
the bookkeeping behind the forecasts section, whose rows carry its method and backtest error."""


@dataclass(frozen=True)
class SectionSpec:
    """Where one part of a report section finds its rows.

    ``where`` holds (column, condition) pairs applied when the column exists; the condition is
    SQL from this module with ``{}`` for the quoted column. ``order`` holds (column, direction)
    pairs, applied in turn for the columns that exist.
    """

    group: str  # the report section it belongs to (fixed id in the template)
    anchor: str
    heading: str
    intro: str
    tables: tuple[str, ...]
    columns: tuple[str, ...] = ()  # preferred columns in order; empty: the table's own
    day_columns: tuple[str, ...] = ()
    where: tuple[tuple[str, str], ...] = ()
    order: tuple[tuple[str, str], ...] = ()
    producer: str = "the analysis step"


_ALL = (("breakdown", "{} = 'all'"),)

SECTIONS = (
    SectionSpec(
        "highlights", "worth-reading", "Findings worth reading",
        "What the analysis step picked out for this period, worst news first.",
        ("analysis.findings",),
        columns=("day", "kind", "kpi_id", "scope", "polarity", "title"),
        day_columns=("day",), order=(("polarity", "DESC"), ("day", "DESC"), ("kind", "ASC")),
    ),
    SectionSpec(
        "findings", "change-points", "Change points",
        "Sustained shifts in a KPI's level, dated to the first day at the new level.",
        ("analysis.kpi_change_points", "analysis.change_points"),
        columns=("day", "kpi_id", "breakdown_value", "polarity", "relative_change",
                 "description"),
        day_columns=("day", "change_day"), order=(("day", "DESC"), ("kpi_id", "ASC")),
    ),
    SectionSpec(
        "findings", "incident-bursts", "Incident bursts",
        "Days on which one CI had far more incidents than its usual share.",
        ("analysis.incident_bursts",),
        columns=("day", "service", "ci", "incidents", "expected", "p_value"),
        day_columns=("day",), where=(("burst", "{}"),),
        order=(("day", "DESC"), ("incidents", "DESC")),
    ),
    SectionSpec(
        "findings", "major-outages", "Major outages",
        "Unplanned outages far longer than usual, with their share of the downtime budget.",
        ("analysis.major_outages",),
        columns=("day", "service", "ci", "start_at", "end_at", "minutes", "budget_share"),
        day_columns=("day",), where=(("major", "{}"),), order=(("minutes", "DESC"),),
    ),
    SectionSpec(
        "findings", "stability", "KPIs in control",
        "KPIs (as a whole) that stayed within their control limits for a long stretch.",
        ("analysis.kpi_stability",),
        columns=("kpi_id", "in_control_days", "since", "centre"),
        day_columns=("last_day",), where=(("stable", "{}"), *_ALL),
        order=(("in_control_days", "DESC"),),
    ),
    SectionSpec(
        "root-causes", "pareto", "Where incidents, breaches and downtime concentrate",
        "Per measure and dimension, the few groups that together make up most of the total "
        "(Pareto).",
        ("analysis.pareto", "analysis.root_causes"),
        columns=("measure", "dimension", "value", "amount", "share", "cumulative_share"),
        day_columns=("period_end",), where=(("vital_few", "{}"),),
        order=(("measure", "ASC"), ("dimension", "ASC"), ("rank", "ASC")),
    ),
    SectionSpec(
        "root-causes", "drivers", "Which group explains each KPI's change",
        "For each KPI, the group with the largest part of the change from the previous window: "
        "its own rate changed (rate effect) or its weight in the total did (mix effect).",
        ("analysis.kpi_drivers", "analysis.drivers"),
        columns=("kpi_id", "breakdown", "breakdown_value", "kpi_before", "kpi_after",
                 "rate_effect", "mix_effect", "share_of_change"),
        day_columns=("after_end",), where=(("rank", "{} = 1"),), order=(("kpi_id", "ASC"),),
    ),
    SectionSpec(
        "change-incidents", "change-impact", "Failed and emergency changes and the incidents "
        "that followed",
        "Incidents on the same CI from a change's start until a day after its end, against what "
        "the CI's usual rate predicts; flagged when that many is very unlikely by chance.",
        ("analysis.change_impact", "analysis.change_incidents"),
        columns=("change_id", "change_type", "outcome", "service", "ci", "change_day",
                 "incidents", "p_value", "flagged"),
        day_columns=("change_day",), where=(("failed_or_emergency", "{}"),),
        order=(("rank", "ASC"), ("incidents", "DESC")),
    ),
    SectionSpec(
        "problem-candidates", "recurring-incidents", "Recurring incidents without a problem "
        "record",
        "The busiest 30-day window of each CI and category with no linked problem, flagged when "
        "it stands out from its peers.",
        ("analysis.problem_candidates",),
        columns=("service", "ci", "category", "window_start", "window_end", "incidents",
                 "expected", "p_value", "flagged"),
        day_columns=("window_end",), order=(("flagged", "DESC"), ("incidents", "DESC")),
    ),
    SectionSpec(
        "forecasts", "target-attainment", "When targets are reached",
        "Each KPI's level now, its trend and whether and when it meets its target.",
        ("analysis.target_attainment",),
        columns=("kpi_id", "status", "target_date", "forecast_meets_target_from",
                 "description"),
        where=_ALL, order=(("status", "ASC"), ("kpi_id", "ASC")),
    ),
    SectionSpec(
        "register", "outcomes", "Outcomes for the next strategy review",
        "Per objective: KPIs at risk and the actions that worked or did not.",
        ("improve.outcomes",),
        columns=("objective_id", "status", "active_actions", "verified_actions",
                 "ineffective_actions", "summary"),
        order=(("status", "ASC"), ("objective_id", "ASC")), producer="the improvement step",
    ),
)

FORECAST_TABLES = ("analysis.kpi_forecasts", "analysis.forecasts")
FORECAST_DAY = ("day", "forecast_day", "date", "ds")
FORECAST_VALUE = ("forecast", "yhat", "mean", "value")
FORECAST_LOWER = ("lower", "yhat_lower", "lower_80", "lower_95")
FORECAST_UPPER = ("upper", "yhat_upper", "upper_80", "upper_95")
FORECAST_METHOD = ("method",)
FORECAST_ERROR = ("backtest_mae",)
FORECAST_BASELINE = ("baseline_mae",)

OTHER = SectionSpec(
    "further", "further-analysis", "Further analysis results",
    "Results of an analysis this report has no dedicated section for yet, as stored in the "
    "warehouse.", (),
)


def _cell(value: object) -> Cell:
    """A warehouse value as a plain Python value for the report model."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime) and value.time() == dt.time(0) and value.tzinfo is None:
        return value.date()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | str | dt.date):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _cell(value.item())
    return str(value)


def _shown_columns(spec: SectionSpec, available: list[str]) -> list[str]:
    preferred = [c for c in spec.columns if c in available]
    if preferred:
        return preferred
    return [c for c in available if not c.startswith("_") and c not in HIDDEN_COLUMNS][
        :MAX_COLUMNS
    ]


def _missing(spec: SectionSpec) -> str:
    expected = f" (expected in {spec.tables[0]})" if spec.tables else ""
    return f"Not available: {spec.producer} has not produced this yet{expected}."


def unavailable(spec: SectionSpec) -> TableSection:
    """The part for a result whose table does not exist (yet)."""
    return TableSection(spec.anchor, spec.heading, spec.intro, None, (), (), 0, _missing(spec),
                        "", spec.group)


def read_section(
    con: duckdb.DuckDBPyConnection, spec: SectionSpec, period: Period, table: str | None
) -> TableSection:
    """The rows of ``table`` for ``spec`` (at most MAX_ROWS), or a "not available" part."""
    if table is None:
        return unavailable(spec)
    available = tables.columns(con, table)
    shown = _shown_columns(spec, available)
    q = tables.quote
    conditions, params = [], []
    day = tables.first_of(spec.day_columns, available)
    if day is not None:
        conditions.append(f"CAST({q(day)} AS DATE) BETWEEN ? AND ?")
        params = [period.start, period.end]
    conditions += [condition.format(q(column)) for column, condition in spec.where
                   if column in available]
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    order = [f"{q(column)} {direction} NULLS LAST" for column, direction in spec.order
             if column in available]
    order_by = f"ORDER BY {', '.join(order)}" if order else ""
    source = tables.qualified(table)
    total = int(con.execute(f"SELECT count(*) FROM {source} {where}", params).fetchall()[0][0])
    rows = con.execute(
        f"SELECT {', '.join(q(c) for c in shown)} FROM {source} {where} {order_by} "
        f"LIMIT {MAX_ROWS}", params,
    ).fetchall() if shown else []
    dated = f" dated {period.start} to {period.end}" if day else ""
    return TableSection(
        spec.anchor, spec.heading, spec.intro, table, tuple(shown),
        tuple(tuple(_cell(v) for v in row) for row in rows), total, _missing(spec),
        f"No results{dated} in {table}.", spec.group,
    )


def analysis_sections(
    con: duckdb.DuckDBPyConnection, period: Period
) -> tuple[TableSection, ...]:
    """Every part of SECTIONS, then one per analysis table none of them (nor the findings,
    nor the forecast charts) reads."""
    available = tables.tables_in(con, "analysis") + tables.tables_in(con, "improve")
    chosen = [tables.first_of(spec.tables, available) for spec in SECTIONS]
    claimed = {t.lower() for t in chosen if t} | set(SHOWN_ELSEWHERE)
    forecast = tables.first_of(FORECAST_TABLES, available)
    if forecast:
        claimed.add(forecast.lower())
    out = [read_section(con, spec, period, table) for spec, table in zip(SECTIONS, chosen,
                                                                          strict=True)]
    extra = [t for t in available if t.startswith("analysis.") and t.lower() not in claimed]
    for index, table in enumerate(extra):
        spec = SectionSpec(OTHER.group, f"{OTHER.anchor}-{index + 1}", table, OTHER.intro,
                           (table,))
        out.append(read_section(con, spec, period, table))
    return tuple(out)


def _number(value: object) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def forecasts(con: duckdb.DuckDBPyConnection, kpi_ids: list[str]) -> tuple[ForecastPoint, ...]:
    """Forecast days per KPI (overall scope only) with their interval and backtested error, if
    step 5 stores them in a table with recognisable columns; () otherwise."""
    table = tables.first_of(FORECAST_TABLES, tables.tables_in(con, "analysis"))
    if table is None:
        return ()
    available = tables.columns(con, table)
    day = tables.first_of(FORECAST_DAY, available)
    value = tables.first_of(FORECAST_VALUE, available)
    if "kpi_id" not in available or day is None or value is None:
        return ()
    q = tables.quote

    def optional(candidates: tuple[str, ...]) -> str:
        column = tables.first_of(candidates, available)
        return q(column) if column else "NULL"

    scope = "AND breakdown = 'all'" if "breakdown" in available else ""
    rows = con.execute(
        f"SELECT kpi_id, CAST({q(day)} AS DATE), {q(value)}, {optional(FORECAST_LOWER)}, "
        f"{optional(FORECAST_UPPER)}, {optional(FORECAST_METHOD)}, {optional(FORECAST_ERROR)}, "
        f"{optional(FORECAST_BASELINE)} FROM {tables.qualified(table)} "
        f"WHERE kpi_id IN (SELECT unnest(?)) {scope} ORDER BY 1, 2", [kpi_ids],
    ).fetchall()
    return tuple(
        ForecastPoint(kpi, pd.Timestamp(d).date(), point, _number(lo), _number(hi),
                      None if method is None else str(method), _number(error),
                      _number(baseline))
        for kpi, d, v, lo, hi, method, error, baseline in rows
        if d is not None and (point := _number(v)) is not None
    )
