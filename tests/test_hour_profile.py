"""The opened-hour gate (quality/distributions.py: hour_profile) on hand-built hours: a wrong
timezone moves every day's typical hour, chance moves a quiet day's a lot and a busy range's
hardly at all."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np

from quality.distributions import HISTORY_DAYS, hour_profile

START = dt.date(2026, 3, 2)  # a Monday


def _hours(rng: np.random.Generator, rows: int, centre: float, spread: float,
           shift: float = 0.0) -> np.ndarray:
    """`rows` opening hours around `centre`, moved so that their mean is exactly
    centre + shift (a day's typical hour is then known, not left to the draw)."""
    hours = rng.normal(centre, spread, rows)
    return (hours - hours.mean() + centre + shift) % 24


def _warehouse(days: dict[dt.date, np.ndarray]) -> duckdb.DuckDBPyConnection:
    """History: 56 days with weekdays of 120 tickets around 13:00 (sd 3 h) and weekends of 30
    around 12:00 (sd 5 h), plus the days under judgement."""
    rng = np.random.default_rng(7)
    rows = []
    for offset in range(HISTORY_DAYS, 0, -1):
        day = START - dt.timedelta(days=offset)
        weekend = day.weekday() >= 5
        hours = _hours(rng, 30 if weekend else 120, 12 if weekend else 13, 5 if weekend else 3)
        rows += [(day, h) for h in hours]
    rows += [(day, h) for day, hours in days.items() for h in hours]
    con = duckdb.connect()
    con.execute("CREATE SCHEMA clean")
    con.execute("CREATE TABLE clean.incidents (_partition DATE, opened_at TIMESTAMP)")
    con.executemany("INSERT INTO clean.incidents VALUES (?, CAST(? AS DATE) + "
                    "to_microseconds(CAST(? * 3600e6 AS BIGINT)))",
                    [(d, d, float(h)) for d, h in rows])
    return con


def _judge(days: dict[dt.date, np.ndarray]) -> tuple[bool, dict]:
    first, last = min(days), max(days)
    return hour_profile(_warehouse(days), "incidents", "opened_at", first,
                        last + dt.timedelta(days=1))


def test_a_quiet_sunday_may_wander_further_than_a_busy_weekday() -> None:
    rng = np.random.default_rng(1)
    sunday = START + dt.timedelta(days=6)
    passed, metadata = _judge({sunday: _hours(rng, 30, 12, 5, shift=-2.6)})
    assert passed, metadata
    assert metadata["days_outside"] == "none"
    assert metadata["allowed_shift_hours"] > 3  # 4 standard errors of a 30-row mean of sd 5 h


def test_a_busy_weekday_moved_by_a_wrong_timezone_stops_the_run() -> None:
    rng = np.random.default_rng(2)
    passed, metadata = _judge({START: _hours(rng, 146, 13, 3, shift=2.6)})
    assert not passed
    assert metadata["allowed_shift_hours"] == 2.0
    assert metadata["days_outside"].startswith(f"- {START} 00:00:00 +2.6 h (allowed ±2.0 h "
                                               "from 146 rows)")
    assert "Is the source's timezone in config/sources.yaml right?" in metadata["verdict"]


def test_quiet_days_all_moved_the_same_way_are_caught_together() -> None:
    """Four Sundays each 2.6 h early: no single day is beyond chance, their mean is."""
    rng = np.random.default_rng(3)
    sundays = [START + dt.timedelta(days=6 + 7 * k) for k in range(4)]
    passed, metadata = _judge({day: _hours(rng, 30, 12, 5, shift=-2.6) for day in sundays})
    assert metadata["days_outside"] == "none"
    assert not passed
    assert metadata["allowed_shift_hours"] == 2.0 and metadata["shift_hours"] < -2.0
