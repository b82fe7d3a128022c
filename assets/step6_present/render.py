"""Render step 6 of the 7-step improvement process: present and use the information.

Produces one self-contained, offline HTML page per reporting period for service owners and IT
leadership, and the index of such pages.

Design rules that shape this module:

* All text in ``ReportData`` may come from tickets typed by anyone. HTML goes through Jinja
  autoescaping only (never ``|safe`` on data); charts are built in ``svg`` from escaped parts.
* Status is never colour-only: it is shown in words plus a distinct glyph, colour is a third cue.
* Templates receive pre-formatted view objects, so formatting lives here and is unit-tested.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from resources.report_store import ReportFile

from . import sections
from .formatting import (
    NO_VALUE,
    Badge,
    column_heading,
    compare,
    format_cell,
    format_datetime,
    format_value,
    formatter,
    status_badge,
    status_counts,
    trend_badge,
)
from .report_model import (
    ActionRow,
    Finding,
    ForecastPoint,
    KpiCard,
    Objective,
    ReportData,
    TableSection,
)
from .svg import MINUTE_STEPS, line_chart, sparkline

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(
        enabled_extensions=("html", "j2"), default_for_string=True, default=True
    ),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

_FINDING_KINDS = {
    "anomaly": ("Control-chart signals", "No control-chart signals were found in this period."),
    "trend": ("Degrading trends", "No degrading trends were found in this period."),
}
MAX_SCOPED_FINDINGS = 20
"""Findings about single services listed in full; the rest are counted in the summary."""
OPEN_STATUSES = ("proposed", "accepted", "in_progress")
_PRIORITIES = ("critical", "high", "medium", "low")
_REGISTER_ORDER = ("proposed", "accepted", "in_progress", "done", "verified", "ineffective",
                   "rejected")
_KIND_WORDS = {"rolling": "Rolling", "weekly": "Weekly", "monthly": "Monthly"}


@dataclass(frozen=True)
class CardView:
    """A KPI card as the templates show it."""

    kpi_id: str
    name: str
    value: str
    previous: str
    change: str  # "better" | "worse" | "unchanged" | ""
    target: str
    warning: str
    status: Badge
    trend: Badge
    direction: str
    formula: str
    sparkline: Markup
    chart: Markup


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
    scope: str
    title: str
    detail: str


@dataclass(frozen=True)
class FindingSummary:
    """How many findings of one kind a KPI has, for the KPI as a whole and for single scopes."""

    kpi: str
    overall: int
    scoped: int
    scopes: str
    latest: str


@dataclass(frozen=True)
class FindingGroup:
    """Findings of one kind: a per-KPI summary, every finding about a KPI as a whole, and the
    newest findings about single services (at most MAX_SCOPED_FINDINGS)."""

    heading: str
    empty_text: str
    summary: tuple[FindingSummary, ...]
    overall: tuple[FindingView, ...]
    scoped: tuple[FindingView, ...]
    scoped_total: int


@dataclass(frozen=True)
class SectionView:
    """An analysis table ready to print: headings and cells are text, ``note`` says what is
    left out."""

    group: str
    anchor: str
    heading: str
    intro: str
    available: bool
    headings: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    classes: tuple[str, ...]  # per column: "num", "date" or ""
    note: str
    empty_text: str


@dataclass(frozen=True)
class ForecastView:
    """One KPI's forecast: a chart with its interval and the numbers at the horizon."""

    kpi: str
    chart: Markup
    horizon: str
    value: str
    interval: str
    method: str
    error: str  # the backtested error at the horizon, and the baseline's
    target: str
    reaches: str


@dataclass(frozen=True)
class ActionView:
    """An improvement-register row with values formatted in its KPI's unit."""

    action_id: str
    title: str
    kpi: str
    scope: str
    status: str
    priority: str
    owner: str
    due_date: str
    overdue: bool
    baseline: str
    current: str
    change: str
    rationale: str
    effect: str


@dataclass(frozen=True)
class IndexEntry:
    """A report link; ``href`` is None when the file name is not a safe relative path."""

    title: str
    href: str | None
    file_name: str
    kind: str
    period: str
    period_iso: str
    generated_at: str
    generated_iso: str
    extras: tuple[tuple[str, str | None], ...]  # (label, href)


def chart_options(card: KpiCard) -> dict[str, object]:
    """Axis bounds and tick steps that suit the KPI's unit."""
    unit = card.unit.strip().lower()
    values = [v for _d, v in card.series if v is not None]
    options: dict[str, object] = {"fmt": formatter(card.unit)}
    if unit == "%":
        options["bounds"] = (0.0, 1.0)
    elif values and min(values) >= 0:
        options["bounds"] = (0.0, None)
    if unit in ("min", "mins", "minute", "minutes"):
        options["steps"] = MINUTE_STEPS
    return options


