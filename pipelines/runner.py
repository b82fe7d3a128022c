"""Running the pipeline from the command line through the real Dagster definitions.

Runs are recorded in the Dagster instance ($DAGSTER_HOME, by default data/dagster_home), so
what the CLI did shows up in `dagster dev` with its logs, checks and metadata. A range of days
is always one run (a single-run backfill); a long history is a few such runs, one per chunk.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import yaml

from resources.project import data_dir

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
WAREHOUSE_POOL_LIMIT = 1

LOCAL_INSTANCE = {
    "concurrency": {
        # DuckDB allows one writing process: every step that opens the warehouse is in the
        # `duckdb_warehouse` pool, and no pool may run more than one step at a time across
        # all runs (the CLI's, the schedule's and the UI's).
        "pools": {"default_limit": WAREHOUSE_POOL_LIMIT, "granularity": "op"},
        "runs": {"max_concurrent_runs": 4},
    },
    "telemetry": {"enabled": False},
}
"""dagster.yaml of a new local instance (deploy/dagster.yaml is the production one)."""


def range_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    """Tags that make one run cover the days first..last of every partitioned asset."""
    if last < first:
        raise ValueError(f"end {last} is before start {first}")
    return {RANGE_START: first.isoformat(), RANGE_END: last.isoformat()}


def ensure_instance_config(home: Path) -> Path:
    """Write the local dagster.yaml into a Dagster home that has none; never touch one that
    exists (an operator's settings win)."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("# Written by sevenstep for a local instance; edit freely.\n"
                          + yaml.safe_dump(LOCAL_INSTANCE, sort_keys=False), encoding="utf-8")
    return config


def instance() -> dg.DagsterInstance:
    """The persistent instance in $DAGSTER_HOME, created under the data dir if unset."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str(data_dir() / "dagster_home")
        os.environ["DAGSTER_HOME"] = home
    ensure_instance_config(Path(home))
    return dg.DagsterInstance.get()


def run_range(
    first: dt.date,
    last: dt.date,
    *,
    job_name: str = "sevenstep_all",
    resources: dict[str, object] | None = None,
    selection: list[dg.AssetKey] | None = None,
    dagster_instance: dg.DagsterInstance | None = None,
    log_level: str = "INFO",
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """One run over the days first..last (inclusive): a single-run backfill of that range."""
    from pipelines.definitions import defs

    job = defs.resolve_job_def(job_name)
    if selection:
        # Subset first: execute_in_process cannot both subset and replace resources.
        job = job.get_subset(asset_selection=set(selection))
    return job.execute_in_process(
        instance=dagster_instance or instance(),
        tags={**(tags or {}), **range_tags(first, last)},
        resources=resources,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )


def chunks(first: dt.date, last: dt.date, days: int) -> list[tuple[dt.date, dt.date]]:
    """first..last cut into consecutive ranges of at most `days` days, oldest first."""
    if days < 1:
        raise ValueError(f"a chunk needs at least one day, got {days}")
    if last < first:
        raise ValueError(f"end {last} is before start {first}")
    ranges = []
    start = first
    while start <= last:
        end = min(start + dt.timedelta(days=days - 1), last)
        ranges.append((start, end))
        start = end + dt.timedelta(days=1)
    return ranges


def chunk_groups(index: int, total: int) -> tuple[str, ...]:
    """The step groups chunk `index` (0-based) of `total` runs.

    Steps 3-4 run in every chunk. Steps 1-2 (strategy and KPI catalogue, which step 4 reads)
    run in the first chunk, and steps 5-7 (analyses, reports, register: they read the whole
    history) only in the last, so a history of years is analysed once, not once per chunk. The
    warehouse ends up as after a single run over the whole range."""
    from pipelines.jobs import PARTITIONED_GROUPS, STEP_GROUPS

    groups = set(PARTITIONED_GROUPS)
    if index == 0:
        groups |= set(STEP_GROUPS[:2])
    if index == total - 1:
        groups |= set(STEP_GROUPS[4:])
    return tuple(g for g in STEP_GROUPS if g in groups)


def _keys_of(groups: tuple[str, ...]) -> list[dg.AssetKey]:
    """The daily job's assets in these groups (the weekly and monthly reports are not)."""
    from pipelines.definitions import defs
    from pipelines.jobs import DAILY_JOB_SELECTION

    chosen = DAILY_JOB_SELECTION & dg.AssetSelection.groups(*groups)
    return sorted(chosen.resolve(defs.resolve_asset_graph()), key=dg.AssetKey.to_user_string)


@dataclass(frozen=True)
class ChunkDone:
    """What a finished chunk reports to whoever shows the progress."""

    index: int
    total: int
    first: dt.date
    last: dt.date
    groups: tuple[str, ...]
    result: dg.ExecuteInProcessResult
    seconds: float


def backfill(
    first: dt.date,
    last: dt.date,
    chunk_days: int,
    *,
    resources: dict[str, object] | None = None,
    dagster_instance: dg.DagsterInstance | None = None,
    on_chunk: Callable[[ChunkDone], None] | None = None,
    log_level: str = "WARNING",
) -> list[ChunkDone]:
    """Load first..last as one run per chunk of `chunk_days` days; stops at the first failed
    chunk (later days would be analysed on a hole in the history)."""
    ranges = chunks(first, last, chunk_days)
    done: list[ChunkDone] = []
    for index, (start, end) in enumerate(ranges):
        groups = chunk_groups(index, len(ranges))
        began = time.monotonic()
        result = run_range(
            start, end, resources=resources, dagster_instance=dagster_instance,
            selection=_keys_of(groups), log_level=log_level,
            tags={"sevenstep/backfill": f"{first.isoformat()}..{last.isoformat()}",
                  "sevenstep/chunk": f"{index + 1}/{len(ranges)}"},
        )
        chunk = ChunkDone(index, len(ranges), start, end, groups, result,
                          time.monotonic() - began)
        done.append(chunk)
        if on_chunk is not None:
            on_chunk(chunk)
        if not result.success:
            break
    return done


def root_cause(error) -> str:
    """The first line of the innermost error of a step failure: the exception the step raised,
    not Dagster's wrapper ("Error occurred while executing op ...")."""
    if error is None:
        return "failed"
    while error.cause is not None:
        error = error.cause
    return (error.message.strip().splitlines() or ["failed"])[0]


def _check_details(metadata: dict[str, dg.MetadataValue], entries: int = 4,
                   width: int = 240) -> list[str]:
    """A failed check's metadata as indented lines, its verdict first: the terminal shows why,
    not only which check (the UI shows the whole of it)."""
    keys = sorted(metadata, key=lambda k: k != "verdict")[:entries]
    lines = []
    for key in keys:
        text = " ".join(str(metadata[key].value).split())
        lines.append(f"    {key}: {text[:width]}{'...' if len(text) > width else ''}")
    return lines


def failure_summary(result: dg.ExecuteInProcessResult) -> str:
    """The failed steps and checks of a run, in words, for the terminal."""
    lines = []
    for event in result.all_events:
        if event.is_step_failure:
            lines.append(f"step {event.step_key} failed: "
                         f"{root_cause(event.step_failure_data.error)}")
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            if not data.passed:
                lines.append(f"check {data.asset_key.to_user_string()}:{data.check_name} failed")
                lines += _check_details(data.metadata)
    skipped = [e.step_key for e in result.all_events if e.is_step_skipped]
    if skipped:
        lines.append(f"skipped downstream of a failure: {', '.join(skipped)}")
    return "\n".join(lines)
