"""XmR control charts with the Western Electric rules for daily KPI series (ITIL step 5).

A control chart separates "this day is different" (a signal worth investigating) from the
ordinary day-to-day noise that a service manager should not react to.  Limits come from a
baseline period (the first ``baseline_days`` observations), so a later shift shows up
against the level the service used to run at instead of being absorbed into the limits.

Two properties of service-management data would otherwise swamp the chart with false
alarms, and both are handled here:

* Weekday seasonality.  Ticket volumes drop at weekends; left in, the weekly pattern
  inflates the moving range (hiding real events) and trips the zone rules every weekend.
  When the baseline shows a weekly pattern, its weekday profile is divided out (or
  subtracted, see :func:`deseasonalize_weekday`) before the limits are computed.
* Heavy tails.  Durations (time to resolve, to acknowledge) are right-skewed, so symmetric
  limits on raw minutes flag ordinary slow days.  ``transform="log"`` charts ``log1p`` of the
  values instead.
* Varying denominators.  A daily ratio (SLA compliance of 3 tickets on a Sunday, of 40 on a
  Monday) is much noisier on quiet days.  Given ``weights`` (the day's denominator), the chart
  is the Laney p'-style chart: the centre is the exact pooled ratio, each day's deviation is
  scaled by the square root of its weight, and each day gets its own limits, wider on quiet
  days.  Sigma still comes from moving ranges, so over-dispersion is absorbed too.

Whatever the analysis scale, every :class:`Signal` reports the observed value and the
centre line and limits *for that day* on the original scale (back-transformed, with the
weekday pattern put back), so people read real numbers such as minutes or tickets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats

ALL_RULES: tuple[str, ...] = (
    "beyond_3_sigma",
    "2_of_3_beyond_2_sigma",
    "4_of_5_beyond_1_sigma",
    "run_of_7",
)
TRANSFORMS = ("none", "log")

# d2 for subgroups of two: E[|X_t - X_{t-1}|] = 1.128 sigma for independent normal values.
D2 = 1.128
MIN_POINTS = 14
# Below this Kruskal–Wallis p value the baseline is taken to have a real weekday pattern.
WEEKDAY_PATTERN_P = 0.01

# Every Western Electric rule used here has the same shape: at least `need` of the last
# `window` points lie more than `k` sigma from the centre, all on the same side
# (rule -> (window, need, k)).  run_of_7 is "7 of 7 strictly on one side of the centre".
_RULE_SHAPES: dict[str, tuple[int, int, float]] = {
    "beyond_3_sigma": (1, 1, 3.0),
    "2_of_3_beyond_2_sigma": (3, 2, 2.0),
    "4_of_5_beyond_1_sigma": (5, 4, 1.0),
    "run_of_7": (7, 7, 0.0),
}


@dataclass(frozen=True)
class ControlLimits:
    """Centre line, sigma and 3-sigma limits, on the chart's analysis scale.

    The analysis scale is ``log1p`` of the values when ``transform == "log"`` and the
    weekday-adjusted values when ``weekday_adjusted`` is true (see :func:`signals`); the
    :class:`Signal` objects carry the same lines translated back to real numbers.  The LCL is
    not clipped at 0: for counts a negative LCL simply means no day can be low enough to be a
    signal on that rule.  ``weekday_adjusted`` is recorded so that :func:`in_control_stretch`
    can rebuild exactly the chart these limits belong to.
    """

    centre: float
    sigma: float
    ucl: float
    lcl: float
    baseline_start: date
    baseline_end: date
    transform: str
    weekday_adjusted: bool = False
    typical_weight: float | None = None
    """Mean baseline weight of a weighted chart (its ucl/lcl hold for a day of that weight)."""


@dataclass(frozen=True)
class Signal:
    """One rule firing, reported once per run on the day it first fired.

    ``points`` are the days that made the rule fire (for run_of_7 all seven, for the zone
    rules the days beyond the zone line).  ``value`` is the observed value on ``day`` and
    ``centre``/``ucl``/``lcl`` are that day's lines, all on the original scale.
    """

    rule: str
    day: date
    points: tuple[date, ...]
    value: float
    centre: float
    ucl: float
    lcl: float
    description: str
    sigmas: float = math.nan
    """Distance of ``value`` from the centre on ``day``, in sigmas of that day's chart."""


