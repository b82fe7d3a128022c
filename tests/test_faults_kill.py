"""A run killed with SIGKILL while it writes leaves the warehouse as it was, and the next run
converges to what an uninterrupted run writes (issue 11).

The real assets of steps 3 and 4 (the synthetic source's gather, the clean tables of changes
and outages) run over 62 days in a child process; the parent reads its log and kills it
(SIGKILL: no cleanup, no rollback by Python) at a moment the log proves work is under way:

1. during gathering: after "gathered 31/62 days" the raw tables hold 31 deleted-and-reinserted
   days that are not committed yet;
2. during cleaning: clean.changes has been rewritten and clean.outages is starting.

Tables are compared row for row; `_loaded_at` (the load time, which every run sets anew, also
inside the quarantine's raw_row JSON) is left out of comparisons across runs, but not of the one
straight after the first kill.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb

ROOT = Path(__file__).resolve().parents[1]
FIRST, LAST = dt.date(2026, 3, 1), dt.date(2026, 5, 1)  # 62 days: two gather batches of 31
ENTITIES = ("changes", "outages")  # the cheapest clean steps; incidents add only checks
AS_OF = "2026-06-01T00:00:00"
VOLUME = 3.0


def run(folder: str, steps: str = "gather,clean") -> bool:
    """The real gather and/or clean assets over FIRST..LAST into `folder`, as one ranged run
    (also the entry point of the child process; only the step modules it needs are loaded)."""
    from assets.step3_gather.synthetic import build_synthetic_gather
    from assets.step4_process.clean_assets import build_clean_asset
    from assets.step4_process.entities import ENTITY_SPECS
    from pipelines.runner import range_tags
    from resources.settings import sources
    from resources.synthetic import SyntheticSource
    from resources.warehouse import Warehouse

    chosen, selection = [], []
    if "gather" in steps:
        chosen.append(build_synthetic_gather(sources().get("synthetic")))
        selection += [dg.AssetKey(["raw", f"synthetic_{e}"]) for e in ENTITIES]
    if "clean" in steps:
        chosen += [build_clean_asset(ENTITY_SPECS[e]) for e in ENTITIES]
        selection += [dg.AssetKey(["clean", n]) for e in ENTITIES for n in (e, f"{e}_quarantine")]
    result = dg.materialize(
        chosen, selection=selection, tags=range_tags(FIRST, LAST), raise_on_error=False,
        resources={"warehouse": Warehouse(path=str(Path(folder) / "warehouse.duckdb")),
                   "synthetic": SyntheticSource(as_of=AS_OF, incidents_per_day=VOLUME)},
        instance=dg.DagsterInstance.ephemeral())
    return result.success


def run_and_kill(folder: Path, steps: str, trigger: str) -> list[str]:
    """Start the run in a child process, SIGKILL it on the first log line containing
    `trigger`; returns everything it logged."""
    env = {**os.environ, "SEVENSTEP_DATA_DIR": str(folder), "GX_ANALYTICS_ENABLED": "False",
           "PYTHONPATH": str(ROOT)}
    code = (f"import sys; from tests.test_faults_kill import run; "
            f"sys.exit(0 if run(*{json.dumps([str(folder), steps])}) else 1)")
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: list[str] = []
    try:
        assert child.stderr is not None
        for line in child.stderr:
            seen.append(line)
            if trigger in line:
                child.send_signal(signal.SIGKILL)
                break
        seen += child.stderr.readlines()  # whatever it logged before the signal landed
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, "".join(seen[-20:])
    return seen


def snapshot(folder: Path, with_load_times: bool) -> dict[str, list[tuple]]:
    """Every table of the raw and clean schemas as sorted rows, optionally without load times.
    Opened read-write, as the next run would: DuckDB replays its write-ahead log here."""
    with duckdb.connect(str(folder / "warehouse.duckdb")) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('raw', 'clean') AND table_type = 'BASE TABLE' "
            "ORDER BY 1").fetchall()]
        out = {}
        for table in tables:
            frame = con.execute(f"SELECT * FROM {table}").df()
            if not with_load_times:
                frame = frame.drop(columns=["_loaded_at"], errors="ignore")
                if "raw_row" in frame:
                    frame["raw_row"] = [json.dumps({k: v for k, v in json.loads(r).items()
                                                    if k != "_loaded_at"}, sort_keys=True)
                                        for r in frame["raw_row"]]
            out[table] = sorted(frame.astype(str).itertuples(index=False, name=None))
        return out


def test_a_killed_run_leaves_the_warehouse_as_it_was_and_a_rerun_converges(
        tmp_path: Path) -> None:
    assert run(str(tmp_path))
    exact = snapshot(tmp_path, with_load_times=True)
    uninterrupted = snapshot(tmp_path, with_load_times=False)
    assert len(exact["clean.changes"]) > 10 and len(exact["clean.outages"]) > 10

    # 1. Killed with 31 of 62 days deleted and re-inserted but not committed.
    log = run_and_kill(tmp_path, "gather", "synthetic: gathered 31/62 days")
    assert not any("gathered 62/62" in line for line in log)
    assert snapshot(tmp_path, with_load_times=True) == exact

    # 2. Killed in the clean layer: clean.changes is rewritten, clean.outages is being
    #    replaced. No table is half-written.
    log = run_and_kill(tmp_path, "clean", 'Started execution of step "clean_outages"')
    assert any("clean.changes 2026-03-01..2026-05-02" in line for line in log)
    assert snapshot(tmp_path, with_load_times=True) == exact

    # 3. The re-run converges to the uninterrupted run.
    assert run(str(tmp_path))
    assert snapshot(tmp_path, with_load_times=False) == uninterrupted
