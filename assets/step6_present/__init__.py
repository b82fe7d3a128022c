"""Step 6 — present and use the information: the scorecard and the offline HTML reports.

Three kinds of report share one renderer: the rolling report over the scorecard window up to
the last day with data (``present/report``, refreshed by every daily run), and weekly and
monthly reports as partitioned assets (``period_reports``) with their own jobs and schedules.
"""

import dagster as dg
import pandas as pd

from assets import step5_analyze, step7_implement
from assets.common import OWNER, WAREHOUSE_POOL, replace_table, table_metadata
from assets.step6_present import period_reports, periods
from assets.step6_present.publish import metadata, publish
from assets.step6_present.scorecard import kpi_cards, last_day, scorecard_frame
from assets.step6_present.summaries import scorecard_markdown
from resources.mailer import Mailer
from resources.report_store import ReportStore
from resources.settings import strategy
from resources.warehouse import Warehouse

GROUP = "step6_present"

ANALYSIS = [key for asset in step5_analyze.defs.assets or () for key in asset.keys]
"""Every analysis result the report may show: the report reads whatever step 5 writes."""

REGISTER = [key for asset in step7_implement.defs.assets or () for key in asset.keys]
"""The improvement register and its outcomes (step 7 reads only present/scorecard)."""

REPORT_INPUTS = [
    dg.AssetKey(["clean", "kpi_daily"]), dg.AssetKey(["measures", "kpi_catalogue"]),
    dg.AssetKey(["strategy", "objectives"]), *ANALYSIS, *REGISTER,
]


@dg.asset(
    key=["present", "scorecard"],
    deps=[dg.AssetKey(["clean", "kpi_daily"]), dg.AssetKey(["measures", "kpi_catalogue"])],
    group_name=GROUP, kinds={"duckdb", "markdown"}, owners=[OWNER], pool=WAREHOUSE_POOL,
    description="Each KPI's value over the reporting window up to the last day with data (an "
    "exact roll-up) and over the window before it, its target, status (on target / at risk / "
    "off target) and 13-week trend.",
)
def scorecard(warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        end = last_day(con)
        if end is None:
            raise ValueError("clean.kpi_daily has no KPI facts yet: materialize steps 3 and 4 "
                             "for at least one day first")
        period = periods.rolling(end, strategy().reporting.scorecard_window_days)
        frame = scorecard_frame(con, period)
        rows = replace_table(con, "present.scorecard", frame)
        cards = kpi_cards(con, frame)
        return dg.MaterializeResult(metadata={
            **table_metadata(con, "present.scorecard", rows),
            "scorecard": dg.MetadataValue.md(scorecard_markdown(cards)),
            "off_target": int((frame["status"] == "off_target").sum()),
        })


@dg.asset(
    key=["present", "report"],
    deps=[scorecard, *REPORT_INPUTS],
    group_name=GROUP, kinds={"html", "csv", "parquet"}, owners=[OWNER], pool=WAREHOUSE_POOL,
    description="The offline, self-contained HTML report over the scorecard window "
    "(report-YYYY-MM-DD.html) with its CSV and Parquet extracts and SVG chart, and the index "
    "of all reports, in the report directory.",
)
def report(warehouse: Warehouse, report_store: ReportStore) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        frame = con.execute("SELECT * FROM present.scorecard").df()
        start = pd.Timestamp(frame["window_start"].min()).date()
        end = pd.Timestamp(frame["window_end"].max()).date()
        published = publish(con, report_store, periods.rolling(end, (end - start).days + 1),
                            frame)
    return dg.MaterializeResult(metadata=metadata(published))


CADENCES = [period_reports.build(kind, REPORT_INPUTS) for kind in ("weekly", "monthly")]

PERIODIC = dg.AssetSelection.assets(*(a for c in CADENCES for a in (c.report, c.mail)))
"""Assets on a weekly or monthly cadence: daily jobs must leave them out (one job, one
partitioning)."""

defs = dg.Definitions(
    assets=[scorecard, report, *(a for c in CADENCES for a in (c.report, c.mail))],
    jobs=[c.job for c in CADENCES],
    schedules=[c.schedule for c in CADENCES],
    resources={"mailer": Mailer()},
)
