"""When will a KPI reach its target at the current trend, or will it not?

The current trend is the Theil-Sen line over the trend window (13 weeks by default) — but only
when the trend test calls it a real trend (Mann-Kendall significant and at least a 5 % change
over the window, see trends.py). A "stable" KPI is treated as flat: extrapolating noise would
promise dates nobody can hold to. The current level is the line's value on the last day, not
the last day's value, so one odd day does not decide the answer.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import pandas as pd

from assets.step5_analyze.trends import trend

STATUSES = ("met", "met_until", "reached_on", "not_reached", "insufficient data")


@dataclass(frozen=True)
class Outlook:
    """``status``: met (meets the target and is not moving away from it); met_until (meets it
    now but the trend crosses back on ``date``); reached_on (reaches it on ``date``);
    not_reached (flat or moving away, or not within ``horizon_days``); insufficient data."""

    status: str
    date: dt.date | None
    level_now: float
    slope_per_day: float
    classification: str


def meets(level: float, target: float, direction: str) -> bool:
    return level >= target if direction == "higher_is_better" else level <= target


def outlook(
    series: pd.Series,
    direction: str,
    target: float,
    *,
    window_days: int = 91,
    horizon_days: int = 730,
) -> Outlook:
    """The target outlook of a daily series over its last ``window_days`` days."""
    end = series.index.max()
    window = series[series.index > end - pd.Timedelta(days=window_days)]
    result = trend(window, direction)
    if result.classification == "insufficient data":
        return Outlook("insufficient data", None, math.nan, math.nan, result.classification)
    observed = window.dropna()
    span = (observed.index[-1] - observed.index[0]).days
    slope = result.slope_per_day if result.classification in ("improving", "degrading") else 0.0
    level = result.intercept + result.slope_per_day * span
    last = observed.index[-1].date()
    crossing = None
    if slope != 0:
        days = (target - level) / slope
        if 0 < days <= horizon_days:
            crossing = last + dt.timedelta(days=math.ceil(days))
    if meets(level, target, direction):
        status = "met_until" if crossing is not None else "met"
    else:
        status = "reached_on" if crossing is not None else "not_reached"
    return Outlook(status, crossing, level, slope, result.classification)
