"""Known-answer tests for the step 5 methods added beside trends and XmR charts: weighted
charts, change points, mix/rate decomposition, forecasts and target outlooks.

Each series is built with a fixed seed and an answer stated in advance (a step on day 90, a
ramp, a spike, pure noise), so the tests check behaviour rather than snapshot output.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from assets.step5_analyze.change_points import change_points
from assets.step5_analyze.control_charts import signals
from assets.step5_analyze.decomposition import decompose
from assets.step5_analyze.forecasts import backtest_origins, forecast_series
from assets.step5_analyze.targets import outlook

START = date(2026, 1, 5)  # a Monday


def daily(values) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=float), pd.date_range(START, periods=len(values)))


def day(i: int) -> date:
    return START + timedelta(days=i)


def noise(seed: int, n: int, level: float = 100.0, sd: float = 10.0) -> np.ndarray:
    return level + sd * np.random.default_rng(seed).standard_normal(n)


# --- weighted (Laney) charts ---------------------------------------------------------------


def _compliance(seed: int, n: int = 150, p: float = 0.9):
    rng = np.random.default_rng(seed)
    tickets = np.where(np.arange(n) % 7 >= 5, 3, 40)  # quiet weekends
    met = rng.binomial(tickets, p)
    return daily(met / tickets), daily(tickets)


def test_weighted_chart_gives_quiet_days_wider_limits() -> None:
    values, weights = _compliance(1)
    values.iloc[100] = 0.5  # a Wednesday with 40 tickets at 50 %: far out
    limits, found = signals(values, weights=weights)
    assert limits is not None and limits.centre == pytest.approx(0.9, abs=0.02)
    low = [s for s in found if s.rule == "beyond_3_sigma" and s.day == day(100)]
    assert len(low) == 1 and low[0].sigmas < -4
    # A Saturday with 1 of 3 met (33 %) is ordinary noise at n = 3, not a signal.
    values.iloc[103] = 1 / 3
    _, found = signals(values, weights=weights)
    assert not [s for s in found if s.day == day(103) and s.rule == "beyond_3_sigma"]


def test_weighted_chart_cuts_false_alarms_of_quiet_days() -> None:
    weighted, unweighted = [], []
    for seed in range(20):
        values, weights = _compliance(seed)
        weighted.append(sum(s.rule == "beyond_3_sigma"
                            for s in signals(values, weights=weights)[1]))
        unweighted.append(sum(s.rule == "beyond_3_sigma"
                              for s in signals(values, weekday_adjust=False)[1]))
    # Nominal is 150 * 0.0027 = 0.4 per series; with 3-ticket days a ratio is discrete and
    # skewed (1 of 3 met happens 2.7 % of the time), which costs about one alarm more. Charted
    # without weights, the quiet days swamp the limits: well over twice as many.
    assert np.mean(weighted) <= 1.5
    assert np.mean(unweighted) >= 2 * np.mean(weighted)


# --- change points -------------------------------------------------------------------------


def test_step_is_found_and_dated() -> None:
    values = noise(3, 150)
    values[90:] += 15  # 1.5 noise sigmas up from day 90
    found = change_points(daily(values))
    assert len(found) == 1
    cp = found[0]
    assert abs((cp.day - day(90)).days) <= 3
    assert cp.before == pytest.approx(100, abs=3) and cp.after == pytest.approx(115, abs=3)
    assert cp.relative_change == pytest.approx(0.15, abs=0.04)
    assert cp.next_change is None and cp.segment_end == day(149)


def test_ramp_is_dated_inside_the_ramp() -> None:
    values = noise(4, 150)
    values[60:102] += np.linspace(0, 30, 42)
    values[102:] += 30
    found = change_points(daily(values))
    assert found
    assert all(day(55) <= cp.day <= day(110) for cp in found)
    assert found[-1].after > found[0].before + 20


def test_spike_is_not_a_change_point() -> None:
    values = noise(5, 150)
    values[80] += 200  # one wild day, 20 sigmas
    values[81] += 150
    assert change_points(daily(values)) == []


def test_noise_rarely_gives_a_change_point() -> None:
    flagged = sum(bool(change_points(daily(noise(seed, 150)))) for seed in range(40))
    assert flagged <= 2


def test_durations_use_log_values_and_short_series_have_none() -> None:
    rng = np.random.default_rng(6)
    minutes = np.exp(6 + 0.5 * rng.standard_normal(120))
    minutes[70:] *= 2
    found = change_points(daily(minutes), transform="log")
    assert len(found) == 1 and abs((found[0].day - day(70)).days) <= 4
    assert found[0].after / found[0].before == pytest.approx(2, rel=0.25)
    assert change_points(daily(noise(0, 27))) == []
    with pytest.raises(ValueError, match="non-negative"):
        change_points(daily(-minutes), transform="log")


# --- mix and rate decomposition ------------------------------------------------------------


def test_decomposition_adds_up_and_separates_mix_from_rate() -> None:
    # Service A: 100 -> 100 records at 90 % -> 70 %; B: 100 -> 300 records at 50 % both times.
    groups = pd.DataFrame({"group": ["A", "B"], "num0": [90, 50], "den0": [100, 100],
                           "num1": [70, 150], "den1": [100, 300]})
    v0, v1, effects = decompose(groups, "ratio")
    assert v0 == pytest.approx(0.70) and v1 == pytest.approx(220 / 400)
    assert effects["total_effect"].sum() == pytest.approx(v1 - v0)
    a = effects.set_index("group").loc["A"]
    b = effects.set_index("group").loc["B"]
    assert a["rate_effect"] == pytest.approx(-0.2 * (0.5 + 0.25) / 2)
    assert b["rate_effect"] == pytest.approx(0.0)
    assert b["mix_effect"] < 0  # B's share grew and B runs below the average
    assert effects["share_of_change"].sum() == pytest.approx(1.0)


def test_decomposition_of_counts_and_levels() -> None:
    groups = pd.DataFrame({"group": ["A", "B"], "num0": [280, 140], "den0": [28, 28],
                           "num1": [280, 420], "den1": [28, 28]})
    v0, v1, effects = decompose(groups, "count")
    assert (v0, v1) == (pytest.approx(15.0), pytest.approx(25.0))
    assert effects.iloc[0]["group"] == "B" and effects.iloc[0]["total_effect"] == 10
    assert (effects["mix_effect"] == 0).all()
    levels = groups.assign(num0=[30, 10], num1=[25, 40])
    v0, v1, effects = decompose(levels, "last")
    assert (v0, v1) == (40, 65)
    with pytest.raises(ValueError):
        decompose(groups, "median")


# --- forecasts -----------------------------------------------------------------------------


def _weekly(n: int, seed: int, slope: float = 0.0) -> pd.Series:
    pattern = np.tile([1.15, 1.05, 1.0, 0.95, 0.85, 0.3, 0.3], n // 7 + 1)[:n]
    rng = np.random.default_rng(seed)
    return daily(100 * pattern + slope * np.arange(n) + rng.normal(0, 4, n))


def test_backtest_origins_leave_whole_weeks() -> None:
    origins = backtest_origins(120, min_train_days=28, max_weeks=13, max_origins=4)
    assert origins == sorted(origins) and len(origins) == 4
    assert all((120 - o) % 7 == 0 for o in origins)
    assert origins[0] == 120 - 13 * 7 and origins[-1] == 113
    assert backtest_origins(30, min_train_days=28, max_weeks=13, max_origins=4) == []


def test_forecast_beats_seasonal_naive_on_noisy_weekly_series() -> None:
    series = _weekly(140, 1)
    result = forecast_series(series, horizon_weeks=8, max_origins=3)
    assert result is not None
    weeks = result.weeks
    assert list(weeks["week_ahead"]) == list(range(1, 9))
    assert weeks["start"].iloc[0] == (series.index[-1] + pd.Timedelta(days=1)).date()
    # The weekly mean of the pattern is 80; every forecast week should be close to it.
    assert np.allclose(weeks["forecast"], 80, atol=6)
    assert result.skill > 0 and result.method != "seasonal_naive"
    assert (weeks["lower"] < weeks["forecast"]).all() and (weeks["upper"] > weeks["forecast"]).all()
    assert (weeks["origins"].diff().dropna() <= 0).all()  # fewer backtests reach further


def test_forecast_follows_a_trend_and_needs_enough_history() -> None:
    result = forecast_series(_weekly(140, 2, slope=0.5), horizon_weeks=6, max_origins=3)
    assert result is not None
    assert result.weeks["forecast"].iloc[-1] > result.weeks["forecast"].iloc[0] + 5
    assert forecast_series(_weekly(50, 3), min_horizon_weeks=4) is None


# --- target outlook ------------------------------------------------------------------------


def test_target_date_at_the_current_trend() -> None:
    rng = np.random.default_rng(9)
    falling = daily(200 - 1.0 * np.arange(91) + rng.normal(0, 3, 91))  # 110 on the last day
    look = outlook(falling, "lower_is_better", 80)
    assert look.status == "reached_on"
    expected = day(90) + timedelta(days=30)
    assert abs((look.date - expected).days) <= 4
    assert look.level_now == pytest.approx(110, abs=3)

    assert outlook(falling, "lower_is_better", 150).status == "met"
    assert outlook(falling, "higher_is_better", 100).status == "met_until"
    flat = daily(noise(2, 91))
    assert outlook(flat, "lower_is_better", 50).status == "not_reached"
    assert outlook(daily([1.0] * 5), "lower_is_better", 50).status == "insufficient data"
    assert math.isnan(outlook(daily([1.0] * 5), "lower_is_better", 50).level_now)
