"""Sustained level shifts in a daily KPI series, dated (ITIL step 5, "what changed and when").

A control chart says "this day is unusual"; a change point says "from this day on the KPI runs
at a different level". It is found with PELT (pruned exact linear time, from the `ruptures`
library): the split of the series into segments with constant means that best fits the data,
where every extra segment must pay a penalty. The penalty, and two filters on what is left,
keep the answer to shifts a service manager would act on:

* The series is put on a noise scale first: log values for durations, the weekday pattern
  divided out for daily counts, then divided by a robust noise level (the median absolute
  day-to-day difference), so one penalty works for tickets, minutes and percentages alike.
  Values beyond +-3.5 noise units are clipped, so a single wild day cannot open a segment.
* Segments are at least ``min_segment_days`` long (default 14): a shift must last two weeks.
* A change point is kept only if the level moves by at least ``min_shift_sigmas`` noise units
  and ``min_relative_change`` of the earlier level (default 0.5 and 10 %).

Limits: a slow ramp is reported as one or more steps somewhere along the ramp (trends describe
ramps better); two shifts closer than ``min_segment_days`` merge into one; and in a series
with strong day-to-day memory (a backlog) the noise level is understated, so the filters
matter more there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import ruptures

from assets.step5_analyze.control_charts import deseasonalize_weekday, has_weekday_pattern

PENALTY_PER_LOG_N = 4.0
"""PELT penalty in units of ``log(n)`` on the unit-noise scale (BIC would be 2). Calibrated on
150-day series: no false change point in 100 white-noise series, 4 in 100 AR(1) series with
phi 0.3, and a 1.5-sigma step found within 3 days in 93 of 100
(tests/test_analysis_change_points.py checks these rates)."""
CLIP = 3.5


@dataclass(frozen=True)
class ChangePoint:
    """The level changed on ``day`` (the first day at the new level).

    ``before`` and ``after`` are the segment means on the original scale (back-transformed
    from log values, weekday pattern removed, so they are typical daily levels);
    ``shift_sigmas`` is the move in noise units, signed.
    """

    day: date
    before: float
    after: float
    shift_sigmas: float
    relative_change: float
    segment_start: date
    segment_end: date
    next_change: date | None


def noise_level(values: np.ndarray) -> float:
    """Robust day-to-day noise: 1.4826 * MAD of first differences / sqrt(2).

    Differences cancel a level shift everywhere but at the shift itself, and the MAD ignores a
    few wild days, so this measures the ordinary noise even in a series that does change.
    """
    diffs = np.diff(values)
    if diffs.size == 0:
        return 0.0
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    sigma = 1.4826 * mad / math.sqrt(2)
    if sigma == 0:  # mostly-constant series (many ties): fall back to the plain spread
        sigma = float(np.std(diffs)) / math.sqrt(2)
    return sigma


def change_points(
    series: pd.Series,
    *,
    transform: str = "none",
    weekday_adjust: bool = False,
    min_segment_days: int = 14,
    min_shift_sigmas: float = 0.5,
    min_relative_change: float = 0.10,
    penalty: float = PENALTY_PER_LOG_N,
) -> list[ChangePoint]:
    """Dated sustained level shifts of a daily series, oldest first.

    ``transform="log"`` (durations) works on ``log1p`` values; ``weekday_adjust`` divides the
    weekday pattern out when the series has one (Kruskal-Wallis, as the control charts do).
    NaN days are dropped. A series shorter than two minimum segments, or without noise at
    all, has no change points.
    """
    if not isinstance(series.index, pd.DatetimeIndex):
        raise TypeError("change_points() needs a series indexed by a DatetimeIndex")
    if transform not in ("none", "log"):
        raise ValueError(f"transform must be 'none' or 'log', got {transform!r}")
    clean = series.dropna().sort_index().astype(float)
    n = len(clean)
    if n < 2 * min_segment_days:
        return []
    if transform == "log":
        if (clean < 0).any():
            raise ValueError("transform='log' needs non-negative values (it uses log1p(x))")
        clean = np.log1p(clean)
    if weekday_adjust and has_weekday_pattern(clean):
        clean = deseasonalize_weekday(clean)
    values = clean.to_numpy()
    sigma = noise_level(values)
    if not sigma > 0:
        return []
    z = np.clip((values - np.median(values)) / sigma, -CLIP, CLIP)
    # KernelCPD with the linear kernel is PELT with the l2 (mean-shift) cost, in C.
    algo = ruptures.KernelCPD(kernel="linear", min_size=min_segment_days, jump=1).fit(z)
    ends = algo.predict(pen=penalty * math.log(n))
    bounds = [0, *ends]
    means = [float(values[a:b].mean()) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    back = math.expm1 if transform == "log" else float
    found: list[ChangePoint] = []
    for k in range(1, len(means)):
        before, after = back(means[k - 1]), back(means[k])
        shift = (means[k] - means[k - 1]) / sigma
        relative = (after - before) / abs(before) if before != 0 else math.inf
        if abs(shift) < min_shift_sigmas or abs(relative) < min_relative_change:
            continue
        start, end = bounds[k], bounds[k + 1] - 1
        found.append(ChangePoint(
            day=clean.index[start].date(), before=before, after=after, shift_sigmas=shift,
            relative_change=relative, segment_start=clean.index[start].date(),
            segment_end=clean.index[end].date(),
            next_change=clean.index[bounds[k + 1]].date() if bounds[k + 1] < n else None,
        ))
    return found
