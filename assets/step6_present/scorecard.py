"""The scorecard: each KPI's exact roll-up over a reporting period, against its target.

A period's value is the ratio of the summed daily numerators and denominators (never an average
of daily ratios), or the last day's level for snapshot KPIs (rollup ``last``). The trend is the
one step 5 computes (Theil–Sen slope with a Mann–Kendall test, ``trends.trend``) over the 13
weeks that end with the period, so a report on a past week shows the trend as it was then.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from assets.kpi_rollup import exact_quantiles
from assets.kpi_sql import ALL
from assets.step5_analyze.trends import trend
from assets.step6_present.periods import Period
from assets.step6_present.report_model import KpiCard

HISTORY_DAYS = 91
"""Days of history behind each KPI: the sparkline, the charts and the 13-week trend."""

_ROLLUP = """
SELECT kpi_id, sum(numerator) AS numerator, sum(denominator) AS denominator,
       arg_max(value, day) FILTER (WHERE value IS NOT NULL) AS last_value,
       count(DISTINCT day) AS days
FROM clean.kpi_daily
WHERE breakdown = 'all' AND breakdown_value = $all AND day BETWEEN {start} AND {end}
GROUP BY kpi_id"""

_SCORECARD = f"""
WITH cur AS ({_ROLLUP.format(start="$start", end="$end")}),
prev AS ({_ROLLUP.format(start="$previous_start", end="$previous_end")})
SELECT c.kpi_id, c.name, c.unit, c.direction, c.rollup, c.target, c.warning, c.objectives,
       c.formula, c.kpi_version, $start::DATE AS window_start, $end::DATE AS window_end,
       CASE WHEN c.rollup = 'last' THEN cur.last_value
            ELSE cur.numerator / nullif(cur.denominator, 0) END AS value,
       CASE WHEN c.rollup = 'last' THEN prev.last_value
            ELSE prev.numerator / nullif(prev.denominator, 0) END AS previous_value,
       coalesce(cur.days, 0)::INTEGER AS days_with_data
FROM measures.kpi_catalogue c LEFT JOIN cur USING (kpi_id) LEFT JOIN prev USING (kpi_id)
ORDER BY c.kpi_id"""


def status(value: float | None, target: float | None, warning: float | None,
           direction: str) -> str:
    """on_target / at_risk / off_target against target and warning threshold."""
    if target is None or pd.isna(target):
        return "no_target"
    if value is None or pd.isna(value):
        return "no_data"
    better = (lambda a, b: a <= b) if direction == "lower_is_better" else (lambda a, b: a >= b)
    if better(value, target):
        return "on_target"
    if warning is not None and not pd.isna(warning) and better(value, warning):
        return "at_risk"
    return "off_target"


def last_day(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The newest day with KPI facts (None before the first run of step 4)."""
    day = con.execute("SELECT max(day) FROM clean.kpi_daily").fetchall()[0][0]
    return None if day is None else pd.Timestamp(day).date()


def history(con: duckdb.DuckDBPyConnection, end: dt.date) -> pd.DataFrame:
    """Daily overall values (kpi_id, day, value) of the HISTORY_DAYS days ending with ``end``."""
    return con.execute(
        """SELECT kpi_id, day, value FROM clean.kpi_daily
        WHERE breakdown = 'all' AND breakdown_value = $all
          AND day BETWEEN $end::DATE - $days::INTEGER + 1 AND $end::DATE
        ORDER BY kpi_id, day""",
        {"all": ALL, "end": end, "days": HISTORY_DAYS},
    ).df()


def _trend(series: pd.DataFrame | None, direction: str) -> str:
    if series is None or direction not in ("higher_is_better", "lower_is_better"):
        return "insufficient data"
    values = pd.Series(series["value"].astype(float).to_numpy(),
                       index=pd.DatetimeIndex(pd.to_datetime(series["day"])))
    return trend(values, direction).classification


def scorecard_frame(con: duckdb.DuckDBPyConnection, period: Period) -> pd.DataFrame:
    """One row per KPI: value over the period and the previous period, target, status, trend."""
    frame = con.execute(_SCORECARD, {
        "all": ALL, "start": period.start, "end": period.end,
        "previous_start": period.previous_start, "previous_end": period.previous_end,
    }).df()
    frame = exact_quantiles(con, frame, period.start, period.end, period.previous_start,
                            period.previous_end)  # medians and percentiles from detail rows
    by_kpi = dict(tuple(history(con, period.end).groupby("kpi_id")))
    frame["trend"] = [_trend(by_kpi.get(r.kpi_id), r.direction) for r in frame.itertuples()]
    frame["status"] = [
        status(r.value, r.target, r.warning, r.direction) for r in frame.itertuples()
    ]
    return frame


def _optional(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def kpi_cards(con: duckdb.DuckDBPyConnection, scorecard: pd.DataFrame) -> tuple[KpiCard, ...]:
    """The scorecard rows as report cards, each with its daily history up to the period end."""
    if scorecard.empty:
        return ()
    end = pd.Timestamp(scorecard["window_end"].max()).date()
    by_kpi = dict(tuple(history(con, end).groupby("kpi_id")))

    def points(kpi_id: str) -> tuple[tuple[dt.date, float | None], ...]:
        group = by_kpi.get(kpi_id)
        if group is None:
            return ()
        return tuple((pd.Timestamp(d).date(), _optional(v))
                     for d, v in zip(group["day"], group["value"], strict=True))

    return tuple(
        KpiCard(
            kpi_id=r.kpi_id, name=r.name, unit=r.unit, direction=r.direction,
            value=_optional(r.value), target=_optional(r.target), warning=_optional(r.warning),
            status=r.status, trend=r.trend, series=points(r.kpi_id),
            objectives=tuple(o.strip() for o in str(r.objectives or "").split(",") if o.strip()),
            formula=r.formula,
            previous=_optional(r.previous_value), days_with_data=int(r.days_with_data),
        )
        for r in scorecard.itertuples()
    )
