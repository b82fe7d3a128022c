"""The asset and check specs every gather asset shares, and the results it reports.

Each raw asset has the blocking source contract (Great Expectations) and, unless the source
turns it off, the warning `source_freshness` (freshness.py). A gather run validates all its
entities in one GX context (`gx_run`) and renders their Data Docs once at the end (`publish`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Set

import dagster as dg
import duckdb

from assets.common import OWNER
from assets.step3_gather.entities import contract, raw_key
from assets.step3_gather.freshness import FRESHNESS_CHECK, freshness_result
from quality.contracts import GxRun, docs_settings, publish_quietly, validate_raw
from resources.config_models import SourceConfig
from resources.sources.landing import raw_count

GROUP = "step3_gather"
CONTRACT_CHECK = "source_contract"
LINEAGE_TEXT = ("with lineage columns _source, _partition, _row (source line or row number), "
                "_loaded_at, _file or _query, and _error (why a row could not be parsed)")


def gather_specs(source: SourceConfig, how: str) -> tuple[list[dg.AssetSpec],
                                                          list[dg.AssetCheckSpec]]:
    specs = [
        dg.AssetSpec(
            raw_key(source, entity), group_name=GROUP,
            kinds={"duckdb", "great_expectations", *_kinds(source)},
            owners=[OWNER], skippable=True,
            description=f"Raw {entity} from source {source.name!r} ({how}), exactly as "
            f"delivered (all text), {LINEAGE_TEXT}.",
            metadata={"source": source.name, "source_kind": source.kind,
                      "preset": source.preset or "none"},
        )
        for entity in source.entities
    ]
    checks = [
        dg.AssetCheckSpec(
            CONTRACT_CHECK, asset=raw_key(source, entity), blocking=True,
            description="Great Expectations source contract: required columns present, key "
            f"column {contract(source, entity).key!r} filled in at least 90% of the rows "
            "(unparseable rows have no key, so they count against it).",
        )
        for entity in source.entities
    ] + [
        dg.AssetCheckSpec(
            FRESHNESS_CHECK, asset=raw_key(source, entity), blocking=False,
            description=f"Warning when source {source.name!r} has delivered no {entity} for "
            f"more than {source.freshness(entity):g} hours (freshness_hours), measured at the "
            "end of the run's days: the newest file for a drop folder, the newest updated-at "
            "time for a database or API, any entity for the synthetic generator.",
        )
        for entity in source.entities if source.freshness(entity) is not None
    ]
    return specs, checks


def _kinds(source: SourceConfig) -> set[str]:
    return {"synthetic": {"python"}, "files": {"csv"}, "sql": {"sqlalchemy"},
            "servicenow": {"servicenow"}, "prometheus": {"prometheus"}}[source.kind]


def gx_run(context: dg.AssetExecutionContext, start: dt.date, end: dt.date) -> GxRun:
    """The run's GX context, its results named after the days and the Dagster run."""
    last = end - dt.timedelta(days=1)
    return GxRun(docs_settings(), f"{start}..{last} run {context.run.run_id[:8]}")


def publish(run: GxRun, log: dg.DagsterLogManager) -> None:
    """Render the run's Data Docs once, after all its entities are validated; a failure is a
    warning in the run's log, never a failed gather."""
    began = time.monotonic()
    index = publish_quietly(run, log.warning)
    if index is not None:
        log.info(f"Great Expectations Data Docs: {index} "
                 f"({time.monotonic() - began:.1f} s to render)")


def results(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, entity: str, start: dt.date,
    end: dt.date, metadata: dict[str, object], run: GxRun, now: dt.datetime,
    selected_checks: Set[dg.AssetCheckKey],
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """The materialization (row counts and what was read), the contract check's verdict and,
    when selected, the freshness check's (`now`: the run's time, UTC, naive)."""
    rules = contract(source, entity)
    passed, check_metadata = validate_raw(con, rules, start, end, run)
    if run.docs is not None:
        check_metadata["data_docs"] = dg.MetadataValue.path(str(run.docs.site / "index.html"))
    key = raw_key(source, entity)
    yield dg.MaterializeResult(
        asset_key=key,
        metadata={"dagster/row_count": raw_count(con, rules.table),
                  "dagster/table_name": f"raw.{rules.table}", **metadata})
    yield dg.AssetCheckResult(asset_key=key, check_name=CONTRACT_CHECK,
                              passed=passed, metadata=check_metadata)
    if dg.AssetCheckKey(key, FRESHNESS_CHECK) in selected_checks:
        yield freshness_result(con, source, entity, end, now)
