"""clean/incident_history, its quarantine and the clean/incident_lifecycle view: one asset per
day range over the raw audit logs of every source that delivers `history`, with the checks
the entity tables have (nothing lost, the contract, the quarantine share)."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from assets.common import DAILY, OWNER, SINGLE_RUN, WAREHOUSE_POOL, day_range, table_schema
from assets.step4_process.clean_assets import (
    CONTRACT,
    GROUP,
    QUARANTINE_SHARE,
    RECONCILES,
    _md,
)
from assets.step4_process.cleaning import MAX_QUARANTINE_SHARE, refresh_quarantine_view
from assets.step4_process.incident_history import (
    ENTITY,
    LIFECYCLE,
    QUARANTINE_TABLE,
    TABLE,
    ensure_tables,
    fold_range,
    quarantine_share,
    reconciliation,
    refresh_lifecycle,
    tickets_without_intervals,
)
from quality.schemas import INCIDENT_HISTORY, INCIDENT_LIFECYCLE, QUARANTINE
from quality.validation import validate_partitions
from resources.settings import sources
from resources.warehouse import Warehouse

HISTORY_KEY = dg.AssetKey(["clean", TABLE])
QUARANTINE_KEY = dg.AssetKey(["clean", QUARANTINE_TABLE])
LIFECYCLE_KEY = dg.AssetKey(["clean", LIFECYCLE])


def build_history_asset() -> dg.AssetsDefinition:
    raw_keys = [dg.AssetKey(["raw", s.raw_table(ENTITY)]) for s in sources().providing(ENTITY)]

    @dg.multi_asset(
        name=f"clean_{TABLE}",
        specs=[
            dg.AssetSpec(HISTORY_KEY, deps=raw_keys, group_name=GROUP,
                         kinds={"duckdb", "pandera"}, owners=[OWNER],
                         description=INCIDENT_HISTORY.description + " A day's run rebuilds "
                         "every ticket with a log row on that day from all its log rows.",
                         metadata={"dagster/column_schema": table_schema(INCIDENT_HISTORY)}),
            dg.AssetSpec(QUARANTINE_KEY, deps=raw_keys, group_name=GROUP, kinds={"duckdb"},
                         owners=[OWNER],
                         description="Raw history rows about incident state, group or priority "
                         "rejected by step 4, each with a reason code, a detail and the raw "
                         "row as JSON.",
                         metadata={"dagster/column_schema": table_schema(QUARANTINE)}),
            dg.AssetSpec(LIFECYCLE_KEY, deps=[HISTORY_KEY], group_name=GROUP, kinds={"duckdb"},
                         owners=[OWNER], description=INCIDENT_LIFECYCLE.description,
                         metadata={"dagster/column_schema": table_schema(INCIDENT_LIFECYCLE)}),
        ],
        check_specs=[
            dg.AssetCheckSpec(RECONCILES, asset=HISTORY_KEY, blocking=True,
                              description="For every day: raw history rows = rows used + rows "
                              "ignored (other tables and fields) + rows quarantined, and every "
                              "ticket with a used row has intervals."),
            dg.AssetCheckSpec(CONTRACT, asset=HISTORY_KEY, blocking=True,
                              description="The pandera contract of clean.incident_history: "
                              "types, canonical codes, one interval per ticket and start, "
                              "valid_to not before valid_from."),
            dg.AssetCheckSpec(QUARANTINE_SHARE, asset=HISTORY_KEY, blocking=True,
                              description=f"No day rejects more than "
                              f"{MAX_QUARANTINE_SHARE:.0%} of its state, group and priority "
                              "changes: a new code stops the run instead of thinning the "
                              "history."),
        ],
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        pool=WAREHOUSE_POOL,
    )
    def _history(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator[Any]:
        start, end = day_range(context)
        configured = sources().sources
        with warehouse.connect() as con:
            ensure_tables(con)
            con.begin()
            counts = fold_range(con, configured, start, end)
            con.commit()
            refresh_lifecycle(con)
            refresh_quarantine_view(con)
            reasons = con.execute(
                f"SELECT reason_code, count(*) FROM clean.{QUARANTINE_TABLE} "
                "WHERE _partition >= ? AND _partition < ? GROUP BY 1 ORDER BY 2 DESC",
                [start, end]).fetchall()
            mismatches = reconciliation(con, configured, start, end)
            orphans = tickets_without_intervals(con)
            passed, contract_meta = validate_partitions(con, TABLE, INCIDENT_HISTORY, start, end)
            too_many = quarantine_share(con, start, end)
            lifecycle = con.execute(
                f"SELECT count(*), count(*) FILTER (WHERE reopen_count > 0), "
                f"count(*) FILTER (WHERE ping_pong) FROM clean.{LIFECYCLE}").fetchall()[0]
        context.log.info(f"clean.{TABLE} {start}..{end}: {counts['tickets']:,} tickets rebuilt "
                         f"into {counts['intervals']:,} intervals; {counts['used']:,} log rows "
                         f"used, {counts['ignored']:,} ignored, {counts['quarantined']:,} "
                         "quarantined")
        yield dg.MaterializeResult(asset_key=HISTORY_KEY, metadata={
            "dagster/row_count": counts["intervals"], "dagster/table_name": f"clean.{TABLE}",
            "tickets_rebuilt": counts["tickets"], "intervals_of_those": counts["intervals"],
            "rows_used": counts["used"], "rows_ignored": counts["ignored"],
            "days": (end - start).days})
        yield dg.MaterializeResult(asset_key=QUARANTINE_KEY, metadata={
            "dagster/row_count": counts["quarantined"],
            "reasons": dg.MetadataValue.md(
                "\n".join(f"- {code}: {n}" for code, n in reasons) or "none")})
        yield dg.MaterializeResult(asset_key=LIFECYCLE_KEY, metadata={
            "dagster/row_count": lifecycle[0], "reopened": lifecycle[1],
            "ping_pong": lifecycle[2]})
        yield dg.AssetCheckResult(
            asset_key=HISTORY_KEY, check_name=RECONCILES, passed=not mismatches and not orphans,
            metadata={"days_not_reconciled": len(mismatches),
                      "examples (day, raw, used, ignored, quarantined)": dg.MetadataValue.md(
                          "\n".join(f"- {m}" for m in mismatches[:10]) or "none"),
                      "tickets_without_intervals": dg.MetadataValue.md(
                          "\n".join(f"- {t}" for t in orphans) or "none")})
        yield dg.AssetCheckResult(asset_key=HISTORY_KEY, check_name=CONTRACT, passed=passed,
                                  metadata=_md(contract_meta))
        yield dg.AssetCheckResult(
            asset_key=HISTORY_KEY, check_name=QUARANTINE_SHARE, passed=not too_many,
            metadata={"days_over_limit": dg.MetadataValue.md("\n".join(
                f"- {day}: {bad} of {total} rows rejected, mostly {reason} "
                "(see `sevenstep quarantine`)" for day, bad, total, reason in too_many)
                or "none")})

    return _history


history_assets = [build_history_asset()]
