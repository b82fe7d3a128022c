"""One writer on the DuckDB file: every step that opens the warehouse is in the pool, and every
Dagster instance sevenstep creates or ships limits that pool to one step at a time.

Two real runs at once through the queue are in tests/test_webserver.py (they need the daemon).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from assets.common import WAREHOUSE_POOL
from pipelines.runner import ensure_instance_config

ROOT = Path(__file__).resolve().parents[1]


def _ops(job_name: str):
    from pipelines.definitions import defs

    return defs.resolve_job_def(job_name).graph.node_defs


def test_every_step_that_opens_the_warehouse_is_in_the_pool() -> None:
    """A step outside the pool could read or write while another run holds DuckDB's lock
    ("Could not set lock on file"): asset checks that only read count too."""
    from pipelines.definitions import defs

    jobs = ["sevenstep_all", *(job.name for job in defs.resolve_all_job_defs()
                               if not job.name.startswith("__"))]
    outside = sorted({f"{job}: {op.name}" for job in jobs for op in _ops(job)
                      if "warehouse" in op.required_resource_keys and op.pool != WAREHOUSE_POOL})
    assert outside == []
    assert any(op.pool == WAREHOUSE_POOL for op in _ops("sevenstep_nightly"))


def test_a_new_local_instance_limits_the_pool_to_one(tmp_path) -> None:
    config = yaml.safe_load(ensure_instance_config(tmp_path / "home").read_text())
    assert config["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}
    (tmp_path / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    ensure_instance_config(tmp_path / "home")  # an operator's file is never overwritten
    assert (tmp_path / "home" / "dagster.yaml").read_text() == "telemetry:\n  enabled: true\n"


def test_the_production_instance_and_helm_values_limit_the_pool_to_one() -> None:
    instance = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    assert instance["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}
    assert instance["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert instance["storage"]["postgres"]["postgres_url"] == {"env": "SEVENSTEP_DAGSTER_PG_URL"}
    values = yaml.safe_load((ROOT / "deploy" / "helm" / "values.yaml").read_text())
    assert values["concurrency"]["pools"] == {"defaultLimit": 1, "granularity": "op"}
    runs, chart = instance["concurrency"]["runs"], values["concurrency"]["runs"]
    assert chart["tagConcurrencyLimits"] == runs["tag_concurrency_limits"]
    assert chart["maxConcurrentRuns"] == runs["max_concurrent_runs"]
