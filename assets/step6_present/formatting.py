"""Words, glyphs and numbers as service owners read them, shared by every report output.

Status is never colour-only: each has words and a distinct glyph (colour is a third cue that the
HTML adds). Values are formatted in their KPI's unit; a missing value is an em dash, never 0.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

NO_VALUE = "—"

_PERCENT_UNITS = frozenset({"%"})
_MINUTE_UNITS = frozenset({"min", "mins", "minute", "minutes"})
_HOUR_UNITS = frozenset({"h", "hr", "hrs", "hour", "hours"})
_DAY_UNITS = frozenset({"d", "day", "days"})
_COUNT_UNITS = frozenset({"", "#", "n", "count", "counts"})
_COUNTED_NOUNS = frozenset(
    {"incidents", "problems", "changes", "requests", "tickets", "records", "rows", "events"}
)

@dataclass(frozen=True)
class Badge:
    """A status or trend as words plus glyph; ``css`` is a fixed class name, never data."""

    css: str
    glyph: str
    words: str


STATUS_BADGES = {
    "on_target": Badge("on-target", "✔", "On target"),
    "at_risk": Badge("at-risk", "▲", "At risk"),
    "off_target": Badge("off-target", "✖", "Off target"),
    "no_target": Badge("no-target", "○", "No target"),
    "no_data": Badge("no-data", "?", "No data"),
}

def status_badge(status: str) -> Badge:
    """Return the badge for a KPI status; unknown values are shown verbatim, not hidden."""
    return STATUS_BADGES.get(status, Badge("unknown", "?", status or "Unknown"))


def trend_badge(trend: str, direction: str) -> Badge:
    """Return the trend badge for a KPI.

    The arrow shows which way the value moved and the word whether that is good, so
    "↓ improving" reads naturally for a lower-is-better KPI such as MTTR.
    """
    if trend == "stable":
        return Badge("stable", "→", "stable")
    if trend in ("improving", "degrading"):
        rising = (trend == "improving") == (direction != "lower_is_better")
        return Badge(trend, "↑" if rising else "↓", trend)
    if trend == "insufficient data":
        return Badge("insufficient", "", trend)
    return Badge("unknown", "", trend or "unknown")


def duration(minutes: float) -> str:
    """Format a duration in the largest units a reader would use (s, min, h min, d h)."""
    sign, minutes = ("-" if minutes < 0 else ""), abs(minutes)
    if minutes < 1:
        return f"{sign}{minutes * 60:.0f} s"
    if minutes < 10:
        return f"{sign}{minutes:.1f} min"
    whole = round(minutes)
    if whole < 60:
        return f"{sign}{whole} min"
    if whole < 24 * 60:
        hours, rest = divmod(whole, 60)
        return f"{sign}{hours} h" + (f" {rest} min" if rest else "")
    days, hours = divmod(round(minutes / 60), 24)
    return f"{sign}{days} d" + (f" {hours} h" if hours else "")


def format_value(value: float | None, unit: str) -> str:
    """Format a KPI value for people.

    ``%`` values are stored as 0..1 ratios and shown as percent with one decimal; minutes,
    hours and days become readable durations; counts (bare, or of incidents, changes, ...) are
    whole numbers with thousands separators; other units (e.g. "per day", "score") get up to
    two decimals and the unit. Missing values (None, NaN) show as an em dash so they are never
    confused with zero.
    """
    if value is None or not math.isfinite(value):
        return NO_VALUE
    key = unit.strip().lower()
    if key in _PERCENT_UNITS:
        return f"{value * 100:.1f}%"
    if key in _MINUTE_UNITS:
        return duration(value)
    if key in _HOUR_UNITS:
        return duration(value * 60)
    if key in _DAY_UNITS:
        return duration(value * 24 * 60)
    if key in _COUNT_UNITS:
        return f"{value:,.0f}"
    if key in _COUNTED_NOUNS:
        return f"{value:,.0f} {key}"
    number = f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{number} {unit.strip()}"


def formatter(unit: str) -> Callable[[float], str]:
    """Bind a unit so charts can label axes in the KPI's own unit."""
    return lambda value: format_value(value, unit)


def format_datetime(moment: datetime.datetime) -> str:
    """Format a timestamp to the minute, with its zone when it has one."""
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()


def compare(previous: float | None, current: float | None, direction: str, unit: str) -> str:
    """Say whether a KPI is better or worse than in the previous period.

    Values are compared as the reader sees them (formatted in the unit), so a difference too
    small to show is "unchanged" rather than a change nobody can find on the page.
    """
    if previous is None or current is None or not math.isfinite(previous - current):
        return ""
    if format_value(previous, unit) == format_value(current, unit):
        return "unchanged"
    better = current < previous if direction == "lower_is_better" else current > previous
    return "better" if better else "worse"


_HEADINGS = {"kpi_id": "KPI", "ci": "CI", "breakdown_value": "Scope", "p_value": "p value",
             "ucl": "Upper limit", "lcl": "Lower limit"}


def column_heading(name: str) -> str:
    """A warehouse column name as a table heading: "change_day" -> "Change day"."""
    return _HEADINGS.get(name, name.replace("_", " ").strip().capitalize() or name)


def format_cell(value: object) -> str:
    """A generic warehouse value for a table cell: dates in ISO, numbers rounded for reading."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NO_VALUE
    if isinstance(value, datetime.datetime):
        return format_datetime(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{value:,.0f}"
        size = abs(value)
        return f"{value:,.1f}" if size >= 100 else f"{value:,.2f}" if size >= 1 else f"{value:.3g}"
    return str(value)


def status_counts(statuses: Sequence[str]) -> list[tuple[Badge, int]]:
    """How many KPIs have each status, in the fixed order of STATUS_BADGES, zeros left out."""
    badges = [status_badge(status) for status in statuses]
    known = list(STATUS_BADGES.values())
    extra = list(dict.fromkeys(b for b in badges if b not in known))
    return [(badge, badges.count(badge)) for badge in known + extra if badge in badges]
