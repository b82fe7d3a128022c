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

from assets.step6_present.formatting import compare, format_cell, format_value
from assets.step6_present.render import render_index, render_report
from assets.step6_present.report_model import (
    ActionRow,
    Finding,
    ForecastPoint,
    KpiCard,
    Objective,
    QuarantineRow,
    ReportData,
    TableSection,
)
from assets.step6_present.summaries import scorecard_markdown, scorecard_text, summary_text
from assets.step6_present.svg import MINUTE_STEPS, line_chart, nice_ticks, sparkline, standalone
from resources.report_store import ReportFile

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
            'id="highlights"',
            'id="findings"',
            'id="change-points"',
            'id="root-causes"',
            'id="pareto"',
            'id="drivers"',
            'id="change-incidents"',
            'id="problem-candidates"',
            'id="forecasts"',
            'id="recommendations"',
            'id="improvements"',
            'id="data-quality"',
            'id="definitions"',
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
    """Every KPI is charted once (objectives, then KPIs no objective lists); findings, quality
    and register rows are formatted for reading."""
    html = render_report(_report())
    assert html.count('class="line-chart"') == 5
    assert "KPIs not linked to an objective" in html
    assert "MTTR spike" in html
    assert "No control-chart signals were found" not in html
    assert "120,345" in html
    assert "INC0001 has no opened_at" in html
    assert "42" in html
    assert "Add a major-incident runbook" in html
    assert "improved" in html
    # the overall finding marks its KPI's chart; the chart shades the report period
    mttr_chart = re.search(r'<svg class="line-chart"[^>]*aria-label="Mean time to restore[^"]*"',
                           html).group(0)
    assert "1 signal(s) marked on 2024-03-05" in mttr_chart


def test_empty_sections_say_so_in_words() -> None:
    """An empty section must read as "nothing happened", not as a rendering failure."""
    html = render_report(
        _report(cards=(), objectives=(), findings=(), actions=(), quarantine=(), row_counts=())
    )
    for sentence in (
        "No KPIs were computed for this period.",
        "No objectives were defined for this period.",
        "No control-chart signals were found in this period.",
        "No degrading trends were found in this period.",
        "No rows were quarantined in this period.",
        "No row counts were recorded.",
        "No improvement actions are registered.",
        "No new actions are proposed.",
    ):
        assert sentence in html


def test_missing_analyses_and_register_say_not_available() -> None:
    """A table another step has not produced yet is named, in words, never a crash or a gap."""
    html = render_report(_report(sections=(), forecasts=(), register_available=False))
    for section, table in (
        ("highlights", "analysis.findings"),
        ("findings", "analysis.kpi_change_points"),
        ("findings", "analysis.incident_bursts"),
        ("root-causes", "analysis.pareto"),
        ("root-causes", "analysis.kpi_drivers"),
        ("change-incidents", "analysis.change_impact"),
        ("problem-candidates", "analysis.problem_candidates"),
        ("forecasts", "analysis.target_attainment"),
    ):
        body = html[html.index(f'<section id="{section}"'):]
        body = body[:body.index("</section>")]
        sentence = ("Not available: the analysis step has not produced this yet (expected in "
                    f"{table}).")
        assert sentence in body, (section, table)
    forecasts = html[html.index('id="forecasts"'):html.index('id="recommendations"')]
    assert "Not available: no KPI forecasts" in forecasts
    register = html[html.index('id="improvements"'):html.index('id="data-quality"')]
    assert "Not available: the improvement register (improve.actions) does not exist yet." in (
        register)
    assert "Add a major-incident runbook" not in register
    assert ("Not available: the improvement step has not produced this yet (expected in "
            "improve.outcomes).") in register
    assert 'id="further-analysis"' not in html


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
        findings=(Finding(payload, payload, payload, DAY0, payload, payload, False, payload),
                  Finding(payload, payload, "anomaly", DAY0, payload, payload)),
        actions=(
            ActionRow(
                payload, payload, payload, payload, payload, payload, None, 1.0, 2.0, payload,
                payload, payload,
            ),
            ActionRow(payload, payload, payload, payload, "proposed", payload, None, None, None,
                      payload, payload),
        ),
        quarantine=(QuarantineRow(payload, payload, 3, payload),),
        row_counts=((payload, 5),),
        kind=payload,
        previous_label=payload,
        sections=(
            TableSection("pareto", payload, payload, payload, ("kpi_id", payload),
                         ((payload, payload), (payload, 2.5)), 3, payload, payload,
                         "root-causes"),
            TableSection("further-analysis-1", payload, payload, payload, (payload,),
                         ((payload,),), 1, payload, payload, payload),
        ),
        forecasts=(ForecastPoint(payload, DAY0 + datetime.timedelta(days=3), 2.0, 1.0, 3.0,
                                 payload, 0.5, 0.7),),
        extracts=((payload, payload),),
    )


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_ticket_text_is_escaped_everywhere(payload: str) -> None:
    """Ticket text is untrusted: it must appear escaped and never become markup."""
    html = render_report(_hostile_report(payload))
    _assert_inert(html)
    assert str(escape(payload)) in html
    assert html.count(str(escape(payload))) >= 40


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_text_in_index_is_escaped(payload: str) -> None:
    """Report titles and file names in the index are untrusted too."""
    html = render_index([_entry(payload, payload, datetime.datetime(2024, 4, 1), kind=payload,
                                extras=(payload + "-" + payload,))])
    _assert_inert(html)
    assert str(escape(payload)) in html


