"""Clean-layer throughput: step 4 cleaning of N synthetic incidents, and what validation adds.

Prints wall time, rows/s and peak memory for (1) the cleaning SQL of clean_range, (2) the
checks that guard it (pandera contract, reconciliation, quarantine share), next to (3) a
reference measured in the same run: one bare DuckDB statement that parses the same raw rows
into a typed table, the least any cleaning could cost.

    .venv/bin/python -m benchmarks.clean_layer --incidents 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

from assets.step3_gather.synthetic import insert_frames
from assets.step4_process.cleaning import clean_range, quarantine_share, reconciliation
from assets.step4_process.entities import INCIDENTS
from quality.schemas import CLEAN_TABLES, QUARANTINE, ddl
from quality.validation import validate_partitions
from resources.settings import sources
from resources.synthetic_data import SyntheticParams, generate_day

DAYS = 730


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_raw(con: duckdb.DuckDBPyConnection, incidents: int, start: dt.date) -> int:
    params = SyntheticParams(incidents_per_day=incidents / DAYS / 0.8, as_of=dt.datetime.combine(
        start + dt.timedelta(days=DAYS), dt.time()))
    lineage = {"source": "synthetic", "loaded_at": params.as_of, "query": "benchmark"}
    written, batch = 0, []
    for n in range(DAYS):
        day = start + dt.timedelta(days=n)
        frame = generate_day(params, day)["incidents"].copy()
        frame["_partition"] = day
        frame["_row"] = range(1, len(frame) + 1)
        batch.append(frame)
        if len(batch) == 61 or n == DAYS - 1:
            written += insert_frames(con, "synthetic_incidents", batch, lineage)
            batch = []
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    args = parser.parse_args()
    os.environ.setdefault("SEVENSTEP_PSEUDONYM_SALT", "benchmark-salt-0123456789")
    start = dt.date(2024, 1, 1)
    end = start + dt.timedelta(days=DAYS)
    folder = Path(tempfile.mkdtemp(prefix="sevenstep-bench-"))
    con = duckdb.connect(str(folder / "bench.duckdb"))
    for schema in ("raw", "clean"):
        con.execute(f"CREATE SCHEMA {schema}")
    began = time.perf_counter()
    rows = load_raw(con, args.incidents, start)
    generate_s = time.perf_counter() - began

    source = sources().sources[0]
    con.execute(ddl("clean", "incidents", CLEAN_TABLES["incidents"]))
    con.execute(ddl("clean", "incidents_quarantine", QUARANTINE))
    began = time.perf_counter()
    con.begin()
    counts = clean_range(con, INCIDENTS, [source], start, end)
    con.commit()
    clean_s = time.perf_counter() - began
    clean_peak = peak_mb()

    began = time.perf_counter()
    ok, _ = validate_partitions(con, "incidents", CLEAN_TABLES["incidents"], start, end)
    mismatches = reconciliation(con, "incidents", [source], start, end)
    over = quarantine_share(con, "incidents", start, end)
    validate_s = time.perf_counter() - began

    began = time.perf_counter()
    con.execute("""CREATE TABLE reference AS SELECT number,
        try_strptime(opened_at, '%Y-%m-%d %H:%M:%S') AS opened_at,
        try_strptime(resolved_at, '%Y-%m-%d %H:%M:%S') AS resolved_at,
        try_cast(reassignment_count AS INTEGER) AS reassignments, priority, state
        FROM raw.synthetic_incidents""")
    reference_s = time.perf_counter() - began

    table = pd.DataFrame([
        ("reference: one typed CTAS", reference_s, rows / reference_s),
        ("clean_range (cleaning SQL)", clean_s, rows / clean_s),
        ("checks (pandera, reconciliation, quarantine share)", validate_s, rows / validate_s),
    ], columns=["stage", "wall_s", "rows_per_s"])
    print(f"cores: {os.cpu_count()}  raw incidents: {rows:,}  clean: {counts['clean']:,}  "
          f"quarantined: {counts['quarantined']:,}  (generated in {generate_s:.1f} s)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    print(f"cleaning / reference: {clean_s / reference_s:.1f}x   checks add "
          f"{validate_s / clean_s:.0%} to cleaning   peak RSS after cleaning {clean_peak:,.0f} MB, "
          f"end {peak_mb():,.0f} MB   contract ok={ok} reconciled={not mismatches} "
          f"days over quarantine limit={len(over)}")


if __name__ == "__main__":
    main()
