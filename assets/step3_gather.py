"""Step 3 — gather the data: source-shaped raw tables, one per entity, partitioned by day.

Nothing is transformed here beyond landing the source's own columns (as text, exactly as
delivered) plus lineage columns. Re-running a day range deletes and reloads exactly that range
in one transaction, so a run that dies half-way leaves the previous contents.
"""


import datetime as dt
import time
from collections import defaultdict

import dagster as dg
import duckdb
import pandas as pd

from assets.common import DAILY, OWNER, SINGLE_RUN, WAREHOUSE_POOL, count, day_range
from quality.contracts import RAW_CONTRACTS, validate_raw
from resources.synthetic import ENTITIES, SyntheticSource
from resources.warehouse import Warehouse

GROUP = "step3_gather"
LINEAGE_DDL = "_source VARCHAR, _partition DATE, _row BIGINT, _loaded_at TIMESTAMP, _query VARCHAR"
BATCH_DAYS = 31
CONTRACT_CHECK = "source_contract"


def ensure_raw_table(con: duckdb.DuckDBPyConnection, entity: str, columns: list[str]) -> None:
    """Create raw.<entity> on first load and add any column a source starts sending later."""
    con.execute(f"CREATE TABLE IF NOT EXISTS raw.{entity} ({LINEAGE_DDL})")
    existing = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'raw' AND table_name = ?", [entity]).fetchall()}
    for column in columns:
        if column not in existing:
            # Source column names are quoted identifiers; quotes inside are doubled.
            quoted = '"' + column.replace('"', '""') + '"'
            con.execute(f"ALTER TABLE raw.{entity} ADD COLUMN {quoted} VARCHAR")


def insert_frames(
    con: duckdb.DuckDBPyConnection, entity: str, frames: list[pd.DataFrame], lineage: dict
) -> int:
    """Append frames that already carry `_partition` and `_row`; returns rows written."""
    if not frames:
        return 0
    frame = pd.concat(frames, ignore_index=True)
    ensure_raw_table(con, entity, [c for c in frame.columns if not c.startswith("_")])
    con.register("_batch", frame)
    try:
        con.execute(
            f"INSERT INTO raw.{entity} BY NAME SELECT *, $source AS _source, "
            "$loaded_at AS _loaded_at, $query AS _query FROM _batch",
            lineage,
        )
    finally:
        con.unregister("_batch")
    return len(frame)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["raw", entity],
            group_name=GROUP,
            kinds={"duckdb", "python"},
            owners=[OWNER],
            description=f"Raw {entity} exactly as the source delivered them (all text), with "
            "lineage columns _source, _partition, _row, _loaded_at and _query.",
            skippable=True,
        )
        for entity in ENTITIES
    ],
    check_specs=[
        dg.AssetCheckSpec(
            CONTRACT_CHECK,
            asset=["raw", entity],
            blocking=True,
            description=f"Great Expectations source contract: required columns present and "
            f"key {RAW_CONTRACTS[entity].key!r} filled.",
        )
        for entity in ENTITIES
    ],
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    pool=WAREHOUSE_POOL,
    can_subset=True,
    name="gather_synthetic",
)
def gather_synthetic(
    context: dg.AssetExecutionContext, warehouse: Warehouse, synthetic: SyntheticSource
):
    """All entities of the synthetic source in one pass, since one day's incidents, changes
    and surveys are generated together."""
    start, end = day_range(context)
    wanted = [k.path[1] for k in context.selected_asset_keys]
    lineage = {"source": synthetic.source_name,
               "loaded_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
               "query": synthetic.describe()}
    total_days = (end - start).days
    written: dict[str, int] = defaultdict(int)
    began = time.monotonic()
    with warehouse.connect() as con:
        con.begin()
        for entity in wanted:
            ensure_raw_table(con, entity, [])
            con.execute(f"DELETE FROM raw.{entity} WHERE _partition >= ? AND _partition < ?",
                        [start, end])
        pending: dict[str, list[pd.DataFrame]] = defaultdict(list)
        for done, (day, frames) in enumerate(synthetic.days(start, end), start=1):
            for entity in wanted:
                frame = frames[entity].copy()
                frame["_partition"] = day
                frame["_row"] = range(1, len(frame) + 1)
                pending[entity].append(frame)
            if done % BATCH_DAYS == 0 or done == total_days:
                for entity in wanted:
                    written[entity] += insert_frames(con, entity, pending.pop(entity, []),
                                                     lineage)
                rate = sum(written.values()) / max(time.monotonic() - began, 1e-9)
                context.log.info(f"gathered {done}/{total_days} days, "
                                 f"{sum(written.values()):,} rows ({rate:,.0f} rows/s)")
        con.commit()
        for entity in wanted:
            passed, check_metadata = validate_raw(con, entity, start, end)
            total = count(con, f"SELECT * FROM raw.{entity}")
            yield dg.MaterializeResult(
                asset_key=["raw", entity],
                metadata={
                    "dagster/row_count": total,
                    "rows_loaded": written[entity],
                    "days": total_days,
                    "source": lineage["query"],
                },
            )
            yield dg.AssetCheckResult(
                asset_key=["raw", entity], check_name=CONTRACT_CHECK, passed=passed,
                metadata=check_metadata,
            )


assets = [gather_synthetic]
