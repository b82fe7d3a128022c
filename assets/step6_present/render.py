"""Render step 6 of the 7-step improvement process: present and use the information.

Produces one self-contained, offline HTML page for service owners and IT leadership, an index
of such pages, and compact scorecards for the Dagster UI (Markdown) and terminals (text).

Design rules that shape this module:

* All text in ``ReportData`` may come from tickets typed by anyone. HTML goes through Jinja
  autoescaping only (never ``|safe`` on data); charts are built in ``svg`` from escaped parts;
  Markdown and terminal output get their own escaping/sanitising.
* Status is never colour-only: it is shown in words plus a distinct glyph, colour is a third cue.
* Templates receive pre-formatted view objects, so formatting lives here and is unit-tested.
"""

from __future__ import annotations

import datetime
import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from .report_model import ActionRow, Finding, KpiCard, Objective, ReportData
from .svg import line_chart, sparkline

NO_VALUE = "—"

_PERCENT_UNITS = frozenset({"%"})
_MINUTE_UNITS = frozenset({"min", "mins", "minute", "minutes"})
_HOUR_UNITS = frozenset({"h", "hr", "hrs", "hour", "hours"})
_DAY_UNITS = frozenset({"d", "day", "days"})
_COUNT_UNITS = frozenset({"", "#", "n", "count", "counts"})
_COUNTED_NOUNS = frozenset(
    {"incidents", "problems", "changes", "requests", "tickets", "records", "rows", "events"}
)

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(
        enabled_extensions=("html", "j2"), default_for_string=True, default=True
    ),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Badge:
    """A status or trend as words plus glyph; ``css`` is a fixed class name, never data."""

    css: str
    glyph: str
    words: str


_STATUS_BADGES = {
    "on_target": Badge("on-target", "✔", "On target"),
    "at_risk": Badge("at-risk", "▲", "At risk"),
    "off_target": Badge("off-target", "✖", "Off target"),
    "no_target": Badge("no-target", "○", "No target"),
    "no_data": Badge("no-data", "?", "No data"),
}

_FINDING_KINDS = {
    "anomaly": ("Anomalies", "No anomalies were found in this period."),
    "trend": ("Trends", "No trends were found in this period."),
    "change_point": ("Change points", "No change points were found in this period."),
}


def status_badge(status: str) -> Badge:
    """Return the badge for a KPI status; unknown values are shown verbatim, not hidden."""
    return _STATUS_BADGES.get(status, Badge("unknown", "?", status or "Unknown"))


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


def _duration(minutes: float) -> str:
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
        return _duration(value)
    if key in _HOUR_UNITS:
        return _duration(value * 60)
    if key in _DAY_UNITS:
        return _duration(value * 24 * 60)
    if key in _COUNT_UNITS:
        return f"{value:,.0f}"
    if key in _COUNTED_NOUNS:
        return f"{value:,.0f} {key}"
    number = f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{number} {unit.strip()}"


def _formatter(unit: str) -> Callable[[float], str]:
    """Bind a unit so charts can label axes in the KPI's own unit."""
    return lambda value: format_value(value, unit)


def _format_datetime(moment: datetime.datetime) -> str:
    """Format a timestamp to the minute, with its zone when it has one."""
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()


@dataclass(frozen=True)
class CardView:
    """A KPI card as the templates show it."""

    kpi_id: str
    name: str
    value: str
    target: str
    warning: str
    status: Badge
    trend: Badge
    direction: str
    formula: str
    sparkline: Markup


@dataclass(frozen=True)
class ObjectiveView:
    """An objective with the cards of its KPIs, and ids of KPIs the report has no card for."""

    objective_id: str
    statement: str
    owner: str
    cards: tuple[CardView, ...]
    missing_kpis: tuple[str, ...]
    summary: str


@dataclass(frozen=True)
class FindingView:
    """One finding with its KPI resolved to a name."""

    day: str
    kpi: str
    title: str
    detail: str


@dataclass(frozen=True)
class FindingGroup:
    """Findings of one kind, with the sentence to show when there are none."""

    heading: str
    empty_text: str
    items: tuple[FindingView, ...]


@dataclass(frozen=True)
class ActionView:
    """An improvement-register row with values formatted in its KPI's unit."""

    action_id: str
    title: str
    kpi: str
    scope: str
    status: str
    owner: str
    due_date: str
    baseline: str
    current: str
    change: str
    rationale: str


@dataclass(frozen=True)
class IndexEntry:
    """A report link; ``href`` is None when the file name is not a safe relative path."""

    title: str
    href: str | None
    file_name: str
    generated_at: str
    generated_iso: str


