"""Helpers for the source tests: build a source from a dict, run its real gather asset over a
day range against a temporary warehouse, read raw tables back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from assets.step3_gather.gather import build_source_gather
from pipelines.runner import RANGE_END, RANGE_START
from resources.config_models import SourceConfig
from resources.warehouse import Warehouse


def source(**fields: Any) -> SourceConfig:
    return SourceConfig.model_validate(fields)


def gather(config: SourceConfig, warehouse: Path, first: dt.date, last: dt.date,
           *, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    """One run of the source's gather asset over first..last, like a single-run backfill."""
    return dg.materialize(
        [build_source_gather(config)],
        resources={"warehouse": Warehouse(path=str(warehouse))},
        tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat()},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )


def rows(warehouse: Path, sql: str, params: object = ()) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def per_day(warehouse: Path, table: str) -> dict[dt.date, int]:
    return dict(rows(warehouse, f"SELECT _partition, count(*) FROM raw.{table} GROUP BY 1"))


def metadata(result: dg.ExecuteInProcessResult, table: str) -> dict[str, Any]:
    for event in result.get_asset_materialization_events():
        if event.asset_key == dg.AssetKey(["raw", table]):
            return {k: v.value for k, v in event.materialization.metadata.items()}
    raise AssertionError(f"raw/{table} was not materialized")


def check_passed(result: dg.ExecuteInProcessResult, table: str) -> bool:
    evaluations = [e.event_specific_data for e in result.all_events
                   if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    return all(ev.passed for ev in evaluations
               if ev.asset_key == dg.AssetKey(["raw", table]))


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(e.step_failure_data.error.message for e in result.all_events
                     if e.is_step_failure and e.step_failure_data.error)