@dataclass(frozen=True)
class _Chart:
    """A series prepared for charting: observations plus the mapping back to real numbers.

    ``analysed = f(raw)`` where f is: optional ``log1p``, then removal of the weekday effect
    ``effect`` (divided out when ``multiplicative``, otherwise subtracted).  With the log
    transform the weekday effect is always removed additively in log space, which is a
    multiplicative effect on the original scale and never breaks on zeros.
    """

    raw: pd.Series
    analysed: pd.Series
    effect: np.ndarray
    multiplicative: bool
    transform: str
    weekday_adjusted: bool
    scale: np.ndarray
    """Per-day width factor of the limits: sqrt(typical weight / day's weight), or 1."""

    def to_original(self, level: float, i: int) -> float:
        """Translate a line on the analysis scale (e.g. the UCL) to day ``i``'s real units."""
        seasonal = level * self.effect[i] if self.multiplicative else level + self.effect[i]
        return math.expm1(seasonal) if self.transform == "log" else seasonal

    def line(self, limits: ControlLimits, sigmas: float, i: int) -> float:
        """Day ``i``'s line ``sigmas`` away from the centre, in real units."""
        return self.to_original(limits.centre + sigmas * limits.sigma * self.scale[i], i)


def xmr_limits(values: pd.Series, *, transform: str = "none") -> ControlLimits:
    """XmR limits from baseline values: centre = mean, sigma = mean moving range / 1.128.

    The moving range (difference between consecutive days) measures short-term noise only,
    so a drift or step inside the baseline inflates sigma far less than the standard
    deviation would.  ``transform="log"`` computes the limits on ``log1p(values)`` and needs
    non-negative values.  NaNs are dropped; at least two values are needed.
    """
    clean = _clean(values)
    return _limits(_forward(clean, transform), transform, weekday_adjusted=False)


def deseasonalize_weekday(series: pd.Series, *, baseline_days: int | None = None) -> pd.Series:
    """Remove the day-of-week pattern, keeping the series at its average daily level.

    The weekday profile is the median of each weekday over the baseline (the first
    ``baseline_days`` non-NaN observations, or all of them when None) -- medians so one bad
    Monday does not define "Monday", and the baseline so that a later shift is not absorbed
    into the profile.  The profile is normalised to average 1 (multiplicative) or 0
    (additive), so the adjusted series keeps the average daily level of the original: a
    week's adjusted values add up to about the same total as the raw ones.

    Multiplicative (divide by the weekday factor) is used when the values are non-negative
    and every weekday's baseline median is positive, because volumes scale by weekday;
    otherwise (a weekday whose typical value is 0, or negative data) the effect is
    subtracted.  A weekday absent from the baseline is left unadjusted; NaNs stay NaN.
    """
    _require_dates(series)
    baseline = series.dropna().iloc[:baseline_days]
    multiplicative = _prefers_multiplicative(series.dropna(), baseline)
    effect = _weekday_effect(series.index, baseline, multiplicative)
    return series / effect if multiplicative else series - effect


def signals(
    series: pd.Series,
    *,
    baseline_days: int = 56,
    transform: str = "none",
    weekday_adjust: bool = True,
    rules: tuple[str, ...] = ALL_RULES,
    weights: pd.Series | None = None,
) -> tuple[ControlLimits | None, list[Signal]]:
    """Chart a daily series and return its limits and the Western Electric signals.

    Limits come from the first ``baseline_days`` observations (all of them if fewer); the
    rules are evaluated over the whole series, baseline included.  Each rule reports a run
    of consecutive firing days once, on the day it first fires, so a sustained shift is one
    finding rather than one per day.  A day can trigger several different rules.

    ``weekday_adjust`` removes the weekday profile only when the baseline actually shows one
    (Kruskal–Wallis across weekdays, p < 0.01): on a series without a weekly pattern the
    profile would be pure noise, and dividing it out adds that noise to every later day
    (in simulation it roughly tripled the false beyond-3-sigma rate).  When the profile is
    removed, sigma is widened by ``sqrt(1 + pi / (2 m))``, ``m`` being the fewest baseline
    observations of any weekday: a new day's adjusted value also carries the error of the
    estimated weekday median (variance ``pi/2 * sigma^2 / m`` for a median), which the
    moving ranges inside the baseline cannot see.  The returned limits record whether the
    adjustment was made.  Known limit: for Poisson-like counts the low-volume weekend days
    are relatively noisier than weekdays once divided out, so a strongly seasonal count
    series still gets a few more beyond-3-sigma alarms than nominal, mostly on weekends.

    ``weights`` (same index, e.g. the day's denominator) makes it a weighted chart for ratios
    (see the module docstring); days without a positive weight are dropped, and the weekday
    adjustment is not applied (a ratio's weekday effect is in its denominator, which the
    weights already carry).

    NaN days are dropped, so "consecutive" means consecutive observations.  With fewer than
    14 observations there is too little data for a chart and ``(None, [])`` is returned.  A
    perfectly constant baseline has sigma 0: any later day that differs from it is then a
    signal, which is the honest reading of "this never varied before".
    """
    _check_rules(rules)
    series, weights = _aligned(series, weights)
    raw = _clean(series)
    if len(raw) < MIN_POINTS:
        return None, []
    baseline = raw.iloc[:baseline_days]
    adjust = weights is None and weekday_adjust and has_weekday_pattern(baseline)
    chart = _prepare(series, baseline_days, transform, adjust, weights)
    limits = _chart_limits(chart, baseline_days, transform, adjust, weights)
    if adjust:
        fewest = int(baseline.groupby(baseline.index.dayofweek).size().min())
        limits = _widen(limits, math.sqrt(1 + math.pi / (2 * fewest)))
    z = _z_scores(chart, limits)
    found: list[Signal] = []
    for rule in rules:
        sides = _firing_sides(z, rule)
        previous = np.concatenate(([0], sides[:-1]))
        for i in np.flatnonzero((sides != 0) & (sides != previous)):
            found.append(_make_signal(rule, int(i), int(sides[i]), z, chart, limits))
    found.sort(key=lambda s: (s.day, ALL_RULES.index(s.rule)))
    return limits, found


