"""The floor: raw -> clean -> daily KPI facts over the benchmark's files as one DuckDB script.

benchmarks/floor.sql is the hand-written raw and clean part (every file read once, typed,
validated, the newest version of each key kept, the rest quarantined); the daily KPI facts are
then computed over the whole range with the catalogue's own queries (assets/kpi_sql.py), the same
SQL the pipeline runs, since writing 33 formulas twice would measure a copy of them instead.
The small configuration tables those queries join (strategy.services, strategy.service_levels)
are copied from the pipeline's warehouse.

Run as a child of benchmarks/run.py with the workspace's environment; prints one JSON line with
the seconds of each phase.

    python -m benchmarks.floor --data FOLDER --last YYYY-MM-DD --db FILE --strategy-from FILE
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

FLOOR_SQL = Path(__file__).with_name("floor.sql")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def script(data: Path, last: dt.date, fmt: str) -> str:
    """floor.sql with the file lists of days up to `last` and the calendar's SQL filled in."""
    from benchmarks.dataset import DATE_COLUMNS
    from resources.business_calendar import incident_business_columns

    values: dict[str, str] = {}
    for entity, (updated, created) in DATE_COLUMNS.items():
        files = sorted(str(p) for p in (data / entity).iterdir()
                       if dt.date.fromisoformat(p.stem) <= last)
        values[f"files_{entity}"] = "[" + ", ".join(_literal(f) for f in files) + "]"
        parsed = [f"try_strptime(nullif(trim(\"{c}\"), ''), {_literal(fmt)})"
                  for c in (updated, created)]
        day_of_file = "CAST(regexp_extract(filename, '([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) AS DATE)"
        values[f"partition_{entity}"] = f"coalesce(CAST(coalesce({', '.join(parsed)}) AS DATE), " \
                                        f"{day_of_file})"
    business = incident_business_columns()
    values["business_acknowledge"] = business["minutes_to_acknowledge_business"]
    values["business_resolve"] = business["minutes_to_resolve_business"]
    text = FLOOR_SQL.read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


def statements(text: str) -> list[str]:
    """The script's statements (no semicolon occurs inside one)."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--first", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--last", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--strategy-from", required=True, type=Path)
    args = parser.parse_args()

    import duckdb

    from assets.kpi_sql import kpi_queries
    from quality.schemas import KPI_DAILY, ddl
    from resources.business_calendar import business_calendar
    from resources.pseudonyms import pseudonym_salt
    from resources.settings import kpis, sources

    source = sources().sources[0]
    spent: dict[str, float] = {}
    args.db.unlink(missing_ok=True)
    con = duckdb.connect(str(args.db))
    for schema in ("raw", "clean", "strategy"):
        con.execute(f"CREATE SCHEMA {schema}")
    con.execute(f"ATTACH {_literal(str(args.strategy_from))} AS pipeline (READ_ONLY)")
    for table in ("services", "service_levels"):
        con.execute(f"CREATE TABLE strategy.{table} AS SELECT * FROM pipeline.strategy.{table}")
    con.execute("DETACH pipeline")
    con.execute("CREATE TABLE _map (mapping VARCHAR, code VARCHAR, canonical VARCHAR)")
    con.executemany("INSERT INTO _map VALUES (?, ?, ?)",
                    [(m, c, v) for m, codes in source.mappings.items() for c, v in codes.items()])
    began = time.perf_counter()
    params = {"fmt": source.timestamp_format, "salt": pseudonym_salt()}
    for sql in statements(script(args.data, args.last, source.timestamp_format)):
        phase = "raw" if sql.startswith("CREATE TABLE raw.") else "clean"
        started = time.perf_counter()
        used = {k: v for k, v in params.items() if f"${k}" in sql}
        con.execute(sql, used)
        spent[phase] = spent.get(phase, 0.0) + time.perf_counter() - started
    started = time.perf_counter()
    calendar = business_calendar()
    con.execute(ddl("clean", "kpi_daily", KPI_DAILY))
    con.execute(calendar.macro_sql())
    window = {"start": args.first, "end": args.last + dt.timedelta(days=1)}
    for kpi in kpis().kpis:
        for _, sql in kpi_queries(kpi, calendar):
            con.execute(f"INSERT INTO clean.kpi_daily {sql}", window)
    spent["kpi_facts"] = time.perf_counter() - started
    rows = {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0])
            for t in ("raw.incidents", "clean.incidents", "clean.kpi_daily")}
    raw_rows = sum(int(con.execute(f"SELECT count(*) FROM raw.{e}").fetchall()[0][0])
                   for e in ("incidents", "changes", "problems", "outages", "surveys"))
    con.close()
    print(json.dumps({"phases": spent, "total_s": time.perf_counter() - began,
                      "rows": rows, "raw_rows": raw_rows}), flush=True)


if __name__ == "__main__":
    main()
