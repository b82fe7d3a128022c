"""What a measured child process runs: the real pipeline over days of a benchmark workspace.

Started by benchmarks/run.py with the workspace's environment (benchmarks/workspace.py), so
its wall time includes Python and Dagster start-up and loading the definitions, like a nightly
`sevenstep run` would. Prints one JSON line: the run(s), their walls and each step's time from
the run's event log.

    python -m benchmarks.child --first 2024-01-01 --last 2025-12-30 [--job J] [--per-day]
        [--groups step3_gather step4_process]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections import defaultdict

STARTED = time.perf_counter()


def step_seconds(instance, run_id: str) -> dict[str, float]:
    """Seconds per step (op) of a run, from its STEP_START and STEP_SUCCESS/FAILURE events."""
    import dagster as dg

    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
             dg.DagsterEventType.STEP_FAILURE}
    began: dict[str, float] = {}
    spent: dict[str, float] = defaultdict(float)
    for entry in instance.all_logs(run_id, of_type=kinds):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            began[event.step_key] = entry.timestamp
        elif event.step_key in began:
            spent[event.step_key] += entry.timestamp - began.pop(event.step_key)
    return dict(spent)


def step_groups() -> dict[str, str]:
    """Step (op) name -> the asset group of its assets."""
    from pipelines.definitions import defs

    groups = {}
    for assets in defs.assets or []:
        if hasattr(assets, "node_def") and hasattr(assets, "group_names_by_key"):
            names = set(assets.group_names_by_key.values())
            groups[assets.node_def.name] = names.pop() if len(names) == 1 else "mixed"
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--last", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--job", default="sevenstep_all")
    parser.add_argument("--per-day", action="store_true",
                        help="one run per day instead of one run over the range")
    parser.add_argument("--groups", nargs="*", default=None,
                        help="only the job's assets in these step groups")
    parser.add_argument("--ephemeral", action="store_true",
                        help="record the run in an in-memory Dagster instance (as the tests do) "
                        "instead of the SQLite one in $DAGSTER_HOME")
    args = parser.parse_args()

    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.jobs import DAILY_JOB_SELECTION
    from pipelines.runner import failure_summary, instance, run_range

    selection = None
    if args.groups:
        chosen = DAILY_JOB_SELECTION & dg.AssetSelection.groups(*args.groups)
        selection = sorted(chosen.resolve(defs.resolve_asset_graph()),
                           key=dg.AssetKey.to_user_string)

    loaded = time.perf_counter() - STARTED
    days = (args.last - args.first).days + 1
    ranges = ([(args.first + dt.timedelta(days=n),) * 2 for n in range(days)] if args.per_day
              else [(args.first, args.last)])
    runs = []
    dagster_instance = dg.DagsterInstance.ephemeral() if args.ephemeral else instance()
    for first, last in ranges:
        began = time.perf_counter()
        result = run_range(first, last, job_name=args.job, dagster_instance=dagster_instance,
                           selection=selection, log_level="WARNING")
        runs.append({"first": first.isoformat(), "last": last.isoformat(),
                     "success": result.success, "wall_s": time.perf_counter() - began,
                     "steps": step_seconds(dagster_instance, result.run_id),
                     "events": len(dagster_instance.all_logs(result.run_id)),
                     "failure": "" if result.success else failure_summary(result)})
        if not result.success:
            break
    print(json.dumps({"import_s": loaded, "runs": runs, "groups": step_groups(),
                      "wall_s": time.perf_counter() - STARTED}), flush=True)


if __name__ == "__main__":
    main()
