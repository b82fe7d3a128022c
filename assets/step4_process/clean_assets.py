"""One clean table and one quarantine per entity, built by a factory, with the checks that guard
them: reconciliation (nothing lost), the pandera contract and the quarantine share (nothing
wrong flows on), and for incidents the distribution expectations learned from history."""

from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import duckdb

from assets.common import DAILY, OWNER, SINGLE_RUN, WAREHOUSE_POOL, day_range, table_schema
from assets.step4_process.cleaning import (
    MAX_QUARANTINE_SHARE,
    clean_range,
    quarantine_share,
    reconciliation,
    refresh_quarantine_view,
)
from assets.step4_process.entities import ENTITY_SPECS, EntitySpec
from assets.step4_process.source_durations import CHECK as SOURCE_DURATIONS
from assets.step4_process.source_durations import check as source_durations_check
from quality import distributions
from quality.schemas import CLEAN_TABLES, QUARANTINE, ddl
from quality.validation import validate_partitions
from resources.settings import sources
from resources.warehouse import Warehouse

GROUP = "step4_process"
RECONCILES = "raw_rows_reconcile"
CONTRACT = "pandera_contract"
QUARANTINE_SHARE = "quarantine_share"
HOUR_PROFILE = "opened_hour_profile"
DAILY_VOLUME = "daily_volume"
PRIORITY_MIX = "priority_mix"

Check = Callable[[duckdb.DuckDBPyConnection, Any, Any], tuple[bool, dict[str, Any]]]


def _md(metadata: dict[str, Any]) -> dict[str, Any]:
    """Multi-line text becomes Markdown in the UI; numbers stay numbers."""
    return {k: dg.MetadataValue.md(v) if isinstance(v, str) and "\n" in v else v
            for k, v in metadata.items()}


def _profile_checks(entity: str) -> dict[str, tuple[Check, dg.AssetCheckSeverity, str]]:
    return {
        HOUR_PROFILE: (
            lambda con, s, e: distributions.hour_profile(con, entity, "opened_at", s, e),
            dg.AssetCheckSeverity.ERROR,
            "The typical hour tickets are opened has not moved against the 8 weeks before the "
            "run (a wrong source timezone moves it): blocking."),
        DAILY_VOLUME: (
            lambda con, s, e: distributions.daily_volume(con, entity, s, e),
            dg.AssetCheckSeverity.WARN,
            "Daily volume within what the 8 weeks before make plausible (warning only)."),
        PRIORITY_MIX: (
            lambda con, s, e: distributions.priority_mix(con, entity, s, e),
            dg.AssetCheckSeverity.WARN,
            "Share of each priority within ±10 points of the 8 weeks before (warning only)."),
    }


def build_clean_asset(spec: EntitySpec) -> dg.AssetsDefinition:
    entity = spec.entity
    clean_key = dg.AssetKey(["clean", entity])
    quarantine_key = dg.AssetKey(["clean", f"{entity}_quarantine"])
    raw_keys = [dg.AssetKey(["raw", s.raw_table(entity)]) for s in sources().providing(entity)]
    profile = _profile_checks(entity) if spec.profile else {}
    durations = entity == "incidents"  # sources stamp durations on incidents only

    @dg.multi_asset(
        name=f"clean_{entity}",
        specs=[
            dg.AssetSpec(
                clean_key, deps=raw_keys, group_name=GROUP,
                kinds={"duckdb", "pandera", *(["great_expectations"] if profile else [])},
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
            dg.AssetCheckSpec(QUARANTINE_SHARE, asset=clean_key, blocking=True,
                              description=f"No day rejects more than {MAX_QUARANTINE_SHARE:.0%} "
                              "of its rows (duplicates aside): a new code or a changed export "
                              "format stops the run instead of thinning the data."),
            *(dg.AssetCheckSpec(name, asset=clean_key, blocking=severity is
                                dg.AssetCheckSeverity.ERROR, description=text)
              for name, (_, severity, text) in profile.items()),
            *([dg.AssetCheckSpec(SOURCE_DURATIONS, asset=clean_key, blocking=False,
                                 description="Where the source stamps durations on resolved "
                                 "incidents (ServiceNow business_duration, calendar_duration), "
                                 "they agree with ours within a minute and 1% (warning only)."
                                 )] if durations else []),
        ],
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        pool=WAREHOUSE_POOL,
    )
    def _clean(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator[Any]:
        start, end = day_range(context)
        configured = sources().sources
        with warehouse.connect() as con:
            con.execute(ddl("clean", entity, CLEAN_TABLES[entity]))
            con.execute(ddl("clean", f"{entity}_quarantine", QUARANTINE))
            con.begin()
            counts = clean_range(con, spec, configured, start, end)
            con.commit()
            refresh_quarantine_view(con)
            reasons = con.execute(
                f"SELECT reason_code, count(*) FROM clean.{entity}_quarantine "
                "WHERE _partition >= ? AND _partition < ? GROUP BY 1 ORDER BY 2 DESC",
                [start, end]).fetchall()
            mismatches = reconciliation(con, entity, configured, start, end)
            passed, contract_meta = validate_partitions(
                con, entity, CLEAN_TABLES[entity], start, end)
            too_many = quarantine_share(con, entity, start, end)
            profiled = {name: (check(con, start, end), severity)
                        for name, (check, severity, _) in profile.items()}
            if durations:
                profiled[SOURCE_DURATIONS] = (
                    source_durations_check(con, configured, start, end),
                    dg.AssetCheckSeverity.WARN)
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
        yield dg.AssetCheckResult(asset_key=clean_key, check_name=CONTRACT, passed=passed,
                                  metadata=_md(contract_meta))
        yield dg.AssetCheckResult(
            asset_key=clean_key, check_name=QUARANTINE_SHARE, passed=not too_many,
            metadata={"days_over_limit": dg.MetadataValue.md("\n".join(
                f"- {day}: {bad} of {total} rows rejected, mostly {reason} "
                "(see `sevenstep quarantine`)" for day, bad, total, reason in too_many)
                or "none")})
        for name, ((ok, metadata), severity) in profiled.items():
            yield dg.AssetCheckResult(asset_key=clean_key, check_name=name, passed=ok,
                                      severity=severity, metadata=_md(metadata))

    return _clean


clean_assets = [build_clean_asset(spec) for spec in ENTITY_SPECS.values()]
