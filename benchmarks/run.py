"""`make bench`: the performance harness of sevenstep, at scale S (1 million incidents) by default.

In one run, each figure printed with the machine's core count and load:

1. full backfill: the whole two-year history through the real Dagster definitions as one run
   (pipelines/runner.py run_range), wall, rows/s and peak memory of the process tree;
2. the floor: the same raw -> clean -> daily KPI facts as one DuckDB script (benchmarks/floor.py)
   over the same files, and the ratio pipeline / floor;
3. nightly run: one new day (the nightly job, with its look-back days) on top of a warehouse
   holding one year, then two years of history, each twice, alternating; the faster walls
   (whole process: Python, Dagster start-up and the run) and their ratio;
4. Dagster overhead: steps 3-4 over 30 days as one run vs one run per day.

Writes benchmarks/results/<date>-<scale>.json and prints a table, plus the slowest steps of each
run from the run's event log (where the time goes).

    python -m benchmarks.run [--scale S|M|XS] [--seed 7] [--format csv|parquet] [--keep]
    python -m benchmarks.run --table benchmarks/results/<date>-<scale>.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import time
from collections import defaultdict
from pathlib import Path

from benchmarks import workspace
from benchmarks.dataset import HISTORY_DAYS, SCALES, Dataset, dataset
from benchmarks.measure import Measured, run_child
from benchmarks.workspace import Workspace

RESULTS = Path(__file__).resolve().parent / "results"
OVERHEAD_DAYS = 30
TARGETS = {"backfill_vs_floor": 2.0, "peak_gib": 4.0, "nightly_growth": 1.2,
           "nightly_wall_s": 20.0}


def log(text: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {text}", flush=True)


def pipeline(space: Workspace, first: dt.date, last: dt.date, label: str, *,
             job: str = "sevenstep_all", per_day: bool = False, ephemeral: bool = False,
             groups: tuple[str, ...] = ()) -> Measured:
    args = ["--first", first.isoformat(), "--last", last.isoformat(), "--job", job]
    if per_day:
        args.append("--per-day")
    if ephemeral:
        args.append("--ephemeral")
    if groups:
        args += ["--groups", *groups]
    log(f"{label}: {first}..{last} ({job}{', one run per day' if per_day else ''}) ...")
    measured = run_child("benchmarks.child", args, space.environment(), label)
    failed = [r for r in measured.output["runs"] if not r["success"]]
    if failed:
        raise SystemExit(f"{label}: the run failed:\n{failed[0]['failure']}")
    steps = ", ".join(f"{step} {seconds:,.1f}" for step, seconds in slowest(measured, 5))
    log(f"{label}: {measured.wall_s:,.1f} s, peak {measured.peak_mib:,.0f} MiB; slowest steps "
        f"(s): {steps}")
    return measured


def raw_rows(space: Workspace) -> int:
    import duckdb

    con = duckdb.connect(str(space.warehouse), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' "
            "AND NOT starts_with(table_name, '_')").fetchall()]
        return sum(int(con.execute(f'SELECT count(*) FROM raw."{t}"').fetchall()[0][0])
                   for t in tables)
    finally:
        con.close()


def by_group(measured: Measured) -> dict[str, float]:
    """Seconds per step group, summed over the measured runs."""
    groups = measured.output["groups"]
    spent: dict[str, float] = defaultdict(float)
    for run in measured.output["runs"]:
        for step, seconds in run["steps"].items():
            spent[groups.get(step, "other")] += seconds
    return dict(sorted(spent.items()))


def slowest(measured: Measured, count: int = 8) -> list[tuple[str, float]]:
    spent: dict[str, float] = defaultdict(float)
    for run in measured.output["runs"]:
        for step, seconds in run["steps"].items():
            spent[step] += seconds
    return sorted(spent.items(), key=lambda kv: -kv[1])[:count]


def summary(measured: Measured) -> dict[str, object]:
    runs = measured.output["runs"]
    return {"wall_s": round(measured.wall_s, 2), "peak_mib": round(measured.peak_mib),
            "startup_s": round(measured.output["import_s"], 2),
            "run_wall_s": round(sum(r["wall_s"] for r in runs), 2), "runs": len(runs),
            "events": sum(r["events"] for r in runs),
            "groups_s": {k: round(v, 2) for k, v in by_group(measured).items()},
            "slowest_steps_s": {k: round(v, 2) for k, v in slowest(measured)}}


def measure_all(data: Dataset, work: Path, results: dict[str, object], save) -> None:
    """Fill `results`, calling `save` after each measurement (a run cut short keeps what it
    measured)."""
    from pipelines.operations import operations

    lookback = operations().nightly.lookback_days
    year, history = data.day(364), data.day(HISTORY_DAYS - 1)

    # 1. the whole history as one run, and a warehouse holding one year for 3
    two = workspace.create(work / "two-years", data)
    two.drop_until(data, history)
    backfill = pipeline(two, data.first, history, "backfill 2 years", ephemeral=True)
    rows = raw_rows(two)
    results["backfill"] = {**summary(backfill), "rows": rows,
                           "rows_per_s": round(rows / backfill.wall_s)}
    save()
    one = workspace.create(work / "one-year", data)
    one.drop_until(data, year)
    backfill_year = pipeline(one, data.first, year, "backfill 1 year", ephemeral=True)
    results["backfill_1y"] = {**summary(backfill_year), "rows": raw_rows(one)}
    save()

    # 2. the floor over the same files
    log("floor: one DuckDB script over the same files ...")
    floor = run_child("benchmarks.floor", [
        "--data", str(data.folder), "--first", data.first.isoformat(),
        "--last", history.isoformat(), "--db", str(work / "floor.duckdb"),
        "--strategy-from", str(two.warehouse)], two.environment(), "floor")
    (work / "floor.duckdb").unlink(missing_ok=True)
    log(f"floor: {floor.wall_s:,.1f} s, peak {floor.peak_mib:,.0f} MiB")
    steps_34 = sum(v for k, v in by_group(backfill).items()
                   if k in ("step3_gather", "step4_process"))
    results["floor"] = {"wall_s": round(floor.wall_s, 2), "peak_mib": round(floor.peak_mib),
                        "script_s": round(floor.output["total_s"], 2),
                        "phases_s": {k: round(v, 2) for k, v in
                                     floor.output["phases"].items()},
                        "raw_rows": floor.output["raw_rows"],
                        "rows_per_s": round(floor.output["raw_rows"] / floor.wall_s)}
    results["backfill_vs_floor"] = round(backfill.wall_s / floor.wall_s, 2)
    results["steps_3_4_vs_floor_script"] = round(steps_34 / floor.output["total_s"], 2)
    save()

    # 3. one new night on top of one year, then of two years, alternating twice so that both
    # meet the same machine (a re-run of a night replaces the same days: the same work); the
    # faster of each pair counts
    nightly = ((one, data.day(365), "nightly_1y", "nightly on 1 year"),
               (two, data.day(HISTORY_DAYS), "nightly_2y", "nightly on 2 years"))
    nights: dict[str, list[Measured]] = {"nightly_1y": [], "nightly_2y": []}
    for space, new_day, _, _ in nightly:
        space.drop_until(data, new_day)
    for _ in range(2):
        for space, new_day, key, label in nightly:
            nights[key].append(pipeline(space, new_day - dt.timedelta(days=lookback), new_day,
                                        label, job="sevenstep_nightly"))
            best = min(nights[key], key=lambda m: m.wall_s)
            results[key] = {**summary(best), "day": new_day.isoformat(),
                            "lookback_days": lookback,
                            "walls_s": [round(m.wall_s, 2) for m in nights[key]]}
            save()
    fastest = {key: min(m.wall_s for m in measured) for key, measured in nights.items()}
    results["nightly_growth"] = round(fastest["nightly_2y"] / fastest["nightly_1y"], 2)
    save()
    shutil.rmtree(one.folder, ignore_errors=True)
    shutil.rmtree(two.folder, ignore_errors=True)

    # 4. Dagster's cost: steps 3-4 over 30 days as one run and as a run per day, recorded in
    # the SQLite instance of $DAGSTER_HOME like the CLI's runs, and once in memory (the cost of
    # writing an event per asset and day to SQLite)
    last = data.day(OVERHEAD_DAYS - 1)
    walls = {}
    for label, per_day, ephemeral in (("one run", False, False),
                                      ("one run per day", True, False),
                                      ("one run, in-memory instance", False, True)):
        space = workspace.create(work / "overhead", data)
        space.drop_until(data, last)
        pipeline(space, data.first, data.first, f"steps 1-2 for '{label}'",
                 groups=("step1_strategy", "step2_measures"), ephemeral=True)
        measured = pipeline(space, data.first, last, f"{OVERHEAD_DAYS} days, {label}",
                            per_day=per_day, ephemeral=ephemeral,
                            groups=("step3_gather", "step4_process"))
        walls[label] = summary(measured)
        results[f"overhead_{label}"] = walls[label]
        save()
        shutil.rmtree(space.folder, ignore_errors=True)
    one_run, per_day, memory = (walls["one run"], walls["one run per day"],
                                walls["one run, in-memory instance"])
    for label in walls:
        results.pop(f"overhead_{label}")
    results["overhead"] = {
        "days": OVERHEAD_DAYS, "one_run": one_run, "run_per_day": per_day,
        "one_run_in_memory": memory,
        "ratio": round(float(per_day["run_wall_s"]) / float(one_run["run_wall_s"]), 2),
        "per_extra_run_s": round((float(per_day["run_wall_s"]) - float(one_run["run_wall_s"]))
                                 / (OVERHEAD_DAYS - 1), 2),
        "sqlite_ms_per_event": round(1000 * (float(one_run["run_wall_s"])
                                             - float(memory["run_wall_s"]))
                                     / max(int(one_run["events"]), 1), 1)}
    return results


def table(report: dict) -> str:
    m = report["measurements"]
    cores = report["machine"]["cores"]
    rows = [
        ("full backfill, 2 years, one run (*)", f"{m['backfill']['wall_s']:,.0f} s",
         f"{m['backfill']['rows']:,} raw rows, {m['backfill']['rows_per_s']:,} rows/s, "
         f"peak {m['backfill']['peak_mib']:,} MiB"),
        ("floor: one DuckDB script", f"{m['floor']['wall_s']:,.0f} s",
         f"{m['floor']['rows_per_s']:,} rows/s, peak {m['floor']['peak_mib']:,} MiB"),
        ("backfill / floor", f"{m['backfill_vs_floor']:.1f}x",
         f"target <= {TARGETS['backfill_vs_floor']:.0f}x (steps 3-4 alone / floor script: "
         f"{m['steps_3_4_vs_floor_script']:.1f}x)"),
        ("backfill, 1 year, one run (*)", f"{m['backfill_1y']['wall_s']:,.0f} s",
         f"{m['backfill_1y']['rows']:,} raw rows, peak {m['backfill_1y']['peak_mib']:,} MiB"),
        ("nightly on 1 year", f"{m['nightly_1y']['wall_s']:,.1f} s",
         f"day {m['nightly_1y']['day']} + {m['nightly_1y']['lookback_days']} look-back days, "
         f"start-up {m['nightly_1y']['startup_s']:.1f} s, peak {m['nightly_1y']['peak_mib']:,}"
         " MiB"),
        ("nightly on 2 years", f"{m['nightly_2y']['wall_s']:,.1f} s",
         f"start-up {m['nightly_2y']['startup_s']:.1f} s, peak "
         f"{m['nightly_2y']['peak_mib']:,} MiB; target < {TARGETS['nightly_wall_s']:.0f} s"),
        ("nightly 2 years / 1 year", f"{m['nightly_growth']:.2f}x",
         f"target <= {TARGETS['nightly_growth']}x (each night run twice, alternating: "
         f"{m['nightly_1y'].get('walls_s', '-')} / {m['nightly_2y'].get('walls_s', '-')} s; "
         "the faster counts)"),
        (f"steps 3-4, {m['overhead']['days']} days, one run",
         f"{m['overhead']['one_run']['run_wall_s']:,.1f} s", ""),
        (f"steps 3-4, {m['overhead']['days']} days, one run per day",
         f"{m['overhead']['run_per_day']['run_wall_s']:,.1f} s",
         f"{m['overhead']['ratio']:.1f}x; {m['overhead']['per_extra_run_s']:.1f} s per extra run"),
        (f"steps 3-4, {m['overhead']['days']} days, one run, in-memory instance",
         f"{m['overhead']['one_run_in_memory']['run_wall_s']:,.1f} s",
         f"SQLite event log: {m['overhead']['one_run']['events']:,} events, "
         f"{m['overhead']['sqlite_ms_per_event']:.0f} ms each"),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"sevenstep benchmark, scale {report['scale']} (seed {report['seed']}, "
             f"{report['dataset']['rows_total']:,} source rows in {report['dataset']['files']:,} "
             f"{report['dataset']['format']} files), {report['date']}, {cores} cores, "
             f"load average {report['machine']['load_before']} before / "
             f"{report['machine']['load_after']} after",
             "", f"| {'measurement':<{width}} | {'result':>9} | notes |",
             f"|{'-' * (width + 2)}|{'-' * 11}|-------|"]
    lines += [f"| {a:<{width}} | {b:>9} | {c} |" for a, b, c in rows]
    lines += ["", "(*) recorded in an in-memory Dagster instance; recorded in the SQLite one of "
              "$DAGSTER_HOME, as the CLI does, each of the run's events "
              f"({m['backfill']['events']:,} for the 2-year backfill) costs about the "
              "milliseconds of the last row more."]
    lines += ["", "where the time goes (seconds per step group, from the runs' event logs):"]
    for key in ("backfill", "nightly_1y", "nightly_2y"):
        groups = ", ".join(f"{g.removeprefix('step')} {s:,.1f}" for g, s in
                           m[key]["groups_s"].items())
        steps = ", ".join(f"{s} {v:,.1f}" for s, v in m[key]["slowest_steps_s"].items())
        lines.append(f"- {key}: start-up {m[key]['startup_s']:.1f}; {groups}")
        lines.append(f"  slowest steps: {steps}")
    floor = ", ".join(f"{k} {v:,.1f}" for k, v in m["floor"]["phases_s"].items())
    lines.append(f"- floor script: {floor}")
    return "\n".join(lines)


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=list(SCALES), default="S")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--keep", action="store_true", help="keep the workspaces")
    parser.add_argument("--table", type=Path, metavar="RESULTS_JSON",
                        help="only print the table of an earlier run's results file")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(args.table.read_text(encoding="utf-8"))))
        return
    began = time.perf_counter()
    load_before = _load()
    data = dataset(args.seed, args.scale, args.format, log=log)
    work = data.folder.parent / "work"
    work.mkdir(exist_ok=True)
    measurements: dict[str, object] = {}
    report = {
        "date": dt.date.today().isoformat(), "scale": args.scale, "seed": args.seed,
        "complete": False,
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "load_before": load_before},
        "dataset": {"format": data.fmt, "files": data.files, "bytes": data.bytes,
                    "rows": data.rows, "rows_total": sum(data.rows.values()),
                    "generated_s": data.generated_s},
        "measurements": measurements, "targets": TARGETS,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{report['date']}-{args.scale}.json"

    def save() -> None:
        report["machine"]["load_after"] = _load()  # type: ignore[index]
        report["harness_s"] = round(time.perf_counter() - began, 1)
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    try:
        measure_all(data, work, measurements, save)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report["complete"] = True
    save()
    print()
    print(table(report))
    print(f"\nharness: {report['harness_s']:,.0f} s; results in "
          f"{path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    main()
