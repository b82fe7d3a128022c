"""Reporting periods: the rolling scorecard window, ISO weeks and calendar months.

A report always covers whole days [start, end] and compares them with the period just before
(the previous week, the previous month, or the same number of days before a rolling window).
The file name (``stem``) depends only on the period, so re-running a period replaces its files
instead of adding new ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg

from resources.settings import calendar

KINDS = ("rolling", "weekly", "monthly")


def _monday_on_or_after(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=(7 - day.weekday()) % 7)


def _first_of_month_on_or_after(day: dt.date) -> dt.date:
    if day.day == 1:
        return day
    return _add_months(day.replace(day=1), 1)


def _add_months(first: dt.date, months: int) -> dt.date:
    index = first.year * 12 + first.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


_START = calendar().history_start
WEEKLY = dg.WeeklyPartitionsDefinition(
    start_date=_monday_on_or_after(_START).isoformat(), day_offset=1
)
"""ISO weeks, Monday to Sunday (UTC), from the first Monday of the history."""

MONTHLY = dg.MonthlyPartitionsDefinition(
    start_date=_first_of_month_on_or_after(_START).isoformat()
)
"""Calendar months (UTC), from the first whole month of the history."""


@dataclass(frozen=True)
class Period:
    """The days one report covers and the days it is compared with."""

    kind: str  # one of KINDS
    start: dt.date
    end: dt.date  # inclusive
    previous_start: dt.date
    previous_end: dt.date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def stem(self) -> str:
        """The stable file name (without extension) of this period's report and extracts."""
        if self.kind == "weekly":
            year, week, _ = self.start.isocalendar()
            return f"report-week-{year}-W{week:02d}"
        if self.kind == "monthly":
            return f"report-month-{self.start:%Y-%m}"
        return f"report-{self.end:%Y-%m-%d}"

    @property
    def label(self) -> str:
        """How people name the period: "Week 22, 2026", "May 2026", "28 days to 31 May 2026"."""
        if self.kind == "weekly":
            year, week, _ = self.start.isocalendar()
            return f"Week {week}, {year}"
        if self.kind == "monthly":
            return f"{self.start:%B %Y}"
        return f"{self.days} days to {self.end:%d %b %Y}"

    @property
    def previous_label(self) -> str:
        """Heading for the comparison column: "Previous week", "Previous 28 days"."""
        noun = {"weekly": "week", "monthly": "month"}.get(self.kind, f"{self.days} days")
        return f"Previous {noun}"


def weekly(key: str) -> Period:
    """The ISO week whose Monday is ``key`` (a weekly partition key)."""
    start = dt.date.fromisoformat(key)
    if start.weekday() != 0:
        raise ValueError(f"weekly period key {key!r} is not a Monday")
    end = start + dt.timedelta(days=6)
    return Period("weekly", start, end, start - dt.timedelta(days=7),
                  start - dt.timedelta(days=1))


def monthly(key: str) -> Period:
    """The calendar month that begins on ``key`` (a monthly partition key)."""
    start = dt.date.fromisoformat(key)
    if start.day != 1:
        raise ValueError(f"monthly period key {key!r} is not the first day of a month")
    end = _add_months(start, 1) - dt.timedelta(days=1)
    previous_start = _add_months(start, -1)
    return Period("monthly", start, end, previous_start, start - dt.timedelta(days=1))


def rolling(last_day: dt.date, days: int) -> Period:
    """The ``days`` days ending with ``last_day``, compared with the ``days`` days before."""
    if days < 1:
        raise ValueError(f"a rolling period needs at least one day, got {days}")
    start = last_day - dt.timedelta(days=days - 1)
    return Period("rolling", start, last_day, start - dt.timedelta(days=days),
                  start - dt.timedelta(days=1))


def for_partition(kind: str, key: str) -> Period:
    """The period of a weekly or monthly partition key."""
    if kind == "weekly":
        return weekly(key)
    if kind == "monthly":
        return monthly(key)
    raise ValueError(f"period kind {kind!r} has no partitions; expected weekly or monthly")


def latest_complete_key(kind: str, last_day: dt.date) -> str:
    """The partition key of the newest week or month that ends on or before ``last_day``."""
    after = last_day + dt.timedelta(days=1)
    if kind == "weekly":
        return (after - dt.timedelta(days=after.weekday() + 7)).isoformat()
    if kind == "monthly":
        return _add_months(after.replace(day=1), -1).isoformat()
    raise ValueError(f"period kind {kind!r} has no partitions; expected weekly or monthly")


PARTITIONS = {"weekly": WEEKLY, "monthly": MONTHLY}