def in_control_stretch(
    series: pd.Series,
    limits: ControlLimits,
    *,
    rules: tuple[str, ...] = ALL_RULES,
    weights: pd.Series | None = None,
) -> int:
    """Days since the last day any rule fired (the whole span when none ever fired).

    "In control for 43 days" is a finding in its own right: it tells the service manager the
    process is stable and that a change can be judged against these limits.  ``series`` is
    the same raw series that was given to :func:`signals`; the transform and weekday
    adjustment recorded in ``limits`` are re-applied to it.  Unlike :func:`signals`, every
    firing day counts here, not only the first of a run: a shift that is still going on
    means the stretch is 0.  A weighted chart needs the same ``weights`` again.
    """
    _check_rules(rules)
    series, weights = _aligned(series, weights)
    clean = _clean(series)
    baseline_days = int((clean.index <= pd.Timestamp(limits.baseline_end)).sum())
    chart = _prepare(series, baseline_days, limits.transform, limits.weekday_adjusted, weights)
    z = _z_scores(chart, limits)
    fired = np.zeros(len(z), dtype=bool)
    for rule in rules:
        fired |= _firing_sides(z, rule) != 0
    last = chart.raw.index[-1]
    if not fired.any():
        return (last - chart.raw.index[0]).days + 1
    return (last - chart.raw.index[np.flatnonzero(fired)[-1]]).days


def _require_dates(series: pd.Series) -> None:
    if not isinstance(series.index, pd.DatetimeIndex):
        raise TypeError("control charts need a series indexed by a DatetimeIndex (one per day)")


def _clean(series: pd.Series) -> pd.Series:
    _require_dates(series)
    return series.dropna().sort_index().astype(float)


def _check_rules(rules: tuple[str, ...]) -> None:
    unknown = set(rules) - set(ALL_RULES)
    if unknown:
        raise ValueError(f"unknown control-chart rules {sorted(unknown)}; known: {ALL_RULES}")


def _forward(clean: pd.Series, transform: str) -> pd.Series:
    """Map raw values to the analysis scale of ``transform`` (before weekday adjustment)."""
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
    if transform == "none":
        return clean
    if (clean < 0).any():
        raise ValueError("transform='log' needs non-negative values (it charts log1p(x))")
    return np.log1p(clean)


def _aligned(
    series: pd.Series, weights: pd.Series | None
) -> tuple[pd.Series, pd.Series | None]:
    """Drop the days a weighted chart cannot use (no positive weight) from both series."""
    if weights is None:
        return series, None
    weights = weights.reindex(series.index).astype(float)
    usable = weights > 0
    return series[usable], weights[usable]


