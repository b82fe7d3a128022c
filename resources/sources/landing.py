"""Landing staged rows into raw.<source>_<entity>: the day partition and the atomic replace.

Every reader fills a DuckDB staging table with the source's columns as text plus `_row` (the
source line or row number), `_file` or `_query` (where the row came from) and `_error` (why a
row could not be parsed, with its raw text). This module gives each staged row its partition,
the UTC day on which it was last updated at the source (else created), and replaces exactly the
run's days of the raw table in one transaction: a run that dies half-way leaves the previous
contents, a re-run leaves the same rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from resources.warehouse import scalar

LINEAGE_COLUMNS: dict[str, str] = {
    "_source": "VARCHAR", "_partition": "DATE", "_row": "BIGINT", "_loaded_at": "TIMESTAMP",
    "_query": "VARCHAR", "_file": "VARCHAR", "_error": "VARCHAR",
}
"""Lineage every raw table carries; a source column never starts with an underscore here."""

STAGE_LINEAGE = ("_row", "_file", "_query", "_error", "_partition")

LOAD_LOG_DDL = """
CREATE TABLE IF NOT EXISTS raw._files (
  source VARCHAR, entity VARCHAR, path VARCHAR, sha256 VARCHAR, size BIGINT, mtime_ns BIGINT,
  first_partition DATE, last_partition DATE, rows BIGINT, rejected BIGINT,
  duplicate_of VARCHAR, loaded_at TIMESTAMP, PRIMARY KEY (source, entity, path))"""

WATERMARK_DDL = """
CREATE TABLE IF NOT EXISTS raw._watermarks (
  source VARCHAR, entity VARCHAR, "column" VARCHAR, high_water_mark TIMESTAMP,
  updated_at TIMESTAMP, PRIMARY KEY (source, entity))"""


class SourceReadError(RuntimeError):
    """A source (a file, a table, an API) cannot be read at all; the message names it and why."""


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    """Column names of a table in creation order (temp tables live in schema `main` of temp)."""
    return [r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
        "ORDER BY column_index", [schema, table]).fetchall()]


def source_columns(con: duckdb.DuckDBPyConnection, stage: str) -> list[str]:
    return [c for c in table_columns(con, "main", stage) if not c.startswith("_")]


def bind(sql: str, params: dict[str, object]) -> dict[str, object]:
    """The named parameters `sql` uses: DuckDB refuses a statement given unused ones."""
    return {k: v for k, v in params.items() if re.search(rf"\${k}\b", sql)}


def partition_expression(columns: Sequence[str], present: set[str], utc: bool = False) -> str:
    """SQL for a row's UTC partition day from the first of `columns` that parses with the bound
    $fmt in the source timezone $tz (not used when `utc`: the source's own time is UTC); NULL
    when none does (the caller supplies a fallback)."""
    lowered = {c.lower(): c for c in present}
    parsed = [f"try_strptime({quote(lowered[c.lower()])}, $fmt)" for c in columns
              if c.lower() in lowered]
    if not parsed:
        return "CAST(NULL AS DATE)"
    stamp = parsed[0] if len(parsed) == 1 else f"coalesce({', '.join(parsed)})"
    if utc:  # the conversion costs more than the parsing: skipped when there is none to do
        return f"CAST({stamp} AS DATE)"
    return f"CAST(timezone('UTC', timezone($tz, {stamp})) AS DATE)"


def is_utc(tz: str) -> bool:
    return tz in ("UTC", "Etc/UTC")


def add_partitions(
    con: duckdb.DuckDBPyConnection, stage: str, columns: Sequence[str], fmt: str, tz: str,
    fallback: dt.date | None,
) -> None:
    """Set `_partition` of staged rows that have none yet (a reader that computed it while
    staging leaves nothing to rewrite); rows without a parseable date get `fallback`."""
    present = set(source_columns(con, stage))
    expr = partition_expression(columns, present, is_utc(tz))
    sql = (f"UPDATE {quote(stage)} SET _partition = coalesce({expr}, $fallback) "
           "WHERE _partition IS NULL")
    con.execute(sql, bind(sql, {"fmt": fmt, "tz": tz, "fallback": fallback}))


def create_stage(con: duckdb.DuckDBPyConnection, stage: str, columns: Sequence[str]) -> None:
    """An empty staging table: the source columns as text plus the staging lineage."""
    cols = [f"{quote(c)} VARCHAR" for c in columns]
    cols += ["_row BIGINT", "_file VARCHAR", "_query VARCHAR", "_error VARCHAR",
             "_partition DATE"]
    con.execute(f"CREATE OR REPLACE TEMP TABLE {quote(stage)} ({', '.join(cols)})")


def add_missing_columns(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, columns: Sequence[str],
    types: dict[str, str] | None = None,
) -> None:
    """Add the columns a table lacks (compared case-insensitively, as DuckDB does)."""
    existing = {c.lower() for c in table_columns(con, schema, table)}
    for column in columns:
        if column.lower() not in existing:
            kind = (types or {}).get(column, "VARCHAR")
            con.execute(f"ALTER TABLE {schema}.{quote(table)} ADD COLUMN {quote(column)} {kind}")
            existing.add(column.lower())


def append_stage(con: duckdb.DuckDBPyConnection, target: str, part: str) -> None:
    """Append one file's staging table to the run's, adding columns a later file brings."""
    add_missing_columns(con, "main", target, source_columns(con, part))
    con.execute(f"INSERT INTO {quote(target)} BY NAME SELECT * FROM {quote(part)}")


def ensure_raw_table(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str]) -> None:
    """Create raw.<table> on first load; add lineage and source columns a source starts sending
    later. Runs outside the replacing transaction (DuckDB alters tables best on their own)."""
    lineage = ", ".join(f"{c} {t}" for c, t in LINEAGE_COLUMNS.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS raw.{quote(table)} ({lineage})")
    add_missing_columns(con, "raw", table, list(LINEAGE_COLUMNS), LINEAGE_COLUMNS)
    add_missing_columns(con, "raw", table, columns)


@dataclass(frozen=True)
class Landed:
    rows: int
    rejected: int
    days: int


def replace_partitions(
    con: duckdb.DuckDBPyConnection, table: str, stage: str | None, start: dt.date,
    end: dt.date, source: str, loaded_at: dt.datetime,
) -> Landed:
    """Delete raw.<table>'s rows of days [start, end) and insert the staged rows of those days.
    The caller owns the transaction, so several tables and the load log commit together."""
    con.execute(f"DELETE FROM raw.{quote(table)} WHERE _partition >= ? AND _partition < ?",
                [start, end])
    if stage is None:
        return Landed(0, 0, 0)
    con.execute(
        f"INSERT INTO raw.{quote(table)} BY NAME SELECT *, $source AS _source, "
        f"$loaded_at AS _loaded_at FROM {quote(stage)} "
        "WHERE _partition >= $start AND _partition < $end",
        {"source": source, "loaded_at": loaded_at, "start": start, "end": end})
    rows, rejected, days = con.execute(
        f"SELECT count(*), count(_error), count(DISTINCT _partition) FROM {quote(stage)} "
        "WHERE _partition >= ? AND _partition < ?", [start, end]).fetchall()[0]
    return Landed(int(rows), int(rejected), int(days))


def raw_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(scalar(con, f"SELECT count(*) FROM raw.{quote(table)}") or 0)


def record_watermark(
    con: duckdb.DuckDBPyConnection, source: str, entity: str, stage: str, column: str,
    fmt: str, tz: str, now: dt.datetime,
) -> dt.datetime | None:
    """Advance the stored high-water mark (UTC) of `column` to the newest staged value; it never
    moves back, so a re-run of an old day keeps what a later day established."""
    con.execute(WATERMARK_DDL)
    if column.lower() not in {c.lower() for c in source_columns(con, stage)}:
        return None
    newest = scalar(con, f"SELECT max(timezone('UTC', timezone($tz, try_strptime("
                         f"{quote(column)}, $fmt)))) FROM {quote(stage)}",
                    {"tz": tz, "fmt": fmt})
    con.execute(
        "INSERT INTO raw._watermarks VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, entity) DO "
        "UPDATE SET \"column\" = excluded.\"column\", high_water_mark = greatest("
        "raw._watermarks.high_water_mark, excluded.high_water_mark), "
        "updated_at = excluded.updated_at",
        [source, entity, column, newest, now])
    value = scalar(con, "SELECT high_water_mark FROM raw._watermarks WHERE source = ? "
                        "AND entity = ?", [source, entity])
    return value if isinstance(value, dt.datetime) else None


class StageWriter:
    """Appends batches of rows (dicts of text) to a staging table, adding the columns a later
    batch brings: how the SQL, ServiceNow and Prometheus readers stream into DuckDB without
    holding more than one batch in memory."""

    def __init__(self, con: duckdb.DuckDBPyConnection, stage: str) -> None:
        self.con, self.stage, self.rows = con, stage, 0
        self._created = False

    def append(self, columns: Sequence[str], records: Sequence[Sequence[object]]) -> None:
        """`records` hold one value per name in `columns`, which may include `_row`, `_query`,
        `_error` and `_partition`."""
        import pandas as pd

        source = [c for c in columns if not c.startswith("_")]
        if not self._created:
            create_stage(self.con, self.stage, source)
            self._created = True
        else:
            add_missing_columns(self.con, "main", self.stage, source)
        if not records:
            return
        frame = pd.DataFrame.from_records(records, columns=list(columns))
        for column in frame.columns:
            if column not in ("_row", "_partition"):
                frame[column] = frame[column].astype(object)
        self.con.register("_batch", frame)
        try:
            self.con.execute(f"INSERT INTO {quote(self.stage)} BY NAME SELECT * FROM _batch")
        finally:
            self.con.unregister("_batch")
        self.rows += len(frame)

    @property
    def table(self) -> str | None:
        return self.stage if self._created else None
