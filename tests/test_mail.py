"""E-mailing report summaries through SMTP, against a local server the tests start.

The server (aiosmtpd) requires a login before it accepts mail, so a delivered message proves the
mailer authenticated; the password is a canary that must never appear in logs, events, metadata
or files.
"""

from __future__ import annotations

import email
import email.policy
import socket
from dataclasses import dataclass, field

import dagster as dg
import pytest

from assets.step6_present import periods
from assets.step6_present.report_data import title
from resources.mailer import ENV, Attachment, MailConfigError, Mailer
from resources.report_store import ReportStore
from tests.report_support import kpi_names
from tests.services import require_module

pytestmark = pytest.mark.filterwarnings(
    "ignore:Requiring AUTH while not requiring TLS:UserWarning")  # a test server on localhost

USER = "reporter"
PASSWORD = "canary-Pa55w0rd-7f3e9b"
SENDER = "sevenstep@example.org"
TO = ("owner@example.org", "cio@example.org")


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every accepted message."""

    messages: list[email.message.EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.original_content,
                                                      policy=email.policy.default))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A local SMTP server on a free port that accepts mail only after USER/PASSWORD login."""
    require_module("aiosmtpd")
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticate(server, session, envelope, mechanism, data) -> AuthResult:
        ok = (isinstance(data, LoginPassword) and data.login == USER.encode()
              and data.password == PASSWORD.encode())
        if ok:
            return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)  # the server answers 535

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(),
                            authenticator=authenticate, auth_required=True,
                            auth_require_tls=False)
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


@pytest.fixture
def mail_env(smtp_server, monkeypatch):
    """Mail settings in the environment, as a deployment sets them."""
    port, inbox = smtp_server
    for name, value in {"host": "127.0.0.1", "port": str(port), "security": "none",
                        "username": USER, "password": PASSWORD, "sender": SENDER,
                        "recipients": ", ".join(TO)}.items():
        monkeypatch.setenv(ENV[name], value)
    return inbox


def test_mailer_sends_the_summary_with_the_report_attached(mail_env) -> None:
    page = "<!DOCTYPE html><title>Report</title><p>ünïcode ✔</p>".encode()
    message_id = Mailer().send("Weekly report", "KPIs: 1 on target.\n",
                               (Attachment("report-week-2026-W22.html", page),))
    assert len(mail_env.messages) == 1
    received = mail_env.messages[0]
    assert mail_env.envelopes == [(SENDER, list(TO))]
    assert received["Subject"] == "Weekly report"
    assert received["Message-ID"] == message_id
    assert received.get_body(("plain",)).get_content().splitlines() == ["KPIs: 1 on target."]
    attachment = next(received.iter_attachments())
    assert attachment.get_filename() == "report-week-2026-W22.html"
    assert attachment.get_content_type() == "text/html"
    assert attachment.get_payload(decode=True) == page


def test_mail_is_off_without_a_host_and_incomplete_settings_name_the_variable(
        monkeypatch) -> None:
    for name in ENV.values():
        monkeypatch.delenv(name, raising=False)
    assert Mailer().settings() is None
    with pytest.raises(MailConfigError, match="SEVENSTEP_SMTP_HOST is not set"):
        Mailer().send("s", "b")
    monkeypatch.setenv(ENV["host"], "smtp.example.org")
    with pytest.raises(MailConfigError, match="SEVENSTEP_MAIL_FROM.*SEVENSTEP_MAIL_TO"):
        Mailer().settings()
    monkeypatch.setenv(ENV["sender"], SENDER)
    monkeypatch.setenv(ENV["recipients"], "a@example.org")
    monkeypatch.setenv(ENV["security"], "tls1.0")
    with pytest.raises(MailConfigError, match="SEVENSTEP_SMTP_SECURITY must be one of"):
        Mailer().settings()
    monkeypatch.setenv(ENV["security"], "ssl")
    assert Mailer().settings().port == 465
    monkeypatch.setenv(ENV["password"], PASSWORD)
    with pytest.raises(MailConfigError, match="without SEVENSTEP_SMTP_USER"):
        Mailer().settings()


def test_configured_values_win_and_the_password_never_shows(monkeypatch) -> None:
    monkeypatch.setenv("MY_SMTP_SECRET", PASSWORD)
    mailer = Mailer(host="mail.example.org", port=2525, username=USER, sender=SENDER,
                    recipients="x@example.org", password=dg.EnvVar("MY_SMTP_SECRET"))
    settings = mailer.settings()
    assert (settings.host, settings.port, settings.password) == (
        "mail.example.org", 2525, PASSWORD)
    assert PASSWORD not in repr(mailer) and PASSWORD not in repr(settings)
    assert PASSWORD not in str(mailer)


def test_a_wrong_password_is_refused_without_echoing_it(mail_env, monkeypatch) -> None:
    import smtplib

    wrong = "wrong-canary-0c1d2e"
    monkeypatch.setenv(ENV["password"], wrong)
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        Mailer().send("s", "b")
    assert wrong not in str(refused.value)
    assert mail_env.messages == []


def _week(run) -> str:
    return periods.latest_complete_key("weekly", run.last)


def _run_weekly_job(run, store: ReportStore) -> tuple[dg.ExecuteInProcessResult,
                                                       dg.DagsterInstance]:
    from pipelines.definitions import defs

    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("present_weekly_reports").execute_in_process(
        partition_key=_week(run), instance=instance, raise_on_error=False,
        resources={"warehouse": run.warehouse, "report_store": store},
    )
    assert result.success
    return result, instance


def _materialized(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {e.materialization.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}


@pytest.mark.e2e
def test_weekly_mail_asset_sends_the_report_and_keeps_the_password_secret(
        pipeline_run, mail_env, tmp_path, caplog) -> None:
    store = ReportStore(directory=str(tmp_path / "reports"))
    result, instance = _run_weekly_job(pipeline_run, store)
    metadata = _materialized(result)
    assert {"present/weekly_report", "present/weekly_report_mail"} <= set(metadata)
    period = periods.weekly(_week(pipeline_run))
    page = store.path() / f"{period.stem}.html"

    assert len(mail_env.messages) == 1
    received = mail_env.messages[0]
    assert received["Subject"] == title(period)
    body = received.get_body(("plain",)).get_content()
    for name in kpi_names(pipeline_run.warehouse).values():
        assert name[:39] in body
    assert "KPIs: " in body and page.name in body
    attachment = next(received.iter_attachments())
    assert attachment.get_filename() == page.name
    assert attachment.get_payload(decode=True) == page.read_bytes()
    mail = metadata["present/weekly_report_mail"]
    assert mail["recipients"].value == len(TO)
    assert mail["subject"].value == title(period)

    logs = "\n".join(str(entry) for entry in instance.all_logs(result.run_id))
    assert "sent" in logs and PASSWORD not in logs
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(metadata)
    for file in store.path().iterdir():
        assert PASSWORD.encode() not in file.read_bytes(), file


@pytest.mark.e2e
def test_without_smtp_the_report_is_written_and_no_mail_is_sent(
        pipeline_run, tmp_path, monkeypatch) -> None:
    for name in ENV.values():
        monkeypatch.delenv(name, raising=False)
    store = ReportStore(directory=str(tmp_path / "reports"))
    result, _instance = _run_weekly_job(pipeline_run, store)
    assert set(_materialized(result)) == {"present/weekly_report"}
    assert (store.path() / f"{periods.weekly(_week(pipeline_run)).stem}.html").is_file()
