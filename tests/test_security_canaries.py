"""Canary secrets: credentials set in the environment never reach the run logs, the asset
metadata, the warehouse or the reports (issue 11).

The whole pipeline runs in a child process (fresh definitions for a configuration that adds a
ServiceNow source) over a week of synthetic data, then the weekly report job mails its
report. Every secret it uses is a random canary from the environment: the pseudonymization
salt, the ServiceNow token, the SMTP password, the alert webhook URL. Local fakes of ServiceNow
and SMTP prove each canary was really used, so the scan below cannot pass by accident. Then the
Dagster home (event log with all metadata, compute logs), the console output, every text column
of every warehouse table, every report file and the e-mail sent are searched for each canary,
also base64- and URL-encoded.

A database URL with a password is scanned in the same way in test_security_database_url.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import socketserver
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FIRST, LAST = dt.date(2026, 5, 25), dt.date(2026, 5, 31)  # one ISO week, Monday to Sunday
AS_OF = "2026-06-01T00:00:00"
VOLUME = 10.0


def canary(name: str) -> str:
    return f"canary-{name}-{secrets.token_hex(12)}"


def variants(secret: str) -> set[str]:
    """The forms a leaked secret takes: as is, URL-encoded, base64 (Basic auth, SMTP PLAIN)."""
    b64 = {base64.b64encode(secret.encode()).decode()}
    for prefix in ("\0", "smtp-user\0smtp-user\0", "\0smtp-user\0"):
        b64.add(base64.b64encode((prefix + secret).encode()).decode())
    return {secret, urllib.parse.quote(secret, safe=""), *b64}


class FakeServiceNow(BaseHTTPRequestHandler):
    """task_sla records for the run's days; remembers the Authorization headers it saw."""

    authorizations: list[str] = []
    token = ""

    def log_message(self, *args) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        type(self).authorizations.append(self.headers.get("Authorization", ""))
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            body, status = b'{"error": {"message": "User Not Authenticated"}}', 401
        else:
            records = [{"sys_id": f"{n:032x}", "task": f"INC{n:07d}", "stage": "completed",
                        "start_time": f"2026-05-2{5 + n} 08:00:00",
                        "sys_updated_on": f"2026-05-2{5 + n} 09:00:00"} for n in range(3)]
            body, status = json.dumps({"result": records}).encode(), 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FakeSmtp(socketserver.StreamRequestHandler):
    """Just enough ESMTP for smtplib: AUTH PLAIN, MAIL, RCPT, DATA; keeps every line."""

    lines: list[str] = []

    def handle(self) -> None:
        def reply(text: str) -> None:
            self.wfile.write(text.encode() + b"\r\n")

        reply("220 fake ESMTP")
        in_data = False
        while raw := self.rfile.readline():
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            type(self).lines.append(line)
            if in_data:
                if line == ".":
                    in_data = False
                    reply("250 queued")
                continue
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                reply("250-fake\r\n250 AUTH PLAIN")
            elif verb == "AUTH":
                reply("235 accepted")
            elif verb == "DATA":
                in_data = True
                reply("354 end with .")
            elif verb == "QUIT":
                reply("221 bye")
                return
            else:
                reply("250 ok")


@dataclass
class Servers:
    servicenow: str
    smtp_port: int
    threads: list = field(default_factory=list)


@pytest.fixture
def servers() -> Iterator[Servers]:
    FakeServiceNow.authorizations, FakeSmtp.lines = [], []
    http = ThreadingHTTPServer(("127.0.0.1", 0), FakeServiceNow)
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), FakeSmtp)
    for server in (http, smtp):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Servers(f"http://127.0.0.1:{http.server_address[1]}", smtp.server_address[1])
    finally:
        for server in (http, smtp):
            server.shutdown()
            server.server_close()


RUN = """
import datetime as dt, json, sys
from assets.step6_present.periods import latest_complete_key
from pipelines.definitions import defs
from pipelines.runner import failure_summary, instance, run_range
from resources.synthetic import SyntheticSource
first, last, as_of, volume = sys.argv[1:5]
last_day = dt.date.fromisoformat(last)
home = instance()
daily = run_range(dt.date.fromisoformat(first), last_day, dagster_instance=home,
                  resources={"synthetic": SyntheticSource(as_of=as_of,
                                                          incidents_per_day=float(volume))})
weekly = defs.resolve_job_def("present_weekly_reports").execute_in_process(
    instance=home, partition_key=latest_complete_key("weekly", last_day), raise_on_error=False)
print(json.dumps({"daily": daily.success, "weekly": weekly.success,
                  "failures": failure_summary(daily) + failure_summary(weekly)}))
"""


