"""Exact roll-ups of any KPI to weeks, months, quarters, years or one window of days.

clean.kpi_daily keeps numerator and denominator per day, which makes most roll-ups a sum:
a ratio or a mean over a period is sum(numerator) / sum(denominator) — the mean of daily ratios
would weigh a quiet Sunday like a busy Monday. A count or a sum (no denominator) is a rate per
day: sum(numerator) / the days of the period inside the range, as kpi_sql's query over the
detail rows computes it. It cannot be sum(denominator): by a breakdown without a fixed list of
values (assignment group, category) kpi_daily has rows only on the days a value occurs, and a
group busy on one day of a month would read as that day's count per day. A snapshot (backlog)
is a level: its period value is the level at the end of the period's last day. A median or
percentile cannot be assembled from daily medians at all: it is recomputed from the clean
detail rows with the period as the group. Whoever shows a KPI over a period (scorecard,
register, CLI) calls `rollup` or `window_values`; nobody averages kpi_daily values.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from assets.kpi_sql import ALL, GRAINS, kpi_query
from resources.business_calendar import BusinessCalendar, business_calendar
from resources.config_models import KpiCatalogue, KpiDefinition

COLUMNS = ["period", "breakdown_value", "numerator", "denominator", "value", "days"]
FACTS = "clean.kpi_daily"


def _bucket(grain: str) -> str:
    if grain == "day":
        return "day"
    if grain == "window":
        return "CAST($start AS DATE)"
    return f"CAST(date_trunc('{grain}', day) AS DATE)"


def _periods(grain: str) -> str:
    """A CTE `periods` (period, days): each period of `grain` and how many of its days lie in
    [$start, $end) — a period cut by the range counts only those, as kpi_sql's p.days does."""
    return f"""periods AS (
  SELECT {_bucket(grain)} AS period, count(*) AS days
  FROM (SELECT CAST(range AS DATE) AS day
        FROM range(CAST($start AS TIMESTAMP), CAST($end AS TIMESTAMP), INTERVAL 1 DAY))
  GROUP BY 1)"""


def per_day(kpi: KpiDefinition) -> bool:
    """Whether the KPI is a rate per day (a count or a sum: no denominator, not a snapshot or a
    quantile), whose period value divides by the period's days, not by the days with rows."""
    return kpi.rollup == "ratio" and kpi.denominator_sql is None


def rollup(
    con: duckdb.DuckDBPyConnection,
    kpi: KpiDefinition,
    start: dt.date,
    end: dt.date,
    grain: str = "week",
    breakdown: str | None = None,
    facts: str = FACTS,
    calendar: BusinessCalendar | None = None,
) -> pd.DataFrame:
    """The KPI per period of `grain` over the days [start, end): COLUMNS, ordered by period.

    `facts` is the daily fact table to read (clean.kpi_daily, or a temporary table of values a
    changed definition would give); quantile KPIs always read the detail rows. A period that is
    cut by `start` or `end` covers only its days inside the range (`days` says how many). There
    is a row for each period and breakdown value with facts (every period for the total). A
    per-day rate's denominator is `days`, whichever days the value has rows on.
    """
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}; one of {', '.join(GRAINS)}")
    label = breakdown or "all"
    params = {"start": start, "end": end}
    if kpi.rollup == "quantile":
        calendar = calendar or business_calendar()
        con.execute(calendar.macro_sql())  # expressions may call business_minutes()
        frame = con.execute(f"""
SELECT day AS period, breakdown_value, numerator, denominator, value,
       CAST(NULL AS BIGINT) AS days
FROM ({kpi_query(kpi, breakdown, grain, calendar)}) ORDER BY 1, 2""", params).df()
        days = con.execute(f"WITH {_periods(grain)} SELECT period, days FROM periods",
                           params).df()
        frame = frame.drop(columns="days").merge(days, on="period", how="left")
        return frame[COLUMNS]
    if kpi.rollup == "last":
        select = """arg_max(numerator, day) AS numerator, arg_max(denominator, day) AS denominator,
       arg_max(value, day) AS value"""
    else:
        select = "sum(numerator) AS numerator, sum(denominator) AS denominator"
    if per_day(kpi):  # a rate per day: over every day of the period, with rows or not
        columns = """f.numerator, CAST(p.days AS DOUBLE) AS denominator,
       f.numerator / p.days AS value"""
    elif kpi.rollup == "last":
        columns = "f.numerator, f.denominator, f.value"
    else:
        columns = """f.numerator, f.denominator,
       f.numerator / nullif(f.denominator, 0) AS value"""
    return con.execute(f"""
WITH {_periods(grain)},
f AS (
  SELECT {_bucket(grain)} AS period, breakdown_value, {select}
  FROM {facts}
  WHERE kpi_id = $kpi AND breakdown = $breakdown AND day >= $start AND day < $end
  GROUP BY ALL)
SELECT f.period, f.breakdown_value, {columns}, p.days
FROM f JOIN periods p ON p.period = f.period
ORDER BY 1, 2""", {**params, "kpi": kpi.id, "breakdown": label}).df()[COLUMNS]


def window_values(
    con: duckdb.DuckDBPyConnection,
    catalogue: KpiCatalogue,
    start: dt.date,
    end: dt.date,
    calendar: BusinessCalendar | None = None,
) -> dict[str, float | None]:
    """Each KPI's exact value over the days [start, end) (its total, no breakdown)."""
    values: dict[str, float | None] = {}
    for kpi in catalogue.kpis:
        frame = rollup(con, kpi, start, end, "window", None, calendar=calendar)
        frame = frame[frame["breakdown_value"] == ALL]
        value = frame["value"].iloc[0] if len(frame) else None
        values[kpi.id] = None if value is None or pd.isna(value) else float(value)
    return values


def exact_quantiles(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, start: dt.date,
                    end: dt.date, previous_start: dt.date | None = None,
                    previous_end: dt.date | None = None) -> pd.DataFrame:
    """A scorecard-shaped frame (kpi_id, rollup, value[, previous_value]) with the values of
    quantile KPIs recomputed from the detail rows over [start, end] (inclusive days).

    Summing kpi_daily gives a ratio exactly but a median only approximately; this puts the
    exact median/percentile in its place, with the definitions step 2 materialized."""
    wanted = frame.loc[frame["rollup"] == "quantile", "kpi_id"].tolist()
    if not wanted:
        return frame
    rows = con.execute("SELECT definition FROM measures.kpi_catalogue WHERE list_contains(?, "
                       "kpi_id)", [wanted]).fetchall()
    catalogue = KpiCatalogue(kpis=[KpiDefinition.model_validate_json(r[0]) for r in rows])
    out = frame.copy()
    day = dt.timedelta(days=1)
    periods = [("value", start, end)]
    if previous_start is not None and previous_end is not None and "previous_value" in out:
        periods.append(("previous_value", previous_start, previous_end))
    for column, first, last in periods:
        values = window_values(con, catalogue, first, last + day)
        out[column] = [values.get(k, v) if r == "quantile" else v for k, r, v in
                       zip(out["kpi_id"], out["rollup"], out[column], strict=True)]
    return out
