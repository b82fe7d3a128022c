"""The one Definitions object: what `dagster dev -w workspace.yaml` and the CLI load.

Everything runs in one process (in_process_executor) because DuckDB allows one writing process;
steps still appear separately in the UI with their own checks and metadata.
"""

from __future__ import annotations

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


defs = dg.Definitions(
    assets=[a for step in STEPS for a in step.assets],
    asset_checks=list(step1_strategy.asset_checks),
    jobs=[everything, nightly],
    schedules=[nightly_schedule],
    resources=default_resources(),
    executor=dg.in_process_executor,
)
