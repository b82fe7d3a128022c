"""Jobs and the nightly schedule: the whole pipeline for the demo, backfills and every night.

The weekly and monthly reports have jobs and schedules of their own, built beside their assets
(assets/step6_present/period_reports.py): a job holds one partitioning, and those reports are
partitioned by week and month, not by day.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from assets.step6_present import PERIODIC
from pipelines.operations import NightlyConfig, nightly_days, operations
from pipelines.runner import range_tags
from resources.settings import calendar

STEP_GROUPS = ("step1_strategy", "step2_measures", "step3_gather", "step4_process",
               "step5_analyze", "step6_present", "step7_implement")
PARTITIONED_GROUPS = STEP_GROUPS[2:4]
"""Steps 3 and 4: partitioned by day; a run covers exactly the days it is given."""

DAILY_JOB_SELECTION = dg.AssetSelection.all() - PERIODIC
"""Every asset except the weekly and monthly reports, which have jobs of their own (a job
holds one partitioning)."""

everything = dg.define_asset_job(
    "sevenstep_all",
    selection=DAILY_JOB_SELECTION,
    description="All seven steps. Run it over a range of days (a single-run backfill): steps 3 "
    "and 4 process exactly those days, steps 1-2 and 5-7 are refreshed once.",
)

nightly = dg.define_asset_job(
    "sevenstep_nightly",
    selection=DAILY_JOB_SELECTION,
    description="Gathers and processes yesterday and the look-back days before it (late "
    "updates) in one run, then refreshes the KPI facts, analyses, reports and the improvement "
    "register.",
)


def build_nightly_schedule(settings: NightlyConfig) -> dg.ScheduleDefinition:
    """The nightly run at `settings.time` in `settings.timezone`, as one run over the last
    whole UTC day and the `lookback_days` before it (a ranged run, not one run per day)."""

    @dg.schedule(
        name="sevenstep_nightly_schedule", job=nightly, cron_schedule=settings.cron,
        execution_timezone=settings.timezone,
        default_status=(dg.DefaultScheduleStatus.RUNNING if settings.enabled
                        else dg.DefaultScheduleStatus.STOPPED),
        description=f"Every day at {settings.time} ({settings.timezone}): steps 3-4 over "
        f"yesterday and the {settings.lookback_days} days before it, then steps 1-2 and 5-7. "
        "Set in config/operations.yaml.",
    )
    def _nightly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        moment = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        first, last = nightly_days(moment, settings.lookback_days, calendar().history_start)
        return dg.RunRequest(run_key=f"nightly:{last.isoformat()}", tags=range_tags(first, last))

    return _nightly


nightly_schedule = build_nightly_schedule(operations().nightly)
