"""Tests for the step-6 report rendering (HTML page, index, SVG charts, text scorecards).

They pin what the audience relies on (every KPI with its status in words, sections in order,
empty sections saying so, newest report first) and what keeps the page safe: ticket text must
never become markup, and the page must not reach the network.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from markupsafe import escape

from assets.step6_present.render import (
    format_value,
    render_index,
    render_report,
    scorecard_markdown,
    scorecard_text,
)
from assets.step6_present.report_model import (
    ActionRow,
    Finding,
    KpiCard,
    Objective,
    QuarantineRow,
    ReportData,
)
from assets.step6_present.svg import line_chart, sparkline

DAY0 = datetime.date(2024, 3, 1)
PAYLOADS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "\"'><svg onload=alert(1)>",
    "'; DROP TABLE incidents; --",
)
STATUS_WORDS = {
    "on_target": ("✔", "On target"),
    "at_risk": ("▲", "At risk"),
    "off_target": ("✖", "Off target"),
    "no_target": ("○", "No target"),
    "no_data": ("?", "No data"),
}


def _series(*values: float | None) -> tuple[tuple[datetime.date, float | None], ...]:
    """Build a daily series starting at DAY0."""
    return tuple((DAY0 + datetime.timedelta(days=i), v) for i, v in enumerate(values))


def _card(kpi_id: str, name: str, status: str, **changes: object) -> KpiCard:
    """A card with plausible defaults, so each test states only what it cares about."""
    card = KpiCard(
        kpi_id=kpi_id,
        name=name,
        unit="%",
        direction="higher_is_better",
        value=0.9,
        target=0.95,
        warning=0.9,
        status=status,
        trend="stable",
        series=_series(0.91, None, 0.9, 0.93, float("nan"), 0.9),
        objectives=(),
        formula="resolved within SLA / resolved",
    )
    return dataclasses.replace(card, **changes)


def _report(**changes: object) -> ReportData:
    """A report with one card per status, gaps in the series, and every section filled."""
    cards = (
        _card(
            "sla",
            "Incident SLA compliance",
            "on_target",
            value=0.962,
            trend="improving",
            objectives=("OBJ-1",),
        ),
        _card(
            "mttr",
            "Mean time to restore",
            "at_risk",
            unit="minutes",
            direction="lower_is_better",
            value=135.0,
            target=120.0,
            warning=150.0,
            trend="improving",
            series=_series(160.0, 150.0, None, None, 140.0, 135.0),
        ),
        _card(  # linked from the card side only: must still be listed under OBJ-1
            "fcr",
            "First contact resolution",
            "off_target",
            value=0.61,
            trend="degrading",
            objectives=("OBJ-1",),
        ),
        _card(
            "backlog",
            "Open backlog",
            "no_target",
            unit="count",
            value=12345.0,
            target=None,
            warning=None,
            series=_series(12000.0, 12000.0, 12000.0),
        ),
        _card(
            "csat",
            "Customer satisfaction",
            "no_data",
            value=None,
            series=(),
            trend="insufficient data",
        ),
    )
    data = ReportData(
        title="Service improvement report",
        period_start=DAY0,
        period_end=datetime.date(2024, 3, 31),
        generated_at=datetime.datetime(2024, 4, 1, 6, 30, tzinfo=datetime.UTC),
        cards=cards,
        objectives=(
            Objective("OBJ-1", "Restore service quickly", "Head of Service Desk", ("sla", "mttr")),
            Objective("OBJ-2", "Keep customers happy", "CIO", ("csat", "nps")),
        ),
        findings=(
            Finding(
                "F1", "mttr", "anomaly", DAY0 + datetime.timedelta(days=4), "MTTR spike", "z=4.1"
            ),
            Finding(
                "F2", "fcr", "trend", DAY0 + datetime.timedelta(days=2), "FCR falling", "-3 pp"
            ),
        ),
        actions=(
            ActionRow(
                "A-1",
                "Add a major-incident runbook",
                "mttr",
                "Network",
                "in progress",
                "Jo Bloggs",
                datetime.date(2024, 4, 30),
                160.0,
                135.0,
                "MTTR off target",
            ),
        ),
        quarantine=(
            QuarantineRow("incident", "missing_opened_at", 42, "INC0001 has no opened_at"),
        ),
        row_counts=(("incidents", 120345), ("changes", 987)),
    )
    return dataclasses.replace(data, **changes)


def _scorecard_row(html: str, name: str) -> str:
    """Return the scorecard table row of one KPI, so assertions look at that row only."""
    match = re.search(r'<tr><th scope="row">' + re.escape(name) + r"<.*?</tr>", html, re.S)
    assert match, f"no scorecard row for {name!r}"
    return match.group(0)


def test_every_kpi_appears_with_status_in_words_and_glyph() -> None:
    """Status must be readable without colour: words plus glyph in each KPI's row."""
    data = _report()
    html = render_report(data)
    for card in data.cards:
        glyph, words = STATUS_WORDS[card.status]
        row = _scorecard_row(html, card.name)
        assert words in row
        assert glyph in row


