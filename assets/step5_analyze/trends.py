"""Trend detection for daily KPI series (ITIL step 5, "analyse the data").

A KPI is called improving or degrading only when two independent questions both say yes:

* Is there a monotonic trend at all?  Answered by the Mann–Kendall test, which uses only the
  ordering of values, so it copes with the skewed, outlier-prone and tie-heavy data that
  service-management KPIs produce (counts of zero, SLA compliance stuck at 100 %).
* Is the trend big enough to matter?  Answered by the Theil–Sen slope (the median of all
  pairwise slopes, robust to a few wild days), scaled to a relative change over the window.

With several months of daily data even a negligible drift becomes statistically
significant, and a large but noisy change may not be; requiring both keeps the report to
changes a service manager would act on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

DIRECTIONS = ("higher_is_better", "lower_is_better")


@dataclass(frozen=True)
class TrendResult:
    """Outcome of :func:`trend` for one KPI series.

    ``intercept`` is the fitted level on the first observed day (the slope's x axis is days
    since that day). ``relative_change`` is ``slope_per_day * window_days / |median level|``
    with ``window_days`` the span from first to last observation; it is NaN when the median
    level is 0, and every numeric field is NaN when the classification is
    "insufficient data", so that nobody reads a number computed from too few points.
    """

    slope_per_day: float
    intercept: float
    mk_tau: float
    p_value: float
    n: int
    relative_change: float
    classification: str


def mann_kendall(values: np.ndarray) -> tuple[float, float]:
    """Mann–Kendall trend test; returns ``(tau, two-sided p value)``.

    S is the sum of ``sign(x_j - x_i)`` over all pairs ``i < j``.  Under "no trend" S has
    mean 0 and variance ``[n(n-1)(2n+5) - sum_t t(t-1)(2t+5)] / 18`` where ``t`` runs over the
    sizes of groups of tied values; the tie term matters because KPI series are full of
    repeated values.  The p value uses the normal approximation with a continuity correction
    (``S - 1`` for S > 0, ``S + 1`` for S < 0).  ``tau = S / (n(n-1)/2)`` (Kendall's tau-a, the
    conventional Mann–Kendall tau).

    Written out rather than taken from ``scipy.stats.kendalltau`` because kendalltau tests
    tau-b against an x axis, with a different variance, and we want the textbook test that
    hydrology and quality-control readers expect to reproduce.

    NaNs are ignored.  With fewer than two values there is no pair to compare and
    ``(nan, nan)`` is returned.  When every value is tied the variance is 0 and the answer
    is ``(0.0, 1.0)``: no evidence of any trend.
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = x.size
    if n < 2:
        return math.nan, math.nan

    s = float(np.triu(np.sign(x[np.newaxis, :] - x[:, np.newaxis]), k=1).sum())
    _, tie_sizes = np.unique(x, return_counts=True)
    tie_term = float(np.sum(tie_sizes * (tie_sizes - 1) * (2 * tie_sizes + 5)))
    variance = (n * (n - 1) * (2 * n + 5) - tie_term) / 18.0
    tau = s / (n * (n - 1) / 2)
    if variance <= 0:
        return tau, 1.0

    z = (s - math.copysign(1.0, s)) / math.sqrt(variance) if s != 0 else 0.0
    p = math.erfc(abs(z) / math.sqrt(2.0))
    return tau, min(1.0, p)


def trend(
    series: pd.Series,
    direction: str,
    *,
    alpha: float = 0.05,
    min_points: int = 8,
    min_relative_change: float = 0.05,
) -> TrendResult:
    """Classify the trend of a daily KPI series as improving, stable or degrading.

    ``direction`` ("higher_is_better" or "lower_is_better", as in ``config/kpis.yaml``) turns
    the sign of the slope into good or bad news.  A trend is reported only when the
    Mann–Kendall p value is below ``alpha`` *and* ``|relative_change|`` reaches
    ``min_relative_change``; otherwise the series is "stable".  A series whose median level
    is 0 (e.g. a daily count of major incidents) has no meaningful relative change and is
    therefore reported as stable even if it trends; look at the slope for those.

    NaN days (no data) are dropped; the slope uses real day offsets, so gaps do not
    distort it.  Fewer than ``min_points`` observations gives "insufficient data".
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if not isinstance(series.index, pd.DatetimeIndex):
        raise TypeError("trend() needs a series indexed by a DatetimeIndex (one value per day)")

    clean = series.dropna().sort_index()
    n = len(clean)
    if n < min_points:
        nan = math.nan
        return TrendResult(nan, nan, nan, nan, n, nan, "insufficient data")

    y = clean.to_numpy(dtype=float)
    days = ((clean.index - clean.index[0]) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    fit = stats.theilslopes(y, days)
    slope = float(fit.slope)
    tau, p_value = mann_kendall(y)

    level = abs(float(np.median(y)))
    relative_change = float(slope * days[-1] / level) if level > 0 else math.nan

    classification = "stable"
    if p_value < alpha and abs(relative_change) >= min_relative_change:
        rising = slope > 0
        good = rising == (direction == "higher_is_better")
        classification = "improving" if good else "degrading"

    return TrendResult(
        slope_per_day=slope,
        intercept=float(fit.intercept),
        mk_tau=tau,
        p_value=p_value,
        n=n,
        relative_change=relative_change,
        classification=classification,
    )
