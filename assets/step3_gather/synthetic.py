"""The synthetic source: all entities generated together, one day at a time.

A day's incidents, changes and surveys come from one generator pass, so one multi-asset lands
them all; re-running a day range deletes and reloads exactly that range in one transaction.
"""


import datetime as dt
import time
from collections import defaultdict

import dagster as dg
import duckdb
import pandas as pd

from assets.common import DAILY, SINGLE_RUN, WAREHOUSE_POOL, day_range
from assets.step3_gather.entities import raw_key
from assets.step3_gather.specs import gather_specs, gx_run, publish, results
from resources.config_models import SourceConfig
from resources.sources.landing import ensure_raw_table, quote
from resources.synthetic import SyntheticSource
from resources.warehouse import Warehouse

BATCH_DAYS = 31


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
    keys = {raw_key(source, e): e for e in source.entities}
    specs, checks = gather_specs(source, "synthetic generator")

    @dg.multi_asset(
        name=f"gather_{source.name}", specs=specs, check_specs=checks, partitions_def=DAILY,
        backfill_policy=SINGLE_RUN, pool=WAREHOUSE_POOL, can_subset=True,
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
            for entity in wanted:
                ensure_raw_table(con, source.raw_table(entity), [])
            con.begin()
            for entity in wanted:
                con.execute(f"DELETE FROM raw.{quote(source.raw_table(entity))} "
                            "WHERE _partition >= ? AND _partition < ?", [start, end])
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
            run = gx_run(context, start, end)
            for entity in wanted:
                yield from results(con, source, entity, start, end, {
                    "rows_loaded": written[entity], "days": total_days,
                    "source": lineage["query"]}, run, lineage["loaded_at"],
                    context.selected_asset_check_keys)
        publish(run, context.log)

    return _gather