def _entry(title: str, file_name: str, generated: datetime.datetime, *, kind: str = "weekly",
           end: datetime.date | None = None, extras: tuple[str, ...] = ()) -> ReportFile:
    """An index entry; without ``end`` the report has no period (as an old or foreign page)."""
    start = end - datetime.timedelta(days=6) if end else None
    return ReportFile(file_name, title, kind, start, end,
                      generated.replace(tzinfo=datetime.UTC), extras)


def test_index_lists_newest_first_with_relative_links() -> None:
    """People open the latest report first (by the last day it covers, then by when it was
    made); links stay relative so the folder can move; extracts are linked beside each."""
    html = render_index(
        [
            _entry("March", "2024-03.html", datetime.datetime(2024, 6, 2),
                   end=datetime.date(2024, 3, 31)),
            _entry("May", "2024-05.html", datetime.datetime(2024, 6, 1),
                   end=datetime.date(2024, 5, 31), extras=("2024-05-scorecard.csv",)),
            _entry("April", "reports/2024 04.html", datetime.datetime(2024, 5, 1),
                   end=datetime.date(2024, 4, 30)),
            _entry("May again", "2024-05-b.html", datetime.datetime(2024, 6, 3),
                   end=datetime.date(2024, 5, 31)),
        ]
    )
    assert (html.index("May again") < html.index(">May<") < html.index("April")
            < html.index("March"))
    assert 'href="reports/2024%2004.html"' in html
    assert '<a href="2024-05-scorecard.csv">Scorecard CSV</a>' in html
    assert "2024-05-25 to 2024-05-31" in html
    assert "No reports have been generated yet." in render_index([])


