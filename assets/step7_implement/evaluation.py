"""Did the action work? The KPI's daily values before and after the done date, compared.

Daily KPI values are skewed and heavy-tailed (a few long incidents dominate a day's mean time
to resolve), so the comparison is the Mann–Whitney U test, which assumes no distribution, and
the effect is reported as the change of the median daily value. The test is one-sided, towards
the KPI's better direction: an action is verified only when the KPI got better, significantly
(p < alpha) and by enough to matter (at least `min_relative_change` of the median before).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Effect:
    """The measured effect of one action. `relative_change` is signed so that + is better."""

    verified: bool
    before_median: float
    after_median: float
    relative_change: float
    p_value: float
    n_before: int
    n_after: int
    summary: str


def windows(done_on: dt.date, days: int, settle: int = 0
            ) -> tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]:
    """([first, last] before, [first, last] after): `days` days before the done date, and
    `days` days after it once `settle` days from the done date on have passed."""
    before = (done_on - dt.timedelta(days=days), done_on - dt.timedelta(days=1))
    first_after = done_on + dt.timedelta(days=settle)
    return before, (first_after, first_after + dt.timedelta(days=days - 1))


def evaluate(before: np.ndarray, after: np.ndarray, direction: str, *, alpha: float,
             min_relative_change: float, min_days: int, unit: str = "") -> Effect:
    """Compare daily values before and after; NaNs (days without data) are dropped."""
    before = np.asarray(before, dtype=float)
    after = np.asarray(after, dtype=float)
    before, after = before[~np.isnan(before)], after[~np.isnan(after)]
    n_before, n_after = len(before), len(after)
    if min(n_before, n_after) < min_days:
        return Effect(False, math.nan, math.nan, math.nan, math.nan, n_before, n_after,
                      f"ineffective: the effect cannot be shown with {n_before} days of data "
                      f"before and {n_after} after (at least {min_days} each are needed)")
    lower_is_better = direction == "lower_is_better"
    test = stats.mannwhitneyu(after, before, alternative="less" if lower_is_better else "greater")
    p_value = float(test.pvalue)
    m_before, m_after = float(np.median(before)), float(np.median(after))
    sign = -1.0 if lower_is_better else 1.0
    relative = sign * (m_after - m_before) / abs(m_before) if m_before != 0 else math.nan
    verified = p_value < alpha and not math.isnan(relative) and relative >= min_relative_change
    shown = "n/a" if math.isnan(relative) else f"{relative:+.0%}"
    summary = (
        f"{'verified' if verified else 'ineffective'}: median daily value {m_before:,.4g} -> "
        f"{m_after:,.4g} {unit}".rstrip()
        + f" ({shown} better), Mann-Whitney U = {float(test.statistic):.0f}, one-sided "
        f"p = {p_value:.4f}, {n_before} days before vs {n_after} after (needs p < {alpha:g} "
        f"and at least {min_relative_change:+.0%})"
    )
    return Effect(verified, m_before, m_after, relative, p_value, n_before, n_after, summary)
