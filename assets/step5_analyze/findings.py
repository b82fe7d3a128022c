"""Turning daily KPI series into findings with stable ids.

The series come from clean.kpi_daily (small: one value per KPI, day and breakdown value), so
pandas is the right tool here. A finding's id depends only on what it says (KPI, scope, kind,
rule, day), so the report and the improvement register can refer to it across runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

import pandas as pd

from assets.step5_analyze.control_charts import signals
from assets.step5_analyze.trends import trend

TREND_WINDOWS = (28, 91)
TREND_COLUMNS = ["finding_id", "kpi_id", "breakdown", "breakdown_value", "window_days",
                 "window_end", "slope_per_day", "p_value", "relative_change", "classification"]
SIGNAL_COLUMNS = ["finding_id", "kpi_id", "breakdown", "breakdown_value", "rule", "day",
                  "value", "centre", "ucl", "lcl", "transform", "description"]


def finding_id(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:12]


def series_by_scope(facts: pd.DataFrame) -> Iterable[tuple[tuple[str, str, str], pd.Series]]:
    """(kpi_id, breakdown, breakdown_value) -> daily value series on a full daily index."""
    for scope, group in facts.groupby(["kpi_id", "breakdown", "breakdown_value"], sort=True):
        values = group.set_index(pd.to_datetime(group["day"]))["value"].astype(float).sort_index()
        full = pd.date_range(values.index.min(), values.index.max(), freq="D")
        yield scope, values.reindex(full)


def trend_findings(facts: pd.DataFrame, catalogue: pd.DataFrame) -> pd.DataFrame:
    direction = catalogue.set_index("kpi_id")["direction"].to_dict()
    rows = []
    for (kpi_id, breakdown, value), series in series_by_scope(facts):
        if kpi_id not in direction:
            continue
        end = series.index.max()
        for window in TREND_WINDOWS:
            result = trend(series[series.index > end - pd.Timedelta(days=window)],
                           direction[kpi_id])
            rows.append([finding_id("trend", kpi_id, breakdown, value, window, end.date()),
                         kpi_id, breakdown, value, window, end.date(), result.slope_per_day,
                         result.p_value, result.relative_change, result.classification])
    return pd.DataFrame(rows, columns=TREND_COLUMNS)


def chart_transform(unit: str) -> str:
    """Durations are heavy-tailed: their control limits are set on log values."""
    return "log" if unit in ("minutes", "hours", "days") else "none"


def signal_findings(facts: pd.DataFrame, catalogue: pd.DataFrame) -> pd.DataFrame:
    info = catalogue.set_index("kpi_id")
    rows = []
    for (kpi_id, breakdown, value), series in series_by_scope(facts):
        if kpi_id not in info.index:
            continue
        transform = chart_transform(str(info.at[kpi_id, "unit"]))
        clean = series.dropna()
        if transform == "log" and (clean < 0).any():
            transform = "none"
        _, found = signals(series, transform=transform,
                           weekday_adjust=info.at[kpi_id, "kind"] == "event")
        for s in found:
            rows.append([finding_id("signal", kpi_id, breakdown, value, s.rule, s.day), kpi_id,
                         breakdown, value, s.rule, s.day, s.value, s.centre, s.ucl, s.lcl,
                         transform, s.description])
    return pd.DataFrame(rows, columns=SIGNAL_COLUMNS)


def window_start(last_day: dt.date, days: int) -> dt.date:
    return last_day - dt.timedelta(days=days - 1)
