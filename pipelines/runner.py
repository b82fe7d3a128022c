"""Running the pipeline from the command line through the real Dagster definitions.

Runs are recorded in the Dagster instance ($DAGSTER_HOME, by default data/dagster_home), so
what the CLI did shows up in `dagster dev` with its logs, checks and metadata.
"""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

from resources.project import data_dir

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def instance() -> dg.DagsterInstance:
    """The persistent instance in $DAGSTER_HOME, created under the data dir if unset."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str(data_dir() / "dagster_home")
        os.environ["DAGSTER_HOME"] = home
    os.makedirs(home, exist_ok=True)
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
) -> dg.ExecuteInProcessResult:
    """One run over the days first..last (inclusive): a single-run backfill of that range."""
    from pipelines.definitions import defs

    if last < first:
        raise ValueError(f"end {last} is before start {first}")
    job = defs.resolve_job_def(job_name)
    return job.execute_in_process(
        instance=dagster_instance or instance(),
        tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat()},
        resources=resources,
        asset_selection=selection,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )


def failure_summary(result: dg.ExecuteInProcessResult) -> str:
    """The failed steps and checks of a run, in words, for the terminal."""
    lines = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            lines.append(f"step {event.step_key} failed: {error.message.strip() if error else ''}")
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            if not data.passed:
                lines.append(f"check {data.asset_key.to_user_string()}:{data.check_name} failed")
    skipped = [e.step_key for e in result.all_events if e.is_step_skipped]
    if skipped:
        lines.append(f"skipped downstream of a failure: {', '.join(skipped)}")
    return "\n".join(lines)