def _chart_limits(
    chart: _Chart, baseline_days: int, transform: str, adjust: bool, weights: pd.Series | None
) -> ControlLimits:
    """Plain XmR limits, or for a weighted chart: centre = pooled ratio of the baseline and
    sigma from the moving ranges of sqrt(weight)-scaled deviations (Laney's p' chart)."""
    baseline = chart.analysed.iloc[:baseline_days]
    if weights is None:
        return _limits(baseline, transform, weekday_adjusted=adjust)
    if len(baseline) < 2:
        raise ValueError("XmR limits need at least two values (one moving range)")
    w = weights.loc[chart.raw.index].to_numpy()[:baseline_days]
    centre = float(np.sum(w * baseline.to_numpy()) / np.sum(w))
    typical = float(w.mean())
    scaled = (baseline.to_numpy() - centre) / chart.scale[:baseline_days]
    sigma = float(np.abs(np.diff(scaled)).mean() / D2)
    return ControlLimits(centre=centre, sigma=sigma, ucl=centre + 3 * sigma,
                         lcl=centre - 3 * sigma, baseline_start=baseline.index[0].date(),
                         baseline_end=baseline.index[-1].date(), transform=transform,
                         typical_weight=typical)


def _limits(analysed: pd.Series, transform: str, *, weekday_adjusted: bool) -> ControlLimits:
    if len(analysed) < 2:
        raise ValueError("XmR limits need at least two values (one moving range)")
    values = analysed.to_numpy()
    centre = float(values.mean())
    sigma = float(np.abs(np.diff(values)).mean() / D2)
    return ControlLimits(
        centre=centre,
        sigma=sigma,
        ucl=centre + 3 * sigma,
        lcl=centre - 3 * sigma,
        baseline_start=analysed.index[0].date(),
        baseline_end=analysed.index[-1].date(),
        transform=transform,
        weekday_adjusted=weekday_adjusted,
    )


def _widen(limits: ControlLimits, factor: float) -> ControlLimits:
    sigma = limits.sigma * factor
    return replace(
        limits, sigma=sigma, ucl=limits.centre + 3 * sigma, lcl=limits.centre - 3 * sigma
    )


def has_weekday_pattern(baseline: pd.Series) -> bool:
    """True when the weekdays of the baseline differ by more than chance (Kruskal–Wallis).

    Rank based, so the answer is the same on the raw and on the log scale.
    """
    groups = [g.to_numpy() for _, g in baseline.groupby(baseline.index.dayofweek)]
    if len(groups) < 2 or baseline.nunique() < 2:
        return False
    return bool(stats.kruskal(*groups).pvalue < WEEKDAY_PATTERN_P)


def _prefers_multiplicative(values: pd.Series, baseline: pd.Series) -> bool:
    medians = baseline.groupby(baseline.index.dayofweek).median()
    return bool((values >= 0).all() and (medians > 0).all())


def _weekday_effect(
    index: pd.DatetimeIndex, baseline: pd.Series, multiplicative: bool
) -> np.ndarray:
    """Per-day weekday effect for ``index``: a factor averaging 1 or an offset averaging 0."""
    medians = baseline.groupby(baseline.index.dayofweek).median()
    profile = medians / medians.mean() if multiplicative else medians - medians.mean()
    neutral = 1.0 if multiplicative else 0.0
    return index.dayofweek.map(profile).to_numpy(dtype=float, na_value=neutral)


def _prepare(
    series: pd.Series,
    baseline_days: int,
    transform: str,
    weekday_adjust: bool,
    weights: pd.Series | None = None,
) -> _Chart:
    raw = _clean(series)
    scaled = _forward(raw, transform)
    baseline = scaled.iloc[:baseline_days]
    multiplicative = False
    effect = np.zeros(len(raw))
    if weekday_adjust:
        multiplicative = transform == "none" and _prefers_multiplicative(scaled, baseline)
        effect = _weekday_effect(raw.index, baseline, multiplicative)
    analysed = scaled / effect if multiplicative else scaled - effect
    scale = np.ones(len(raw))
    if weights is not None:
        w = weights.loc[raw.index].to_numpy(dtype=float)
        scale = np.sqrt(w[:baseline_days].mean() / w)
    return _Chart(raw, analysed, effect, multiplicative, transform, weekday_adjust, scale)


def _z_scores(chart: _Chart, limits: ControlLimits) -> np.ndarray:
    """Distance from the centre in sigmas (of that day's width); with sigma 0 any difference
    is infinitely far."""
    diff = chart.analysed.to_numpy() - limits.centre
    if limits.sigma > 0:
        return diff / (limits.sigma * chart.scale)
    return np.where(diff == 0, 0.0, np.copysign(np.inf, diff))


