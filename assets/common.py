"""What every step's assets share: the day partitions, owners and table metadata."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

import dagster as dg
import duckdb
import pandera.pandas as pa

from resources.settings import calendar
from resources.warehouse import scalar

DAILY = dg.DailyPartitionsDefinition(start_date=calendar().history_start.isoformat())
"""Steps 3 and 4 are partitioned by day (UTC); re-running a day replaces exactly that day."""

SINGLE_RUN = dg.BackfillPolicy.single_run()
"""Backfills of years run as one process over the whole range, not one run per day."""

WAREHOUSE_POOL = "duckdb_warehouse"
"""DuckDB allows one writing process: every writer joins this pool (limit 1 in dagster.yaml)."""

OWNER = "team:service-improvement"


def content_version(*frames: object) -> dg.DataVersion:
    """A data version from the content of configuration-derived tables.

    Unpartitioned assets upstream of the daily partitions (services, KPI catalogue) are
    re-materialized by every nightly run; with Dagster's default (a new data version per run)
    that would mark every day of history stale in the UI. Hashing the content makes history
    stale only when what it was computed from really changed."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(frame.to_json(orient="split", date_format="iso").encode())
    return dg.DataVersion(digest.hexdigest()[:16])


def day_range(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """The run's partitions as [first day, day after the last): one run may cover many days."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def table_schema(schema: pa.DataFrameSchema) -> dg.TableSchema:
    """The Dagster UI's column list, from the pandera contract."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=name,
                type=column.metadata["sql_type"],
                description=column.description,
                constraints=dg.TableColumnConstraints(
                    nullable=column.nullable, unique=column.unique
                ),
            )
            for name, column in schema.columns.items()
        ]
    )


def markdown_preview(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = (), limit: int = 10
) -> str:
    """A small Markdown table of a query's first rows for the asset's metadata."""
    frame = con.execute(f"SELECT * FROM ({sql}) LIMIT {int(limit)}", list(params)).df()
    if frame.empty:
        return "_no rows_"
    return frame.astype(str).map(lambda s: s.replace("|", "\\|")[:80]).to_markdown(index=False)


def count(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()) -> int:
    return int(scalar(con, f"SELECT count(*) FROM ({sql})", list(params)) or 0)


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: object) -> int:
    """Replace a small, unpartitioned table with a DataFrame in one statement.

    `table` is always a constant from the asset code, never user text.
    """
    con.register("_frame", frame)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _frame")
    finally:
        con.unregister("_frame")
    return count(con, f"SELECT * FROM {table}")


def table_metadata(con: duckdb.DuckDBPyConnection, table: str, rows: int) -> dict[str, object]:
    """Row count and a Markdown preview: lineage in the UI shows numbers, not just boxes."""
    return {
        "dagster/row_count": rows,
        "dagster/table_name": table,
        "preview": dg.MetadataValue.md(markdown_preview(con, f"SELECT * FROM {table}")),
    }
