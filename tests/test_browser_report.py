"""The report in a real browser (headless Chromium): safe with hostile ticket text, and complete.

Ticket text ends up in the report as service and CI names, quarantine examples, finding details
and register entries. Here it carries a script tag and an ``onerror`` attribute; the browser
must run nothing (no dialog, no console message, no script error) and fetch nothing but the
page. A control page with the same text left unescaped shows the checks do catch it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assets.step6_present import periods
from resources.report_store import ReportStore
from tests.browser import launched, screenshot, watched_page
from tests.report_support import copy_warehouse, kpi_names, publish_period, publish_rolling

pytestmark = pytest.mark.e2e

SCRIPT = "<script>alert('xss-script')</script>"
IMAGE = "<img src=x onerror=\"alert('xss-onerror')\">"
PAYLOAD = f"{SCRIPT}{IMAGE}"
STATUS_WORDS = {"On target": "✔", "At risk": "▲", "Off target": "✖", "No target": "○",
                "No data": "?"}


@pytest.fixture(scope="module")
def browser():
    with launched() as chromium:
        yield chromium


def _columns(con, table: str) -> set[str]:
    schema, name = table.split(".")
    return {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
        "AND table_name = ?", [schema, name]).fetchall()}


def _inject(warehouse) -> list[str]:
    """Put PAYLOAD into ticket-derived text the report shows; returns where it went."""
    places = []
    updates = {
        "clean.incidents_quarantine": ("detail", "detail = detail || ?"),
        "analysis.kpi_signals": ("breakdown_value",
                                 "breakdown_value = ?, description = description || ?"),
        "improve.actions": ("scope", "scope = ?, title = title || ?"),
    }
    with warehouse.connect() as con:
        for table, (needed, assignment) in updates.items():
            if needed in _columns(con, table):
                values = [PAYLOAD] * assignment.count("?")
                where = "WHERE breakdown <> 'all'" if table.endswith("kpi_signals") else ""
                con.execute(f"UPDATE {table} SET {assignment} {where}", values)
                places.append(table)
        con.execute("CREATE OR REPLACE TABLE analysis.problem_candidates AS "
                    "SELECT ? AS ci, ? AS category, 7 AS incidents", [PAYLOAD, PAYLOAD])
        places.append("analysis.problem_candidates")
    return places


def _assert_inert(page, watch, path: Path) -> None:
    assert watch.activity(path.resolve().as_uri()) == []
    assert page.evaluate("document.scripts.length") == 0
    handlers = page.evaluate("""() => Array.from(document.querySelectorAll('*')).flatMap(
        el => Array.from(el.attributes).filter(a => a.name.startsWith('on'))
                   .map(a => el.tagName + '.' + a.name))""")
    assert handlers == []
    assert page.evaluate("document.images.length") == 0
    text = page.evaluate("document.body.innerText")
    assert SCRIPT in text and "onerror=" in text  # shown to the reader as plain text


@pytest.fixture(scope="module")
def hostile_reports(pipeline_run, tmp_path_factory) -> tuple[list[Path], list[str]]:
    """The rolling and weekly report and the index of a warehouse copy with PAYLOAD in its
    ticket text (published before the browser starts: Dagster and Playwright each want the
    event loop)."""
    folder = tmp_path_factory.mktemp("hostile")
    warehouse = copy_warehouse(pipeline_run.warehouse, folder)
    places = _inject(warehouse)
    store = ReportStore(directory=str(folder / "reports"))
    publish_rolling(warehouse, store)
    week = periods.latest_complete_key("weekly", pipeline_run.last)
    publish_period("weekly", week, warehouse, store)
    pages = [store.path() / f"report-{pipeline_run.last:%Y-%m-%d}.html",
             store.path() / f"{periods.weekly(week).stem}.html", store.path() / "index.html"]
    return pages, places


def test_hostile_ticket_text_runs_no_script_and_fetches_nothing(hostile_reports,
                                                                 browser) -> None:
    pages, places = hostile_reports
    assert len(places) >= 3, places
    *reports, index = pages
    for path in reports:
        html = path.read_text(encoding="utf-8")
        assert html.count("&lt;script&gt;alert(") >= len(places), path.name
        with watched_page(browser, path) as (page, watch):
            _assert_inert(page, watch, path)
    with watched_page(browser, index) as (page, watch):
        assert watch.activity(index.resolve().as_uri()) == []
        assert page.evaluate("document.scripts.length") == 0


@pytest.mark.parametrize("csp", [False, True])
def test_the_browser_checks_catch_unescaped_markup(browser, tmp_path, csp) -> None:
    """Control: the same text pasted raw is caught, with or without the report's CSP."""
    policy = ('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
              'style-src \'unsafe-inline\'">' if csp else "")
    path = tmp_path / "raw.html"
    path.write_text(f"<!DOCTYPE html><html><head>{policy}</head><body><p>{PAYLOAD}</p></body>"
                    "</html>", encoding="utf-8")
    with watched_page(browser, path) as (_page, watch):
        activity = watch.activity(path.resolve().as_uri())
    assert activity
    if not csp:
        assert "xss-script" in watch.dialogs and "xss-onerror" in watch.dialogs


def test_pipeline_report_scorecard_lists_every_kpi_with_a_status(pipeline_run, browser,
                                                                 capsys) -> None:
    path = pipeline_run.reports.path() / f"report-{pipeline_run.last:%Y-%m-%d}.html"
    with watched_page(browser, path) as (page, watch):
        assert watch.activity(path.resolve().as_uri()) == []
        rows = page.evaluate("""() => Array.from(
            document.querySelectorAll('#scorecard table.scorecard tbody tr')).map(tr => [
                tr.querySelector('th').firstChild.textContent.trim(),
                tr.querySelector('.status').innerText.trim()])""")
        shot = screenshot(page, f"report-{pipeline_run.last:%Y-%m-%d}.png")
        visible = page.evaluate("document.querySelector('#scorecard').getBoundingClientRect()"
                                ".height")
    statuses = dict(rows)
    assert sorted(statuses) == sorted(kpi_names(pipeline_run.warehouse).values())
    for name, shown in statuses.items():
        glyph, _, words = shown.partition(" ")
        assert STATUS_WORDS.get(words) == glyph, (name, shown)
    assert visible > 100
    assert shot.stat().st_size > 20_000
    with capsys.disabled():
        print(f"\nreport screenshot: {shot} ({shot.stat().st_size:,} bytes); report: {path} "
              f"({path.stat().st_size:,} bytes)")
