"""Source contracts on raw data, run with Great Expectations 1.x inside Dagster asset checks.

dagster-ge only supports GX below 1.0, so the suites are built here and run in an ephemeral GX
context over the partitions a run just loaded. The suite only asks whether each required column
exists and whether the key is filled in, so GX is given exactly that and no text: one row per raw
row, the key as a nullable one-byte indicator (filled or not, after trimming) and the other
required columns as constant one-byte placeholders. A million raw rows cost GX a few megabytes
instead of a copy of the key strings (measured in benchmarks/gather_sources.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd


@dataclass(frozen=True)
class RawContract:
    """What a source must deliver in one raw table before step 4 may read it."""

    table: str
    key: str
    required: tuple[str, ...]
    max_null_key_share: float = 0.10


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _suite(contract: RawContract) -> Any:
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=f"raw_{contract.table}_contract")
    for column in contract.required:
        suite.add_expectation(gx.expectations.ExpectColumnToExist(column=column))
    suite.add_expectation(
        gx.expectations.ExpectColumnValuesToNotBeNull(
            column=contract.key, mostly=1 - contract.max_null_key_share
        )
    )
    return suite


def _describe(result: Any, contract: RawContract) -> str:
    config = result.expectation_config
    column = config.kwargs.get("column")
    if config.type == "expect_column_to_exist":
        return f"required column {column!r} is missing"
    share = result.result.get("unexpected_percent")
    if share is None:
        return f"key column {column!r} could not be checked: it is missing"
    return (f"key column {column!r} is empty in {share:.1f}% of rows "
            f"(at most {contract.max_null_key_share:.0%} allowed)")


def validate_raw(
    con: duckdb.DuckDBPyConnection, contract: RawContract, start: dt.date, end: dt.date
) -> tuple[bool, dict[str, Any]]:
    """Run the contract over raw rows of partitions [start, end)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    present = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'raw' AND table_name = ?", [contract.table]).fetchall()}
    columns = [c for c in contract.required if c in present]
    select = ", ".join(
        (f"CAST(CASE WHEN nullif(trim({_quote(c)}), '') IS NOT NULL THEN 1 END AS TINYINT)"
         if c == contract.key else "CAST(0 AS TINYINT)") + f" AS {_quote(c)}"
        for c in columns) or "CAST(0 AS TINYINT) AS _none"
    frame: pd.DataFrame = con.execute(
        f"SELECT {select} FROM raw.{_quote(contract.table)} "
        "WHERE _partition >= ? AND _partition < ?",
        [start, end],
    ).df()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    batch = (
        context.data_sources.add_pandas("raw")
        .add_dataframe_asset(contract.table)
        .add_batch_definition_whole_dataframe("partitions")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    result = batch.validate(_suite(contract))
    failures = [_describe(r, contract) for r in result.results if not r.success]
    metadata = {
        "rows_checked": len(frame),
        "expectations": len(result.results),
        "failures": "\n".join(failures) or "none",
        "suite": f"raw_{contract.table}_contract (Great Expectations {gx.__version__})",
    }
    return not failures, metadata