def test_index_refuses_links_that_leave_the_folder() -> None:
    """Scheme, absolute and protocol-relative names must not become clickable links."""
    html = render_index(
        [
            _entry("js", "javascript:alert(1)", datetime.datetime(2024, 4, 1)),
            _entry("abs", "/etc/passwd", datetime.datetime(2024, 4, 2)),
            _entry("net", "//evil.example/x", datetime.datetime(2024, 4, 3)),
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


def test_scorecard_compares_with_the_previous_period_as_people_read_it() -> None:
    """The previous period's value is shown with "better"/"worse" in the KPI's direction, and a
    difference too small to see on the page is "unchanged"."""
    cards = (
        _card("sla", "SLA", "on_target", value=0.962, previous=0.95),
        _card("mttr", "MTTR", "at_risk", unit="minutes", direction="lower_is_better",
              value=135.0, previous=120.0),
        _card("fcr", "FCR", "off_target", value=0.6101, previous=0.6099),
        _card("new", "New KPI", "no_data", value=None, previous=None),
    )
    html = render_report(_report(cards=cards, previous_label="Previous week"))
    assert '<th scope="col" class="num">Previous week</th>' in html
    assert "now better" in _scorecard_row(html, "SLA")
    assert "95.0%" in _scorecard_row(html, "SLA")
    assert "now worse" in _scorecard_row(html, "MTTR")
    assert "2 h" in _scorecard_row(html, "MTTR")
    assert "unchanged" in _scorecard_row(html, "FCR")
    assert "now " not in _scorecard_row(html, "New KPI")
    assert compare(2.0, 1.0, "lower_is_better", "") == "better"
    assert compare(1.0, 2.0, "lower_is_better", "") == "worse"
    assert compare(None, 2.0, "higher_is_better", "") == ""


def test_partial_period_is_stated() -> None:
    """A month with data for only some days says so above the scorecard."""
    html = render_report(_report(days_with_data=11))
    assert "KPI data covers 11 of the 31 days of this period" in html
    assert "KPI data covers" not in render_report(_report(days_with_data=31))


def test_findings_are_summarised_per_kpi_newest_first() -> None:
    """Leaders see counts per KPI first; single-service findings are capped with a note."""
    findings = tuple(
        Finding(f"S{i}", "mttr", "anomaly", DAY0 + datetime.timedelta(days=i % 28),
                "beyond 3 sigma", f"detail {i}", False, f"Service {i % 5}")
        for i in range(30)
    ) + (
        Finding("O1", "mttr", "anomaly", datetime.date(2024, 3, 29), "run of 7", "overall", True),
        Finding("O2", "sla", "anomaly", datetime.date(2024, 3, 2), "run of 7", "overall", True),
    )
    html = render_report(_report(findings=findings))
    signals = html[html.index("<h3>Control-chart signals</h3>"):html.index('id="change-points"')]
    summary = signals[:signals.index("</table>")]
    assert summary.index("Mean time to restore") < summary.index("Incident SLA compliance")
    mttr_row = re.search(r'<tr><th scope="row">Mean time to restore</th>.*?</tr>',
                         summary).group(0)
    assert re.findall(r'class="num">(\d+)</td>', mttr_row) == ["1", "30"]
    assert "Service 0, Service 1, Service 2, Service 3 and 1 more" in mttr_row
    assert "2024-03-29" in mttr_row
    assert len(re.findall(r"<td>Service \d</td>", signals)) == 20
    assert "The 20 newest of 30 findings for a single service or group" in signals
    days = re.findall(r"<tr><td class=\"num\"><time datetime=\"([\d-]+)\"", signals)
    assert days[:2] == ["2024-03-29", "2024-03-02"]  # the KPI as a whole, newest first
    assert days[2:] == sorted(days[2:], reverse=True)


def test_analysis_table_sections_read_naturally() -> None:
    """KPI ids become names, numbers align right and read rounded, truncation is stated."""
    section = TableSection(
        "drivers", "Which group explains each KPI's change", "Where breaches concentrate.",
        "analysis.kpi_drivers", ("kpi_id", "service", "breaches", "share", "since"),
        (("mttr", "ERP", 120, 0.4567, datetime.date(2024, 3, 1)),
         ("unknown_kpi", "Email", 5, None, datetime.datetime(2024, 3, 2, 8, 30))),
        130, "missing", "empty", "root-causes",
    )
    html = render_report(_report(sections=(section,)))
    body = html[html.index('id="drivers"'):html.index('id="change-incidents"')]
    assert '<th scope="col" class="num">Breaches</th>' in body
    assert "<td>Mean time to restore</td>" in body
    assert "<td>unknown_kpi</td>" in body
    assert '<td class="num">45.7%</td>' in body  # a share
    assert '<td class="num">—</td>' in body
    assert '<td class="date">2024-03-02 08:30</td>' in body
    assert "Showing 2 of 130 rows; all of them are in the warehouse table analysis.kpi_drivers." \
        in body
    empty = dataclasses.replace(section, rows=(), total_rows=0,
                                empty="No results in analysis.kpi_drivers.")
    html = render_report(_report(sections=(empty,)))
    assert "No results in analysis.kpi_drivers." in html
    further = dataclasses.replace(section, anchor="further-analysis-1",
                                  heading="analysis.new_thing", group="further")
    html = render_report(_report(sections=(further,)))
    assert 'href="#further-analysis"' in html
    assert "<h3>analysis.new_thing</h3>" in html


def test_forecasts_show_interval_and_when_the_target_is_reached() -> None:
    ahead = tuple(
        ForecastPoint("mttr", datetime.date(2024, 4, 1) + datetime.timedelta(days=i),
                      140.0 - 5 * i, 100.0 - 5 * i, 180.0 - 5 * i, "stl_ets", 25.0 + i, 40.0)
        for i in range(8)
    )
    html = render_report(_report(forecasts=ahead))
    body = html[html.index('id="forecasts"'):html.index('id="recommendations"')]
    assert "on target from 2024-04-05" in body  # 140 - 5*4 = 120 meets the 120 min target
    assert "1 h 5 min to 2 h 25 min" in body  # the interval on the last forecast day
    assert "<td>stl_ets</td>" in body
    assert "± 32 min (baseline ± 40 min)" in body
    chart = ET.fromstring(re.search(r'<svg class="line-chart".*?</svg>', body, re.S).group(0))
    assert "forecast 1 h 45 min on 2024-04-08 (interval 1 h 5 min to 2 h 25 min)" in chart.get(
        "aria-label")
    assert any(p.get("fill-opacity") for p in chart.iter("polygon"))


def test_recommendations_by_priority_and_overdue_actions() -> None:
    actions = (
        ActionRow("A-3", "Low one", "sla", "all", "proposed", "", None, None, None, "r", "low"),
        ActionRow("A-2", "High one", "sla", "all", "proposed", "", None, None, None, "r", "high"),
        ActionRow("A-1", "Late one", "mttr", "ERP", "in_progress", "Jo",
                  datetime.date(2024, 3, 15), 160.0, 150.0, "r", "medium"),
        ActionRow("A-4", "Done one", "mttr", "ERP", "verified", "Jo",
                  datetime.date(2024, 3, 15), 160.0, 150.0, "r", "medium", "-12% MTTR"),
    )
    html = render_report(_report(actions=actions))
    recommendations = html[html.index('id="recommendations"'):html.index('id="improvements"')]
    assert recommendations.index("High one") < recommendations.index("Low one")
    assert "Late one" not in recommendations
    register = html[html.index('id="improvements"'):html.index('id="data-quality"')]
    assert "<li>proposed: 2</li>" in register
    assert "<li>in progress: 1</li>" in register
    assert '<li class="overdue">overdue: 1</li>' in register
    assert register.count("<br>overdue") == 1  # a verified action is never overdue
    assert "-12% MTTR" in register


def test_summary_text_for_mail_is_plain_and_safe() -> None:
    cards = (_card("a", "Red\x1b[31m alert", "off_target"), _card("b", "Fine", "on_target"))
    text = summary_text("Weekly report\r\nBcc: x@evil.example", cards, "report.html")
    assert "\x1b" not in text and "\r" not in text
    assert "KPIs: 1 on target, 1 off target." in text
    assert "Off target" in text and "report.html" in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "—"), (math.inf, "—"), (1234, "1,234"), (1234.0, "1,234"), (0.004567, "0.00457"),
     (12.345, "12.35"), (1234.56, "1,234.6"), (True, "yes"), (datetime.date(2024, 1, 2),
                                                             "2024-01-02"), ("x", "x")],
)
def test_format_cell(value: object, expected: str) -> None:
    assert format_cell(value) == expected


