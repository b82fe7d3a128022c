"""What step 7 reads from the warehouse: findings worth an action, and the KPI series to watch.

Everything here is a read of small analysis tables or of clean.kpi_daily restricted to the
scopes the register cares about, so it stays cheap however long the history is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb
import pandas as pd

from assets.kpi_sql import ALL
from resources.warehouse import scalar

PROPOSAL_TREND_DAYS = 91
"""Services are proposed for when their 13-week trend (analysis.kpi_trends) is degrading."""
MONITOR_TREND_DAYS = 28
"""An action's KPI moves the wrong way when its 4-week trend in the action's scope degrades."""

Scope = tuple[str, str, str]  # kpi_id, breakdown, breakdown value


@dataclass(frozen=True)
class Candidate:
    """A finding that deserves an action: which KPI, where, why, and the analysis ids behind it."""

    kpi_id: str
    breakdown: str
    value: str
    reason: str
    finding_ids: tuple[str, ...]
    evidence: tuple[str, ...]

    @property
    def scope(self) -> Scope:
        return (self.kpi_id, self.breakdown, self.value)


def last_day(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The newest day with KPI facts: the register's "today" (data time, not the wall clock)."""
    day = scalar(con, "SELECT max(day) FROM clean.kpi_daily")
    return pd.Timestamp(day).date() if day is not None else None


def catalogue(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute("SELECT kpi_id, name, unit, direction, rollup, target "
                       "FROM measures.kpi_catalogue").df().set_index("kpi_id")


def _signals(con: duckdb.DuckDBPyConnection, since: dt.date) -> dict[Scope, list[str]]:
    rows = con.execute(
        "SELECT kpi_id, breakdown, breakdown_value, list(finding_id ORDER BY day, finding_id) "
        "FROM analysis.kpi_signals WHERE day >= ? GROUP BY ALL", [since]).fetchall()
    return {(k, b, v): list(ids) for k, b, v, ids in rows}


def candidates(con: duckdb.DuckDBPyConnection, since: dt.date) -> list[Candidate]:
    """KPIs off target on the scorecard (all services) and services degrading over 13 weeks,
    each with its trend finding and the control-chart signals of the scope since `since`."""
    signals = _signals(con, since)
    rows = con.execute(f"""
        SELECT s.kpi_id, 'all', '{ALL}',
               format('off target: {{:.4g}} {{}} over {{}} .. {{}} against a target of {{:.4g}}',
                      s.value, s.unit, s.window_start, s.window_end, s.target),
               t.finding_id, t.relative_change, t.p_value, t.classification
        FROM present.scorecard s
        LEFT JOIN analysis.kpi_trends t ON t.kpi_id = s.kpi_id AND t.breakdown = 'all'
         AND t.window_days = $days
        WHERE s.status = 'off_target'
        UNION ALL
        SELECT t.kpi_id, t.breakdown, t.breakdown_value,
               format('degrading: {{:+.0f}}% over 13 weeks to {{}} (Mann-Kendall p = {{:.3f}})',
                      100 * t.relative_change, t.window_end, t.p_value),
               t.finding_id, t.relative_change, t.p_value, t.classification
        FROM analysis.kpi_trends t
        WHERE t.breakdown = 'service' AND t.window_days = $days
          AND t.classification = 'degrading'
        ORDER BY ALL""", {"days": PROPOSAL_TREND_DAYS}).fetchall()
    out = []
    for kpi_id, breakdown, value, reason, trend_id, change, p_value, classification in rows:
        ids, evidence = [], []
        if trend_id is not None:
            ids.append(trend_id)
            measured = (f", Theil-Sen change {change:+.0%}, Mann-Kendall p = {p_value:.3f}"
                        if change is not None and p_value is not None else "")
            evidence.append(f"trend {trend_id}: {classification} over {PROPOSAL_TREND_DAYS} "
                            f"days{measured}")
        chart = signals.get((kpi_id, breakdown, value), [])
        if chart:
            ids += chart
            evidence.append(f"{len(chart)} control-chart signal(s) since {since}: "
                            + ", ".join(chart))
        out.append(Candidate(kpi_id, breakdown, value, reason, tuple(ids), tuple(evidence)))
    return out


def wrong_way(con: duckdb.DuckDBPyConnection) -> set[Scope]:
    """Scopes whose KPI degrades over the last 4 weeks."""
    rows = con.execute(
        "SELECT kpi_id, breakdown, breakdown_value FROM analysis.kpi_trends "
        "WHERE window_days = ? AND classification = 'degrading'", [MONITOR_TREND_DAYS]).fetchall()
    return {(k, b, v) for k, b, v in rows}


def series(con: duckdb.DuckDBPyConnection, scopes: Iterable[Scope], since: dt.date
           ) -> dict[Scope, pd.DataFrame]:
    """Daily numerator, denominator and value per scope from `since` on, indexed by day."""
    keys = pd.DataFrame(sorted(set(scopes)), columns=["kpi_id", "breakdown", "breakdown_value"])
    if keys.empty:
        return {}
    con.register("_register_scopes", keys)
    try:
        frame = con.execute("""
            SELECT k.kpi_id, k.breakdown, k.breakdown_value, k.day, k.numerator, k.denominator,
                   k.value
            FROM clean.kpi_daily k JOIN _register_scopes USING (kpi_id, breakdown,
                                                                breakdown_value)
            WHERE k.day >= ? ORDER BY ALL""", [since]).df()
    finally:
        con.unregister("_register_scopes")
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return {scope: group.set_index("day")[["numerator", "denominator", "value"]]
            for scope, group in frame.groupby(["kpi_id", "breakdown", "breakdown_value"])}


def rollup(daily: pd.DataFrame | None, kind: str, first: dt.date, last: dt.date) -> float | None:
    """The KPI over [first, last]: the ratio of summed numerators and denominators (`ratio`),
    the last day's value (`last`), or, for quantile KPIs, whose exact window value needs the
    detail rows, the median of the daily values: an approximation good enough to watch."""
    if daily is None:
        return None
    days = daily[(daily.index >= first) & (daily.index <= last)]
    value = days["value"].dropna()
    if value.empty:
        return None
    if kind == "last":
        return float(value.iloc[-1])
    if kind == "quantile":
        return float(value.median())
    denominator = float(days["denominator"].sum())
    return float(days["numerator"].sum()) / denominator if denominator else None
