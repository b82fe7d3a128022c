"""Which group explains a KPI's change between two periods: mix and rate effects.

A ratio KPI over all services is a weighted average of the services' own ratios, the weights
being each service's share of the denominator (its share of resolved incidents, of SLA records):

    V = sum_g w_g * r_g,   w_g = den_g / sum(den),   r_g = num_g / den_g

so V can move because a group's own ratio moved (rate effect) or because the weights moved
towards groups that run higher or lower (mix effect). With period 0 (before) and 1 (after):

    rate_g = (r1_g - r0_g) * (w0_g + w1_g) / 2
    mix_g  = (w1_g - w0_g) * ((r0_g + r1_g) / 2 - (V0 + V1) / 2)

The two add up to V1 - V0 exactly (the midpoint, or Shapley, split, so neither effect is
favoured by the order of computation), and mix_g is measured against the overall level: a group
gaining share only raises V if its ratio is above the average. A group present in one period
only takes its ratio from the other period (its weight there is 0, so nothing is invented).

Counts (a KPI without denominator, e.g. incidents per day) are sums over groups, not weighted
averages: the change per group is its own change in the per-day count (all "rate", no mix).
Snapshot KPIs with a `last` roll-up (the backlog) compare the last day of each period.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["group", "weight_before", "weight_after", "value_before", "value_after",
           "mix_effect", "rate_effect", "total_effect", "share_of_change"]


def decompose(groups: pd.DataFrame, kind: str) -> tuple[float, float, pd.DataFrame]:
    """(V0, V1, per-group effects) from per-group sums.

    ``groups`` has columns ``group``, ``num0``, ``den0``, ``num1``, ``den1`` (sums of numerator
    and denominator per period; for ``kind="count"`` den is the number of days; for
    ``kind="last"`` num is the last day's value and den is ignored). ``kind`` is "ratio",
    "count" or "last". ``share_of_change`` is total_effect / (V1 - V0) (NaN when V did not
    move).
    """
    if kind not in ("ratio", "count", "last"):
        raise ValueError(f"kind must be ratio, count or last, got {kind!r}")
    g = groups.copy()
    if kind == "ratio":
        g = g[(g["den0"] > 0) | (g["den1"] > 0)]
        w0 = g["den0"] / g["den0"].sum() if g["den0"].sum() > 0 else g["den0"] * 0
        w1 = g["den1"] / g["den1"].sum() if g["den1"].sum() > 0 else g["den1"] * 0
        r0 = (g["num0"] / g["den0"].where(g["den0"] > 0)).to_numpy()
        r1 = (g["num1"] / g["den1"].where(g["den1"] > 0)).to_numpy()
        r0, r1 = np.where(np.isnan(r0), r1, r0), np.where(np.isnan(r1), r0, r1)
        v0, v1 = float(np.sum(w0 * r0)), float(np.sum(w1 * r1))
        rate = (r1 - r0) * (w0 + w1) / 2
        mix = (w1 - w0) * ((r0 + r1) / 2 - (v0 + v1) / 2)
        weight0, weight1 = w0.to_numpy(), w1.to_numpy()
    else:
        if kind == "count":
            r0 = (g["num0"] / g["den0"].where(g["den0"] > 0)).fillna(0).to_numpy()
            r1 = (g["num1"] / g["den1"].where(g["den1"] > 0)).fillna(0).to_numpy()
        else:
            r0, r1 = g["num0"].fillna(0).to_numpy(), g["num1"].fillna(0).to_numpy()
        v0, v1 = float(r0.sum()), float(r1.sum())
        rate, mix = r1 - r0, np.zeros(len(g))
        weight0 = r0 / v0 if v0 else np.zeros(len(g))
        weight1 = r1 / v1 if v1 else np.zeros(len(g))
    total = np.asarray(mix) + np.asarray(rate)
    change = v1 - v0
    out = pd.DataFrame({
        "group": g["group"].to_numpy(), "weight_before": np.asarray(weight0),
        "weight_after": np.asarray(weight1), "value_before": r0, "value_after": r1,
        "mix_effect": np.asarray(mix), "rate_effect": np.asarray(rate), "total_effect": total,
        "share_of_change": total / change if change != 0 else np.nan,
    }, columns=COLUMNS)
    return v0, v1, out.sort_values("total_effect", key=np.abs, ascending=False,
                                   ignore_index=True)
