"""Forecasts of a daily KPI series, weeks ahead, with the error they made in backtests.

A forecast is only worth showing with an honest statement of how wrong such forecasts were in
the past. So every method is replayed on the series' own history (a rolling-origin backtest:
cut the history at several earlier days, forecast from there, compare with what really
happened), the method with the smallest backtested error wins, and that error is stored beside
every forecast week. The yardstick is the seasonal-naive forecast ("every future week looks like
the last one"): a method that cannot beat it is not used.

Methods (statsmodels):

* ``seasonal_naive``: the last 7 days repeated; the baseline.
* ``ets``: exponential smoothing of the level with an additive weekly pattern (Holt-Winters
  without trend): follows the recent level, does not extrapolate.
* ``stl_ets``: STL splits off the weekly pattern, a damped-trend exponential smoothing
  forecasts the rest: extrapolates a trend, flattening it out over the weeks.
* ``theta``: the Theta method (a drifting exponential smoothing, deseasonalised when the
  series has a weekly pattern), strong on short noisy series.

Forecasts are made per day and reported as weekly means of the daily forecast ("week 1" = the
7 days after the last day with data). Forecasts only go as many weeks ahead as the history
allows to backtest: with 4 weeks of training data needed before the first origin, 10 weeks of
history give at most 6 weeks of tested forecast.

The backtest and the choice (:func:`select_method`, giving a :class:`Selection`) are separate
from fitting the chosen method on the whole series (:func:`forecast_with`), so that the nightly
asset can keep a selection for several days (reselection.py) and only fit.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

SEASON = 7
BASELINE = "seasonal_naive"
INTERVAL_Z = 1.28
"""The interval is forecast +- 1.28 * 1.25 * backtested MAE: for roughly normal errors MAE is
0.8 sigma, so this is an approximate 80 % interval."""


def _seasonal_naive(train: pd.Series, horizon: int) -> np.ndarray:
    last = train.to_numpy()[-SEASON:]
    return np.resize(last, horizon)


def _ets(train: pd.Series, horizon: int) -> np.ndarray:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    model = ExponentialSmoothing(train.to_numpy(), seasonal="add", seasonal_periods=SEASON)
    return np.asarray(model.fit().forecast(horizon))


def _stl_ets(train: pd.Series, horizon: int) -> np.ndarray:
    from statsmodels.tsa.forecasting.stl import STLForecast
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    model = STLForecast(train.to_numpy(), ExponentialSmoothing, period=SEASON,
                        model_kwargs={"trend": "add", "damped_trend": True})
    return np.asarray(model.fit().forecast(horizon))


def _theta(train: pd.Series, horizon: int) -> np.ndarray:
    from statsmodels.tsa.forecasting.theta import ThetaModel

    return np.asarray(ThetaModel(train.to_numpy(), period=SEASON).fit().forecast(horizon))


METHODS: dict[str, Callable[[pd.Series, int], np.ndarray]] = {
    BASELINE: _seasonal_naive,
    "ets": _ets,
    "stl_ets": _stl_ets,
    "theta": _theta,
}


@dataclass(frozen=True)
class Forecast:
    """The chosen method's forecast, week by week, with its backtested errors.

    ``weeks`` has one row per week ahead: ``week_ahead``, ``start``, ``end`` (dates),
    ``forecast`` (mean daily value), ``backtest_mae`` (mean absolute error of that lead time's
    weekly means over the backtest origins), ``baseline_mae`` (the same for seasonal naive),
    ``origins`` (how many backtests measured that lead time), ``lower``/``upper``.
    ``skill`` is 1 - (method's error / baseline's error), averaged over the lead times: 0.2
    means 20 % smaller errors than "same as last week".
    """

    method: str
    weeks: pd.DataFrame
    scores: dict[str, float]
    skill: float


def forecast_method(method: str, train: pd.Series, horizon: int) -> np.ndarray:
    """``horizon`` daily values after ``train`` with one method; statsmodels' convergence
    warnings are silenced because the backtest, not the optimiser, judges the result."""
    if method not in METHODS:
        raise ValueError(f"unknown forecast method {method!r}; known: {sorted(METHODS)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = METHODS[method](train, horizon)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{method} produced a non-finite forecast")
    return values


def weekly_means(values: np.ndarray, weeks: int) -> np.ndarray:
    return np.asarray(values[: weeks * SEASON], dtype=float).reshape(weeks, SEASON).mean(axis=1)


def backtest_origins(n: int, *, min_train_days: int, max_weeks: int, max_origins: int
                     ) -> list[int]:
    """Cut-off positions for the backtest, newest last: every origin leaves whole weeks to
    check, the oldest leaves ``max_weeks`` (or as many as fit after ``min_train_days``)."""
    deepest = min(max_weeks, (n - min_train_days) // SEASON)
    if deepest < 1:
        return []
    weeks_back = np.unique(np.round(np.linspace(1, deepest, min(max_origins, deepest))))
    return sorted(n - SEASON * int(w) for w in weeks_back)


def backtest(series: pd.Series, origins: list[int], weeks: int,
             methods: tuple[str, ...] = tuple(METHODS)) -> dict[str, np.ndarray]:
    """Per method, the mean absolute error of each lead time's weekly mean (NaN where no origin
    reaches that far). A method that fails at an origin is scored as missing there: it is not
    chosen unless it worked at every origin."""
    values = series.to_numpy(dtype=float)
    errors: dict[str, list[list[float]]] = {m: [[] for _ in range(weeks)] for m in methods}
    failed: set[str] = set()
    for origin in origins:
        reach = min(weeks, (len(values) - origin) // SEASON)
        actual = weekly_means(values[origin:], reach)
        for method in methods:
            try:
                predicted = weekly_means(forecast_method(method, series.iloc[:origin],
                                                         reach * SEASON), reach)
            except (ValueError, np.linalg.LinAlgError):
                failed.add(method)
                continue
            for k in range(reach):
                errors[method][k].append(abs(predicted[k] - actual[k]))
    return {m: np.array([np.mean(e) if e else math.nan for e in errors[m]])
            for m in methods if m not in failed}


@dataclass(frozen=True)
class Selection:
    """What the backtest decided for one series: the method and the errors it made.

    This is all a later night needs to forecast the same way without running the backtest
    again (see outlook.py): per week ahead, the chosen method's and seasonal naive's backtested
    mean absolute error and how many origins measured it.
    """

    method: str
    backtest_mae: tuple[float, ...]
    baseline_mae: tuple[float, ...]
    origins: tuple[int, ...]
    scores: dict[str, float]
    skill: float

    @property
    def weeks(self) -> int:
        return len(self.backtest_mae)


def regular_series(series: pd.Series) -> pd.Series | None:
    """The series on a regular daily grid with missing days interpolated (the methods need
    one); None when more than 10 % of the days are missing."""
    if not isinstance(series.index, pd.DatetimeIndex):
        raise TypeError("forecasting needs a series indexed by a DatetimeIndex")
    full = series.sort_index()
    full = full.reindex(pd.date_range(full.index.min(), full.index.max(), freq="D"))
    if full.isna().mean() > 0.10:
        return None
    return full.interpolate(limit_direction="both")


def backtest_plan(n: int, *, horizon_weeks: int, min_horizon_weeks: int, min_train_days: int,
                  max_origins: int) -> tuple[list[int], int] | None:
    """(origins, weeks ahead) of the backtest of an ``n``-day series; None when fewer than
    ``min_horizon_weeks`` weeks can be backtested."""
    origins = backtest_origins(n, min_train_days=min_train_days, max_weeks=horizon_weeks,
                               max_origins=max_origins)
    weeks = (n - origins[0]) // SEASON if origins else 0
    return (origins, weeks) if weeks >= min_horizon_weeks else None


def origins_per_week(n: int, origins: list[int], weeks: int) -> tuple[int, ...]:
    """How many backtest origins reach each week ahead."""
    return tuple(sum(1 for o in origins if o + SEASON * (k + 1) <= n) for k in range(weeks))


def select_method(full: pd.Series, origins: list[int], weeks: int,
                  methods: tuple[str, ...] = tuple(METHODS)) -> Selection:
    """Run the backtest and choose: the smallest mean error wins, seasonal naive on ties."""
    if BASELINE not in methods:
        raise ValueError("the seasonal-naive baseline must be among the methods")
    errors = backtest(full, origins, weeks, methods)
    scores = {m: float(np.nanmean(e)) for m, e in errors.items()}
    chosen = min(scores, key=lambda m: (scores[m], m != BASELINE))
    base_score = scores[BASELINE]
    skill = 1 - scores[chosen] / base_score if base_score > 0 else 0.0
    return Selection(chosen, tuple(float(e) for e in errors[chosen]),
                     tuple(float(e) for e in errors[BASELINE]),
                     origins_per_week(len(full), origins, weeks), scores, float(skill))


def forecast_with(full: pd.Series, selection: Selection) -> Forecast:
    """Fit the selected method on the whole (regular) series and forecast its weeks, with the
    selection's backtested errors beside them. Raises ValueError when the fit fails."""
    weeks = selection.weeks
    values = weekly_means(forecast_method(selection.method, full, weeks * SEASON), weeks)
    last = full.index[-1]
    frame = pd.DataFrame({
        "week_ahead": np.arange(1, weeks + 1),
        "start": [(last + pd.Timedelta(days=1 + SEASON * k)).date() for k in range(weeks)],
        "end": [(last + pd.Timedelta(days=SEASON * (k + 1))).date() for k in range(weeks)],
        "forecast": values,
        "backtest_mae": np.asarray(selection.backtest_mae, dtype=float),
        "baseline_mae": np.asarray(selection.baseline_mae, dtype=float),
        "origins": list(selection.origins),
    })
    band = INTERVAL_Z * 1.25 * frame["backtest_mae"]
    frame["lower"], frame["upper"] = frame["forecast"] - band, frame["forecast"] + band
    return Forecast(selection.method, frame, dict(selection.scores), selection.skill)


def forecast_series(
    series: pd.Series,
    *,
    horizon_weeks: int = 13,
    min_horizon_weeks: int = 4,
    min_train_days: int = 28,
    max_origins: int = 4,
    methods: tuple[str, ...] = tuple(METHODS),
) -> Forecast | None:
    """Backtest, choose and forecast one daily series; None when the history is too short
    for ``min_horizon_weeks`` of backtested forecast or has gaps it cannot bridge.

    Missing days are filled by linear interpolation (the methods need a regular daily grid);
    a series that is still more than 10 % gaps is not forecast.
    """
    if not isinstance(series.index, pd.DatetimeIndex):
        raise TypeError("forecast_series() needs a series indexed by a DatetimeIndex")
    if BASELINE not in methods:
        raise ValueError("the seasonal-naive baseline must be among the methods")
    full = regular_series(series)
    if full is None:
        return None
    plan = backtest_plan(len(full), horizon_weeks=horizon_weeks,
                         min_horizon_weeks=min_horizon_weeks, min_train_days=min_train_days,
                         max_origins=max_origins)
    if plan is None:
        return None
    return forecast_with(full, select_method(full, *plan, methods))
