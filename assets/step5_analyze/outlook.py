"""Forecasts and target outlooks per KPI: the tables behind "will we make the target?"."""

from __future__ import annotations

import math

import pandas as pd

from assets.step5_analyze.findings import KpiInfo, finding_id, frames_by_scope
from assets.step5_analyze.forecasts import forecast_series
from assets.step5_analyze.targets import meets, outlook

FORECAST_COLUMNS = ["kpi_id", "breakdown", "breakdown_value", "method", "week_ahead", "day",
                    "week_start", "forecast", "lower", "upper", "backtest_mae", "baseline_mae",
                    "origins", "target", "meets_target"]
ATTAINMENT_COLUMNS = ["finding_id", "kpi_id", "breakdown", "breakdown_value", "target",
                      "direction", "last_day", "level_now", "trend", "slope_per_day",
                      "status", "target_date", "method", "skill", "backtest_mae",
                      "forecast_last_week", "forecast_meets_target_from", "description"]


def _describe(info: KpiInfo, status: str, date: object, level: float, target: float) -> str:
    now = f"now about {level:.4g} {info.unit} against a target of {target:.4g}"
    return {
        "met": f"{info.name} meets its target ({now}) and is not moving away from it.",
        "met_until": f"{info.name} meets its target ({now}) but at the current trend stops "
                     f"meeting it on {date}.",
        "reached_on": f"{info.name} misses its target ({now}); at the current trend it "
                      f"reaches it on {date}.",
        "not_reached": f"{info.name} misses its target ({now}) and at the current trend does "
                       "not reach it within two years.",
    }.get(status, f"{info.name}: too little data for an outlook.")


def outlook_rows(facts: pd.DataFrame, infos: dict[str, KpiInfo], *, breakdowns: tuple[str, ...],
                 kpi_ids: tuple[str, ...], horizon_weeks: int, min_horizon_weeks: int,
                 min_train_days: int, max_origins: int, trend_days: int
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(forecast weeks, one outlook per KPI and scope) for every KPI with a target."""
    forecasts, outlooks = [], []
    for (kpi_id, breakdown, value), frame in frames_by_scope(facts):
        info = infos.get(kpi_id)
        if (info is None or info.target is None or breakdown not in breakdowns
                or (kpi_ids and kpi_id not in kpi_ids)):
            continue
        series = frame["value"]
        result = forecast_series(series, horizon_weeks=horizon_weeks,
                                 min_horizon_weeks=min_horizon_weeks,
                                 min_train_days=min_train_days, max_origins=max_origins)
        first_meeting, last_week, mae = None, math.nan, math.nan
        if result is not None:
            weeks = result.weeks
            ok = [meets(f, info.target, info.direction) for f in weeks["forecast"]]
            for row, good in zip(weeks.itertuples(index=False), ok, strict=True):
                forecasts.append([kpi_id, breakdown, value, result.method, row.week_ahead,
                                  row.end, row.start, row.forecast, row.lower, row.upper,
                                  row.backtest_mae, row.baseline_mae, row.origins,
                                  info.target, good])
            first_meeting = next((w.end for w, good in zip(weeks.itertuples(), ok, strict=True)
                                  if good), None)
            last_week, mae = float(weeks["forecast"].iloc[-1]), float(weeks["backtest_mae"].mean())
        look = outlook(series, info.direction, info.target, window_days=trend_days)
        last = series.dropna().index[-1].date() if series.notna().any() else None
        outlooks.append([
            finding_id("target", kpi_id, breakdown, value, last), kpi_id, breakdown, value,
            info.target, info.direction, last, look.level_now, look.classification,
            look.slope_per_day, look.status, look.date,
            result.method if result else None, result.skill if result else math.nan, mae,
            last_week, first_meeting,
            _describe(info, look.status, look.date, look.level_now, info.target)])
    return (pd.DataFrame(forecasts, columns=FORECAST_COLUMNS),
            pd.DataFrame(outlooks, columns=ATTAINMENT_COLUMNS))
