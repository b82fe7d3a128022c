"""Rows/s and peak memory of step 3 loading 1 million rows from a CSV drop and from a PostgreSQL
table into raw, through the real gather asset (staging, the day partitions, the transaction and
the source-contract check).

    .venv/bin/python -m benchmarks.gather_sources [--rows 1000000]

Inputs are generated once: the CSV under benchmarks/cache/ (gitignored), the table
`bench_incidents` in database `test` of the local PostgreSQL. Each load runs in its own child
process so its peak RSS (from os.wait4's resource usage) is its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parent / "cache"
FIRST, LAST = dt.date(2025, 1, 1), dt.date(2025, 12, 31)
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _select(series: str, text: str) -> str:
    """The same incidents in DuckDB and PostgreSQL SQL; `text` formats a timestamp `{}`."""
    opened = "TIMESTAMP '2025-01-01' + (i * INTERVAL '31 second')"
    updated = f"{opened} + INTERVAL '3 hour'"
    return f"""SELECT 'INC' || lpad(CAST(i AS VARCHAR), 8, '0') AS number,
  'Service ' || (i % 20) AS business_service, 'Group ' || (i % 12) AS assignment_group,
  'Category ' || (i % 9) AS category, (1 + i % 5) || ' - Label' AS priority,
  CASE WHEN i % 3 = 0 THEN 'Closed' ELSE 'In Progress' END AS state,
  {text.format(opened)} AS opened_at, {text.format(updated)} AS resolved_at,
  {text.format(updated)} AS sys_updated_on,
  CAST(i % 600 AS VARCHAR) AS hold_duration, CAST(i % 4 AS VARCHAR) AS reassignment_count,
  'Synthetic incident number ' || i || ', with a comma' AS short_description
FROM {series}"""


def make_csv(n: int) -> Path:
    import duckdb

    path = CACHE / f"incidents_{n}.csv"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        query = _select(f"range(1, {n + 1}) t(i)", "strftime({}, '%Y-%m-%d %H:%M:%S')")
        duckdb.sql(f"COPY ({query}) TO '{path}' (HEADER)")
    return path


def make_table(n: int) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL)
    with engine.begin() as con:
        exists = con.execute(sa.text("SELECT to_regclass('bench_incidents')")).scalar()
        if exists and con.execute(sa.text("SELECT count(*) FROM bench_incidents")).scalar() == n:
            return
        con.execute(sa.text("DROP TABLE IF EXISTS bench_incidents"))
        con.execute(sa.text(
            f"CREATE TABLE bench_incidents AS SELECT number, business_service, "
            f"assignment_group, category, priority, state, opened_at, resolved_at, "
            f"sys_updated_on, hold_duration::int AS hold_duration, reassignment_count::int AS "
            f"reassignment_count, short_description FROM ("
            f"{_select(f'generate_series(1, {n}) AS t(i)', '{}')}) s"))
        con.execute(sa.text("CREATE INDEX ON bench_incidents (sys_updated_on)"))
    engine.dispose()


def load(kind: str, n: int) -> None:
    """Child process: one real gather run over the whole year into a fresh warehouse."""
    import dagster as dg

    from assets.step3_gather.gather import build_source_gather
    from pipelines.runner import RANGE_END, RANGE_START
    from resources.config_models import SourceConfig
    from resources.warehouse import Warehouse

    if kind == "csv":
        config = SourceConfig.model_validate({
            "name": "bench", "kind": "files", "preset": "servicenow", "entities": ["incidents"],
            "files": {"folder": str(CACHE), "patterns": {"incidents": f"incidents_{n}.csv"}}})
    else:
        os.environ["BENCH_PG_URL"] = PG_URL
        config = SourceConfig.model_validate({
            "name": "bench", "kind": "sql", "preset": "servicenow", "entities": ["incidents"],
            "sql": {"url_env": "BENCH_PG_URL", "tables": {"incidents": "bench_incidents"}}})
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        result = dg.materialize(
            [build_source_gather(config)],
            resources={"warehouse": Warehouse(path=str(Path(folder) / "w.duckdb"))},
            tags={RANGE_START: FIRST.isoformat(), RANGE_END: LAST.isoformat()},
            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
        wall = time.perf_counter() - began
        loaded = next(e.materialization.metadata["rows_loaded"].value
                      for e in result.get_asset_materialization_events())
    print(f"{kind}\t{loaded}\t{wall:.2f}\t{result.success}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", choices=["csv", "sql"])
    args = parser.parse_args()
    if args.child:
        load(args.child, args.rows)
        return
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    print(f"generating inputs ({args.rows:,} rows) ...", flush=True)
    size = make_csv(args.rows).stat().st_size
    make_table(args.rows)
    print(f"{'source':<12}{'rows':>12}{'wall s':>10}{'rows/s':>12}{'peak RSS MiB':>15}")
    for kind, label in (("csv", f"CSV {size / 2**20:.0f} MiB"), ("sql", "PostgreSQL")):
        child = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.gather_sources", "--rows", str(args.rows),
             "--child", kind], stdout=subprocess.PIPE, text=True,
            stderr=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[1])
        output = child.stdout.read() if child.stdout else ""
        _, status, usage = os.wait4(child.pid, 0)
        fields = output.strip().splitlines()[-1].split("\t") if output.strip() else []
        if status != 0 or len(fields) != 4 or fields[3] != "True":
            raise SystemExit(f"{label}: the load failed ({output.strip() or status})")
        rows, wall = int(fields[1]), float(fields[2])
        print(f"{label:<12}{rows:>12,}{wall:>10.1f}{rows / wall:>12,.0f}"
              f"{usage.ru_maxrss / 1024:>15,.0f}", flush=True)


if __name__ == "__main__":
    main()
