"""Operations settings, the nightly schedule, backfill chunks and the executor choice."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from pipelines.executors import ExecutorChoiceError, celery_config, executor_from_env
from pipelines.jobs import build_nightly_schedule
from pipelines.operations import FILE, NightlyConfig, OperationsFile, nightly_days, operations
from pipelines.runner import RANGE_END, RANGE_START, chunk_groups, chunks
from resources.config_files import ConfigError, load_model
from resources.settings import calendar

ROOT = Path(__file__).resolve().parents[1]
START = dt.date(2024, 1, 1)


def _tags_days(request: dg.RunRequest) -> tuple[str, str]:
    return request.tags[RANGE_START], request.tags[RANGE_END]


def _write(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load((ROOT / "config" / FILE).read_text())
    edit(data["operations"])
    path = tmp_path / FILE
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_shipped_file_loads_with_the_documented_defaults() -> None:
    settings = operations()
    assert settings.nightly.time == "02:00"
    assert settings.nightly.cron == "0 2 * * *"
    assert settings.backfill.chunk_days == 90
    assert settings.failures.log_path().name == "run_failures.jsonl"


@pytest.mark.parametrize(("edit", "field", "words"), [
    (lambda o: o["nightly"].update(time="25:00"), "operations.nightly.time", "HH:MM"),
    (lambda o: o["nightly"].update(timezone="Mars/Base"), "operations.nightly.timezone",
     "IANA"),
    (lambda o: o["backfill"].update(chunk_days=0), "operations.backfill.chunk_days",
     "greater than or equal to 1"),
    (lambda o: o["nightly"].update(lookback=3), "operations.nightly.lookback", "Extra inputs"),
])
def test_a_mistake_names_the_file_line_and_field(tmp_path, edit, field, words) -> None:
    path = _write(tmp_path, edit)
    with pytest.raises(ConfigError) as error:
        load_model(path, OperationsFile)
    message = str(error.value)
    assert f"{path}:" in message and field in message and words in message
    line = int(message.split(f"{path}:")[1].split(":")[0])
    assert field.rsplit(".", 1)[1] in path.read_text().splitlines()[line - 1]


def test_the_code_location_reads_the_config_dir_it_is_given(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "config", folder)
    _write(folder, lambda o: o["backfill"].update(chunk_days=30))
    monkeypatch.setenv("SEVENSTEP_CONFIG_DIR", str(folder))
    assert operations().backfill.chunk_days == 30


@pytest.mark.parametrize(("moment", "lookback", "expected"), [
    # 02:00 in Amsterdam (summer) is midnight UTC: the whole of 31 May is over.
    ("2026-06-01T02:00:00+02:00", 3, ("2026-05-28", "2026-05-31")),
    # 02:00 in Tokyo is 17:00 UTC the day before: that UTC day is not over yet.
    ("2026-06-01T02:00:00+09:00", 0, ("2026-05-30", "2026-05-30")),
    # 02:00 in New York is 06:00 UTC the same day.
    ("2026-06-01T02:00:00-04:00", 1, ("2026-05-30", "2026-05-31")),
    # The look-back never reaches before the first partition.
    ("2024-01-02T02:00:00+00:00", 5, ("2024-01-01", "2024-01-01")),
])
def test_nightly_days_are_the_last_whole_utc_days(moment, lookback, expected) -> None:
    first, last = nightly_days(dt.datetime.fromisoformat(moment), lookback, START)
    assert (first.isoformat(), last.isoformat()) == expected


def test_the_schedule_runs_at_the_configured_time_as_one_ranged_run() -> None:
    schedule = build_nightly_schedule(NightlyConfig(time="03:30", timezone="Europe/Amsterdam",
                                                    lookback_days=2, enabled=True))
    assert schedule.cron_schedule == "30 3 * * *"
    assert schedule.execution_timezone == "Europe/Amsterdam"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "sevenstep_nightly"
    moment = dt.datetime(2026, 3, 10, 3, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    result = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=moment))
    [request] = result.run_requests
    assert _tags_days(request) == ("2026-03-07", "2026-03-09")
    assert request.run_key == "nightly:2026-03-09"


def test_the_deployed_schedules_nightly_weekly_and_monthly() -> None:
    from pipelines.definitions import defs

    settings = operations().nightly
    nightly = defs.resolve_schedule_def("sevenstep_nightly_schedule")
    assert nightly.cron_schedule == settings.cron
    assert nightly.execution_timezone == settings.timezone
    graph = defs.resolve_asset_graph()
    for cadence in ("weekly", "monthly"):
        schedule = defs.resolve_schedule_def(f"present_{cadence}_reports_schedule")
        selected = defs.resolve_job_def(schedule.job_name).asset_layer.selected_asset_keys
        assert dg.AssetKey(["present", f"{cadence}_report"]) in selected
        assert {graph.get(k).group_name for k in selected} == {"step6_present"}
        assert all(graph.get(k).partitions_def is not None for k in selected)


def test_chunks_cover_the_range_once_in_order() -> None:
    first, last = dt.date(2024, 1, 1), dt.date(2025, 12, 31)
    ranges = chunks(first, last, 90)
    assert len(ranges) == 9
    assert ranges[0][0] == first and ranges[-1][1] == last
    assert all((b - a).days + 1 <= 90 for a, b in ranges)
    assert all(nxt[0] == prev[1] + dt.timedelta(days=1)
               for prev, nxt in zip(ranges, ranges[1:], strict=False))
    assert chunks(first, first, 90) == [(first, first)]
    with pytest.raises(ValueError, match="before start"):
        chunks(last, first, 90)


def test_chunks_run_steps_1_2_first_and_5_7_last() -> None:
    assert chunk_groups(0, 1) == ("step1_strategy", "step2_measures", "step3_gather",
                                  "step4_process", "step5_analyze", "step6_present",
                                  "step7_implement")
    assert chunk_groups(0, 3) == ("step1_strategy", "step2_measures", "step3_gather",
                                  "step4_process")
    assert chunk_groups(1, 3) == ("step3_gather", "step4_process")
    assert chunk_groups(2, 3) == ("step3_gather", "step4_process", "step5_analyze",
                                  "step6_present", "step7_implement")


def test_a_ui_backfill_of_days_is_one_run_per_asset() -> None:
    """Every day-partitioned asset of the daily job has a single-run backfill policy, so a
    backfill launched from the UI loads a range in one run, not one process per day."""
    from pipelines.definitions import defs
    from pipelines.jobs import DAILY_JOB_SELECTION

    graph = defs.resolve_asset_graph()
    daily = [k for k in DAILY_JOB_SELECTION.resolve(graph) if graph.get(k).is_partitioned]
    assert len(daily) >= 10
    wrong = [k.to_user_string() for k in daily
             if graph.get(k).backfill_policy != dg.BackfillPolicy.single_run()]
    assert wrong == []
    assert calendar().history_start.isoformat() == graph.get(daily[0]).partitions_def \
        .get_first_partition_key()


def test_the_executor_comes_from_the_environment() -> None:
    assert executor_from_env({}) is dg.in_process_executor
    assert executor_from_env({"SEVENSTEP_EXECUTOR": "multiprocess"}) is dg.multiprocess_executor
    celery = executor_from_env({"SEVENSTEP_EXECUTOR": "celery"})
    assert celery.name == "celery"
    # The broker URL is read from the environment when a run starts, so the definitions (and
    # the UI showing them) never hold its password.
    assert celery_config({"SEVENSTEP_CELERY_BROKER": "pyamqp://u:secret@mq//"}) == {
        "broker": {"env": "SEVENSTEP_CELERY_BROKER"}}
    assert celery_config({}) == {}
    with pytest.raises(ExecutorChoiceError, match="SEVENSTEP_EXECUTOR='dask'"):
        executor_from_env({"SEVENSTEP_EXECUTOR": "dask"})


@dg.op
def _fine() -> None:
    """A step that succeeds."""


@dg.op
def _broken() -> None:
    raise RuntimeError("source unreachable")


def test_backfill_cli_shows_progress_and_how_to_resume(monkeypatch) -> None:
    from click.testing import CliRunner

    import pipelines.runner as runner
    from pipelines.cli.backfill import backfill as command

    outcomes = [dg.GraphDefinition(name, node_defs=[op]).to_job().execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
        for name, op in (("fine", _fine), ("broken", _broken))]
    seen = {}

    def fake(first, last, chunk_days, *, on_chunk, log_level):
        seen.update(first=first, last=last, chunk_days=chunk_days, log_level=log_level)
        done = []
        for index, ((start, end), result) in enumerate(zip(chunks(first, last, chunk_days),
                                                           outcomes, strict=False)):
            chunk = runner.ChunkDone(index, 3, start, end, chunk_groups(index, 3), result, 61.0)
            on_chunk(chunk)
            done.append(chunk)
        return done

    monkeypatch.setattr(runner, "backfill", fake)
    out = CliRunner().invoke(command, ["--start", "2025-01-01", "--end", "2025-03-01",
                                       "--chunk-days", "20"])
    assert out.exit_code == 1
    assert seen == {"first": dt.date(2025, 1, 1), "last": dt.date(2025, 3, 1), "chunk_days": 20,
                    "log_level": "WARNING"}
    lines = out.stdout.splitlines()
    assert lines[0].startswith("sevenstep backfill: 2025-01-01 .. 2025-03-01 (60 days) as 3 "
                               "runs of at most 20 days into ")
    assert lines[1].startswith("[1/3] 2025-01-01..2025-01-20 (steps 1-4): ok in 1 min 01 s, "
                               "0 raw rows, run ")
    assert lines[1].endswith("; about 2 min 02 s left")
    assert lines[2].startswith("[2/3] 2025-01-21..2025-02-09 (steps 3-4): FAILED in 1 min 01 s")
    assert "step _broken failed" in out.stderr and "source unreachable" in out.stderr
    assert "resume with `sevenstep backfill --start 2025-01-21 --end 2025-03-01`" in out.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--start", "2025-13-01", "--end", "2025-12-31"], "'2025-13-01' is not a date"),
    (["--start", "2025-02-01", "--end", "2025-01-31"], "--end 2025-01-31 is before --start"),
    (["--start", "2025-01-01", "--end", "2025-01-31", "--chunk-days", "0"], "0 is not in the"),
])
def test_backfill_cli_refuses_bad_arguments(args, message) -> None:
    from click.testing import CliRunner

    from pipelines.cli.backfill import backfill as command

    out = CliRunner().invoke(command, args)
    assert out.exit_code == 2 and message in out.output
