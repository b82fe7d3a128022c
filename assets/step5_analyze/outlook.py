"""Forecasts and target outlooks per KPI: the tables behind "will we make the target?"."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from assets.step5_analyze.findings import KpiInfo, finding_id, frames_by_scope
from assets.step5_analyze.forecasts import (
    METHODS,
    Forecast,
    backtest_plan,
    forecast_with,
    origins_per_week,
    regular_series,
    select_method,
)
from assets.step5_analyze.reselection import (
    Stored,
    new_stored,
    read_stored,
    reuse_refusal,
    settings_key,
    stored_rows,
)
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


@dataclass(frozen=True)
class OutlookTables:
    """What kpi_outlook writes: forecasts, outlooks and the selections the forecasts used, and
    per scope whether the backtest ran (``decisions``: "reused" or the reason it re-ran)."""

    forecasts: pd.DataFrame
    attainment: pd.DataFrame
    selection: pd.DataFrame
    decisions: dict[tuple[str, str, str], str]


def _forecast(series: pd.Series, stored: Stored | None, *, kpi_version: str, settings: str,
              horizon_weeks: int, min_horizon_weeks: int, min_train_days: int, max_origins: int,
              reselect_days: int, settle_days: int
              ) -> tuple[Forecast | None, Stored | None, str]:
    """One scope's forecast, by the stored selection when it may be reused (reselection.py),
    else by a new backtest; with the selection to store and what was decided."""
    full = regular_series(series)
    plan = None if full is None else backtest_plan(
        len(full), horizon_weeks=horizon_weeks, min_horizon_weeks=min_horizon_weeks,
        min_train_days=min_train_days, max_origins=max_origins)
    if full is None or plan is None:
        return None, None, "not_forecast"
    origins, weeks = plan
    refusal = reuse_refusal(stored, series, kpi_version=kpi_version, settings=settings,
                            weeks=weeks, origins=origins_per_week(len(full), origins, weeks),
                            reselect_days=reselect_days)
    if refusal is None and stored is not None:
        try:
            return forecast_with(full, stored.selection), stored, "reused"
        except (ValueError, np.linalg.LinAlgError):
            refusal = "fit_failed"
    selection = select_method(full, origins, weeks)
    return (forecast_with(full, selection),
            new_stored(selection, series, kpi_version=kpi_version, settings=settings,
                       reselect_days=reselect_days, settle_days=settle_days), refusal)


def outlook_rows(facts: pd.DataFrame, infos: dict[str, KpiInfo], *, breakdowns: tuple[str, ...],
                 kpi_ids: tuple[str, ...], horizon_weeks: int, min_horizon_weeks: int,
                 min_train_days: int, max_origins: int, trend_days: int,
                 versions: Mapping[str, str] | None = None, stored: pd.DataFrame | None = None,
                 reselect_days: int = 1, settle_days: int = 0) -> OutlookTables:
    """Forecast weeks, one outlook per KPI and scope for every KPI with a target, and the
    method selections behind the forecasts.

    ``stored`` is the previous analysis.forecast_selection; a selection in it is reused under
    the rules of reselection.py (with ``reselect_days`` = 1 the backtest runs every time).
    ``versions`` maps KPI ids to their definition's kpi_version.
    """
    settings = settings_key(horizon_weeks=horizon_weeks, min_horizon_weeks=min_horizon_weeks,
                            min_train_days=min_train_days, max_origins=max_origins,
                            methods=tuple(METHODS))
    previous = read_stored(stored)
    forecasts, outlooks = [], []
    selections: dict[tuple[str, str, str], Stored] = {}
    decisions: dict[tuple[str, str, str], str] = {}
    for (kpi_id, breakdown, value), frame in frames_by_scope(facts):
        info = infos.get(kpi_id)
        if (info is None or info.target is None or breakdown not in breakdowns
                or (kpi_ids and kpi_id not in kpi_ids)):
            continue
        scope = (kpi_id, breakdown, value)
        series = frame["value"]
        result, kept, decisions[scope] = _forecast(
            series, previous.get(scope), kpi_version=str((versions or {}).get(kpi_id, "")),
            settings=settings, horizon_weeks=horizon_weeks, min_horizon_weeks=min_horizon_weeks,
            min_train_days=min_train_days, max_origins=max_origins,
            reselect_days=reselect_days, settle_days=settle_days)
        if kept is not None:
            selections[scope] = kept
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
    return OutlookTables(pd.DataFrame(forecasts, columns=FORECAST_COLUMNS),
                         pd.DataFrame(outlooks, columns=ATTAINMENT_COLUMNS),
                         stored_rows(selections), decisions)
