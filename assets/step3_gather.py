"""Step 3 — gather the data: source-shaped raw tables, one per source and entity, by day.

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
from assets.step4_process.entities import raw_contract
from quality.contracts import validate_raw
from resources.config_models import SourceConfig
from resources.settings import sources
from resources.synthetic import SyntheticSource
from resources.warehouse import Warehouse

GROUP = "step3_gather"
LINEAGE_DDL = "_source VARCHAR, _partition DATE, _row BIGINT, _loaded_at TIMESTAMP, _query VARCHAR"
BATCH_DAYS = 31
CONTRACT_CHECK = "source_contract"


def raw_key(source: SourceConfig, entity: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", source.raw_table(entity)])


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ensure_raw_table(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> None:
    """Create raw.<table> on first load and add any column a source starts sending later."""
    con.execute(f"CREATE TABLE IF NOT EXISTS raw.{quote(table)} ({LINEAGE_DDL})")
    existing = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'raw' AND table_name = ?", [table]).fetchall()}
    for column in columns:
        if column not in existing:
            con.execute(f"ALTER TABLE raw.{quote(table)} ADD COLUMN {quote(column)} VARCHAR")


def insert_frames(
    con: duckdb.DuckDBPyConnection, table: str, frames: list[pd.DataFrame], lineage: dict
) -> int:
    """Append frames that already carry `_partition` and `_row`; returns rows written."""
    if not frames:
        return 0
    frame = pd.concat(frames, ignore_index=True)
    ensure_raw_table(con, table, [c for c in frame.columns if not c.startswith("_")])
    con.register("_batch", frame)
    try:
        con.execute(
            f"INSERT INTO raw.{quote(table)} BY NAME SELECT *, $source AS _source, "
            "$loaded_at AS _loaded_at, $query AS _query FROM _batch",
            lineage,
        )
    finally:
        con.unregister("_batch")
    return len(frame)


def build_synthetic_gather(source: SourceConfig) -> dg.AssetsDefinition:
    """All entities of a synthetic source in one pass: one day's incidents, changes and surveys
    are generated together."""
    keys = {raw_key(source, e): e for e in source.entities}

    @dg.multi_asset(
        name=f"gather_{source.name}",
        specs=[
            dg.AssetSpec(
                key, group_name=GROUP, kinds={"duckdb", "python"}, owners=[OWNER],
                description=f"Raw {entity} from source {source.name!r} ({source.kind}) exactly "
                "as delivered (all text), with lineage columns _source, _partition, _row, "
                "_loaded_at and _query.",
                skippable=True,
            )
            for key, entity in keys.items()
        ],
        check_specs=[
            dg.AssetCheckSpec(
                CONTRACT_CHECK, asset=key, blocking=True,
                description="Great Expectations source contract: required columns present, "
                f"key column {raw_contract(source, entity).key!r} filled.",
            )
            for key, entity in keys.items()
        ],
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        pool=WAREHOUSE_POOL,
        can_subset=True,
    )
    def _gather(context: dg.AssetExecutionContext, warehouse: Warehouse,
                synthetic: SyntheticSource):
        start, end = day_range(context)
        wanted = [keys[k] for k in context.selected_asset_keys]
        lineage = {"source": source.name,
                   "loaded_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
                   "query": synthetic.describe()}
        total_days = (end - start).days
        written: dict[str, int] = defaultdict(int)
        began = time.monotonic()
        with warehouse.connect() as con:
            con.begin()
            for entity in wanted:
                table = source.raw_table(entity)
                ensure_raw_table(con, table, [])
                con.execute(f"DELETE FROM raw.{quote(table)} WHERE _partition >= ? "
                            "AND _partition < ?", [start, end])
            pending: dict[str, list[pd.DataFrame]] = defaultdict(list)
            for done, (day, frames) in enumerate(synthetic.days(start, end), start=1):
                for entity in wanted:
                    frame = frames[entity].copy()
                    frame["_partition"] = day
                    frame["_row"] = range(1, len(frame) + 1)
                    pending[entity].append(frame)
                if done % BATCH_DAYS == 0 or done == total_days:
                    for entity in wanted:
                        written[entity] += insert_frames(
                            con, source.raw_table(entity), pending.pop(entity, []), lineage)
                    rate = sum(written.values()) / max(time.monotonic() - began, 1e-9)
                    context.log.info(f"{source.name}: gathered {done}/{total_days} days, "
                                     f"{sum(written.values()):,} rows ({rate:,.0f} rows/s)")
            con.commit()
            for entity in wanted:
                contract = raw_contract(source, entity)
                passed, check_metadata = validate_raw(con, contract, start, end)
                total = count(con, f"SELECT * FROM raw.{quote(contract.table)}")
                yield dg.MaterializeResult(
                    asset_key=raw_key(source, entity),
                    metadata={
                        "dagster/row_count": total,
                        "rows_loaded": written[entity],
                        "days": total_days,
                        "source": lineage["query"],
                    },
                )
                yield dg.AssetCheckResult(
                    asset_key=raw_key(source, entity), check_name=CONTRACT_CHECK,
                    passed=passed, metadata=check_metadata,
                )

    return _gather


BUILDERS = {"synthetic": build_synthetic_gather}

defs = dg.Definitions(assets=[BUILDERS[s.kind](s) for s in sources().sources])