def test_scorecard_values_trend_arrows_and_sparklines() -> None:
    """Values are formatted in their unit and arrows follow the value, words the judgement."""
    html = render_report(_report())
    sla = _scorecard_row(html, "Incident SLA compliance")
    assert "96.2%" in sla
    assert "95.0%" in sla
    assert "↑" in sla
    assert "improving" in sla
    mttr = _scorecard_row(html, "Mean time to restore")
    assert "2 h 15 min" in mttr
    assert "↓" in mttr
    assert "improving" in mttr
    assert "↓" in _scorecard_row(html, "First contact resolution")
    assert "12,345" in _scorecard_row(html, "Open backlog")
    csat = _scorecard_row(html, "Customer satisfaction")
    assert "insufficient data" in csat
    assert "no data" in csat
    assert "—" in csat
    assert html.count('class="sparkline"') == 5


def test_sections_in_order_and_objectives_list_their_kpis() -> None:
    """Leadership reads top-down: header, scorecard, objectives, findings, quality, actions."""
    html = render_report(_report())
    positions = [
        html.index(marker)
        for marker in (
            "<h1>Service improvement report</h1>",
            'id="scorecard"',
            'id="objectives"',
            'id="findings"',
            'id="data-quality"',
            'id="improvements"',
        )
    ]
    assert positions == sorted(positions)
    objectives = html[html.index('id="objectives"') : html.index('id="findings"')]
    assert "Restore service quickly" in objectives
    assert "1 of 3 KPIs on target" in objectives
    assert "Not measured in this report: nps." in objectives
    assert "2024-03-01" in html
    assert "2024-03-31" in html
    assert "2024-04-01 06:30 UTC" in html


def test_filled_sections_show_findings_quality_and_actions() -> None:
    """Findings are charted and listed; quality and register rows are formatted for reading."""
    html = render_report(_report())
    assert html.count('class="line-chart"') == 2
    assert "MTTR spike" in html
    assert "No change points were found in this period." in html
    assert "No anomalies were found" not in html
    assert "120,345" in html
    assert "INC0001 has no opened_at" in html
    assert "42" in html
    assert "Add a major-incident runbook" in html
    assert "improved" in html


def test_empty_sections_say_so_in_words() -> None:
    """An empty section must read as "nothing happened", not as a rendering failure."""
    html = render_report(
        _report(cards=(), objectives=(), findings=(), actions=(), quarantine=(), row_counts=())
    )
    for sentence in (
        "No KPIs were computed for this period.",
        "No objectives were defined for this period.",
        "No anomalies were found in this period.",
        "No trends were found in this period.",
        "No change points were found in this period.",
        "No rows were quarantined in this period.",
        "No row counts were recorded.",
        "No improvement actions are registered.",
    ):
        assert sentence in html


def test_page_is_offline_and_printable() -> None:
    """No scripts or external resources; print rules keep sections and charts whole."""
    html = render_report(_report())
    assert "<script" not in html.lower()
    assert "http://" not in html
    assert "https://" not in html
    assert "@media print" in html
    assert "break-before: page" in html
    assert "break-inside: avoid" in html


