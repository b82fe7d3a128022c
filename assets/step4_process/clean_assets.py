"""One clean table and one quarantine per raw entity, built by a factory, with blocking checks:
reconciliation (nothing lost) and the pandera contract (nothing wrong flows on)."""


import dagster as dg

from assets.common import DAILY, OWNER, SINGLE_RUN, WAREHOUSE_POOL, day_range, table_schema
from assets.step4_process.cleaning import clean_range, reconciliation, refresh_quarantine_view
from assets.step4_process.entities import ENTITY_SPECS, EntitySpec
from quality.schemas import CLEAN_TABLES, QUARANTINE, ddl
from quality.validation import validate_partitions
from resources.settings import sources
from resources.warehouse import Warehouse

GROUP = "step4_process"
RECONCILES = "raw_rows_reconcile"
CONTRACT = "pandera_contract"


def build_clean_asset(spec: EntitySpec) -> dg.AssetsDefinition:
    entity = spec.entity
    clean_key = dg.AssetKey(["clean", entity])
    quarantine_key = dg.AssetKey(["clean", f"{entity}_quarantine"])
    raw_keys = [dg.AssetKey(["raw", s.raw_table(entity)]) for s in sources().providing(entity)]

    @dg.multi_asset(
        name=f"clean_{entity}",
        specs=[
            dg.AssetSpec(
                clean_key, deps=raw_keys, group_name=GROUP, kinds={"duckdb", "pandera"},
                owners=[OWNER], description=CLEAN_TABLES[entity].description,
                metadata={"dagster/column_schema": table_schema(CLEAN_TABLES[entity])},
            ),
            dg.AssetSpec(
                quarantine_key, deps=raw_keys, group_name=GROUP, kinds={"duckdb"},
                owners=[OWNER],
                description=f"Raw {entity} rows rejected by step 4, each with a reason code, a "
                "detail naming the field and value, and the raw row as JSON.",
                metadata={"dagster/column_schema": table_schema(QUARANTINE)},
            ),
        ],
        check_specs=[
            dg.AssetCheckSpec(RECONCILES, asset=clean_key, blocking=True,
                              description="For every day: raw rows = clean rows + quarantined "
                              "rows. Nothing is lost."),
            dg.AssetCheckSpec(CONTRACT, asset=clean_key, blocking=True,
                              description="The pandera contract of the clean table: types, "
                              "nulls, unique keys, ranges, time order."),
        ],
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        pool=WAREHOUSE_POOL,
    )
    def _clean(context: dg.AssetExecutionContext, warehouse: Warehouse):
        start, end = day_range(context)
        with warehouse.connect() as con:
            con.execute(ddl("clean", entity, CLEAN_TABLES[entity]))
            con.execute(ddl("clean", f"{entity}_quarantine", QUARANTINE))
            con.begin()
            counts = clean_range(con, spec, sources().sources, start, end)
            con.commit()
            refresh_quarantine_view(con)
            reasons = con.execute(
                f"SELECT reason_code, count(*) FROM clean.{entity}_quarantine "
                "WHERE _partition >= ? AND _partition < ? GROUP BY 1 ORDER BY 2 DESC",
                [start, end]).fetchall()
            mismatches = reconciliation(con, entity, sources().sources, start, end)
            passed, contract_meta = validate_partitions(
                con, entity, CLEAN_TABLES[entity], start, end)
        context.log.info(f"clean.{entity} {start}..{end}: {counts['clean']:,} clean, "
                         f"{counts['quarantined']:,} quarantined")
        yield dg.MaterializeResult(asset_key=clean_key, metadata={
            "dagster/row_count": counts["clean"], "days": (end - start).days})
        yield dg.MaterializeResult(asset_key=quarantine_key, metadata={
            "dagster/row_count": counts["quarantined"],
            "reasons": dg.MetadataValue.md(
                "\n".join(f"- {code}: {n}" for code, n in reasons) or "none")})
        yield dg.AssetCheckResult(
            asset_key=clean_key, check_name=RECONCILES, passed=not mismatches,
            metadata={"days_not_reconciled": len(mismatches),
                      "examples (day, raw, clean, quarantined)": dg.MetadataValue.md(
                          "\n".join(f"- {m}" for m in mismatches[:10]) or "none")})
        yield dg.AssetCheckResult(
            asset_key=clean_key, check_name=CONTRACT, passed=passed,
            metadata={k: dg.MetadataValue.md(str(v)) if isinstance(v, str) else v
                      for k, v in contract_meta.items()})

    return _clean


clean_assets = [build_clean_asset(spec) for spec in ENTITY_SPECS.values()]
