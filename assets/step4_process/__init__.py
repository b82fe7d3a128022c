"""Step 4 — process the data: canonical clean tables, the quarantine, incident history, SLA
records, KPI facts."""

import dagster as dg

from assets.step4_process.clean_assets import clean_assets
from assets.step4_process.history_assets import history_assets
from assets.step4_process.kpi_facts import kpi_coverage, kpi_daily
from assets.step4_process.sla_records import sla_records

defs = dg.Definitions(
    assets=[*clean_assets, *history_assets, sla_records, kpi_daily, kpi_coverage])
