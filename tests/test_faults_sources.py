"""A REST source that misbehaves, through the ServiceNow source's real gather asset (issue 11).

A local server speaks the Table API and fails on purpose, request by request: server errors,
throttling, connections dropped before an answer, a page cut off in the middle of its body, a
page that holds fewer records than the total the server announced. Intermittent faults are
retried with exponential backoff and the run then lands every row; a fault that persists fails
the asset with a message naming the source, the page and the last problem, and leaves the raw
table as it was. The waits are recorded instead of slept (resources/sources/http.py `sleep`).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from resources.sources import http
from tests.sources_support import failure_message, gather, per_day, rows, source

D1 = dt.date(2026, 3, 2)
TOKEN = "sn-test-token"
RECORDS = [{"number": f"INC{n:04d}", "priority": "3 - Moderate", "state": "New",
            "opened_at": f"2026-03-02 {8 + n:02d}:00:00",
            "sys_updated_on": f"2026-03-02 {8 + n:02d}:30:00", "sys_id": f"{n:032x}"}
           for n in range(10)]
PAGE = 3


class Faulty(BaseHTTPRequestHandler):
    """GET /api/now/table/incident with `PAGE` records a page. `plan` maps the number of a
    request (1-based) to a fault: 'error' (503), 'throttle' (429 without Retry-After), 'drop'
    (the connection closes with no answer), 'truncate' (the body stops half-way through its
    Content-Length), 'short' (a page with one record fewer than it should hold)."""

    plan: dict[int, str] = {}
    seen: list[int] = []

    def log_message(self, *args) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        number = len(type(self).seen) + 1
        params = parse_qs(urlparse(self.path).query)
        offset = int(params["sysparm_offset"][0])
        type(self).seen.append(offset)
        fault = self.plan.get(number)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, b"{}")
        if fault == "drop":
            self.connection.close()
            return None
        if fault in ("error", "throttle"):
            return self._send(503 if fault == "error" else 429, b'{"error": "busy"}')
        page = RECORDS[offset:offset + int(params["sysparm_limit"][0])]
        if fault == "short":
            page = page[:-1]
        body = json.dumps({"result": page}).encode()
        if fault == "truncate":
            return self._send(200, body, cut=len(body) // 2)
        return self._send(200, body)

    def _send(self, status: int, body: bytes, cut: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Total-Count", str(len(RECORDS)))
        self.end_headers()
        self.wfile.write(body[:cut] if cut is not None else body)
        if cut is not None:
            self.wfile.flush()
            self.close_connection = True


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[float]]]:
    Faulty.plan, Faulty.seen = {}, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Faulty)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    waits: list[float] = []
    monkeypatch.setattr(http, "sleep", waits.append)
    monkeypatch.setenv("SN_FAULT_TOKEN", TOKEN)
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", waits
    finally:
        httpd.shutdown()
        httpd.server_close()


def _snow(url: str, retries: int = 3):
    return source(name="snow", kind="servicenow", preset="servicenow", entities=["incidents"],
                  servicenow={"instance_url": url, "token_env": "SN_FAULT_TOKEN",
                              "page_size": PAGE, "max_retries": retries, "timeout_seconds": 5})


def _numbers(warehouse: Path) -> list[str]:
    return [r[0] for r in rows(warehouse, "SELECT number FROM raw.snow_incidents ORDER BY 1")]


EVERY = [r["number"] for r in RECORDS]


@pytest.mark.parametrize("fault", ["error", "throttle", "drop", "truncate"])
def test_an_intermittent_fault_is_retried_with_backoff_and_loses_nothing(
        server: tuple[str, list[float]], tmp_path: Path, fault: str) -> None:
    url, waits = server
    Faulty.plan = {2: fault, 3: fault, 5: fault}  # page 2 fails twice, page 3 once
    warehouse = tmp_path / "w.duckdb"
    result = gather(_snow(url), warehouse, D1, D1, raise_on_error=False)
    assert result.success, failure_message(result)
    assert _numbers(warehouse) == EVERY
    assert waits == [1.0, 2.0, 1.0]  # exponential per page: 1 s, then 2 s


@pytest.mark.parametrize(("fault", "problem"), [
    ("error", "HTTP 503"), ("throttle", "HTTP 429"), ("drop", "no answer"),
    ("truncate", "truncated page"),
])
def test_a_fault_that_persists_fails_the_asset_clearly_and_keeps_the_raw_rows(
        server: tuple[str, list[float]], tmp_path: Path, fault: str, problem: str) -> None:
    url, waits = server
    warehouse = tmp_path / "w.duckdb"
    assert gather(_snow(url), warehouse, D1, D1).success
    before = rows(warehouse, "SELECT * FROM raw.snow_incidents ORDER BY _row")
    Faulty.plan, Faulty.seen = {n: fault for n in range(2, 20)}, []
    result = gather(_snow(url, retries=4), warehouse, D1, D1, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert ("source 'snow', incidents: ServiceNow incident (source 'snow', offset 3): gave up "
            "after 5 attempts; last: ") in message, message
    assert problem in message
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert Faulty.seen == [0, 3, 3, 3, 3, 3]  # no page beyond the broken one was asked for
    assert rows(warehouse, "SELECT * FROM raw.snow_incidents ORDER BY _row") == before


def test_a_page_with_fewer_records_than_announced_is_not_taken_for_the_end(
        server: tuple[str, list[float]], tmp_path: Path) -> None:
    """The server announces 10 records (X-Total-Count) but its second page holds 2 of 3, as
    ServiceNow does when ACLs filter rows or a page is cut short. Stopping there would drop
    every later page without a word: the gap must be detected (all later rows loaded, or the
    run failed naming the shortfall)."""
    url, _ = server
    Faulty.plan = {2: "short"}
    warehouse = tmp_path / "w.duckdb"
    result = gather(_snow(url), warehouse, D1, D1, raise_on_error=False)
    if result.success:
        assert set(_numbers(warehouse)) >= set(EVERY[PAGE * 2:]), _numbers(warehouse)
    else:
        message = failure_message(result)
        assert "snow" in message and "10" in message, message
        assert per_day(warehouse, "snow_incidents") == {}


def test_refused_credentials_are_not_retried(
        server: tuple[str, list[float]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, waits = server
    monkeypatch.setenv("SN_FAULT_TOKEN", "wrong-token")
    result = gather(_snow(url), tmp_path / "w.duckdb", D1, D1, raise_on_error=False)
    message = failure_message(result)
    assert "HTTP 401" in message and "$SN_FAULT_TOKEN" in message
    assert "wrong-token" not in message
    assert (Faulty.seen, waits) == ([0], [])