def _card_view(card: KpiCard) -> CardView:
    """Pre-format one card, including its sparkline SVG."""
    fmt = _formatter(card.unit)
    direction = {
        "higher_is_better": "Higher is better",
        "lower_is_better": "Lower is better",
    }.get(card.direction, card.direction)
    return CardView(
        kpi_id=card.kpi_id,
        name=card.name,
        value=format_value(card.value, card.unit),
        target=format_value(card.target, card.unit),
        warning=format_value(card.warning, card.unit),
        status=status_badge(card.status),
        trend=trend_badge(card.trend, card.direction),
        direction=direction,
        formula=card.formula,
        sparkline=sparkline(card.series, label=card.name, fmt=fmt),
    )


def _objective_view(
    objective: Objective, cards: Sequence[KpiCard], views: dict[str, CardView]
) -> ObjectiveView:
    """Collect an objective's KPIs from both sides of the link (objective lists and cards)."""
    kpi_ids = list(dict.fromkeys(objective.kpi_ids))
    kpi_ids += [
        card.kpi_id
        for card in cards
        if objective.objective_id in card.objectives and card.kpi_id not in kpi_ids
    ]
    shown = tuple(views[kpi_id] for kpi_id in kpi_ids if kpi_id in views)
    on_target = sum(view.status.css == "on-target" for view in shown)
    return ObjectiveView(
        objective_id=objective.objective_id,
        statement=objective.statement,
        owner=objective.owner,
        cards=shown,
        missing_kpis=tuple(kpi_id for kpi_id in kpi_ids if kpi_id not in views),
        summary=f"{on_target} of {len(kpi_ids)} KPIs on target",
    )


def _finding_groups(findings: Sequence[Finding], names: dict[str, str]) -> list[FindingGroup]:
    """Group findings by kind: the standard kinds always appear (saying so when empty)."""
    kinds = list(_FINDING_KINDS) + sorted({f.kind for f in findings} - set(_FINDING_KINDS))
    groups = []
    for kind in kinds:
        heading, empty_text = _FINDING_KINDS.get(kind, (kind.replace("_", " ").capitalize(), ""))
        items = sorted(
            (f for f in findings if f.kind == kind),
            key=lambda f: (f.day, names.get(f.kpi_id, f.kpi_id)),
        )
        groups.append(
            FindingGroup(
                heading=heading,
                empty_text=empty_text,
                items=tuple(
                    FindingView(f.day.isoformat(), names.get(f.kpi_id, f.kpi_id), f.title, f.detail)
                    for f in items
                ),
            )
        )
    return groups


def _finding_charts(cards: Sequence[KpiCard], findings: Sequence[Finding]) -> list[Markup]:
    """Chart each KPI that has findings, marking the finding days against its target."""
    charts = []
    for card in cards:
        markers = [(f.day, f.title) for f in findings if f.kpi_id == card.kpi_id]
        if markers:
            charts.append(
                line_chart(
                    card.series,
                    target=card.target,
                    markers=markers,
                    title=card.name,
                    fmt=_formatter(card.unit),
                )
            )
    return charts


def _change_word(baseline: float | None, current: float | None, direction: str) -> str:
    """Say whether an action's KPI moved the right way since its baseline."""
    if baseline is None or current is None or not math.isfinite(baseline - current):
        return ""
    if current == baseline:
        return "unchanged"
    better = current > baseline if direction != "lower_is_better" else current < baseline
    return "improved" if better else "worsened"


def _action_view(action: ActionRow, cards: dict[str, KpiCard]) -> ActionView:
    """Format an action's baseline/current in the unit of the KPI it targets."""
    card = cards.get(action.kpi_id)
    unit = card.unit if card else ""
    return ActionView(
        action_id=action.action_id,
        title=action.title,
        kpi=card.name if card else action.kpi_id,
        scope=action.scope,
        status=action.status,
        owner=action.owner,
        due_date=action.due_date.isoformat() if action.due_date else NO_VALUE,
        baseline=format_value(action.baseline, unit),
        current=format_value(action.current, unit),
        change=_change_word(action.baseline, action.current, card.direction if card else ""),
        rationale=action.rationale,
    )


def render_report(data: ReportData) -> str:
    """Render the full, self-contained HTML report page."""
    card_views = [_card_view(card) for card in data.cards]
    views_by_id = {view.kpi_id: view for view in card_views}
    cards_by_id = {card.kpi_id: card for card in data.cards}
    names = {card.kpi_id: card.name for card in data.cards}
    status_counts = [
        (badge, sum(view.status.css == badge.css for view in card_views))
        for badge in _STATUS_BADGES.values()
    ]
    quarantine = sorted(data.quarantine, key=lambda row: (row.entity, row.reason_code))
    return _ENV.get_template("report.html.j2").render(
        title=data.title,
        period_start=data.period_start.isoformat(),
        period_end=data.period_end.isoformat(),
        generated_at=_format_datetime(data.generated_at),
        generated_iso=data.generated_at.isoformat(),
        status_counts=[(badge, count) for badge, count in status_counts if count],
        cards=card_views,
        objectives=[
            _objective_view(objective, data.cards, views_by_id) for objective in data.objectives
        ],
        finding_groups=_finding_groups(data.findings, names),
        finding_charts=_finding_charts(data.cards, data.findings),
        quarantine=[(row, format_value(row.rows, "count")) for row in quarantine],
        quarantine_total=format_value(sum(row.rows for row in quarantine), "count"),
        row_counts=[(table, format_value(rows, "count")) for table, rows in data.row_counts],
        actions=[_action_view(action, cards_by_id) for action in data.actions],
    )


