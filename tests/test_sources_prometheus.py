"""Outage windows from a local server speaking the Prometheus HTTP API (query_range)."""

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
from resources.sources.prometheus import outage_windows
from tests.sources_support import failure_message, gather, per_day, rows, source

D1, D2, D3 = dt.date(2026, 3, 2), dt.date(2026, 3, 3), dt.date(2026, 3, 4)


def _ts(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


DOWN = {  # job -> [(first down, first up again)]; None: still down
    "mail": [(_ts("2026-03-02 23:50:00"), _ts("2026-03-03 00:20:00")),
             (_ts("2026-03-03 10:00:00"), _ts("2026-03-03 10:05:00"))],
    "vpn": [(_ts("2026-03-04 23:00:00"), None)],
}


class FakePrometheus(BaseHTTPRequestHandler):
    requests: list[dict[str, list[str]]] = []
    broken = False

    def log_message(self, *args) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        params = parse_qs(url.query)
        type(self).requests.append(params)
        if self.broken:
            body = {"status": "error", "errorType": "bad_data",
                    "error": "parse error at char 5: unexpected <EOF>"}
            status = 400
        else:
            start, end = float(params["start"][0]), float(params["end"][0])
            step = float(params["step"][0])
            result = []
            for job, windows in DOWN.items():
                values, t = [], start
                while t <= end:
                    down = any(a <= t and (b is None or t < b) for a, b in windows)
                    values.append([t, "0" if down else "1"])
                    t += step
                result.append({"metric": {"__name__": "probe_success", "job": job,
                                          "instance": f"{job}.example.org"},
                               "values": values})
            body, status = {"status": "success",
                            "data": {"resultType": "matrix", "result": result}}, 200
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def prometheus_url(monkeypatch) -> Iterator[str]:
    FakePrometheus.requests, FakePrometheus.broken = [], False
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePrometheus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(http, "sleep", lambda seconds: None)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _probes(url: str):
    return source(name="probes", kind="prometheus", entities=["outages"],
                  prometheus={"url": url, "query": 'probe_success{job=~"mail|vpn"}',
                              "step_seconds": 300, "max_outage_hours": 6,
                              "services": {"mail": "Email", "vpn": "VPN"}})


def test_outage_windows_from_samples() -> None:
    samples = [(0, 1), (60, 0), (120, 0), (180, 1), (240, 0)]
    assert outage_windows(samples, 1.0) == [(60, 180), (240, None)]


def test_outages_cross_midnight_once_and_reruns_keep_the_count(prometheus_url: str,
                                                               tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    result = gather(_probes(prometheus_url), warehouse, D1, D1)
    assert result.success, failure_message(result)
    got = rows(warehouse, 'SELECT service, cmdb_ci, type, begin, "end" FROM raw.probes_outages')
    assert got == [("Email", "mail.example.org", "unplanned", "2026-03-02 23:50:00",
                    "2026-03-03 00:20:00")]
    # The window is queried with 6 hours on either side of the day.
    first = FakePrometheus.requests[0]
    assert float(first["start"][0]) == _ts("2026-03-01 18:00:00")
    assert gather(_probes(prometheus_url), warehouse, D2, D3).success
    # D2 sees the 10:00 outage only: the one that began on D1 is not counted again.
    assert per_day(warehouse, "probes_outages") == {D1: 1, D2: 1, D3: 1}
    ongoing = rows(warehouse, 'SELECT service, "end" FROM raw.probes_outages '
                   "WHERE _partition = ?", [D3])
    assert ongoing == [("VPN", None)]
    assert gather(_probes(prometheus_url), warehouse, D1, D3).success
    assert per_day(warehouse, "probes_outages") == {D1: 1, D2: 1, D3: 1}


def test_a_query_prometheus_refuses_fails_with_its_error(prometheus_url: str,
                                                         tmp_path: Path) -> None:
    FakePrometheus.broken = True
    result = gather(_probes(prometheus_url), tmp_path / "w.duckdb", D1, D1,
                    raise_on_error=False)
    message = failure_message(result)
    assert "HTTP 400" in message and "parse error" in message