def test_nice_ticks_are_round_and_cover_the_data() -> None:
    assert nice_ticks(0.47, 1.0) == pytest.approx([0.4, 0.6, 0.8, 1.0])
    ticks = nice_ticks(43.0, 407.0, steps=MINUTE_STEPS)
    assert ticks[0] <= 43 and ticks[-1] >= 407
    assert all(t % 60 == 0 for t in ticks)  # whole hours: 0 s, 2 h, 4 h, ...
    assert nice_ticks(5.0, 5.0)[0] <= 5.0 <= nice_ticks(5.0, 5.0)[-1]


def test_line_chart_bounds_and_period_band() -> None:
    """A ratio's axis never passes 100%, and the report period is shaded."""
    svg = line_chart(_series(0.97, 1.0, 0.99, 1.0), target=0.995, bounds=(0.0, 1.0),
                     highlight=(DAY0 + datetime.timedelta(days=2), DAY0 + datetime.timedelta(
                         days=3)), fmt=lambda v: f"{v * 100:.1f}%")
    labels = [t.text for t in ET.fromstring(svg).iter("text")]
    assert "100.0%" in labels
    assert not any(label.endswith("%") and float(label[:-1]) > 100 for label in labels
                   if label[:-1].replace(".", "").isdigit())
    assert ET.fromstring(svg).find("rect") is not None


def test_standalone_chart_document_is_valid_svg() -> None:
    charts = [line_chart(_series(1.0, 2.0), title=f"KPI {i}") for i in range(3)]
    document = standalone(charts, title="<Report> & co")
    root = ET.fromstring(document)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(root.findall("{http://www.w3.org/2000/svg}g/{http://www.w3.org/2000/svg}svg")) == 3
    assert root.get("width") == "1280" and root.get("height") == "428"
    assert "&lt;Report&gt; &amp; co" in document
