"""One multi-asset per configured source (files, SQL, ServiceNow, Prometheus): stage, then
replace the run's days of every selected raw table in one transaction.

Reading happens first, outside the transaction, into DuckDB staging tables: a file or table
that cannot be read fails the asset before any raw row is touched. Then one transaction deletes
the run's days of each raw table, inserts the staged rows of those days and records the load
log (files) or high-water mark (SQL, ServiceNow): all of it or nothing.
"""


import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
import duckdb

from assets.common import DAILY, SINGLE_RUN, WAREHOUSE_POOL, day_range
from assets.step3_gather.entities import numeric_columns, partition_columns, raw_key
from assets.step3_gather.specs import gather_specs, gx_run, publish, results
from resources.config_models import SourceConfig
from resources.sources import files, prometheus, servicenow, sql
from resources.sources.landing import (
    SourceReadError,
    add_partitions,
    ensure_raw_table,
    quote,
    record_watermark,
    replace_partitions,
    source_columns,
)
from resources.warehouse import Warehouse

Log = Callable[[str], None]


@dataclass
class Staged:
    """One entity's rows of the run, staged; `finish` runs inside the replacing transaction."""

    stage: str | None
    metadata: dict[str, object] = field(default_factory=dict)
    finish: Callable[[duckdb.DuckDBPyConnection, dt.datetime], dict[str, object]] = (
        lambda con, now: {})


def _stage_files(con, source, entity, start, end, log: Log) -> Staged:
    staged = files.stage_files(con, source, entity, start, end,
                               partition_columns(source, entity),
                               numeric_columns(source, entity), log)

    def finish(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> dict[str, object]:
        files.record_files(con, source.name, entity, staged.entries, now)
        return {}

    return Staged(staged.stage, {
        "folder": str(files.drop_folder(source)), "files_read": staged.read,
        "files_unchanged_outside_range": staged.unchanged,
        "files_duplicate_content": staged.duplicates}, finish)


def _with_watermark(source: SourceConfig, entity: str, stage: str | None, query: str,
                    con: duckdb.DuckDBPyConnection) -> Staged:
    """SQL and API rows: the query as lineage, partitions from the updated/created columns,
    and the high-water mark of the updated-at column advanced on commit."""
    columns = partition_columns(source, entity)
    if stage is not None:  # rows a reader already gave their lineage are not rewritten
        con.execute(f"UPDATE {quote(stage)} SET _query = ? WHERE _query IS NULL", [query])
        add_partitions(con, stage, columns, source.timestamp_format, source.timezone, None)

    def finish(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> dict[str, object]:
        if stage is None:
            return {}
        mark = record_watermark(con, source.name, entity, stage, columns[0],
                                source.timestamp_format, source.timezone, now)
        return {"high_water_mark_utc": str(mark) if mark else "none"}

    return Staged(stage, {"query": query}, finish)


def _stage_sql(con, source, entity, start, end, log: Log) -> Staged:
    stage, query = sql.stage_sql(con, source, entity, start, end,
                                 partition_columns(source, entity), log)
    return _with_watermark(source, entity, stage, query, con)


def _stage_servicenow(con, source, entity, start, end, log: Log) -> Staged:
    stage, query = servicenow.stage_servicenow(con, source, entity, start, end, log)
    return _with_watermark(source, entity, stage, query, con)


def _stage_prometheus(con, source, entity, start, end, log: Log) -> Staged:
    stage, query = prometheus.stage_prometheus(con, source, start, end, log)
    if stage is not None:
        con.execute(f"UPDATE {quote(stage)} SET _query = ?", [query])
    return Staged(stage, {"query": query})


STAGERS: dict[str, Callable[..., Staged]] = {
    "files": _stage_files, "sql": _stage_sql, "servicenow": _stage_servicenow,
    "prometheus": _stage_prometheus,
}

HOW = {"files": "files dropped in a folder", "sql": "a SQL database via SQLAlchemy",
       "servicenow": "the ServiceNow Table API", "prometheus": "the Prometheus HTTP API"}


def build_source_gather(source: SourceConfig) -> dg.AssetsDefinition:
    keys = {raw_key(source, e): e for e in source.entities}
    specs, checks = gather_specs(source, HOW[source.kind])

    @dg.multi_asset(
        name=f"gather_{source.name}", specs=specs, check_specs=checks, partitions_def=DAILY,
        backfill_policy=SINGLE_RUN, pool=WAREHOUSE_POOL, can_subset=True,
    )
    def _gather(context: dg.AssetExecutionContext, warehouse: Warehouse):
        start, end = day_range(context)
        wanted = [keys[k] for k in context.selected_asset_keys]
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with warehouse.connect() as con:
            staged: dict[str, Staged] = {}
            for entity in wanted:
                try:
                    staged[entity] = STAGERS[source.kind](
                        con, source, entity, start, end, context.log.info)
                except SourceReadError as exc:
                    raise dg.Failure(
                        description=f"source {source.name!r}, {entity}: {exc}",
                        metadata={"source": source.name, "entity": entity}) from exc
                stage = staged[entity].stage
                ensure_raw_table(con, source.raw_table(entity),
                                 source_columns(con, stage) if stage else [])
            con.begin()
            try:
                landed = {entity: replace_partitions(
                    con, source.raw_table(entity), s.stage, start, end, source.name, now)
                    for entity, s in staged.items()}
                finished = {entity: s.finish(con, now) for entity, s in staged.items()}
                con.commit()
            except BaseException:
                con.rollback()
                raise
            run = gx_run(context, start, end)
            for entity in wanted:
                done = landed[entity]
                context.log.info(f"{source.name}/{entity}: {done.rows:,} rows landed on "
                                 f"{done.days} days of {start}..{end - dt.timedelta(days=1)} "
                                 f"({done.rejected:,} unparseable, quarantined by step 4)")
                yield from results(con, source, entity, start, end, {
                    "rows_loaded": done.rows, "rows_unparseable": done.rejected,
                    "days_with_rows": done.days, "days": (end - start).days,
                    **staged[entity].metadata, **finished[entity]},
                    run, now, context.selected_asset_check_keys)
        publish(run, context.log)

    return _gather
