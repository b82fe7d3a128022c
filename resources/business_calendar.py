"""Business hours as SQL: minutes of working time between two UTC timestamps.

Durations "in business hours" (MTTR the service desk can influence, agreed service time for
availability) are computed inside DuckDB, never row by row in Python. The calendar in
config/calendar.yaml becomes one SQL expression: for each local day the interval touches, the
day's working window (local wall-clock opening and closing, none on weekends and holidays) is
turned into UTC with the IANA time zone rules — so a DST change moves the window, and a night
or a weekend adds nothing — and its overlap with the interval is summed. Services supported
around the clock count every minute.

The expression is pasted where it is needed (a derived column of clean.incidents, the agreed
service minutes of clean KPI facts) and is also available to KPI expressions as the macro
`business_minutes(start_at, end_at, service)`. Only validated configuration reaches the SQL:
the time zone is a known IANA name, times are minutes, holidays are dates and service names are
quoted literals.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from resources.config_models import CalendarConfig

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_SPAN_DAYS = 3660
"""Intervals longer than ten years get no business-hours value (NULL): they are data errors,
and walking every day of them would cost more than the rest of the row."""

MACRO = "business_minutes"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _int_list(values: list[int | None]) -> str:
    return "[" + ", ".join("NULL" if v is None else str(v) for v in values) + "]"


@dataclass(frozen=True)
class BusinessCalendar:
    timezone: str
    hours: tuple[tuple[int, int] | None, ...]  # Monday..Sunday: (opens, closes) minutes, or None
    holidays: tuple[dt.date, ...] = ()
    always_on: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, cfg: CalendarConfig) -> BusinessCalendar:
        return cls(
            timezone=cfg.timezone,
            hours=tuple(cfg.minutes(day) for day in WEEKDAYS),
            holidays=tuple(sorted(cfg.holidays)),
            always_on=tuple(cfg.always_on_services),
        )

    def fingerprint(self) -> str:
        """Changes whenever a business-hours value could change (part of KPI versions)."""
        text = json.dumps([self.timezone, self.hours, [d.isoformat() for d in self.holidays],
                           sorted(self.always_on)])
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def always_on_sql(self, service: str) -> str:
        """TRUE when `service` (an SQL expression) is supported around the clock."""
        if not self.always_on:
            return "FALSE"
        names = ", ".join(_literal(s) for s in self.always_on)
        return f"coalesce({service} IN ({names}), FALSE)"

    def minutes_sql(self, start: str, end: str, always_on: str = "FALSE") -> str:
        """Working minutes in [start, end) for naive-UTC timestamp expressions `start`, `end`.

        `always_on` is an SQL condition under which every minute counts (a 24x7 service). NULL
        when either end is NULL (or the interval exceeds MAX_SPAN_DAYS); 0 when end <= start.
        """
        tz = _literal(self.timezone)
        opens = _int_list([h[0] if h else None for h in self.hours])
        closes = _int_list([h[1] if h else None for h in self.hours])
        holidays = "[" + ", ".join(f"DATE '{d.isoformat()}'" for d in self.holidays) + "]"
        holiday = f"list_contains(CAST({holidays} AS DATE[]), CAST(cal_day AS DATE))"

        def local_to_utc(minutes: str) -> str:
            return f"timezone('UTC', timezone({tz}, cal_day + to_minutes({minutes})))"

        def utc_to_local_day(ts: str) -> str:
            return f"CAST(timezone({tz}, timezone('UTC', {ts})) AS DATE)"

        opening = f"{opens}[isodow(cal_day)]"
        closing = f"{closes}[isodow(cal_day)]"
        per_day = (
            f"lambda cal_day: CASE WHEN {opening} IS NULL OR {holiday} THEN 0 "
            f"ELSE greatest(0, date_diff('second', greatest({start}, {local_to_utc(opening)}), "
            f"least({end}, {local_to_utc(closing)}))) END"
        )
        days = (f"generate_series({utc_to_local_day(start)}, {utc_to_local_day(end)}, "
                "INTERVAL 1 DAY)")
        return (
            f"(CASE WHEN {start} IS NULL OR {end} IS NULL THEN NULL "
            f"WHEN {end} <= {start} THEN 0.0 "
            f"WHEN {always_on} THEN date_diff('second', {start}, {end}) / 60.0 "
            f"WHEN {end} - {start} > INTERVAL {MAX_SPAN_DAYS} DAY THEN NULL "
            f"ELSE coalesce(list_sum(list_transform({days}, {per_day})), 0) / 60.0 END)"
        )

    def macro_sql(self) -> str:
        """`business_minutes(start_at, end_at, service)` as a temporary macro for KPI
        expressions; the service's clock runs 24x7 when calendar.yaml lists it."""
        body = self.minutes_sql("start_at", "end_at", self.always_on_sql("service"))
        return f"CREATE OR REPLACE TEMP MACRO {MACRO}(start_at, end_at, service) AS {body}"


def business_calendar() -> BusinessCalendar:
    """The calendar of config/calendar.yaml."""
    from resources.settings import calendar

    return BusinessCalendar.from_config(calendar())


def incident_business_columns(calendar: BusinessCalendar | None = None) -> dict[str, str]:
    """Derived columns of clean.incidents (SQL over its canonical fields) in business hours.

    The source reports time on hold as a total, not as intervals, so the resolution time in
    business hours removes the on-hold share of the elapsed time proportionally: an incident
    on hold for a quarter of its calendar life loses a quarter of its business minutes.
    """
    cal = calendar or business_calendar()
    always = cal.always_on_sql("service")
    elapsed = "(date_diff('second', opened_at, resolved_at) / 60.0)"
    working = "greatest(" + elapsed + " - on_hold_minutes, 0) / " + elapsed
    resolve = cal.minutes_sql("opened_at", "resolved_at", always)
    return {
        "minutes_to_acknowledge_business": cal.minutes_sql("opened_at", "acknowledged_at", always),
        "minutes_to_resolve_business": (
            f"(CASE WHEN resolved_at > opened_at THEN {resolve} * {working} "
            f"ELSE {resolve} END)"),
    }
