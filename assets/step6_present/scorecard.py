"""The scorecard: each KPI's exact roll-up over the reporting window, against its target."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from assets.kpi_sql import ALL
from assets.step6_present.report_model import KpiCard

SPARKLINE_DAYS = 90


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


def scorecard_frame(con: duckdb.DuckDBPyConnection, window_days: int) -> pd.DataFrame:
    """One row per KPI: value over the last `window_days` days (ratio of sums, or the last
    day's level for snapshot KPIs), target, status and the 13-week trend."""
    frame = con.execute(
        f"""
WITH bounds AS (SELECT max(day) AS last_day FROM clean.kpi_daily),
win AS (
  SELECT k.kpi_id, sum(k.numerator) AS numerator, sum(k.denominator) AS denominator
  FROM clean.kpi_daily k, bounds b
  WHERE k.breakdown = 'all' AND k.breakdown_value = '{ALL}'
    AND k.day > b.last_day - $window::INTEGER AND k.day <= b.last_day
  GROUP BY 1),
last AS (
  SELECT k.kpi_id, k.value FROM clean.kpi_daily k, bounds b
  WHERE k.breakdown = 'all' AND k.day = b.last_day),
trend AS (
  SELECT kpi_id, classification FROM analysis.kpi_trends
  WHERE breakdown = 'all' AND window_days = 91)
SELECT c.kpi_id, c.name, c.unit, c.direction, c.rollup, c.target, c.warning, c.objectives,
       c.formula, c.kpi_version, b.last_day - $window::INTEGER + 1 AS window_start,
       b.last_day AS window_end,
       CASE WHEN c.rollup = 'last' THEN last.value
            ELSE win.numerator / nullif(win.denominator, 0) END AS value,
       coalesce(trend.classification, 'insufficient data') AS trend
FROM measures.kpi_catalogue c CROSS JOIN bounds b
LEFT JOIN win USING (kpi_id) LEFT JOIN last USING (kpi_id) LEFT JOIN trend USING (kpi_id)
ORDER BY c.kpi_id""",
        {"window": window_days},
    ).df()
    frame["status"] = [
        status(r.value, r.target, r.warning, r.direction) for r in frame.itertuples()
    ]
    return frame


def kpi_cards(con: duckdb.DuckDBPyConnection, scorecard: pd.DataFrame) -> tuple[KpiCard, ...]:
    series = con.execute(
        f"""SELECT kpi_id, day, value FROM clean.kpi_daily
        WHERE breakdown = 'all' AND breakdown_value = '{ALL}'
          AND day > (SELECT max(day) FROM clean.kpi_daily) - {SPARKLINE_DAYS}
        ORDER BY kpi_id, day""").df()
    by_kpi = {k: g for k, g in series.groupby("kpi_id")}

    def points(kpi_id: str) -> tuple[tuple[dt.date, float | None], ...]:
        group = by_kpi.get(kpi_id)
        if group is None:
            return ()
        return tuple((pd.Timestamp(d).date(), None if pd.isna(v) else float(v))
                     for d, v in zip(group["day"], group["value"], strict=True))

    def optional(value: object) -> float | None:
        return None if value is None or pd.isna(value) else float(value)

    return tuple(
        KpiCard(
            kpi_id=r.kpi_id, name=r.name, unit=r.unit, direction=r.direction,
            value=optional(r.value), target=optional(r.target), warning=optional(r.warning),
            status=r.status, trend=r.trend, series=points(r.kpi_id),
            objectives=tuple(o.strip() for o in str(r.objectives or "").split(",") if o.strip()),
            formula=r.formula,
        )
        for r in scorecard.itertuples()
    )
