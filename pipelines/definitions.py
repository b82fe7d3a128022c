"""The one Definitions object: what `dagster dev -w workspace.yaml` and the CLI load.

Each step module exposes its own `defs` (assets, checks, sensors); they are merged here with the
shared resources, jobs, schedules and the run-failure sensor. By default everything runs in one
process (in_process_executor): DuckDB allows one writing process, and steps still appear
separately in the UI with their own checks and metadata. SEVENSTEP_EXECUTOR=celery (or
multiprocess) spreads steps over workers instead (pipelines/executors.py); the
`duckdb_warehouse` concurrency pool keeps the warehouse to one writer either way.
"""

import dagster as dg

from assets import (
    step1_strategy,
    step2_measures,
    step3_gather,
    step4_process,
    step5_analyze,
    step6_present,
    step7_implement,
)
from pipelines.executors import executor_from_env
from pipelines.jobs import everything, nightly, nightly_schedule
from pipelines.run_failure import run_failure_alert
from resources.report_store import ReportStore
from resources.synthetic import SyntheticSource
from resources.warehouse import Warehouse

STEPS = (step1_strategy, step2_measures, step3_gather, step4_process, step5_analyze,
         step6_present, step7_implement)


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources with empty fields resolve paths from the environment when a run opens them."""
    return {"warehouse": Warehouse(), "synthetic": SyntheticSource(),
            "report_store": ReportStore()}


defs = dg.Definitions.merge(
    *(step.defs for step in STEPS),
    dg.Definitions(
        jobs=[everything, nightly],
        schedules=[nightly_schedule],
        sensors=[run_failure_alert],
        resources=default_resources(),
        executor=executor_from_env(),
    ),
)
