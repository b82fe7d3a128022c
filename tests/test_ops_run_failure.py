"""The run-failure sensor records every failed run and alerts through a webhook and e-mail.

A real failed run (a small job that raises) feeds the real sensor; the webhook is a local HTTP
server and the mail server a local SMTP server, both on 127.0.0.1 and stopped by the test.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest
from click.testing import CliRunner

from pipelines.cli.backfill import failures
from pipelines.operations import operations
from pipelines.run_failure import SENSOR_NAME, read_failures, run_failure_alert
from pipelines.runner import range_tags
from tests.services import require_module


@dg.op
def load_day() -> None:
    raise ValueError("source export for 2026-05-31 is empty")


@dg.job
def failing_job() -> None:
    load_day()


class _Hook(BaseHTTPRequestHandler):
    status = 200
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"type": self.headers["Content-Type"],
                                    "body": json.loads(body)})
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args) -> None:
        """Quiet: the test reads what arrived, not the access log."""


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/T0/abc", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def smtp() -> Iterator[tuple[int, list]]:
    require_module("aiosmtpd")
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.messages: list = []

        async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
            self.messages.append(envelope)
            return "250 OK"

    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox.messages
    finally:
        controller.stop()


def _failure_context() -> dg.RunFailureSensorContext:
    instance = dg.DagsterInstance.ephemeral()
    result = failing_job.execute_in_process(
        instance=instance, raise_on_error=False,
        tags=range_tags(dt.date(2026, 5, 29), dt.date(2026, 5, 31)))
    assert not result.success
    return dg.build_run_status_sensor_context(
        sensor_name=SENSOR_NAME, dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event()).for_run_failure()


def test_a_failed_run_is_recorded_posted_and_mailed(monkeypatch, webhook, smtp) -> None:
    url, hook = webhook
    port, inbox = smtp
    monkeypatch.setenv("SEVENSTEP_ALERT_WEBHOOK_URL", url)
    monkeypatch.setenv("SEVENSTEP_DAGSTER_URL", "http://dagster.example:3000/")
    monkeypatch.setenv("SEVENSTEP_ALERT_MAIL_TO", "ops@example.org, oncall@example.org")
    monkeypatch.setenv("SEVENSTEP_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SEVENSTEP_SMTP_PORT", str(port))
    monkeypatch.setenv("SEVENSTEP_SMTP_SECURITY", "none")
    monkeypatch.setenv("SEVENSTEP_MAIL_FROM", "sevenstep@example.org")
    context = _failure_context()
    run_id = context.dagster_run.run_id

    run_failure_alert(context)

    [entry] = read_failures(operations().failures.log_path())
    assert entry["run_id"] == run_id and entry["job_name"] == "failing_job"
    assert entry["days"] == "2026-05-29..2026-05-31"
    assert "source export for 2026-05-31 is empty" in entry["failed_steps"]["load_day"]
    assert entry["url"] == f"http://dagster.example:3000/runs/{run_id}"
    assert entry["notified"]["webhook"] == "sent (HTTP 200)"
    assert entry["notified"]["email"].startswith("sent <")

    [post] = hook.received
    assert post["type"] == "application/json"
    assert post["body"]["run"]["run_id"] == run_id
    assert "failing_job" in post["body"]["text"] and "load_day" in post["body"]["text"]

    [mail] = inbox
    assert sorted(mail.rcpt_tos) == ["oncall@example.org", "ops@example.org"]
    text = mail.content.decode()
    assert "Subject: sevenstep: run of failing_job failed (2026-05-29..2026-05-31)" in text
    assert run_id in text

    shown = CliRunner().invoke(failures, [])
    assert shown.exit_code == 0, shown.output
    assert run_id in shown.output
    assert "load_day:" in shown.output and "source export for 2026-05-31" in shown.output


def test_an_alert_that_cannot_be_delivered_is_recorded_not_raised(monkeypatch,
                                                                   webhook) -> None:
    url, hook = webhook
    hook.status = 503
    monkeypatch.setenv("SEVENSTEP_ALERT_WEBHOOK_URL", url)
    monkeypatch.setenv("SEVENSTEP_ALERT_MAIL_TO", "ops@example.org")
    monkeypatch.delenv("SEVENSTEP_SMTP_HOST", raising=False)

    run_failure_alert(_failure_context())

    [entry] = read_failures(operations().failures.log_path())
    assert entry["notified"]["webhook"].startswith("error: HTTP 503")
    assert "SEVENSTEP_SMTP_HOST" in entry["notified"]["email"]
    assert "/hooks/T0/abc" not in json.dumps(entry)  # the URL may hold a token: never logged


def test_no_channel_configured_still_records_the_failure(monkeypatch) -> None:
    for name in ("SEVENSTEP_ALERT_WEBHOOK_URL", "SEVENSTEP_ALERT_MAIL_TO"):
        monkeypatch.delenv(name, raising=False)
    run_failure_alert(_failure_context())
    run_failure_alert(_failure_context())
    recorded = read_failures(operations().failures.log_path())
    assert len(recorded) == 2 and recorded[0]["run_id"] != recorded[1]["run_id"]
    assert all(entry["notified"] == {} for entry in recorded)


def test_the_sensor_is_on_by_default_and_watches_every_job() -> None:
    from pipelines.definitions import defs

    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert CliRunner().invoke(failures, []).output.startswith("no failed runs recorded")
