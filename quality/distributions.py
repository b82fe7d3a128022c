"""Distribution expectations learned from history, run with Great Expectations 1.x.

A source can deliver rows that are individually valid and still be wrong as a whole: a
timezone configured wrongly shifts every timestamp by hours, an export filter drops half the
tickets. These checks compare the partitions a run just wrote with the history before them
(the `HISTORY_DAYS` before the first day of the run) and say what moved and by how much.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import duckdb
import pandas as pd

from quality.contracts import GxRun, docs_settings, publish_quietly

HISTORY_DAYS = 56
MIN_HISTORY_ROWS = 200
MAX_HOUR_SHIFT = 2.0  # hours the typical opening time may move before a run is stopped
MIN_DAY_ROWS = 30  # a day's typical hour from fewer rows is noise (it moves 2 h by chance)
SAMPLING_Z = 4.0  # a day's mean hour may move this many of its standard errors by chance
MIN_DAY_SHARE = 0.25  # a day with fewer rows than this share of a usual day is suspicious
MAX_DAY_FACTOR = 4.0  # ... and so is a day with this many times a usual day's rows
MAX_PRIORITY_SHIFT = 0.10  # absolute change in a priority's share of tickets


def _validate(frame: pd.DataFrame, name: str, expectations: list[Any], start: dt.date,
              end: dt.date) -> Any:
    """Validate a small frame of days and numbers (no text) with GX and, when Data Docs are
    on, add the result to them at once: each check runs once per run, so this renders one
    page and the index per check and run."""
    run = GxRun(docs_settings(), f"{start}..{end - dt.timedelta(days=1)}")
    result = run.validate(frame, name, expectations, name)
    publish_quietly(run)
    return result


def _history(start: dt.date) -> tuple[dt.date, dt.date]:
    return start - dt.timedelta(days=HISTORY_DAYS), start


def _circular_mean_hour(hours: pd.Series) -> float:
    angles = hours.astype(float) / 24 * 2 * math.pi
    mean = math.atan2(float(angles.map(math.sin).mean()), float(angles.map(math.cos).mean()))
    return (mean / (2 * math.pi) * 24) % 24


def _circular_sd_hours(hours: pd.Series) -> float:
    """Spread of clock hours around their circular mean, in hours (the circular standard
    deviation sqrt(-2 ln R), R the mean resultant length)."""
    angles = hours.astype(float) / 24 * 2 * math.pi
    length = math.hypot(float(angles.map(math.sin).mean()), float(angles.map(math.cos).mean()))
    return math.sqrt(-2 * math.log(max(length, 1e-12))) / (2 * math.pi) * 24


def hour_profile(
    con: duckdb.DuckDBPyConnection, table: str, column: str, start: dt.date, end: dt.date
) -> tuple[bool, dict[str, Any]]:
    """Has the typical hour of `column` moved compared with history? (A wrong source timezone
    moves every timestamp by the same number of hours.)

    A day's typical hour is a mean of its rows' hours, so on a quiet day (a Sunday with 40
    tickets) it wanders by chance: each day may move MAX_HOUR_SHIFT or SAMPLING_Z standard
    errors of its mean, whichever is more, and so may the whole range's row-weighted mean,
    which a wrong timezone moves as far as every day but chance hardly moves at all."""
    query = (f"SELECT _partition AS day, hour({column}) + minute({column}) / 60.0 AS hour "
             f"FROM clean.{table} WHERE _partition >= ? AND _partition < ?")
    history = con.execute(query, list(_history(start))).df()
    current = con.execute(query, [start, end]).df()
    if len(history) < MIN_HISTORY_ROWS or current.empty:
        return True, {"verdict": f"not judged: {len(history)} rows of history before {start} "
                                 f"(need {MIN_HISTORY_ROWS}) and {len(current)} new rows"}
    centre = _circular_mean_hour(history["hour"])
    # Weekends keep other hours than weekdays: each day is compared with history days of its
    # own type, so a quiet Sunday is not mistaken for a shifted clock.
    weekend = pd.to_datetime(history["day"]).dt.dayofweek >= 5
    profiles = {}
    for is_weekend in (False, True):
        hours = history.loc[weekend == is_weekend, "hour"]
        if len(hours) < MIN_HISTORY_ROWS / 4:
            hours = history["hour"]
        profiles[is_weekend] = (_circular_mean_hour(hours), _circular_sd_hours(hours))
    # Hours wrap at midnight, so each day's typical hour is a circular mean, compared with the
    # history's on the circle: a 9-hour shift reads as 9 hours, not as a diluted average.
    sized = current.groupby("day")["hour"].filter(lambda h: len(h) >= MIN_DAY_ROWS)
    if sized.empty:
        return True, {"verdict": f"not judged: no day has {MIN_DAY_ROWS} rows or more"}
    current = current.loc[sized.index]
    days = []
    for day, hours in current.groupby("day")["hour"]:
        mean, spread = profiles[pd.Timestamp(day).dayofweek >= 5]
        shift = (_circular_mean_hour(hours) - mean + 12) % 24 - 12
        error = spread / math.sqrt(len(hours))
        days.append((day, shift, len(hours), max(MAX_HOUR_SHIFT, SAMPLING_Z * error), spread))
    judged = pd.DataFrame(days, columns=["day", "shift", "rows", "allowed", "spread"])
    rows = float(judged["rows"].sum())
    observed = float((judged["shift"] * judged["rows"]).sum()) / rows
    # the standard error of that row-weighted mean: sqrt(sum(n_i * sd_i^2)) / sum(n_i)
    pooled_error = math.sqrt(float((judged["rows"] * judged["spread"] ** 2).sum())) / rows
    range_allowed = max(MAX_HOUR_SHIFT, SAMPLING_Z * pooled_error)
    judged["excess"] = judged["shift"].abs() - judged["allowed"]
    import great_expectations as gx

    result = _validate(judged[["day", "excess"]], f"{table}_{column}_hour_profile", [
        gx.expectations.ExpectColumnMaxToBeBetween(column="excess", max_value=0.0)],
        start, end)
    passed = bool(result.success) and abs(observed) <= range_allowed
    metadata = {
        "history_typical_hour_utc": round(centre, 2),
        "shift_hours": round(observed, 2),
        "allowed_shift_hours": round(range_allowed, 2),
        "days_outside": _lines((d, f"{s:+.1f} h (allowed ±{a:.1f} h from {n} rows)")
                               for d, s, n, a, _ in days if abs(s) > a),
        "rows": len(current),
    }
    if not passed:
        metadata["verdict"] = (
            f"{column} of clean.{table} moved by {observed:+.1f} h against the {HISTORY_DAYS} "
            f"days before {start} (typical {centre:.1f} h UTC). Is the source's timezone in "
            "config/sources.yaml right?")
    return passed, metadata


def daily_volume(
    con: duckdb.DuckDBPyConnection, table: str, start: dt.date, end: dt.date
) -> tuple[bool, dict[str, Any]]:
    """Are the daily row counts within what history makes plausible?"""
    query = (f"SELECT _partition AS day, count(*) AS n FROM clean.{table} "
             "WHERE _partition >= ? AND _partition < ? GROUP BY 1")
    history = con.execute(query, list(_history(start))).df()
    current = con.execute(query, [start, end]).df()
    if len(history) < 14 or current.empty:
        return True, {"verdict": f"not judged: {len(history)} days of history"}
    usual = float(history["n"].median())
    import great_expectations as gx

    low, high = usual * MIN_DAY_SHARE, usual * MAX_DAY_FACTOR
    result = _validate(current, f"{table}_daily_volume", [
        gx.expectations.ExpectColumnValuesToBeBetween(column="n", min_value=low,
                                                      max_value=high)], start, end)
    odd = current[(current["n"] < low) | (current["n"] > high)].sort_values("day")
    return bool(result.success), {
        "usual_rows_per_day": usual,
        "allowed": f"{low:.0f}..{high:.0f}",
        "days_outside": _lines(odd.itertuples(index=False)),
    }


def priority_mix(
    con: duckdb.DuckDBPyConnection, table: str, start: dt.date, end: dt.date
) -> tuple[bool, dict[str, Any]]:
    """Has the share of each priority moved by more than MAX_PRIORITY_SHIFT?"""
    query = (f"SELECT priority, count(*) / sum(count(*)) OVER () AS share FROM clean.{table} "
             "WHERE _partition >= ? AND _partition < ? GROUP BY 1")
    history = con.execute(query, list(_history(start))).df().set_index("priority")["share"]
    current = con.execute(query, [start, end]).df().set_index("priority")["share"]
    if history.empty or current.empty:
        return True, {"verdict": "not judged: no history"}
    shift = current.reindex(history.index.union(current.index), fill_value=0.0) - history.reindex(
        history.index.union(current.index), fill_value=0.0)
    moved = shift[shift.abs() > MAX_PRIORITY_SHIFT]
    return moved.empty, {
        "shift_by_priority": ", ".join(f"P{p}: {s:+.1%}" for p, s in shift.items()),
        "allowed_shift": f"±{MAX_PRIORITY_SHIFT:.0%}",
    }


def _lines(rows: Any) -> str:
    text = "\n".join(f"- {' '.join(str(v) for v in row)}" for row in rows)
    return text or "none"
