"""Business minutes computed in SQL: nights, weekends, holidays, DST changes, 24x7 services."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from resources.business_calendar import BusinessCalendar, incident_business_columns
from resources.config_files import ConfigError, load_model
from resources.config_models import CalendarConfig

AMSTERDAM = BusinessCalendar.from_config(CalendarConfig(
    history_start=dt.date(2026, 1, 1),
    timezone="Europe/Amsterdam",
    working_hours={d: ("08:00", "18:00") for d in ("monday", "tuesday", "wednesday",
                                                   "thursday")} | {"friday": ("08:00", "17:00")},
    holidays=[dt.date(2026, 4, 6), dt.date(2026, 12, 25)],
    always_on_services=["Email"],
))


def minutes(calendar: BusinessCalendar, start: str | None, end: str | None,
            service: str = "ERP") -> float | None:
    """Business minutes between two naive-UTC timestamps, evaluated by DuckDB."""
    sql = calendar.minutes_sql("s", "e", calendar.always_on_sql("svc"))
    con = duckdb.connect(":memory:")
    try:
        rows = con.execute(f"SELECT {sql} FROM (SELECT CAST(? AS TIMESTAMP) AS s, "
                           "CAST(? AS TIMESTAMP) AS e, ? AS svc)", [start, end, service])
        return rows.fetchall()[0][0]
    finally:
        con.close()


@pytest.mark.parametrize(("start", "end", "expected"), [
    # Tuesday 2026-11-24 is winter time (UTC+1): working hours 07:00-17:00 UTC.
    ("2026-11-24 08:00", "2026-11-24 09:30", 90),  # inside working hours
    ("2026-11-24 17:30", "2026-11-25 06:30", 0),  # a whole night
    ("2026-11-24 16:00", "2026-11-25 08:00", 60 + 60),  # evening and next morning
    ("2026-11-27 15:00", "2026-11-30 08:00", 60 + 60),  # Friday closes at 17:00 local
    ("2026-11-28 09:00", "2026-11-29 15:00", 0),  # a weekend
    ("2026-12-24 08:00", "2026-12-28 08:00", 540 + 60),  # Christmas Day is a holiday
    ("2026-11-24 09:00", "2026-11-24 09:00", 0),  # empty interval
    ("2026-11-24 10:00", "2026-11-24 09:00", 0),  # end before start
])
def test_nights_weekends_and_holidays(start: str, end: str, expected: float) -> None:
    assert minutes(AMSTERDAM, start, end) == pytest.approx(expected)


def test_dst_spring_forward_moves_the_working_window() -> None:
    # Friday 2026-03-27 is UTC+1, Monday 2026-03-30 is UTC+2 (clocks changed on Sunday):
    # Monday opens at 06:00 UTC, not 07:00.
    assert minutes(AMSTERDAM, "2026-03-27 15:00", "2026-03-30 08:00") == 60 + 120


def test_dst_fall_back_moves_the_working_window() -> None:
    # Friday 2026-10-23 is UTC+2 (closes 15:00 UTC); Monday 2026-10-26 UTC+1 (opens 07:00).
    assert minutes(AMSTERDAM, "2026-10-23 14:00", "2026-10-26 08:00") == 60 + 60


def test_working_hours_over_the_missing_hour_of_a_dst_night() -> None:
    sunday = BusinessCalendar("Europe/Amsterdam", (None,) * 6 + ((60, 300),))  # 01:00-05:00
    # 2026-03-29 01:00 local (00:00 UTC) to 05:00 local (03:00 UTC): 02:00-03:00 never existed.
    assert minutes(sunday, "2026-03-28 12:00", "2026-03-30 00:00") == 180
    # 2026-10-25 01:00 local (23:00 UTC the day before) to 05:00 (04:00 UTC): 02:00-03:00 twice.
    assert minutes(sunday, "2026-10-24 12:00", "2026-10-26 00:00") == 300


def test_always_on_services_count_every_minute() -> None:
    assert minutes(AMSTERDAM, "2026-11-28 09:00", "2026-11-29 15:00", "Email") == 30 * 60
    assert minutes(AMSTERDAM, "2026-03-28 12:00", "2026-03-30 00:00", "Email") == 36 * 60


def test_missing_ends_and_absurd_spans_give_no_value() -> None:
    assert minutes(AMSTERDAM, "2026-11-24 09:00", None) is None
    assert minutes(AMSTERDAM, "1900-01-01 00:00", "2026-11-24 09:00") is None


def test_the_macro_is_the_same_expression() -> None:
    con = duckdb.connect(":memory:")
    con.execute(AMSTERDAM.macro_sql())
    rows = con.execute("SELECT business_minutes(TIMESTAMP '2026-03-27 15:00', "
                       "TIMESTAMP '2026-03-30 08:00', 'ERP'), business_minutes("
                       "TIMESTAMP '2026-03-27 15:00', TIMESTAMP '2026-03-30 08:00', 'Email')")
    assert rows.fetchall() == [(180.0, 65 * 60.0)]


def test_resolution_in_business_hours_removes_the_on_hold_share() -> None:
    columns = incident_business_columns(AMSTERDAM)
    resolve, acknowledge = (columns[f"minutes_to_{c}_business"] for c in ("resolve", "acknowledge"))
    con = duckdb.connect(":memory:")
    # Tuesday 09:00-17:00 UTC is 8 calendar hours, all working time; 2 of them on hold.
    row = con.execute(f"""
        SELECT {resolve}, {acknowledge}
        FROM (SELECT TIMESTAMP '2026-11-24 09:00' AS opened_at,
                     TIMESTAMP '2026-11-24 09:20' AS acknowledged_at,
                     TIMESTAMP '2026-11-24 17:00' AS resolved_at,
                     120.0 AS on_hold_minutes, 'ERP' AS service)""").fetchall()[0]
    assert row == pytest.approx((480 * 360 / 480, 20))


def test_calendar_fingerprint_follows_every_setting() -> None:
    other_hours = BusinessCalendar(AMSTERDAM.timezone, ((480, 1020),) * 5 + (None, None),
                                   AMSTERDAM.holidays, AMSTERDAM.always_on)
    fewer_holidays = BusinessCalendar(AMSTERDAM.timezone, AMSTERDAM.hours, (),
                                      AMSTERDAM.always_on)
    prints = {c.fingerprint() for c in (AMSTERDAM, other_hours, fewer_holidays)}
    assert len(prints) == 3


@pytest.mark.parametrize(("text", "message"), [
    ("timezone: Mars/Olympus\n", "2: timezone: Value error, unknown time zone 'Mars/Olympus'"),
    ("working_hours:\n  monday: ['18:00', '08:00']\n",
     "3: working_hours.monday: Value error, opening 18:00 is not before closing 08:00"),
    ("working_hours:\n  monday: ['8am', '18:00']\n",
     "3: working_hours.monday[0]: Value error, '8am' is not a time of day as 'HH:MM'"),
    ("holidays: [2026-12-25, 2026-12-25]\n", "2: holidays: Value error, listed twice: 2026-12-25"),
])
def test_calendar_errors_name_the_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("history_start: 2026-01-01\n" + text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_model(path, CalendarConfig)
    assert f"calendar.yaml:{message}" in str(error.value)


def test_unquoted_times_and_end_of_day_are_understood(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("history_start: 2026-01-01\nworking_hours:\n  saturday: [10:00, '24:00']\n",
                    encoding="utf-8")
    calendar = load_model(path, CalendarConfig)
    assert calendar.minutes("saturday") == (600, 1440)
    assert minutes(BusinessCalendar.from_config(calendar), "2026-11-28 09:00",
                   "2026-11-29 15:00") == 14 * 60