def _firing_sides(z: np.ndarray, rule: str) -> np.ndarray:
    """+1 / -1 where the rule's window ending on that point is satisfied above / below, else 0.

    Only complete windows count, so e.g. 2_of_3 cannot fire on the series' second day.
    """
    window, need, k = _RULE_SHAPES[rule]
    sides = np.zeros(len(z), dtype=int)
    if len(z) < window:
        return sides
    kernel = np.ones(window, dtype=int)
    above = np.convolve((z > k).astype(int), kernel, mode="valid") >= need
    below = np.convolve((z < -k).astype(int), kernel, mode="valid") >= need
    sides[window - 1 :] = np.where(above, 1, np.where(below, -1, 0))
    return sides


def _make_signal(
    rule: str, i: int, side: int, z: np.ndarray, chart: _Chart, limits: ControlLimits
) -> Signal:
    window, _, k = _RULE_SHAPES[rule]
    start = i - window + 1
    positions = [j for j in range(start, i + 1) if z[j] * side > k]
    days = chart.raw.index[positions]
    centre = chart.line(limits, 0.0, i)
    ucl = chart.line(limits, 3.0, i)
    lcl = chart.line(limits, -3.0, i)
    if chart.weekday_adjusted:
        # Days of the window fall on different weekdays, each with its own usual level, so
        # each value is shown next to the level that is usual for its weekday.
        listed = ", ".join(
            f"{_fmt(chart.raw.iloc[j])} on {chart.raw.index[j].day_name()}"
            f" (usually {_fmt(chart.to_original(limits.centre, j))})"
            for j in positions
        )
    else:
        listed = ", ".join(_fmt(chart.raw.iloc[j]) for j in positions)
    description = _describe(
        rule,
        side=side,
        day=chart.raw.index[i],
        first_day=days[0],
        value=float(chart.raw.iloc[i]),
        listed=listed,
        centre=centre,
        limit=ucl if side > 0 else lcl,
        zone_line=chart.line(limits, side * k, i),
        weekday_adjusted=chart.weekday_adjusted,
    )
    return Signal(
        rule=rule,
        day=chart.raw.index[i].date(),
        points=tuple(d.date() for d in days),
        value=float(chart.raw.iloc[i]),
        centre=centre,
        ucl=ucl,
        lcl=lcl,
        description=description,
        sigmas=float(z[i]),
    )


def _describe(
    rule: str,
    *,
    side: int,
    day: pd.Timestamp,
    first_day: pd.Timestamp,
    value: float,
    listed: str,
    centre: float,
    limit: float,
    zone_line: float,
    weekday_adjusted: bool,
) -> str:
    """Plain-words account of a signal for a service manager (no sigma jargon).

    On a weekday-adjusted chart the lines differ by weekday, so the text says which
    weekday the limits belong to, or compares each value with its own weekday's usual level.
    """
    above = side > 0
    where = "above" if above else "below"
    limit_name = "upper control limit" if above else "lower control limit"
    shift = "up" if above else "down"
    when = day.date().isoformat()
    if rule == "beyond_3_sigma":
        text = (
            f"Value {_fmt(value)} on {when} is {where} the {limit_name} {_fmt(limit)}"
            f" (centre {_fmt(centre)})."
        )
        if weekday_adjusted:
            text += (
                f" Limit and centre are those for a {day.day_name()}, allowing for the usual"
                " weekly pattern."
            )
        return text
    if rule == "run_of_7":
        level = (
            "the usual level for their weekday"
            if weekday_adjusted
            else f"the centre line {_fmt(centre)}"
        )
        return (
            f"7 values in a row from {first_day.date().isoformat()} to {when} are {where}"
            f" {level}: the usual level has probably shifted {shift}."
        )
    count, window = (2, 3) if rule == "2_of_3_beyond_2_sigma" else (4, 5)
    unusual = "unusually high" if above else "unusually low"
    if weekday_adjusted:
        return (
            f"{count} of the {window} values up to {when} are {unusual} for their weekday:"
            f" {listed}. An early sign that the level is moving {shift}."
        )
    return (
        f"{count} of the {window} values up to {when} ({listed}) are {unusual}, {where}"
        f" {_fmt(zone_line)} (centre {_fmt(centre)}, {limit_name} {_fmt(limit)}): an early"
        f" sign that the level is moving {shift}."
    )


def _fmt(x: float) -> str:
    """Round for reading: whole numbers from 100 up, three significant figures below."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
