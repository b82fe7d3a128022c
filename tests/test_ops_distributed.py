"""Past one machine: the nightly job on the production instance (deploy/dagster.yaml, runs and
events in the machine's PostgreSQL) with its steps executed by a celery worker that the test
starts against the local RabbitMQ.

The instance lives in a schema of its own in database `test`, dropped afterwards; the worker
listens on a queue of its own, so nothing else on the broker can take its steps.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.jobs import build_nightly_schedule
from pipelines.operations import operations
from pipelines.runner import RANGE_END, RANGE_START
from tests.services import require_module, require_service, stop_process_group

pytestmark = [pytest.mark.e2e, pytest.mark.services]

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG = "host=127.0.0.1 port=5432 dbname=test user=postgres"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    require_service("postgresql")
    require_module("dagster_postgres")
    psycopg = require_module("psycopg")
    schema = f"sevenstep_ops_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        with psycopg.connect(PG, autocommit=True) as con:
            con.execute(f"DROP SCHEMA {schema} CASCADE")


def _delete_queue(broker: str, queue: str) -> None:
    """Leave the broker as it was: celery declares the test's queue and exchange durable."""
    from kombu import Connection

    with Connection(broker) as connection:
        channel = connection.default_channel
        channel.queue_delete(queue)
        channel.exchange_delete(queue)


def _nightly_tags() -> dict[str, str]:
    """What the deployed nightly schedule asks for at 02:00 on 1 June 2026."""
    schedule = build_nightly_schedule(operations().nightly)
    moment = dt.datetime(2026, 6, 1, 2, tzinfo=dt.UTC)
    [request] = schedule.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=moment)).run_requests
    return {RANGE_START: request.tags[RANGE_START], RANGE_END: request.tags[RANGE_END]}


def test_the_nightly_job_through_celery_on_a_postgres_instance(tmp_path, pg_schema,
                                                               monkeypatch) -> None:
    require_service("rabbitmq")
    require_module("dagster_celery")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    queue = f"sevenstep-test-{uuid.uuid4().hex[:8]}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SEVENSTEP_", "DAGSTER_"))
              or k == "SEVENSTEP_REQUIRE_SERVICES"},
           "DAGSTER_HOME": str(home), "SEVENSTEP_DATA_DIR": str(tmp_path / "data"),
           "SEVENSTEP_DAGSTER_PG_URL": "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
                                       f"?options=-csearch_path%3D{pg_schema}",
           "SEVENSTEP_EXECUTOR": "celery", "SEVENSTEP_CELERY_QUEUE": queue,
           "SEVENSTEP_CELERY_BROKER": "pyamqp://guest:guest@127.0.0.1:5672//",
           "SEVENSTEP_CELERY_BACKEND": "rpc://", "GX_ANALYTICS_ENABLED": "False"}
    worker_log = tmp_path / "worker.log"
    with worker_log.open("w") as out:
        worker = subprocess.Popen(
            [str(BIN / "celery"), "-A", "pipelines.celery_worker", "worker", "-Q", queue,
             "--pool", "solo", "--prefetch-multiplier=1", "-n", f"{queue}@%h", "-l", "INFO"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    tags = _nightly_tags()
    try:
        done = subprocess.run(
            [str(BIN / "dagster"), "job", "execute", "-m", "pipelines.definitions", "-j",
             "sevenstep_nightly", "--tags", json.dumps(tags)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    finally:
        stop_process_group(worker)
        _delete_queue(env["SEVENSTEP_CELERY_BROKER"], queue)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:] + "\nworker:\n" + worker_log.read_text()[-3000:]
    assert "RUN_SUCCESS" in output

    # The run and its events are in PostgreSQL (no SQLite history under DAGSTER_HOME).
    monkeypatch.setenv("SEVENSTEP_DAGSTER_PG_URL", env["SEVENSTEP_DAGSTER_PG_URL"])
    assert not (home / "history").exists()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [record] = instance.get_run_records()
        run = record.dagster_run
        assert run.job_name == "sevenstep_nightly" and run.status == dg.DagsterRunStatus.SUCCESS
        assert {k: run.tags[k] for k in tags} == tags
        events = [e.dagster_event for e in instance.all_logs(run.run_id) if e.dagster_event]
        in_worker = {e.step_key for e in events if e.event_type_value == "ENGINE_EVENT"
                     and "in celery worker" in (e.message or "")}
        executed = {e.step_key for e in events if e.event_type_value == "STEP_SUCCESS"}
        assert executed and executed == in_worker, executed ^ in_worker
        days = instance.get_materialized_partitions(dg.AssetKey(["clean", "kpi_daily"]))
    first, last = (dt.date.fromisoformat(tags[k]) for k in (RANGE_START, RANGE_END))
    expected = {(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)}
    assert days == expected
    psycopg = require_module("psycopg")
    with psycopg.connect(PG) as con:
        stored = con.execute(f"SELECT count(*) FROM {pg_schema}.runs WHERE run_id = %s",
                             [run.run_id]).fetchall()[0][0]
    assert stored == 1
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as con:
        facts = con.execute("SELECT min(day), max(day) FROM clean.kpi_daily").fetchall()[0]
    assert facts == (first, last)
