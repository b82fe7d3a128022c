"""Per KPI and breakdown: which group explains the change between two periods.

The period sums come from clean.kpi_daily in one SQL query (numerator and denominator sums per
group and period, and the last day's value for levels); the decomposition itself is
decomposition.py. Quantile KPIs (median, p90) cannot be split into group contributions and are
left out.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from assets.step5_analyze.decomposition import decompose
from assets.step5_analyze.findings import KpiInfo, finding_id

DRIVER_COLUMNS = ["finding_id", "kpi_id", "breakdown", "breakdown_value", "before_start",
                  "before_end", "after_start", "after_end", "kpi_before", "kpi_after",
                  "weight_before", "weight_after", "value_before", "value_after", "mix_effect",
                  "rate_effect", "effect", "share_of_change", "rank"]

_SUMS = """
SELECT kpi_id, breakdown, breakdown_value AS "group",
       coalesce(sum(numerator) FILTER (WHERE day <= $before_end), 0) AS num0,
       coalesce(sum(denominator) FILTER (WHERE day <= $before_end), 0) AS den0,
       coalesce(sum(numerator) FILTER (WHERE day > $before_end), 0) AS num1,
       coalesce(sum(denominator) FILTER (WHERE day > $before_end), 0) AS den1,
       arg_max(value, day) FILTER (WHERE day <= $before_end) AS last0,
       arg_max(value, day) FILTER (WHERE day > $before_end) AS last1
FROM clean.kpi_daily
WHERE breakdown <> 'all' AND day >= $before_start AND day <= $after_end
GROUP BY ALL ORDER BY ALL"""


def periods(last_day: dt.date, days: int) -> tuple[dt.date, dt.date, dt.date, dt.date]:
    """(before_start, before_end, after_start, after_end): the last ``days`` days against the
    ``days`` days before them."""
    after_start = last_day - dt.timedelta(days=days - 1)
    before_end = after_start - dt.timedelta(days=1)
    return before_end - dt.timedelta(days=days - 1), before_end, after_start, last_day


def driver_rows(con: duckdb.DuckDBPyConnection, infos: dict[str, KpiInfo], last_day: dt.date,
                days: int) -> pd.DataFrame:
    """Every group's mix, rate and total effect on its KPI's change, ranked per KPI and
    breakdown by the size of its effect."""
    b0, b1, a0, a1 = periods(last_day, days)
    sums = con.execute(_SUMS, {"before_start": b0, "before_end": b1, "after_end": a1}).df()
    rows = []
    for (kpi_id, breakdown), groups in sums.groupby(["kpi_id", "breakdown"], sort=True):
        info = infos.get(kpi_id)
        if info is None or info.rollup == "quantile":
            continue
        kind = "last" if info.is_level else "count" if info.is_count else "ratio"
        if kind == "last":
            groups = groups.assign(num0=groups["last0"], num1=groups["last1"])
        v0, v1, effects = decompose(groups, kind)
        for rank, row in enumerate(effects.itertuples(index=False), start=1):
            rows.append([
                finding_id("driver", kpi_id, breakdown, row.group, a1), kpi_id, breakdown,
                row.group, b0, b1, a0, a1, v0, v1, row.weight_before, row.weight_after,
                row.value_before, row.value_after, row.mix_effect, row.rate_effect,
                row.total_effect, row.share_of_change, rank])
    return pd.DataFrame(rows, columns=DRIVER_COLUMNS)
