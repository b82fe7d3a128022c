"""Turning daily KPI series into findings with stable ids.

The series come from clean.kpi_daily (small: one value per KPI, day and breakdown value), so
pandas is the right tool here. A finding's id depends only on what it says (KPI, scope, kind,
rule, day), so the report and the improvement register can refer to it across runs.

Which chart suits a KPI follows from its catalogue entry (see :class:`KpiInfo`): counts per day
get the weekday-adjusted XmR chart, ratios and means the weighted (Laney) chart with their
denominators as weights, durations are charted on log values, and levels (snapshot KPIs such
as the backlog) get no control chart at all: a stock carries yesterday's value into today, so
the day-to-day noise a chart relies on is not there, and change points and trends describe it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from assets.step5_analyze.change_points import change_points
from assets.step5_analyze.control_charts import in_control_stretch, signals
from assets.step5_analyze.trends import trend

TREND_WINDOWS = (28, 91, 364)
TREND_COLUMNS = ["finding_id", "kpi_id", "breakdown", "breakdown_value", "window_days",
                 "window_end", "slope_per_day", "p_value", "relative_change", "classification"]
SIGNAL_COLUMNS = ["finding_id", "kpi_id", "breakdown", "breakdown_value", "rule", "day",
                  "value", "centre", "ucl", "lcl", "transform", "description", "sigmas"]
STABILITY_COLUMNS = ["finding_id", "kpi_id", "breakdown", "breakdown_value", "in_control_days",
                     "since", "last_day", "centre", "ucl", "lcl", "transform", "chart",
                     "baseline_start", "baseline_end", "stable"]
CHANGE_POINT_COLUMNS = ["finding_id", "kpi_id", "breakdown", "breakdown_value", "day", "before",
                        "after", "relative_change", "shift_sigmas", "segment_end",
                        "next_change", "polarity", "transform", "description"]
DURATION_UNITS = ("minutes", "hours", "days")
MOST_COMMON_VALUE_SHARE = 0.5
"""A series where more than half the days share one value (100 % availability, 0 outages) is
not charted: moving ranges of mostly-zero data make every ordinary non-zero day a signal."""


@dataclass(frozen=True)
class KpiInfo:
    """What the analyses need to know about a KPI from measures.kpi_catalogue."""

    kpi_id: str
    name: str
    unit: str
    direction: str
    rollup: str  # "ratio" (sum num / sum den), "last" (a level) or "quantile"
    aggregate: str  # count, sum, ratio, mean, median, p90, p95
    target: float | None

    @property
    def is_level(self) -> bool:
        return self.rollup == "last"

    @property
    def is_count(self) -> bool:
        return self.aggregate in ("count", "sum") and not self.is_level

    @property
    def transform(self) -> str:
        """Durations are heavy-tailed and small daily counts are skewed (a quiet service's
        Poisson counts): both are charted and split into levels on log values."""
        return "log" if self.unit in DURATION_UNITS or self.is_count else "none"

    @property
    def chart(self) -> str:
        if self.is_level:
            return "none"
        if self.is_count:
            return "xmr_weekday"
        return "weighted" if self.aggregate in ("ratio", "mean") else "xmr"


def kpi_infos(catalogue: pd.DataFrame) -> dict[str, KpiInfo]:
    """KpiInfo per KPI from the catalogue table (older catalogues without aggregate/rollup
    columns are read as ratios)."""
    out = {}
    for row in catalogue.to_dict("records"):
        target = row.get("target")
        out[row["kpi_id"]] = KpiInfo(
            kpi_id=row["kpi_id"], name=str(row.get("name") or row["kpi_id"]),
            unit=str(row.get("unit") or ""), direction=row["direction"],
            rollup=str(row.get("rollup") or ("last" if row.get("kind") == "snapshot"
                                               else "ratio")),
            aggregate=str(row.get("aggregate") or "ratio"),
            target=None if target is None or pd.isna(target) else float(target),
        )
    return out


def finding_id(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:12]


def frames_by_scope(facts: pd.DataFrame
                    ) -> Iterable[tuple[tuple[str, str, str], pd.DataFrame]]:
    """(kpi_id, breakdown, breakdown_value) -> value/numerator/denominator on a full daily
    index (missing days NaN)."""
    columns = [c for c in ("value", "numerator", "denominator") if c in facts.columns]
    for scope, group in facts.groupby(["kpi_id", "breakdown", "breakdown_value"], sort=True):
        frame = group.set_index(pd.to_datetime(group["day"]))[columns].astype(float).sort_index()
        full = pd.date_range(frame.index.min(), frame.index.max(), freq="D")
        yield scope, frame.reindex(full)


def series_by_scope(facts: pd.DataFrame) -> Iterable[tuple[tuple[str, str, str], pd.Series]]:
    """(kpi_id, breakdown, breakdown_value) -> daily value series on a full daily index."""
    for scope, frame in frames_by_scope(facts):
        yield scope, frame["value"]


def trend_findings(facts: pd.DataFrame, catalogue: pd.DataFrame,
                   windows: tuple[int, ...] = TREND_WINDOWS) -> pd.DataFrame:
    """One row per KPI, scope and window. A window is skipped when the data covers less than
    half of it: a "52-week trend" over 10 weeks of data would be a 10-week trend mislabelled."""
    direction = catalogue.set_index("kpi_id")["direction"].to_dict()
    rows = []
    for (kpi_id, breakdown, value), series in series_by_scope(facts):
        if kpi_id not in direction:
            continue
        end = series.index.max()
        span = (end - series.index.min()).days + 1
        for window in windows:
            if span < window / 2:
                continue
            result = trend(series[series.index > end - pd.Timedelta(days=window)],
                           direction[kpi_id])
            rows.append([finding_id("trend", kpi_id, breakdown, value, window, end.date()),
                         kpi_id, breakdown, value, window, end.date(), result.slope_per_day,
                         result.p_value, result.relative_change, result.classification])
    return pd.DataFrame(rows, columns=TREND_COLUMNS)


def chart_transform(unit: str) -> str:
    """Durations are heavy-tailed: their control limits are set on log values."""
    return "log" if unit in DURATION_UNITS else "none"


def chartable(values: pd.Series) -> bool:
    """False for series dominated by one value (see MOST_COMMON_VALUE_SHARE)."""
    clean = values.dropna()
    return not clean.empty and clean.value_counts(normalize=True).iloc[0] <= MOST_COMMON_VALUE_SHARE


def _chart(info: KpiInfo, frame: pd.DataFrame, baseline_days: int):
    """(limits, signals, transform, weights) for one scope, or None when it is not charted."""
    values = frame["value"]
    if info.chart == "none" or not chartable(values):
        return None
    transform = info.transform if not (values.dropna() < 0).any() else "none"
    weights = frame["denominator"] if info.chart == "weighted" else None
    limits, found = signals(values, baseline_days=baseline_days, transform=transform,
                            weekday_adjust=info.chart == "xmr_weekday", weights=weights)
    return (limits, found, transform, weights) if limits is not None else None


def signal_findings(facts: pd.DataFrame, catalogue: pd.DataFrame,
                    baseline_days: int = 56) -> pd.DataFrame:
    return chart_findings(facts, catalogue, baseline_days)[0]


def chart_findings(facts: pd.DataFrame, catalogue: pd.DataFrame, baseline_days: int = 56,
                   min_stable_days: int = 28) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(signals, stability): every rule firing, and per charted scope how long it has been in
    control (``stable`` when at least ``min_stable_days``)."""
    infos = kpi_infos(catalogue)
    rows, stable_rows = [], []
    for (kpi_id, breakdown, value), frame in frames_by_scope(facts):
        if kpi_id not in infos:
            continue
        charted = _chart(infos[kpi_id], frame, baseline_days)
        if charted is None:
            continue
        limits, found, transform, weights = charted
        for s in found:
            rows.append([finding_id("signal", kpi_id, breakdown, value, s.rule, s.day), kpi_id,
                         breakdown, value, s.rule, s.day, s.value, s.centre, s.ucl, s.lcl,
                         transform, s.description, s.sigmas])
        days = in_control_stretch(frame["value"], limits, weights=weights)
        last = frame["value"].dropna().index[-1].date()
        since = last - dt.timedelta(days=days - 1)
        back = math.expm1 if transform == "log" else float
        stable_rows.append([
            finding_id("stability", kpi_id, breakdown, value, since), kpi_id, breakdown, value,
            days, since, last, back(limits.centre), back(limits.ucl), back(limits.lcl),
            transform, infos[kpi_id].chart, limits.baseline_start, limits.baseline_end,
            days >= min_stable_days])
    return (pd.DataFrame(rows, columns=SIGNAL_COLUMNS),
            pd.DataFrame(stable_rows, columns=STABILITY_COLUMNS))


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def change_point_findings(facts: pd.DataFrame, catalogue: pd.DataFrame, *,
                          min_segment_days: int = 14, min_relative_change: float = 0.10
                          ) -> pd.DataFrame:
    """Sustained level shifts per KPI and scope (see change_points.py), in plain words."""
    infos = kpi_infos(catalogue)
    rows = []
    for (kpi_id, breakdown, value), frame in frames_by_scope(facts):
        info = infos.get(kpi_id)
        if info is None or info.is_level or not chartable(frame["value"]):
            continue  # a stock wanders from day to day; its flows are analysed instead
        series = frame["value"]
        transform = info.transform if not (series.dropna() < 0).any() else "none"
        found = change_points(series, transform=transform, weekday_adjust=info.is_count,
                              min_segment_days=min_segment_days,
                              min_relative_change=min_relative_change)
        for cp in found:
            worse = (cp.after > cp.before) == (info.direction == "lower_is_better")
            scope = "all services" if breakdown == "all" else f"{breakdown} {value}"
            lasted = (f"until {cp.next_change}" if cp.next_change
                      else f"and has stayed there to {cp.segment_end}")
            rows.append([
                finding_id("change_point", kpi_id, breakdown, value, cp.day), kpi_id, breakdown,
                value, cp.day, cp.before, cp.after, cp.relative_change, cp.shift_sigmas,
                cp.segment_end, cp.next_change, "worse" if worse else "better", transform,
                f"{info.name} ({scope}) moved from about {_fmt(cp.before)} to about "
                f"{_fmt(cp.after)} {info.unit} a day ({cp.relative_change:+.0%}) on {cp.day} "
                f"{lasted}."])
    return pd.DataFrame(rows, columns=CHANGE_POINT_COLUMNS)


def window_start(last_day: dt.date, days: int) -> dt.date:
    return last_day - dt.timedelta(days=days - 1)