def _card_view(
    card: KpiCard, period: tuple[datetime.date, datetime.date], findings: Sequence[Finding]
) -> CardView:
    """Pre-format one card, including its sparkline and its chart for the objective section."""
    direction = {
        "higher_is_better": "Higher is better",
        "lower_is_better": "Lower is better",
    }.get(card.direction, card.direction)
    markers = [(f.day, f.title) for f in findings if f.kpi_id == card.kpi_id and f.overall]
    return CardView(
        kpi_id=card.kpi_id,
        name=card.name,
        value=format_value(card.value, card.unit),
        previous=format_value(card.previous, card.unit),
        change=compare(card.previous, card.value, card.direction, card.unit),
        target=format_value(card.target, card.unit),
        warning=format_value(card.warning, card.unit),
        status=status_badge(card.status),
        trend=trend_badge(card.trend, card.direction),
        direction=direction,
        formula=card.formula,
        sparkline=sparkline(card.series, label=card.name, fmt=formatter(card.unit)),
        chart=line_chart(card.series, target=card.target, markers=markers, highlight=period,
                         title=card.name, **chart_options(card)),
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


def _unlinked(objectives: Sequence[ObjectiveView], views: Sequence[CardView]) -> tuple[CardView,
                                                                                       ...]:
    """KPIs no objective lists: shown too, so no measured KPI is missing from the page."""
    linked = {card.kpi_id for objective in objectives for card in objective.cards}
    return tuple(view for view in views if view.kpi_id not in linked)


def _listed(scopes: Sequence[str], shown: int = 4) -> str:
    """"ERP, Network, Email, HR Portal and 2 more": names in order of frequency."""
    ranked = sorted(set(scopes), key=lambda scope: (-scopes.count(scope), scope))
    more = len(ranked) - shown
    return ", ".join(ranked[:shown]) + (f" and {more} more" if more > 0 else "")


def _finding_group(kind: str, findings: Sequence[Finding], names: dict[str, str]) -> FindingGroup:
    """Findings of one kind, newest first, summarised per KPI (most findings first)."""
    heading, empty_text = _FINDING_KINDS.get(kind, (kind.replace("_", " ").capitalize(), ""))
    ordered = sorted(findings, key=lambda f: (f.day, names.get(f.kpi_id, f.kpi_id), f.scope),
                     reverse=True)

    def view(f: Finding) -> FindingView:
        return FindingView(f.day.isoformat(), names.get(f.kpi_id, f.kpi_id), f.scope, f.title,
                           f.detail)

    summary = []
    for kpi_id in dict.fromkeys(f.kpi_id for f in ordered):
        mine = [f for f in ordered if f.kpi_id == kpi_id]
        scoped = [f.scope for f in mine if not f.overall]
        summary.append(FindingSummary(names.get(kpi_id, kpi_id), len(mine) - len(scoped),
                                      len(scoped), _listed(scoped), mine[0].day.isoformat()))
    summary.sort(key=lambda row: (-(row.overall + row.scoped), row.kpi))
    scoped = [view(f) for f in ordered if not f.overall]
    return FindingGroup(
        heading=heading,
        empty_text=empty_text,
        summary=tuple(summary),
        overall=tuple(view(f) for f in ordered if f.overall),
        scoped=tuple(scoped[:MAX_SCOPED_FINDINGS]),
        scoped_total=len(scoped),
    )


def _finding_groups(findings: Sequence[Finding], names: dict[str, str],
                    unavailable: dict[str, str]) -> list[FindingGroup]:
    """One group per kind: the standard kinds always appear, saying so when there are none,
    or that they are not available when their analysis table is missing."""
    kinds = list(_FINDING_KINDS) + sorted({f.kind for f in findings} - set(_FINDING_KINDS))
    groups = [_finding_group(kind, [f for f in findings if f.kind == kind], names)
              for kind in kinds]
    return [
        dataclasses.replace(group, empty_text="Not available: the analysis step has not "
                            f"produced this yet (expected in {unavailable[kind]}).")
        if kind in unavailable and not group.summary else group
        for kind, group in zip(kinds, groups, strict=True)
    ]


PERCENT_COLUMNS = frozenset({"share", "cumulative_share", "share_of_change", "budget_share",
                             "relative_change"})
"""Analysis columns holding fractions of a whole: shown as percentages."""


def _section_cell(column: str, value: object, names: dict[str, str]) -> str:
    if column == "kpi_id" and value is not None:
        return names.get(str(value), str(value))
    if column in PERCENT_COLUMNS and isinstance(value, int | float):
        return format_value(float(value), "%")
    return format_cell(value)


def _section_view(section: TableSection, names: dict[str, str]) -> SectionView:
    """Format an analysis table: KPI ids become names, shares percentages, numbers and dates
    read naturally."""
    kpi_column = section.columns.index("kpi_id") if "kpi_id" in section.columns else -1
    rows = tuple(
        tuple(_section_cell(column, value, names)
              for column, value in zip(section.columns, row, strict=True))
        for row in section.rows
    )

    def kind(i: int) -> str:
        """"num" (right-aligned) or "date" (kept on one line) when every value is one."""
        values = [row[i] for row in section.rows if row[i] is not None]
        if i != kpi_column and values and all(isinstance(v, int | float) for v in values):
            return "num"
        if values and all(isinstance(v, datetime.date) for v in values):
            return "date"
        return ""

    classes = tuple(kind(i) for i in range(len(section.columns)))
    note = ""
    if section.source and section.total_rows > len(section.rows):
        note = (f"Showing {len(section.rows)} of {section.total_rows:,} rows; all of them are "
                f"in the warehouse table {section.source}.")
    elif section.source:
        note = f"From the warehouse table {section.source}."
    return SectionView(
        group=section.group,
        anchor=section.anchor,
        heading=section.heading,
        intro=section.intro,
        available=section.source is not None,
        headings=tuple(column_heading(c) for c in section.columns),
        rows=rows,
        classes=classes,
        note=note,
        empty_text=section.empty if section.source else section.missing,
    )


def _section_groups(data: ReportData, names: dict[str, str]) -> dict[str, list[SectionView]]:
    """The parts of each report section in SECTIONS order (a "not available" part when the
    data has none), then further analysis results."""
    given = {s.anchor: s for s in data.sections}
    groups: dict[str, list[SectionView]] = {spec.group: [] for spec in sections.SECTIONS}
    groups[sections.OTHER.group] = []
    for spec in sections.SECTIONS:
        part = given.pop(spec.anchor, None) or sections.unavailable(spec)
        groups[spec.group].append(_section_view(part, names))
    for part in given.values():
        groups.setdefault(part.group or sections.OTHER.group, []).append(
            _section_view(part, names))
    return groups


def _forecast_views(
    cards: Sequence[KpiCard], points: Sequence[ForecastPoint]
) -> list[ForecastView]:
    """A chart and the horizon numbers for each KPI that has forecast days."""
    views = []
    for card in cards:
        ahead = [p for p in points if p.kpi_id == card.kpi_id]
        if not ahead:
            continue
        fmt = formatter(card.unit)
        last = ahead[-1]
        reaches = "no target"
        if card.target is not None:
            meets = [p.day for p in ahead if (p.value <= card.target
                                              if card.direction == "lower_is_better"
                                              else p.value >= card.target)]
            reaches = (f"on target from {meets[0].isoformat()}" if meets
                       else f"not by {last.day.isoformat()}")
        views.append(ForecastView(
            kpi=card.name,
            chart=line_chart(
                card.series, target=card.target,
                forecast=[(p.day, p.value, p.lower, p.upper) for p in ahead],
                title=card.name, **chart_options(card),
            ),
            horizon=last.day.isoformat(),
            value=fmt(last.value),
            interval=(f"{fmt(last.lower)} to {fmt(last.upper)}"
                      if last.lower is not None and last.upper is not None else NO_VALUE),
            method=last.method or NO_VALUE,
            error=(NO_VALUE if last.error is None else f"± {fmt(last.error)}" + (
                f" (baseline ± {fmt(last.baseline_error)})"
                if last.baseline_error is not None else "")),
            target=format_value(card.target, card.unit),
            reaches=reaches,
        ))
    return views


def _change_word(baseline: float | None, current: float | None, direction: str) -> str:
    """Say whether an action's KPI moved the right way since its baseline."""
    word = compare(baseline, current, direction, "")
    return {"better": "improved", "worse": "worsened"}.get(word, word)


def _action_view(action: ActionRow, cards: dict[str, KpiCard], day: datetime.date) -> ActionView:
    """Format an action's baseline/current in the unit of the KPI it targets."""
    card = cards.get(action.kpi_id)
    unit = card.unit if card else ""
    return ActionView(
        action_id=action.action_id,
        title=action.title,
        kpi=card.name if card else action.kpi_id,
        scope=action.scope,
        status=action.status.replace("_", " "),
        priority=action.priority,
        owner=action.owner or "unassigned",
        due_date=action.due_date.isoformat() if action.due_date else NO_VALUE,
        overdue=bool(action.due_date and action.due_date < day
                     and action.status in OPEN_STATUSES),
        baseline=format_value(action.baseline, unit),
        current=format_value(action.current, unit),
        change=_change_word(action.baseline, action.current, card.direction if card else ""),
        rationale=action.rationale,
        effect=action.effect,
    )


def _register_counts(actions: Sequence[ActionRow]) -> list[tuple[str, int]]:
    """Actions per status, in the register's life-cycle order, unknown statuses last."""
    statuses = [a.status for a in actions]
    order = list(_REGISTER_ORDER) + sorted(set(statuses) - set(_REGISTER_ORDER))
    return [(status.replace("_", " "), statuses.count(status)) for status in order
            if status in statuses]


def render_report(data: ReportData) -> str:
    """Render the full, self-contained HTML report page."""
    period = (data.period_start, data.period_end)
    card_views = [_card_view(card, period, data.findings) for card in data.cards]
    views_by_id = {view.kpi_id: view for view in card_views}
    cards_by_id = {card.kpi_id: card for card in data.cards}
    names = {card.kpi_id: card.name for card in data.cards}
    quarantine = sorted(data.quarantine, key=lambda row: (row.entity, row.reason_code))
    objectives = [
        _objective_view(objective, data.cards, views_by_id) for objective in data.objectives
    ]
    actions = [_action_view(a, cards_by_id, data.period_end) for a in data.actions]
    section_groups = _section_groups(data, names)
    days = (data.period_end - data.period_start).days + 1
    return _ENV.get_template("report.html.j2").render(
        title=data.title,
        kind=data.kind,
        period_start=data.period_start.isoformat(),
        period_end=data.period_end.isoformat(),
        period_days=days,
        days_with_data=days if data.days_with_data is None else data.days_with_data,
        previous_label=data.previous_label,
        generated_at=format_datetime(data.generated_at),
        generated_iso=data.generated_at.isoformat(),
        status_counts=status_counts([card.status for card in data.cards]),
        cards=card_views,
        objectives=objectives,
        unlinked=_unlinked(objectives, card_views),
        finding_groups=_finding_groups(data.findings, names, dict(data.unavailable)),
        parts=section_groups,
        forecasts=_forecast_views(data.cards, data.forecasts),
        recommendations=sorted(
            (a for a in actions if a.status == "proposed"),
            key=lambda a: (_PRIORITIES.index(a.priority) if a.priority in _PRIORITIES
                           else len(_PRIORITIES), a.kpi, a.scope)),
        register=[a for a in actions if a.status != "proposed"],
        register_counts=_register_counts(data.actions),
        overdue=sum(a.overdue for a in actions),
        register_available=data.register_available,
        quarantine=[(row, format_value(row.rows, "count")) for row in quarantine],
        quarantine_total=format_value(sum(row.rows for row in quarantine), "count"),
        row_counts=[(table, format_value(rows, "count")) for table, rows in data.row_counts],
        extracts=[(label, _relative_href(name)) for label, name in data.extracts],
    )


def _relative_href(file_name: str) -> str | None:
    """Percent-encode a report file name as a relative link, or refuse it.

    Encoding ``:`` means no scheme (``javascript:``, ``https:``) can survive; a leading ``/``
    would be absolute or protocol-relative (``//host``), which an offline index must not use.
    """
    href = quote(file_name, safe="/")
    return href if href and not href.startswith("/") else None


_EXTRA_NAMES = {"scorecard": "Scorecard", "kpi-series": "KPI series", "kpis": "Chart"}
_EXTRA_FORMATS = {"csv": "CSV", "parquet": "Parquet", "svg": "SVG"}


def _extra_label(report: str, extra: str) -> str:
    """"report-2026-05-31-kpi-series.csv" beside "report-2026-05-31.html" -> "KPI series CSV"."""
    stem = report.removesuffix(".html") + "-"
    name, _, suffix = extra.removeprefix(stem).rpartition(".")
    return (f"{_EXTRA_NAMES.get(name, name.replace('-', ' '))} "
            f"{_EXTRA_FORMATS.get(suffix.lower(), suffix.upper())}").strip()


def render_index(entries: Sequence[ReportFile], data_docs: str | None = None) -> str:
    """Render the index of reports, newest first (by the last day they cover), with a link to
    the Great Expectations Data Docs at `data_docs` (relative to the index) when given."""
    ordered = sorted(entries, key=lambda entry: entry.newest_first, reverse=True)
    return _ENV.get_template("index.html.j2").render(
        data_docs=_relative_href(data_docs) if data_docs else None,
        entries=[
            IndexEntry(
                title=entry.title,
                href=_relative_href(entry.file_name),
                file_name=entry.file_name,
                kind=_KIND_WORDS.get(entry.kind, entry.kind or "Report"),
                period=(f"{entry.period_start} to {entry.period_end}"
                        if entry.period_start and entry.period_end else NO_VALUE),
                period_iso=entry.period_end.isoformat() if entry.period_end else "",
                generated_at=format_datetime(entry.generated),
                generated_iso=entry.generated.isoformat(),
                extras=tuple((_extra_label(entry.file_name, extra), _relative_href(extra))
                             for extra in entry.extras),
            )
            for entry in ordered
        ]
    )