def _config(folder: Path, servicenow: str) -> Path:
    """The shipped configuration plus a ServiceNow source of SLA records (raw only)."""
    config = folder / "config"
    shutil.copytree(ROOT / "config", config)
    data = yaml.safe_load((config / "sources.yaml").read_text(encoding="utf-8"))
    data["sources"].append({
        "name": "snow_sla", "kind": "servicenow", "preset": "servicenow", "entities": ["slas"],
        "servicenow": {"instance_url": servicenow, "token_env": "SEVENSTEP_TEST_SN_TOKEN",
                       "max_retries": 0}})
    (config / "sources.yaml").write_text(yaml.safe_dump(data, sort_keys=False),
                                         encoding="utf-8")
    return config


def _warehouse_text(path: Path) -> dict[str, str]:
    """Every table of every schema of the warehouse as CSV text, by name."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
            "WHERE NOT internal AND database_name = current_database()").fetchall()]
        return {t: con.execute(f"SELECT * FROM {t}").df().to_csv() for t in tables}


def _file_text(path: Path) -> str:
    if path.suffix == ".parquet":
        with duckdb.connect() as con:
            return con.execute("SELECT * FROM read_parquet(?)", [str(path)]).df().to_csv()
    return path.read_bytes().decode("latin-1")


def test_canary_secrets_never_leave_the_environment(servers: Servers, tmp_path: Path) -> None:
    salt, token, smtp_password = canary("salt"), canary("token"), canary("smtp")
    webhook = f"https://hooks.example.invalid/{canary('webhook')}"
    FakeServiceNow.token = token
    data, home = tmp_path / "data", tmp_path / "dagster_home"
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "GX_ANALYTICS_ENABLED": "False",
        "SEVENSTEP_CONFIG_DIR": str(_config(tmp_path, servers.servicenow)),
        "SEVENSTEP_DATA_DIR": str(data), "DAGSTER_HOME": str(home),
        "SEVENSTEP_PSEUDONYM_SALT": salt, "SEVENSTEP_TEST_SN_TOKEN": token,
        "SEVENSTEP_SMTP_HOST": "127.0.0.1", "SEVENSTEP_SMTP_PORT": str(servers.smtp_port),
        "SEVENSTEP_SMTP_SECURITY": "none", "SEVENSTEP_SMTP_USER": "smtp-user",
        "SEVENSTEP_SMTP_PASSWORD": smtp_password, "SEVENSTEP_MAIL_FROM": "csi@example.org",
        "SEVENSTEP_MAIL_TO": "board@example.org", "SEVENSTEP_ALERT_WEBHOOK_URL": webhook,
    }
    for name in ("SEVENSTEP_WAREHOUSE", "SEVENSTEP_REPORT_DIR", "SEVENSTEP_REGISTER_URL"):
        env.pop(name, None)
    child = subprocess.run(
        [sys.executable, "-c", RUN, str(FIRST), str(LAST), AS_OF, str(VOLUME)], cwd=ROOT,
        env=env, capture_output=True, text=True, timeout=900)
    assert child.returncode == 0, child.stderr[-3000:]
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    assert outcome["daily"] and outcome["weekly"], outcome["failures"]

    # Each canary was really used.
    assert f"Bearer {token}" in FakeServiceNow.authorizations
    auth = next(line for line in FakeSmtp.lines if line.upper().startswith("AUTH PLAIN"))
    assert base64.b64decode(auth.split()[-1]).split(b"\0")[-1].decode() == smtp_password
    warehouse = _warehouse_text(data / "warehouse.duckdb")
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        caller, pseudonym = con.execute(
            "SELECT r.caller_id, c.caller FROM raw.synthetic_incidents r JOIN clean.incidents c "
            "ON c.incident_id = r.number AND c._partition = r._partition AND c._row = r._row "
            "WHERE r.caller_id <> '' LIMIT 1").fetchall()[0]
        assert con.execute("SELECT count(*) FROM raw.snow_sla_slas").fetchall() == [(3,)]
    assert pseudonym == "p-" + hashlib.sha256((salt + caller).encode()).hexdigest()[:16]

    # ... and none of them is anywhere a person or a log can read.
    places: dict[str, str] = {"console": child.stdout + child.stderr,
                              "e-mail sent": "\n".join(FakeSmtp.lines[FakeSmtp.lines.index(
                                  auth) + 1:])}
    places |= {f"warehouse {table}": text for table, text in warehouse.items()}
    for folder in (home, data):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if path.name != "warehouse.duckdb":  # read table by table above
                places[str(path.relative_to(tmp_path))] = _file_text(path)
    assert any("ASSET_MATERIALIZATION" in text for name, text in places.items()
               if name.startswith("dagster_home")), "the event log was not found"
    assert any(name.endswith(".html") and "reports" in name for name in places)
    assert "clean.incidents" in warehouse and "improve.actions" in warehouse
    leaks = sorted((secret_name, place)
                   for secret_name, secret in (("salt", salt), ("ServiceNow token", token),
                                               ("SMTP password", smtp_password),
                                               ("webhook URL", webhook))
                   for form in variants(secret)
                   for place, text in places.items() if form in text)
    assert leaks == []
