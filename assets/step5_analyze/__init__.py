"""Step 5 — analyze the information and data: trends and control-chart signals per KPI."""


import dagster as dg
import pandas as pd

from assets.common import OWNER, WAREHOUSE_POOL, replace_table, table_metadata
from assets.step5_analyze.findings import (
    SIGNAL_COLUMNS,
    TREND_COLUMNS,
    signal_findings,
    trend_findings,
)
from resources.warehouse import Warehouse

GROUP = "step5_analyze"
ANALYSIS_DAYS = 182
"""History the analyses look at: long enough for a baseline and a 13-week trend."""

_COMMON = dict(group_name=GROUP, kinds={"duckdb", "pandas", "scipy"}, owners=[OWNER],
               pool=WAREHOUSE_POOL, deps=[dg.AssetKey(["clean", "kpi_daily"]),
                                          dg.AssetKey(["measures", "kpi_catalogue"])])


def _inputs(con) -> tuple[pd.DataFrame, pd.DataFrame]:
    facts = con.execute(
        """SELECT kpi_id, day, breakdown, breakdown_value, value FROM clean.kpi_daily
        WHERE breakdown IN ('all', 'service')
          AND day > (SELECT max(day) FROM clean.kpi_daily) - ?::INTEGER
        ORDER BY ALL""", [ANALYSIS_DAYS]).df()
    catalogue = con.execute(
        "SELECT kpi_id, name, unit, direction, kind FROM measures.kpi_catalogue").df()
    return facts, catalogue


def _empty_if_none(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame if not frame.empty else pd.DataFrame(columns=columns)


@dg.asset(key=["analysis", "kpi_trends"], description="Theil–Sen slope and Mann–Kendall test per "
          "KPI and service over 4- and 13-week windows, classified improving, stable or "
          "degrading according to the KPI's direction.", **_COMMON)
def kpi_trends(warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        facts, catalogue = _inputs(con)
        frame = _empty_if_none(trend_findings(facts, catalogue), TREND_COLUMNS)
        rows = replace_table(con, "analysis.kpi_trends", frame)
        degrading = int((frame["classification"] == "degrading").sum()) if rows else 0
        return dg.MaterializeResult(metadata={**table_metadata(con, "analysis.kpi_trends", rows),
                                              "degrading": degrading})


@dg.asset(key=["analysis", "kpi_signals"], description="XmR control-chart signals (Western "
          "Electric rules) per KPI and service, weekday seasonality removed from daily counts "
          "and durations charted on log values.", **_COMMON)
def kpi_signals(warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        facts, catalogue = _inputs(con)
        frame = _empty_if_none(signal_findings(facts, catalogue), SIGNAL_COLUMNS)
        rows = replace_table(con, "analysis.kpi_signals", frame)
        return dg.MaterializeResult(metadata=table_metadata(con, "analysis.kpi_signals", rows))


defs = dg.Definitions(assets=[kpi_trends, kpi_signals])
