"""The run-failure sensor: every failed run is written down, and operators can be told at once.

A failed nightly run is easy to miss when nobody opens the UI, so each failure of any job in
the code location is appended to a JSON-lines log under the data directory (the record stays
when the Dagster instance is wiped or moved) and, when configured from the environment, posted
to a webhook (Slack, Teams, Mattermost or any receiver of JSON) and e-mailed to the operators.
The sensor never opens the warehouse: a running load may hold DuckDB's write lock.

A notification that cannot be delivered is recorded with its error in the same log line rather
than failing the sensor: failing would make the daemon evaluate the same failed run again and
append it twice.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dagster as dg

from pipelines.operations import operations
from pipelines.runner import RANGE_END, RANGE_START, root_cause
from resources.mailer import Mailer

ENV_WEBHOOK = "SEVENSTEP_ALERT_WEBHOOK_URL"
ENV_MAIL_TO = "SEVENSTEP_ALERT_MAIL_TO"
ENV_UI_URL = "SEVENSTEP_DAGSTER_URL"
SENSOR_NAME = "sevenstep_run_failure_alert"


@dataclass(frozen=True)
class FailedRun:
    """One failed run as it is logged and sent: what failed, on which days, and why."""

    run_id: str
    job_name: str
    failed_at: str
    days: str
    message: str
    failed_steps: dict[str, str]
    url: str | None = None
    notified: dict[str, str] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return f"sevenstep: run of {self.job_name} failed ({self.days})"

    def text(self) -> str:
        """The alert in plain words: the subject, the steps and their errors, the link."""
        lines = [self.subject, f"run {self.run_id} at {self.failed_at}", self.message]
        lines += [f"- {step}: {error}" for step, error in self.failed_steps.items()]
        if self.url:
            lines.append(self.url)
        return "\n".join(lines)


def _days(tags: Mapping[str, str]) -> str:
    if RANGE_START in tags:
        return f"{tags[RANGE_START]}..{tags.get(RANGE_END, tags[RANGE_START])}"
    return tags.get("dagster/partition", "no partition")


def failed_run(context: dg.RunFailureSensorContext, ui_url: str | None = None) -> FailedRun:
    """What the failure event and the run's step failures say, with a link into the UI."""
    run = context.dagster_run
    steps = {event.step_key or "?": root_cause(event.step_failure_data.error)
             for event in context.get_step_failure_events()}
    return FailedRun(
        run_id=run.run_id,
        job_name=run.job_name,
        failed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        days=_days(run.tags),
        message=context.failure_event.message or "run failed",
        failed_steps=steps,
        url=f"{ui_url.rstrip('/')}/runs/{run.run_id}" if ui_url else None,
    )


def record(failure: FailedRun, path: Path) -> None:
    """Append the failure as one JSON line (a single write: concurrent sensors never
    interleave half lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(asdict(failure), ensure_ascii=False, sort_keys=True) + "\n"
    with path.open("a", encoding="utf-8") as log:
        log.write(line)


def read_failures(path: Path) -> list[dict[str, object]]:
    """Every recorded failure, oldest first (an absent log means none yet)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def post_webhook(url: str, failure: FailedRun, timeout: float) -> str:
    """POST the failure as JSON; `text` makes it readable as-is in Slack-style webhooks."""
    body = json.dumps({"text": failure.text(), "run": asdict(failure)}).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return f"sent (HTTP {response.status})"


def notify(failure: FailedRun, environ: Mapping[str, str], timeout: float) -> dict[str, str]:
    """Send the alert through every channel the environment configures; each channel's outcome
    in words (the webhook URL and SMTP password are never part of it)."""
    outcome = {}
    url = environ.get(ENV_WEBHOOK, "").strip()
    if url:
        try:
            outcome["webhook"] = post_webhook(url, failure, timeout)
        except urllib.error.HTTPError as exc:
            outcome["webhook"] = f"error: HTTP {exc.code} {exc.reason}"
        except ValueError:  # its message would show the URL, which may hold a token
            outcome["webhook"] = f"error: {ENV_WEBHOOK} is not an http(s) URL"
        except (urllib.error.URLError, OSError) as exc:
            outcome["webhook"] = f"error: {getattr(exc, 'reason', None) or exc}"
    recipients = environ.get(ENV_MAIL_TO, "").strip()
    if recipients:
        try:
            message_id = Mailer(recipients=recipients, timeout=timeout).send(
                failure.subject, failure.text())
            outcome["email"] = f"sent {message_id}"
        except Exception as exc:  # any delivery error is recorded, never raised
            outcome["email"] = f"error: {type(exc).__name__}: {exc}"
    return outcome


@dg.run_failure_sensor(
    name=SENSOR_NAME,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records every failed run in the failure log under the data directory "
    "(config/operations.yaml: failures.log_file) and alerts the operators through "
    f"{ENV_WEBHOOK} and/or e-mail to {ENV_MAIL_TO} when they are set.",
)
def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    settings = operations().failures
    failure = failed_run(context, os.environ.get(ENV_UI_URL))
    notified = notify(failure, os.environ, settings.notify_timeout_seconds)
    failure = FailedRun(**{**asdict(failure), "notified": notified})
    record(failure, settings.log_path())
    context.log.info(f"run {failure.run_id} of {failure.job_name} failed; recorded in "
                     f"{settings.log_path()}; alerts: {notified or 'none configured'}")
