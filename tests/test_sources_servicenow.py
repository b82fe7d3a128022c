"""The ServiceNow Table API source against a local server speaking its JSON format: windows on
sys_updated_on, paging, display values, throttling with Retry-After, a malformed page, 401/403."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from resources.sources import http
from tests.sources_support import failure_message, gather, metadata, per_day, rows, source

D1, D2, D3 = dt.date(2026, 3, 2), dt.date(2026, 3, 3), dt.date(2026, 3, 4)
BOUND = re.compile(r"sys_updated_on(>=|<)javascript:gs\.dateGenerate\('([\d-]+)','([\d:]+)'\)")


def _incident(n: int, updated: str) -> dict[str, dict[str, str]]:
    return {
        "number": {"value": f"INC{n:07d}", "display_value": f"INC{n:07d}"},
        "priority": {"value": str(1 + n % 4), "display_value": f"{1 + n % 4} - Label"},
        "assignment_group": {"value": f"sysid{n % 3}", "display_value": f"Group {n % 3}"},
        "state": {"value": "2", "display_value": "In Progress"},
        "opened_at": {"value": updated, "display_value": updated},
        "sys_updated_on": {"value": updated, "display_value": updated},
        "sys_id": {"value": f"{n:032x}", "display_value": f"{n:032x}"},
    }


# 7 incidents on D1, 5 on D2 (one 23:59:59), 2 on D3.
RECORDS = ([_incident(i, f"2026-03-02 {8 + i:02d}:00:00") for i in range(7)]
           + [_incident(10 + i, f"2026-03-03 {9 + i:02d}:30:00") for i in range(4)]
           + [_incident(20, "2026-03-03 23:59:59")]
           + [_incident(30 + i, f"2026-03-04 0{i}:00:00") for i in range(2)])


class FakeServiceNow(BaseHTTPRequestHandler):
    """Serves /api/now/table/incident like a ServiceNow instance; `plan` scripts failures by
    request number: 'throttle' (429 + Retry-After), 'malformed' (broken JSON), 'error' (503)."""

    plan: dict[int, str] = {}
    requests: list[dict[str, list[str]]] = []
    credentials = "Basic " + base64.b64encode(b"svc:secret").decode()

    def log_message(self, *args) -> None:  # keep the test output clean
        return

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        url = urlparse(self.path)
        params = parse_qs(url.query)
        type(self).requests.append(params)
        step = self.plan.get(len(self.requests))
        if self.headers.get("Authorization") != self.credentials:
            self._send(401, b'{"error": {"message": "User Not Authenticated"}}')
            return
        if step == "throttle":
            self._send(429, b'{"error": {"message": "Too many requests"}}', {"Retry-After": "7"})
            return
        if step == "error":
            self._send(503, b"<html>maintenance</html>")
            return
        if step == "malformed":
            self._send(200, b'{"result": [{"number": {"value": "INC')
            return
        if url.path != "/api/now/table/incident":
            self._send(404, b'{"error": {"message": "Invalid table"}}')
            return
        query = params["sysparm_query"][0]
        bounds = {op: f"{d} {t}" for op, d, t in BOUND.findall(query)}
        chosen = [r for r in RECORDS
                  if bounds[">="] <= r["sys_updated_on"]["value"] < bounds["<"]]
        chosen.sort(key=lambda r: (r["sys_updated_on"]["value"], r["sys_id"]["value"]))
        offset, limit = int(params["sysparm_offset"][0]), int(params["sysparm_limit"][0])
        page = chosen[offset:offset + limit]
        display = params["sysparm_display_value"][0]
        if display != "all":
            key = "display_value" if display == "true" else "value"
            page = [{k: v[key] for k, v in r.items()} for r in page]
        self._send(200, json.dumps({"result": page}).encode(),
                   {"X-Total-Count": str(len(chosen))})


@pytest.fixture
def instance(monkeypatch) -> Iterator[str]:
    FakeServiceNow.plan, FakeServiceNow.requests = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeServiceNow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    waits: list[float] = []
    monkeypatch.setattr(http, "sleep", waits.append)
    monkeypatch.setenv("SN_TEST_USER", "svc")
    monkeypatch.setenv("SN_TEST_PASSWORD", "secret")
    FakeServiceNow.waits = waits  # type: ignore[attr-defined]
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _snow(url: str, **options: object):
    return source(name="snow", kind="servicenow", preset="servicenow", entities=["incidents"],
                  servicenow={"instance_url": url, "user_env": "SN_TEST_USER",
                              "password_env": "SN_TEST_PASSWORD", "page_size": 3,
                              "max_retries": 3, **options})


def test_window_paging_and_rerun(instance: str, tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    result = gather(_snow(instance), warehouse, D1, D2)
    assert result.success, failure_message(result)
    assert per_day(warehouse, "snow_incidents") == {D1: 7, D2: 5}
    # 12 rows in pages of 3: 4 full pages and an empty one that ends the paging.
    offsets = [int(p["sysparm_offset"][0]) for p in FakeServiceNow.requests]
    assert offsets == [0, 3, 6, 9, 12]
    got = rows(warehouse, "SELECT number, priority, assignment_group, _row FROM "
               "raw.snow_incidents ORDER BY _row LIMIT 2")
    assert got == [("INC0000000", "1 - Label", "Group 0", 1), ("INC0000001", "2 - Label",
                                                                "Group 1", 2)]
    assert metadata(result, "snow_incidents")["high_water_mark_utc"] == "2026-03-03 23:59:59"
    assert gather(_snow(instance), warehouse, D1, D2).success
    assert per_day(warehouse, "snow_incidents") == {D1: 7, D2: 5}
    assert gather(_snow(instance), warehouse, D3, D3).success
    assert per_day(warehouse, "snow_incidents") == {D1: 7, D2: 5, D3: 2}


def test_display_value_all_keeps_sys_ids_and_timezone_moves_the_window(
        instance: str, tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    config = _snow(instance, display_value="all").model_copy(
        update={"timezone": "Europe/Amsterdam"})
    assert gather(config, warehouse, D2, D2).success
    query = FakeServiceNow.requests[0]["sysparm_query"][0]
    assert "dateGenerate('2026-03-03','01:00:00')" in query  # UTC midnight in Amsterdam
    got = rows(warehouse, "SELECT assignment_group, assignment_group__value FROM "
               "raw.snow_incidents ORDER BY _row LIMIT 1")
    assert got == [("Group 1", "sysid1")]


def test_throttling_and_a_malformed_page_are_retried(instance: str, tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    FakeServiceNow.plan = {1: "throttle", 3: "malformed", 4: "error"}
    result = gather(_snow(instance), warehouse, D1, D1)
    assert result.success, failure_message(result)
    assert per_day(warehouse, "snow_incidents") == {D1: 7}
    waits = FakeServiceNow.waits  # type: ignore[attr-defined]
    assert waits[0] == 7.0  # the server's Retry-After, not our own backoff
    assert waits[1:] == [1.0, 2.0]  # backoff after the malformed page, then after the 503


def test_a_page_that_stays_malformed_fails_with_the_reason(instance: str,
                                                           tmp_path: Path) -> None:
    FakeServiceNow.plan = {n: "malformed" for n in range(1, 10)}
    result = gather(_snow(instance), tmp_path / "w.duckdb", D1, D1, raise_on_error=False)
    message = failure_message(result)
    assert "malformed page" in message and "offset 0" in message and "4 attempts" in message


def test_refused_credentials_stop_at_once_naming_the_variables(
        instance: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SN_TEST_PASSWORD", "wrong")
    result = gather(_snow(instance), tmp_path / "w.duckdb", D1, D1, raise_on_error=False)
    message = failure_message(result)
    assert "401" in message and "$SN_TEST_USER/$SN_TEST_PASSWORD" in message
    assert "wrong" not in message
    assert len(FakeServiceNow.requests) == 1  # no retries on 401
