"""What Dagster's bookkeeping costs a single-run backfill, without any of sevenstep's work.

A multi-asset of five day-partitioned assets that does nothing is materialized over a year as one
run (the shape of step 3's gather asset); Dagster still records a planned and a materialization
event per asset and day. Prints events, wall and CPU seconds and the milliseconds per event, in
an in-memory instance and in a SQLite one (what `$DAGSTER_HOME` holds), each with Dagster's
defaults and with DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=true (one planned event per
asset). Each variant runs in its own process, since Dagster reads that variable per process.

    .venv/bin/python -m benchmarks.dagster_events [--days 365]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

ASSETS = 5
SUBSET = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


def measure(days: int, storage: str) -> dict[str, float]:
    daily = dg.DailyPartitionsDefinition(start_date="2024-01-01")

    @dg.multi_asset(specs=[dg.AssetSpec(f"raw_{i}") for i in range(ASSETS)],
                    partitions_def=daily, backfill_policy=dg.BackfillPolicy.single_run(),
                    can_subset=True)
    def nothing(context):  # a string annotation here would not resolve (local function)
        for key in context.selected_asset_keys:
            yield dg.MaterializeResult(asset_key=key, metadata={"rows": 0})

    job = dg.Definitions(assets=[nothing], jobs=[dg.define_asset_job("all")]
                         ).resolve_job_def("all")
    last = dt.date(2024, 1, 1) + dt.timedelta(days=days - 1)
    instance = (dg.DagsterInstance.ephemeral() if storage == "memory"
                else dg.DagsterInstance.local_temp())
    began, cpu = time.perf_counter(), time.process_time()
    result = job.execute_in_process(instance=instance, tags={
        "dagster/asset_partition_range_start": "2024-01-01",
        "dagster/asset_partition_range_end": last.isoformat()})
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    events = len(instance.all_logs(result.run_id))
    return {"events": events, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "ms_per_event": round(1000 * wall / events, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--child", choices=["memory", "sqlite"])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.days, args.child)), flush=True)
        return
    print(f"{ASSETS} day-partitioned assets x {args.days} days, one run, {os.cpu_count()} cores")
    print(f"{'instance':<9}{'planned events':<16}{'events':>8}{'wall s':>9}{'cpu s':>8}"
          f"{'ms/event':>10}")
    for storage in ("memory", "sqlite"):
        for subset in (False, True):
            env = {k: v for k, v in os.environ.items() if k != SUBSET}
            if subset:
                env[SUBSET] = "true"
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.dagster_events", "--days", str(args.days),
                 "--child", storage], env=env, capture_output=True, text=True, check=True,
                cwd=Path(__file__).resolve().parents[1]).stdout.strip().splitlines()[-1]
            row = json.loads(out)
            print(f"{storage:<9}{'one per asset' if subset else 'one per day':<16}"
                  f"{row['events']:>8,}{row['wall_s']:>9}{row['cpu_s']:>8}"
                  f"{row['ms_per_event']:>10}")


if __name__ == "__main__":
    main()