def _relative_href(file_name: str) -> str | None:
    """Percent-encode a report file name as a relative link, or refuse it.

    Encoding ``:`` means no scheme (``javascript:``, ``https:``) can survive; a leading ``/``
    would be absolute or protocol-relative (``//host``), which an offline index must not use.
    """
    href = quote(file_name, safe="/")
    return href if href and not href.startswith("/") else None


def render_index(entries: Sequence[tuple[str, str, datetime.datetime]]) -> str:
    """Render the index of reports, newest first: (title, relative file name, generated_at)."""
    ordered = sorted(entries, key=lambda entry: entry[2], reverse=True)
    return _ENV.get_template("index.html.j2").render(
        entries=[
            IndexEntry(
                title=title,
                href=_relative_href(file_name),
                file_name=file_name,
                generated_at=_format_datetime(generated_at),
                generated_iso=generated_at.isoformat(),
            )
            for title, file_name, generated_at in ordered
        ]
    )


_MARKDOWN_SPECIAL = frozenset("\\`*_{}[]<>()#+-!|~&")


def _markdown_cell(text: str) -> str:
    """Make text inert inside a Markdown table cell: one line, punctuation backslash-escaped."""
    one_line = " ".join(text.split())
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in one_line)


def _scorecard_rows(cards: Sequence[KpiCard]) -> list[tuple[str, str, str, Badge, Badge]]:
    """Shared cell values of the Markdown and text scorecards."""
    return [
        (
            card.name,
            format_value(card.value, card.unit),
            format_value(card.target, card.unit),
            status_badge(card.status),
            trend_badge(card.trend, card.direction),
        )
        for card in cards
    ]


def _trend_text(trend: Badge) -> str:
    """Join a trend's arrow and word, leaving out the arrow when there is none."""
    return f"{trend.glyph} {trend.words}".strip()


def scorecard_markdown(cards: Sequence[KpiCard]) -> str:
    """Render the scorecard as a Markdown table for Dagster asset metadata."""
    if not cards:
        return "_No KPIs were computed for this period._"
    lines = ["| KPI | Value | Target | Status | Trend |", "| --- | ---: | ---: | --- | --- |"]
    for name, value, target, status, trend in _scorecard_rows(cards):
        cells = [name, value, target, f"{status.glyph} {status.words}", _trend_text(trend)]
        lines.append("| " + " | ".join(_markdown_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


def _terminal_safe(text: str) -> str:
    """Replace control and format characters with spaces.

    ANSI escapes, newlines and bidi overrides in ticket text could otherwise rewrite or spoof
    the terminal output.
    """
    return "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)


def _width(text: str) -> int:
    """Terminal columns of text: wide East Asian characters take two, combining marks none."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def _fit(text: str, columns: int) -> str:
    """Cut text to at most ``columns`` terminal columns, marking the cut with an ellipsis."""
    if _width(text) <= columns:
        return text
    kept, used = [], 0
    for ch in text:  # one pass: ticket text can be very long
        used += _width(ch)
        if used > columns - 1:
            break
        kept.append(ch)
    return "".join(kept) + "…"


def scorecard_text(cards: Sequence[KpiCard]) -> str:
    """Render the scorecard as a plain, column-aligned text table for a terminal."""
    if not cards:
        return "No KPIs were computed for this period."
    header = ("KPI", "Value", "Target", "Status", "Trend")
    rows = [
        tuple(
            _terminal_safe(cell)
            for cell in (_fit(name, 40), value, target, status.words, trend.words)
        )
        for name, value, target, status, trend in _scorecard_rows(cards)
    ]
    widths = [max(_width(row[i]) for row in [header, *rows]) for i in range(len(header))]
    right_aligned = {1, 2}

    def line(cells: Sequence[str]) -> str:
        padded = [
            " " * (widths[i] - _width(cell)) + cell
            if i in right_aligned
            else cell + " " * (widths[i] - _width(cell))
            for i, cell in enumerate(cells)
        ]
        return "  ".join(padded).rstrip()

    return "\n".join(
        [line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)]
    )
