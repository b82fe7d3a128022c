"""Publishing reports in tests from a copy of the session's pipeline warehouse.

Tests that change what the report reads (hostile text, missing or extra analysis tables) work
on a copy, so the shared ``pipeline_run`` warehouse stays as the pipeline left it, and they run
only the step-6 assets, through the real asset definitions.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg

from assets.step6_present import CADENCES, report, scorecard
from resources.report_store import ReportStore
from resources.warehouse import Warehouse


def copy_warehouse(source: Warehouse, folder: Path) -> Warehouse:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "warehouse.duckdb"
    shutil.copyfile(source.database_path(), target)
    return Warehouse(path=str(target))


def _materialize(assets: list[dg.AssetsDefinition], warehouse: Warehouse, store: ReportStore,
                 partition_key: str | None = None) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        assets, resources={"warehouse": warehouse, "report_store": store},
        partition_key=partition_key, instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    failures = [e.step_failure_data.error.to_string() for e in result.all_events
                if e.is_step_failure and e.step_failure_data.error]
    assert result.success, "\n".join(failures)
    return result


def publish_rolling(warehouse: Warehouse, store: ReportStore) -> dg.ExecuteInProcessResult:
    """present/scorecard and present/report: the rolling report and the index."""
    return _materialize([scorecard, report], warehouse, store)


def publish_period(kind: str, key: str, warehouse: Warehouse,
                   store: ReportStore) -> dg.ExecuteInProcessResult:
    """The weekly or monthly report of one partition (never its e-mail)."""
    cadence = next(c for c in CADENCES if c.report.key.path[-1] == f"{kind}_report")
    return _materialize([cadence.report], warehouse, store, partition_key=key)


def materialization(result: dg.ExecuteInProcessResult, key: str) -> dict[str, object]:
    """The metadata of the one materialization of asset ``key`` (e.g. "present/report")."""
    found = [e.materialization.metadata for e in result.get_asset_materialization_events()
             if e.materialization.asset_key.to_user_string() == key]
    assert len(found) == 1, f"{key} materialized {len(found)} times"
    return found[0]


def kpi_names(warehouse: Warehouse) -> dict[str, str]:
    """kpi_id -> name of the KPI catalogue the run materialized (what its reports show)."""
    with warehouse.connect(read_only=True) as con:
        return dict(con.execute("SELECT kpi_id, name FROM measures.kpi_catalogue").fetchall())
