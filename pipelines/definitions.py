"""The one Definitions object: what `dagster dev -w workspace.yaml` and the CLI load.

Each step module exposes its own `defs` (assets, checks, sensors); they are merged here with the
shared resources, jobs and schedules. Everything runs in one process (in_process_executor)
because DuckDB allows one writing process; steps still appear separately in the UI with their
own checks and metadata.
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
from pipelines.jobs import everything, nightly, nightly_schedule
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
        resources=default_resources(),
        executor=dg.in_process_executor,
    ),
)
