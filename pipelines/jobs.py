"""Jobs and schedules: the nightly run, and the whole pipeline for the demo and backfills."""

from __future__ import annotations

import dagster as dg

PARTITIONED_GROUPS = ("step3_gather", "step4_process")
UNPARTITIONED_GROUPS = ("step1_strategy", "step2_measures", "step5_analyze", "step6_present",
                        "step7_implement")

everything = dg.define_asset_job(
    "sevenstep_all",
    selection=dg.AssetSelection.all(),
    description="All seven steps. Run it over a range of days (a single-run backfill): steps 3 "
    "and 4 process exactly those days, steps 1-2 and 5-7 are refreshed once.",
)

nightly = dg.define_asset_job(
    "sevenstep_nightly",
    selection=dg.AssetSelection.all(),
    description="Gathers and processes yesterday, then refreshes analyses, reports and the "
    "improvement register.",
)

nightly_schedule = dg.build_schedule_from_partitioned_job(
    nightly, hour_of_day=2, minute_of_hour=0, name="sevenstep_nightly_schedule",
)
