"""Step 6 — present and use the information: the scorecard and the offline HTML report."""


import dagster as dg
import pandas as pd

from assets.common import OWNER, WAREHOUSE_POOL, replace_table, table_metadata
from assets.step6_present.render import render_index, render_report, scorecard_markdown
from assets.step6_present.report_data import report_data
from assets.step6_present.scorecard import kpi_cards, scorecard_frame
from resources.report_store import ReportStore
from resources.settings import strategy
from resources.warehouse import Warehouse

GROUP = "step6_present"


@dg.asset(
    key=["present", "scorecard"],
    deps=[dg.AssetKey(["clean", "kpi_daily"]), dg.AssetKey(["analysis", "kpi_trends"]),
          dg.AssetKey(["measures", "kpi_catalogue"])],
    group_name=GROUP, kinds={"duckdb", "markdown"}, owners=[OWNER], pool=WAREHOUSE_POOL,
    description="Each KPI's value over the reporting window (an exact roll-up), its target, "
    "status (on target / at risk / off target) and 13-week trend.",
)
def scorecard(warehouse: Warehouse) -> dg.MaterializeResult:
    window = strategy().reporting.scorecard_window_days
    with warehouse.connect() as con:
        frame = scorecard_frame(con, window)
        rows = replace_table(con, "present.scorecard", frame)
        cards = kpi_cards(con, frame)
        return dg.MaterializeResult(metadata={
            **table_metadata(con, "present.scorecard", rows),
            "scorecard": dg.MetadataValue.md(scorecard_markdown(cards)),
            "off_target": int((frame["status"] == "off_target").sum()),
        })


@dg.asset(
    key=["present", "report"],
    deps=[scorecard, dg.AssetKey(["analysis", "kpi_signals"]),
          dg.AssetKey(["improve", "actions"]), dg.AssetKey(["strategy", "objectives"])],
    group_name=GROUP, kinds={"html"}, owners=[OWNER], pool=WAREHOUSE_POOL,
    description="The offline, self-contained HTML report for the scorecard window and the "
    "index of all reports, in the report directory.",
)
def report(warehouse: Warehouse, report_store: ReportStore) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        frame = con.execute("SELECT * FROM present.scorecard").df()
        cards = kpi_cards(con, frame)
        start = pd.Timestamp(frame["window_start"].min()).date()
        end = pd.Timestamp(frame["window_end"].max()).date()
        data = report_data(con, cards, start, end)
    path = report_store.write(f"report-{end:%Y-%m-%d}.html", render_report(data))
    index = report_store.write("index.html", render_index(report_store.reports()))
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(path)),
        "index": dg.MetadataValue.path(str(index)),
        "bytes": path.stat().st_size,
        "scorecard": dg.MetadataValue.md(scorecard_markdown(cards)),
    })


defs = dg.Definitions(assets=[scorecard, report])
