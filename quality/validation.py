"""Running the pandera contracts over what a run just wrote, for Dagster asset checks.

dagster-pandera's type-check path fails the step instead of reporting a check, so the schemas
are run here with lazy validation and every failure case becomes check metadata a person can
act on: which column, which rule, how many rows, and examples.

A backfill may write years at once, so rows are validated a month of partitions at a time
(memory stays bounded by a month's rows), and the contract's uniqueness rules, which span
months, are checked over the whole range in DuckDB.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pandas as pd
import pandera.errors as pa_errors
import pandera.pandas as pa

MAX_EXAMPLES = 10
CHUNK_DAYS = 31


def _unique_sets(schema: pa.DataFrameSchema) -> list[list[str]]:
    sets = [[name] for name, column in schema.columns.items() if column.unique]
    if schema.unique:
        sets.append(list(schema.unique))
    return sets


def _duplicates(con: duckdb.DuckDBPyConnection, table: str, columns: list[str],
                start: dt.date, end: dt.date, partition_column: str) -> pd.DataFrame:
    keys = ", ".join(columns)
    return con.execute(
        f"SELECT '{'+'.join(columns)}' AS \"column\", 'unique' AS \"check\", "
        f"CAST(ROW({keys}) AS VARCHAR) AS failure_case, count(*) AS copies "
        f"FROM clean.{table} WHERE {partition_column} >= ? AND {partition_column} < ? "
        f"GROUP BY {keys} HAVING count(*) > 1 LIMIT 1000", [start, end]).df()


def validate_partitions(
    con: duckdb.DuckDBPyConnection,
    table: str,
    schema: pa.DataFrameSchema,
    start: dt.date,
    end: dt.date,
    partition_column: str = "_partition",
) -> tuple[bool, dict[str, Any]]:
    """Validate rows of `clean.<table>` in partitions [start, end) against `schema`."""
    # Uniqueness is checked over the whole range in SQL below, not within each month.
    per_chunk = schema.update_columns(
        {name: {"unique": False} for name, c in schema.columns.items() if c.unique})
    per_chunk.unique = None
    columns = ", ".join(schema.columns)
    failures: list[pd.DataFrame] = []
    rows = 0
    chunk_start = start
    while chunk_start < end:
        chunk_end = min(chunk_start + dt.timedelta(days=CHUNK_DAYS), end)
        frame = con.execute(
            f"SELECT {columns} FROM clean.{table} WHERE {partition_column} >= ? "
            f"AND {partition_column} < ?", [chunk_start, chunk_end]).df()
        rows += len(frame)
        try:
            per_chunk.validate(frame, lazy=True)
        except pa_errors.SchemaErrors as exc:
            failures.append(exc.failure_cases)
        chunk_start = chunk_end
    for unique in _unique_sets(schema):
        dupes = _duplicates(con, table, unique, start, end, partition_column)
        if not dupes.empty:
            failures.append(dupes)
    if not failures:
        return True, {"rows_checked": rows, "failures": "none"}
    cases = pd.concat(failures, ignore_index=True)
    summary = (cases.groupby(["column", "check"], dropna=False).size().reset_index(name="rows")
               .astype(str).to_markdown(index=False))
    return False, {
        "rows_checked": rows,
        "failed_cases": len(cases),
        "failures": summary,
        "examples": cases.head(MAX_EXAMPLES).astype(str).to_markdown(index=False),
    }
