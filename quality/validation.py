"""Running the pandera contracts over what a run just wrote, for Dagster asset checks.

dagster-pandera's type-check path fails the step instead of reporting a check, so the schemas
are run here with lazy validation and every failure case becomes check metadata a person can
act on: which column, which rule, how many rows, and examples.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pandera.errors as pa_errors
import pandera.pandas as pa

MAX_EXAMPLES = 10


def validate_partitions(
    con: duckdb.DuckDBPyConnection,
    table: str,
    schema: pa.DataFrameSchema,
    start: dt.date,
    end: dt.date,
    partition_column: str = "_partition",
) -> tuple[bool, dict[str, Any]]:
    """Validate rows of `clean.<table>` in partitions [start, end) against `schema`."""
    columns = ", ".join(schema.columns)
    frame = con.execute(
        f"SELECT {columns} FROM clean.{table} WHERE {partition_column} >= ? "
        f"AND {partition_column} < ?",
        [start, end],
    ).df()
    try:
        schema.validate(frame, lazy=True)
    except pa_errors.SchemaErrors as exc:
        cases = exc.failure_cases
        summary = (
            cases.groupby(["column", "check"], dropna=False).size().reset_index(name="rows")
            .astype(str).to_markdown(index=False)
        )
        examples = cases.head(MAX_EXAMPLES).astype(str).to_markdown(index=False)
        return False, {
            "rows_checked": len(frame),
            "failed_rows": int(cases["index"].nunique()) if "index" in cases else len(cases),
            "failures": summary,
            "examples": examples,
        }
    return True, {"rows_checked": len(frame), "failures": "none"}
