"""Precision and recall of step 5 over several seeds of the synthetic source.

Runs steps 1-5 of the real Dagster definitions over DAYS days (40 incidents per weekday) for
each seed, with and without the injected events, and scores analysis.findings against the
ground truth (assets/step5_analyze/accuracy.py).

    .venv/bin/python benchmarks/analysis_accuracy.py --seeds 1 2 3 --days 120

Prints one line per run and the totals. Not part of the test suite (about a minute per run).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
AS_OF = dt.datetime(2026, 6, 1)
GROUPS = ("step1_strategy", "step2_measures", "step3_gather", "step4_process", "step5_analyze")


def _source(seed: int, events: bool):
    from resources.synthetic import SyntheticSource

    class Source(SyntheticSource):
        """The synthetic source with the injected events switched on or off."""

        def params(self):
            return dataclasses.replace(super().params(), events=events)

    return Source(as_of=AS_OF.isoformat(), incidents_per_day=40.0, seed=seed)


def run(folder: Path, seed: int, days: int, events: bool):
    """Steps 1-5 over `days` days ending the day before AS_OF; returns (findings, params)."""
    from pipelines.definitions import defs
    from pipelines.runner import failure_summary, run_range
    from resources.report_store import ReportStore
    from resources.warehouse import Warehouse

    graph = defs.resolve_asset_graph()
    selection = [k for k in graph.get_all_asset_keys() if graph.get(k).group_name in GROUPS]
    source = _source(seed, events)
    resources = {"warehouse": Warehouse(path=str(folder / "warehouse.duckdb")),
                 "synthetic": source,
                 "report_store": ReportStore(directory=str(folder / "reports"))}
    last = AS_OF.date() - dt.timedelta(days=1)
    result = run_range(last - dt.timedelta(days=days - 1), last, resources=resources,
                       selection=selection, dagster_instance=dg.DagsterInstance.ephemeral(),
                       log_level="ERROR")
    if not result.success:
        raise RuntimeError(failure_summary(result))
    with duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True) as con:
        findings = con.execute("SELECT * FROM analysis.findings").df()
    return findings, source.params()


def _listed(rows: list[dict]) -> list[tuple[str, str, str]]:
    return [(r["kind"], r["scope"], str(r["day"])[:10]) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--days", type=int, default=120, help="days of a run with events")
    parser.add_argument("--quiet-days", type=int, default=180, help="days of a run without")
    args = parser.parse_args()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    from assets.step5_analyze.accuracy import alarms, score
    from resources.synthetic_data import scenario

    found = events = alarm_total = false_total = quiet_alarms = 0
    for seed in args.seeds:
        for with_events in (True, False):
            with tempfile.TemporaryDirectory() as tmp:
                os.environ["SEVENSTEP_DATA_DIR"] = tmp
                started = time.time()
                findings, params = run(Path(tmp), seed,
                                       args.days if with_events else args.quiet_days,
                                       with_events)
                took = time.time() - started
            if with_events:
                s = score(findings, scenario(params))
                found, events = found + s["found"], events + s["events"]
                alarm_total, false_total = alarm_total + s["alarms"], false_total + s[
                    "false_alarms"]
                missed = [m.event.kind for m in s["matches"] if m.finding_id is None]
                offs = {m.event.kind: m.days_off for m in s["matches"] if m.finding_id}
                print(f"seed {seed} events: found {s['found']}/{s['events']} (missed "
                      f"{missed or 'none'}), days off {offs}, alarms {s['alarms']}, "
                      f"false {s['false_alarms']} {_listed(s['false'])} "
                      f"({took:.0f} s)")
            else:
                quiet = alarms(findings)
                quiet_alarms += len(quiet)
                print(f"seed {seed} no events: {len(quiet)} alarms "
                      f"{_listed(quiet.to_dict('records'))}"
                      f" ({took:.0f} s)")
    print(f"recall {found}/{events} = {found / events:.2f}; precision "
          f"{alarm_total - false_total}/{alarm_total} = "
          f"{(alarm_total - false_total) / max(alarm_total, 1):.2f}; alarms without events: "
          f"{quiet_alarms} over {len(args.seeds)} runs of {args.quiet_days} days")


if __name__ == "__main__":
    main()