class _TagCollector(HTMLParser):
    """Collect every start tag and attribute the browser would actually create."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _assert_inert(html: str) -> _TagCollector:
    """Assert the HTML has no script, event handler, or URL, whatever the data contained."""
    assert "<script" not in html.lower()
    # Quoted attribute values are inert; autoescaping leaves no raw quote in any data.
    unquoted = re.sub(r'"[^"]*"', '""', html)
    assert not re.search(r"<[^>]*\bon\w+\s*=", unquoted, re.I)
    assert "http://" not in html
    assert "https://" not in html
    parser = _TagCollector()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag not in {"script", "img", "iframe", "object", "embed"}
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            if name in {"href", "src"}:
                assert value, (tag, name)
                assert ":" not in value, value
                assert not value.startswith("/"), value
    return parser


def _hostile_report(payload: str) -> ReportData:
    """Put the payload in every text field of every record, ids and enum-like fields too."""
    card = KpiCard(
        kpi_id=payload,
        name=payload,
        unit=payload,
        direction=payload,
        value=1.5,
        target=2.0,
        warning=None,
        status=payload,
        trend=payload,
        series=_series(1.0, None, 1.5),
        objectives=(payload,),
        formula=payload,
    )
    return ReportData(
        title=payload,
        period_start=DAY0,
        period_end=DAY0,
        generated_at=datetime.datetime(2024, 4, 1, 6, 30),
        cards=(card,),
        objectives=(Objective(payload, payload, payload, (payload, payload + "x")),),
        findings=(Finding(payload, payload, payload, DAY0, payload, payload),),
        actions=(
            ActionRow(
                payload, payload, payload, payload, payload, payload, None, 1.0, 2.0, payload
            ),
        ),
        quarantine=(QuarantineRow(payload, payload, 3, payload),),
        row_counts=((payload, 5),),
    )


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_ticket_text_is_escaped_everywhere(payload: str) -> None:
    """Ticket text is untrusted: it must appear escaped and never become markup."""
    html = render_report(_hostile_report(payload))
    _assert_inert(html)
    assert str(escape(payload)) in html
    assert html.count(str(escape(payload))) >= 15


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_text_in_index_is_escaped(payload: str) -> None:
    """Report titles and file names in the index are untrusted too."""
    html = render_index([(payload, payload, datetime.datetime(2024, 4, 1))])
    _assert_inert(html)
    assert str(escape(payload)) in html


def test_index_lists_newest_first_with_relative_links() -> None:
    """People open the latest report first; links stay relative so the folder can move."""
    html = render_index(
        [
            ("March", "2024-03.html", datetime.datetime(2024, 4, 1)),
            ("May", "2024-05.html", datetime.datetime(2024, 6, 1)),
            ("April", "reports/2024 04.html", datetime.datetime(2024, 5, 1)),
        ]
    )
    assert html.index("May") < html.index("April") < html.index("March")
    assert 'href="reports/2024%2004.html"' in html
    assert "No reports have been generated yet." in render_index([])


def test_index_refuses_links_that_leave_the_folder() -> None:
    """Scheme, absolute and protocol-relative names must not become clickable links."""
    html = render_index(
        [
            ("js", "javascript:alert(1)", datetime.datetime(2024, 4, 1)),
            ("abs", "/etc/passwd", datetime.datetime(2024, 4, 2)),
            ("net", "//evil.example/x", datetime.datetime(2024, 4, 3)),
        ]
    )
    hrefs = [v for _tag, attrs in _assert_inert(html).tags for k, v in attrs if k == "href"]
    assert hrefs == ["javascript%3Aalert%281%29"]


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (None, "%", "—"),
        (math.nan, "minutes", "—"),
        (0.9534, "%", "95.3%"),
        (1.0, "%", "100.0%"),
        (0.0, "%", "0.0%"),
        (0.5, "minutes", "30 s"),
        (4.26, "minutes", "4.3 min"),
        (42.4, "minutes", "42 min"),
        (135.0, "minutes", "2 h 15 min"),
        (120.0, "min", "2 h"),
        (3000.0, "minutes", "2 d 2 h"),
        (1.5, "hours", "1 h 30 min"),
        (50.0, "hours", "2 d 2 h"),
        (12345.0, "count", "12,345"),
        (1234567.4, "", "1,234,567"),
        (1520.4, "incidents", "1,520 incidents"),
        (104.333, "per day", "104.33 per day"),
        (3.25, "score", "3.25 score"),
        (7.0, "tickets/agent", "7 tickets/agent"),
    ],
)
def test_format_value(value: float | None, unit: str, expected: str) -> None:
    """Each unit family reads the way a service owner would say it."""
    assert format_value(value, unit) == expected


def test_scorecard_markdown_escapes_pipes_and_markdown() -> None:
    """A `|` in a name must not add a column, and Markdown in names must not render."""
    cards = [
        _card("a", "Resolve | *fast* [x](y)\nnext", "off_target", trend="degrading"),
        _card("b", "Plain", "on_target"),
    ]
    lines = scorecard_markdown(cards).splitlines()
    assert lines[0] == "| KPI | Value | Target | Status | Trend |"
    assert len(lines) == 4
    row = lines[2]
    assert r"Resolve \| \*fast\* \[x\]\(y\) next" in row
    assert "✖ Off target" in row
    assert "↓ degrading" in row
    assert "90.0%" in row
    assert len(re.findall(r"(?<!\\)\|", row)) == 6
    assert scorecard_markdown([]) == "_No KPIs were computed for this period._"


def test_scorecard_text_is_aligned_and_terminal_safe() -> None:
    """Columns line up, and control characters in names cannot drive the terminal."""
    cards = [
        _card("a", "Red\x1b[31m alert\nnext", "at_risk"),
        *_report().cards,
        _card("long", "x" * 100_000, "no_data"),
    ]
    text = scorecard_text(cards)
    assert "\x1b" not in text
    lines = text.splitlines()
    assert len(lines) == 2 + len(cards)
    status_column = lines[0].index("Status")
    assert lines[2][status_column:].startswith("At risk")
    assert all(line[status_column - 2 : status_column] == "  " for line in lines)
    assert "Mean time to restore" in text
    assert "2 h 15 min" in text
    assert lines[-1].startswith("x" * 39 + "…  ")
    assert scorecard_text([]) == "No KPIs were computed for this period."


def _coordinates(svg: str) -> list[str]:
    """Return every geometric attribute value, to check their precision."""
    keys = {"x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "d", "points", "width", "height"}
    return [
        value for el in ET.fromstring(svg).iter() for key, value in el.attrib.items() if key in keys
    ]


def test_sparkline_breaks_at_gaps_and_handles_edge_cases() -> None:
    """Gaps stay gaps, constant and empty series still draw, and markup is well-formed."""
    gappy = sparkline(_series(1.0, 2.0, None, 3.0, 4.0, math.nan, 5.0), label="MTTR")
    root = ET.fromstring(gappy)
    assert root.get("role") == "img"
    assert root.find("title") is not None
    assert root.find("path").get("d").count("M") == 2
    assert len(root.findall("circle")) == 2  # isolated last point + latest-value marker
    assert "5 of 7 days with data" in root.get("aria-label")
    assert all(not re.search(r"\.\d\d", value) for value in _coordinates(gappy))

    flat = ET.fromstring(sparkline(_series(7.0, 7.0, 7.0)))
    ys = {float(y) for y in re.findall(r"[\d.]+ ([\d.]+)", flat.find("path").get("d"))}
    assert len(ys) == 1

    for empty in ((), _series(None, None)):
        assert "no data" in ET.fromstring(sparkline(empty)).get("aria-label")


def test_line_chart_target_markers_and_escaping() -> None:
    """The target and signal days are visible, and the title is escaped inside the SVG."""
    svg = line_chart(
        _series(10.0, None, 12.0, 30.0, 11.0),
        target=15.0,
        markers=[
            (DAY0 + datetime.timedelta(days=3), "<b>spike</b>"),
            (datetime.date(2020, 1, 1), "x"),
        ],
        title="<script>alert(1)</script>",
        fmt=lambda v: f"{v:.0f} min",
    )
    assert "<script" not in svg
    assert "&lt;script&gt;" in svg
    assert "&lt;b&gt;spike" in svg
    root = ET.fromstring(svg)
    assert "target 15 min" in root.get("aria-label")
    assert "1 signal(s) marked on 2024-03-04" in root.get("aria-label")
    assert len(root.findall("g")) == 1
    assert root.find("g/polygon") is not None
    assert "Target 15 min" in "".join(root.itertext())
    assert all(not re.search(r"\.\d\d", value) for value in _coordinates(svg))

    empty = ET.fromstring(line_chart((), title="Empty"))
    assert "no data" in empty.get("aria-label")
    assert "No data" in "".join(empty.itertext())
    assert ET.fromstring(line_chart(_series(5.0, 5.0))).find("path") is not None
