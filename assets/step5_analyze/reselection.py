"""When a forecast may reuse an earlier night's backtest instead of running it again.

The backtest (4 methods at up to 3 origins, see forecasts.py) is most of the cost of the
forecasts, and its answer — which method, and how wrong it was per week ahead — changes slowly:
one more day of a half-year series barely moves it. So the method is re-selected at most once
every ``reselect_days`` days of data, stored in ``analysis.forecast_selection``, and on the
nights between only the chosen method is fitted, on the whole current series.

A stored selection is reused only when it still describes the data (:func:`reuse_refusal`):

* same KPI definition (``kpi_version``) and the same backtest settings;
* made on data that ended before this series' last day, fewer than ``reselect_days`` days
  before it. A night whose last day is not after the selection's (a re-run, or the steps 5-7
  that close a backfill) re-selects: the data may have been replaced without a new day;
* the window it was made on only moved forward: the series starts neither earlier than the
  selection's (history was added before it) nor later than the days elapsed allow (the
  window was shortened);
* the backtest has the same shape (weeks ahead, origins per week);
* the facts it saw are unchanged: a digest of the values from ``reselect_days - 1`` days after
  its start (the part still inside a window that slid for up to ``reselect_days - 1`` days) to
  ``settle_days`` before its last day. The last ``settle_days`` are left out because the
  nightly look-back re-processes them and late updates (a reopened ticket, a survey answer)
  legitimately change them; every earlier day changing means the history was replaced (a
  backfill), and the backtest is redone.

Re-running a night gives the same tables: a reused selection is kept as it was, and a night
that re-selected re-selects again on the same data, which gives the same answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from assets.step5_analyze.forecasts import Selection

SELECTION_COLUMNS = ["kpi_id", "breakdown", "breakdown_value", "kpi_version", "settings",
                     "method", "skill", "scores", "backtest_mae", "baseline_mae", "origins",
                     "series_start", "selected_on", "digest_from", "digest_to", "facts_digest"]


@dataclass(frozen=True)
class Stored:
    """One row of analysis.forecast_selection: a selection and what it was made on."""

    selection: Selection
    kpi_version: str
    settings: str
    series_start: dt.date
    selected_on: dt.date
    digest_from: dt.date
    digest_to: dt.date
    facts_digest: str


def settings_key(*, horizon_weeks: int, min_horizon_weeks: int, min_train_days: int,
                 max_origins: int, methods: tuple[str, ...]) -> str:
    """The backtest settings a selection was made with: another setting, another backtest."""
    return (f"horizon_weeks={horizon_weeks};min_horizon_weeks={min_horizon_weeks};"
            f"min_train_days={min_train_days};max_origins={max_origins};"
            f"methods={','.join(methods)}")


def facts_digest(series: pd.Series, first: dt.date, last: dt.date) -> str:
    """A digest of the series' values from ``first`` to ``last`` (missing days included as
    missing). Values are rounded to 12 significant digits so that re-computing the same facts
    (float sums in another order) does not count as a change."""
    window = series[(series.index >= pd.Timestamp(first)) & (series.index <= pd.Timestamp(last))]
    text = ";".join(f"{d:%Y-%m-%d}={'' if math.isnan(v) else format(v, '.12g')}"
                    for d, v in zip(window.index, window.to_numpy(dtype=float), strict=True))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _floats(values: object) -> tuple[float, ...]:
    return tuple(float(v) for v in np.ma.filled(np.ma.asarray(values, dtype=float), np.nan))


def _date(value: object) -> dt.date:
    return pd.Timestamp(value).date()


def read_stored(frame: pd.DataFrame | None) -> dict[tuple[str, str, str], Stored]:
    """The stored selections by scope; an absent table or one of another layout is none."""
    if frame is None or frame.empty or not set(SELECTION_COLUMNS) <= set(frame.columns):
        return {}
    out = {}
    for row in frame.to_dict("records"):
        selection = Selection(
            method=str(row["method"]), backtest_mae=_floats(row["backtest_mae"]),
            baseline_mae=_floats(row["baseline_mae"]),
            origins=tuple(int(o) for o in row["origins"]),
            scores={str(k): float(v) for k, v in json.loads(row["scores"]).items()},
            skill=float(row["skill"]))
        out[(row["kpi_id"], row["breakdown"], row["breakdown_value"])] = Stored(
            selection, str(row["kpi_version"]), str(row["settings"]),
            _date(row["series_start"]), _date(row["selected_on"]), _date(row["digest_from"]),
            _date(row["digest_to"]), str(row["facts_digest"]))
    return out


def new_stored(selection: Selection, series: pd.Series, *, kpi_version: str, settings: str,
               reselect_days: int, settle_days: int) -> Stored:
    """The row to store for a selection just made on ``series`` (raw daily values)."""
    start, last = series.index.min().date(), series.index.max().date()
    first = start + dt.timedelta(days=reselect_days - 1)
    to = last - dt.timedelta(days=settle_days)
    return Stored(selection, kpi_version, settings, start, last, first, to,
                  facts_digest(series, first, to))


def reuse_refusal(stored: Stored | None, series: pd.Series, *, kpi_version: str,
                  settings: str, weeks: int, origins: tuple[int, ...], reselect_days: int
                  ) -> str | None:
    """Why ``stored`` cannot be reused for ``series`` (raw daily values), or None if it can.

    The reason is a short word, counted in the asset's metadata so that a night that
    re-selected everything says why.
    """
    if stored is None:
        return "none_stored"
    if stored.kpi_version != kpi_version:
        return "definition_changed"
    if stored.settings != settings:
        return "settings_changed"
    start, last = series.index.min().date(), series.index.max().date()
    elapsed = (last - stored.selected_on).days
    if elapsed <= 0:
        return "no_new_day"
    if elapsed >= reselect_days:
        return "due"
    if not 0 <= (start - stored.series_start).days <= elapsed or stored.digest_from < start:
        return "window_changed"
    if stored.selection.weeks != weeks or stored.selection.origins != origins:
        return "backtest_changed"
    if facts_digest(series, stored.digest_from, stored.digest_to) != stored.facts_digest:
        return "facts_changed"
    return None


def stored_rows(selections: Mapping[tuple[str, str, str], Stored]) -> pd.DataFrame:
    """analysis.forecast_selection as a frame, one row per scope."""
    rows = [[*scope, s.kpi_version, s.settings, s.selection.method, s.selection.skill,
             json.dumps(s.selection.scores, sort_keys=True), list(s.selection.backtest_mae),
             list(s.selection.baseline_mae), list(s.selection.origins), s.series_start,
             s.selected_on, s.digest_from, s.digest_to, s.facts_digest]
            for scope, s in sorted(selections.items())]
    return pd.DataFrame(rows, columns=SELECTION_COLUMNS)
