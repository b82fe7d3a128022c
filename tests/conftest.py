"""Shared fixtures: a whole pipeline run on a small synthetic range, in a temporary folder."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from resources.report_store import ReportStore
from resources.synthetic import SyntheticSource
from resources.synthetic_data import SyntheticParams
from resources.warehouse import Warehouse

AS_OF = dt.datetime(2026, 6, 1)
FIRST = dt.date(2026, 4, 20)
LAST = dt.date(2026, 5, 31)
VOLUME = 40.0


@dataclass
class PipelineRun:
    result: dg.ExecuteInProcessResult
    warehouse: Warehouse
    reports: ReportStore
    params: SyntheticParams
    first: dt.date
    last: dt.date

    def con(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.warehouse.database_path()), read_only=True)


def pipeline_resources(folder: Path, **synthetic: object) -> dict[str, object]:
    return {
        "warehouse": Warehouse(path=str(folder / "warehouse.duckdb")),
        "synthetic": SyntheticSource(as_of=AS_OF.isoformat(), incidents_per_day=VOLUME,
                                     **synthetic),
        "report_store": ReportStore(directory=str(folder / "reports")),
    }


@pytest.fixture(scope="session", autouse=True)
def _session_data_dir(tmp_path_factory: pytest.TempPathFactory):
    """Session- and module-scoped fixtures run before the per-test isolation below: they get a
    data folder of the session's own (pseudonym salt, GX stores, Data Docs), never data/."""
    patch = pytest.MonkeyPatch()
    patch.setenv("SEVENSTEP_DATA_DIR", str(tmp_path_factory.mktemp("session-data")))
    patch.delenv("SEVENSTEP_WAREHOUSE", raising=False)
    patch.delenv("SEVENSTEP_REPORT_DIR", raising=False)
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """Nothing a test does may touch the developer's data/ folder."""
    folder = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("SEVENSTEP_DATA_DIR", str(folder))
    monkeypatch.delenv("SEVENSTEP_WAREHOUSE", raising=False)
    monkeypatch.delenv("SEVENSTEP_REPORT_DIR", raising=False)


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> PipelineRun:
    """The real job over 42 days of synthetic data, once per test session."""
    from pipelines.runner import run_range

    folder = tmp_path_factory.mktemp("pipeline")
    resources = pipeline_resources(folder)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    result = run_range(FIRST, LAST, resources=resources,
                       dagster_instance=dg.DagsterInstance.ephemeral())
    return PipelineRun(result, resources["warehouse"], resources["report_store"],
                       resources["synthetic"].params(), FIRST, LAST)
