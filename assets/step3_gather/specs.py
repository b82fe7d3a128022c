"""The asset and check specs every gather asset shares, and the results it reports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import dagster as dg
import duckdb

from assets.common import OWNER
from assets.step3_gather.entities import contract, raw_key
from quality.contracts import validate_raw
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
    ]
    return specs, checks


def _kinds(source: SourceConfig) -> set[str]:
    return {"synthetic": {"python"}, "files": {"csv"}, "sql": {"sqlalchemy"},
            "servicenow": {"servicenow"}, "prometheus": {"prometheus"}}[source.kind]


def results(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, entity: str, start: dt.date,
    end: dt.date, metadata: dict[str, object],
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """The materialization (row counts and what was read) and the contract check's verdict."""
    rules = contract(source, entity)
    passed, check_metadata = validate_raw(con, rules, start, end)
    yield dg.MaterializeResult(
        asset_key=raw_key(source, entity),
        metadata={"dagster/row_count": raw_count(con, rules.table),
                  "dagster/table_name": f"raw.{rules.table}", **metadata})
    yield dg.AssetCheckResult(asset_key=raw_key(source, entity), check_name=CONTRACT_CHECK,
                              passed=passed, metadata=check_metadata)
