"""Step 5 — analyze the information and data.

KPI analyses (trends, control-chart signals and stability, change points, drivers, forecasts
and target outlooks) read the small daily fact table clean.kpi_daily; the root-cause analyses
(Pareto, changes followed by incidents, problem candidates, major outages) run in DuckDB SQL
over the clean tickets. analysis.findings gathers what deserves attention from all of them
under stable ids. Every parameter is Dagster run config with a documented default
(docs/analysis.md).
"""


import datetime as dt
from collections import Counter

import dagster as dg
import duckdb
import pandas as pd
from pydantic import Field

from assets.common import OWNER, WAREHOUSE_POOL, replace_table, table_metadata
from assets.step5_analyze.drivers import DRIVER_COLUMNS, driver_rows
from assets.step5_analyze.findings import (
    CHANGE_POINT_COLUMNS,
    SIGNAL_COLUMNS,
    STABILITY_COLUMNS,
    TREND_COLUMNS,
    change_point_findings,
    chart_findings,
    finding_id,
    kpi_infos,
    trend_findings,
)
from assets.step5_analyze.outlook import ATTAINMENT_COLUMNS, FORECAST_COLUMNS, outlook_rows
from assets.step5_analyze.reselection import SELECTION_COLUMNS
from assets.step5_analyze.ticket_sql import (
    change_impact,
    incident_bursts,
    major_outages,
    pareto,
    problem_candidates,
)
from assets.step5_analyze.unified import FINDING_COLUMNS, unified_findings
from resources.warehouse import Warehouse, scalar

GROUP = "step5_analyze"
KPI_FACTS = [dg.AssetKey(["clean", "kpi_daily"]), dg.AssetKey(["measures", "kpi_catalogue"])]
TICKETS = [dg.AssetKey(["clean", t]) for t in ("incidents", "changes", "problems", "outages",
                                                "sla_records", "kpi_daily")]
"""Ticket analyses read the clean tickets; their periods end on the last day of KPI facts."""


class HistoryConfig(dg.Config):
    """How much of clean.kpi_daily an analysis reads."""

    history_days: int = Field(default=182, ge=28, description="Days of history analysed, "
                              "ending on the last day with KPI facts.")
    warmup_days: int = Field(default=28, ge=0, description="Days at the start of the "
                             "warehouse's history left out: tickets opened before it are "
                             "missing, so backlogs and times counted on closing run low there.")


class TrendConfig(HistoryConfig):
    history_days: int = Field(default=364, ge=28, description="Days read: the longest window.")
    windows_weeks: list[int] = Field(default=[4, 13, 52], description="Trend windows in weeks.")
    breakdowns: list[str] = Field(default=["all", "service", "priority"],
                                  description="Breakdowns analysed ('all' is the total).")


class ChartConfig(HistoryConfig):
    baseline_days: int = Field(default=56, ge=14, description="Days whose data set the limits.")
    min_stable_days: int = Field(default=28, ge=1, description="In control this long is a "
                                 "stability finding.")
    breakdowns: list[str] = Field(default=["all", "service"], description="Breakdowns charted.")


class ChangePointConfig(HistoryConfig):
    min_segment_days: int = Field(default=14, ge=3, description="Shortest level that counts.")
    min_relative_change: float = Field(default=0.10, ge=0, description="Smallest shift kept, "
                                       "as a share of the earlier level.")
    breakdowns: list[str] = Field(default=["all", "service"], description="Breakdowns analysed.")


class PeriodConfig(dg.Config):
    period_days: int = Field(default=28, ge=7, description="Length of the compared periods.")


class ParetoConfig(PeriodConfig):
    vital_share: float = Field(default=0.8, gt=0, le=1, description="Share of the total that "
                               "the 'vital few' groups make up.")


class ChangeImpactConfig(dg.Config):
    history_days: int = Field(default=182, ge=7, description="Changes started in this many "
                              "days up to the last day are examined.")
    window_hours: int = Field(default=24, ge=1, description="Incidents opened from the change's "
                              "start until this many hours after its end are linked to it.")
    min_incidents: int = Field(default=3, ge=1, description="Fewest incidents on the CI for a "
                               "finding.")
    alpha: float = Field(default=0.001, gt=0, lt=1, description="Poisson p value below which "
                         "the incidents are more than the CI's ordinary rate explains.")


class ProblemConfig(dg.Config):
    lookback_days: int = Field(default=90, ge=7, description="Incidents of this many days are "
                               "searched for clusters.")
    window_days: int = Field(default=30, ge=1, description="Cluster window.")
    min_incidents: int = Field(default=5, ge=2, description="Fewest incidents in the window.")
    alpha: float = Field(default=1e-4, gt=0, lt=1, description="Poisson p value (against the "
                         "service's other CI/category pairs) below which a candidate is a "
                         "finding.")


class OutageConfig(dg.Config):
    history_days: int = Field(default=91, ge=1, description="Outages started in this many days.")
    budget_days: int = Field(default=28, ge=1, description="Period of the downtime budget.")
    fence_sigmas: float = Field(default=2.5, gt=0, description="An outage is major when its "
                                "log duration is this many robust sigmas above the median.")
    availability_kpi: str = Field(default="availability", description="KPI whose target sets "
                                  "the budget.")


class BurstConfig(dg.Config):
    history_days: int = Field(default=91, ge=14, description="Days that set each CI's usual "
                              "share of the volume.")
    recent_days: int = Field(default=42, ge=1, description="Days examined for bursts.")
    min_incidents: int = Field(default=5, ge=1, description="Fewest incidents on the CI that "
                               "day.")
    alpha: float = Field(default=1e-4, gt=0, lt=1, description="Poisson p value below which a "
                         "day is a burst (strict: every CI and day is a test).")


class ForecastConfig(HistoryConfig):
    horizon_weeks: int = Field(default=13, ge=1, le=52, description="Weeks ahead at most.")
    min_horizon_weeks: int = Field(default=4, ge=1, description="Fewer backtestable weeks: no "
                                   "forecast.")
    min_train_days: int = Field(default=28, ge=14, description="Shortest training history in "
                                "the backtest.")
    max_origins: int = Field(default=3, ge=1, description="Backtest cut-off points.")
    trend_weeks: int = Field(default=13, ge=2, description="Window of the current trend.")
    breakdowns: list[str] = Field(default=["all"], description="Breakdowns forecast.")
    kpi_ids: list[str] = Field(default=[], description="KPIs forecast; empty: all with a "
                               "target.")
    reselect_days: int = Field(default=7, ge=1, description="The backtest that selects each "
                               "KPI's method runs at most once in this many days of data; the "
                               "nights between reuse the stored selection and fit only the "
                               "chosen method. 1: every night.")
    settle_days: int = Field(default=3, ge=0, description="Last days of a selection's data "
                             "that late updates may still change (the nightly look-back): a "
                             "change there does not force a new backtest, a change to any "
                             "earlier day does.")


class FindingsConfig(dg.Config):
    recent_days: int = Field(default=42, ge=1, description="Unusual days (beyond 3 sigma) this "
                             "recent become findings.")
    min_sigmas: float = Field(default=4.0, ge=3.0, description="An unusual day becomes a "
                              "finding only this many sigmas from the centre: with hundreds of "
                              "charts, 3-sigma days happen by chance every few days.")
    min_relative_change: float = Field(default=0.10, ge=0, description="A KPI change between "
                                       "periods this large gets a driver finding.")


def _spec(deps: list[dg.AssetKey], kinds: set[str]) -> dict[str, object]:
    """What every step 5 asset (or multi-asset spec) declares."""
    return dict(group_name=GROUP, kinds={"duckdb", *kinds}, owners=[OWNER], deps=deps)


def _common(deps: list[dg.AssetKey], kinds: set[str]) -> dict[str, object]:
    return {**_spec(deps, kinds), "pool": WAREHOUSE_POOL}


def last_day(con: duckdb.DuckDBPyConnection) -> dt.date:
    day = scalar(con, "SELECT max(day) FROM clean.kpi_daily")
    if day is None:
        raise dg.Failure("clean.kpi_daily is empty: materialize step 4 first")
    return pd.Timestamp(day).date()


def _facts(con: duckdb.DuckDBPyConnection, config: HistoryConfig, breakdowns: list[str]
           ) -> pd.DataFrame:
    """KPI facts of the analysed days: the last history_days, without the warm-up."""
    return con.execute(
        """SELECT kpi_id, day, breakdown, breakdown_value, numerator, denominator, value
        FROM clean.kpi_daily
        WHERE breakdown IN (SELECT unnest(?))
          AND day > (SELECT max(day) FROM clean.kpi_daily) - ?::INTEGER
          AND day >= (SELECT min(day) FROM clean.kpi_daily) + ?::INTEGER
        ORDER BY ALL""", [breakdowns, config.history_days, config.warmup_days]).df()


def _catalogue(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute("SELECT * EXCLUDE (definition) FROM measures.kpi_catalogue").df()


def _store(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame,
           columns: list[str], **extra: object) -> dg.MaterializeResult:
    frame = frame if not frame.empty else pd.DataFrame(columns=columns)
    rows = replace_table(con, table, frame)
    return dg.MaterializeResult(asset_key=table.split("."),
                                metadata={**table_metadata(con, table, rows), **extra})


def _window(con: duckdb.DuckDBPyConnection, days: int) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) timestamps of the last ``days`` days with KPI facts."""
    end = dt.datetime.combine(last_day(con) + dt.timedelta(days=1), dt.time())
    return end - dt.timedelta(days=days), end


@dg.asset(key=["analysis", "kpi_trends"], description="Theil–Sen slope and Mann–Kendall test "
          "per KPI and breakdown over 4-, 13- and 52-week windows, classified improving, "
          "stable or degrading according to the KPI's direction.",
          **_common(KPI_FACTS, {"pandas", "scipy"}))
def kpi_trends(config: TrendConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        frame = trend_findings(_facts(con, config, config.breakdowns), _catalogue(con),
                               tuple(7 * w for w in config.windows_weeks))
        return _store(con, "analysis.kpi_trends", frame, TREND_COLUMNS,
                      degrading=int((frame["classification"] == "degrading").sum())
                      if not frame.empty else 0)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(["analysis", "kpi_signals"], description="Control-chart signals (Western "
                     "Electric rules) per KPI and service: weekday-adjusted XmR for counts, "
                     "weighted (Laney) charts for ratios and means, durations on log values.",
                     **_spec(KPI_FACTS, {"pandas", "scipy"})),
        dg.AssetSpec(["analysis", "kpi_stability"], description="Per charted KPI and service: "
                     "days in control since the last signal; a long stretch is a stability "
                     "finding.", **_spec(KPI_FACTS, {"pandas", "scipy"})),
    ],
    pool=WAREHOUSE_POOL,
)
def kpi_charts(config: ChartConfig, warehouse: Warehouse):
    with warehouse.connect() as con:
        found, stable = chart_findings(_facts(con, config, config.breakdowns), _catalogue(con),
                                       config.baseline_days, config.min_stable_days)
        yield _store(con, "analysis.kpi_signals", found, SIGNAL_COLUMNS)
        yield _store(con, "analysis.kpi_stability", stable, STABILITY_COLUMNS)


@dg.asset(key=["analysis", "kpi_change_points"], description="Sustained level shifts per KPI "
          "and service (PELT on a noise-scaled series), dated to the first day at the new "
          "level.", **_common(KPI_FACTS, {"pandas"}))
def kpi_change_points(config: ChangePointConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        frame = change_point_findings(_facts(con, config, config.breakdowns), _catalogue(con),
                                      min_segment_days=config.min_segment_days,
                                      min_relative_change=config.min_relative_change)
        return _store(con, "analysis.kpi_change_points", frame, CHANGE_POINT_COLUMNS)


@dg.asset(key=["analysis", "kpi_drivers"], description="A KPI's change between the last period "
          "and the one before, split into mix and rate effects per service, priority or other "
          "breakdown: which group explains the change.", **_common(KPI_FACTS, {"pandas"}))
def kpi_drivers(config: PeriodConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        frame = driver_rows(con, kpi_infos(_catalogue(con)), last_day(con), config.period_days)
        return _store(con, "analysis.kpi_drivers", frame, DRIVER_COLUMNS)


@dg.asset(key=["analysis", "pareto"], description="Pareto of incidents, SLA breaches and "
          "unplanned downtime by service, CI, category and assignment group over the last "
          "period, with the vital few marked.", **_common(TICKETS, {"sql"}))
def pareto_asset(config: ParetoConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        start, end = _window(con, config.period_days)
        frame = pareto(con, start, end, config.vital_share)
        frame.insert(0, "period_start", start.date())
        frame.insert(1, "period_end", (end - dt.timedelta(days=1)).date())
        return _store(con, "analysis.pareto", frame, list(frame.columns))


@dg.asset(key=["analysis", "change_impact"], description="Every change with the incidents "
          "opened on its CI and service within the window after it; failed and emergency "
          "changes ranked by the incidents that followed.", **_common(TICKETS, {"sql"}))
def change_impact_asset(config: ChangeImpactConfig, warehouse: Warehouse
                        ) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        frame = change_impact(con, *_window(con, config.history_days), config.window_hours)
        frame.insert(0, "finding_id", [finding_id("change_impact", c) for c in
                                       frame["change_id"]])
        frame["flagged"] = (frame["failed_or_emergency"] & (frame["p_value"] < config.alpha)
                            & (frame["incidents"] >= config.min_incidents))
        return _store(con, "analysis.change_impact", frame, list(frame.columns),
                      flagged=int(frame["flagged"].sum()))


@dg.asset(key=["analysis", "problem_candidates"], description="Clusters of recurring incidents "
          "(same CI and category, N or more within 30 days) with no problem record, ranked by "
          "how far they exceed the service's other CI/category pairs.",
          **_common(TICKETS, {"sql", "scipy"}))
def problem_candidates_asset(config: ProblemConfig, warehouse: Warehouse
                             ) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        frame = problem_candidates(con, *_window(con, config.lookback_days),
                                   window_days=config.window_days,
                                   min_incidents=config.min_incidents)
        frame.insert(0, "finding_id", [finding_id("problem_candidate", c, k) for c, k in
                                       zip(frame["ci"], frame["category"], strict=True)])
        frame["flagged"] = frame["p_value"] < config.alpha
        return _store(con, "analysis.problem_candidates", frame, list(frame.columns),
                      flagged=int(frame["flagged"].sum()))


@dg.asset(key=["analysis", "major_outages"], description="Unplanned outages measured against "
          "the downtime budget the availability target allows; one that takes most of the "
          "budget is a major outage.", **_common([*TICKETS, KPI_FACTS[1]], {"sql"}))
def major_outages_asset(config: OutageConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        target = scalar(con, "SELECT target FROM measures.kpi_catalogue WHERE kpi_id = ?",
                        [config.availability_kpi])
        if target is None:
            frame = pd.DataFrame()
        else:
            frame = major_outages(con, *_window(con, config.history_days), target=float(target),
                                  budget_days=config.budget_days,
                                  fence_sigmas=config.fence_sigmas)
            frame.insert(0, "finding_id", [finding_id("major_outage", o)
                                           for o in frame["outage_id"]])
            frame["budget_days"] = config.budget_days
        return _store(con, "analysis.major_outages", frame,
                      ["finding_id", "outage_id", "service", "ci", "day", "minutes", "major"])


@dg.asset(key=["analysis", "incident_bursts"], description="Days on which a CI received far "
          "more incidents than its usual share of the day's volume (per CI and day, Poisson).",
          **_common(TICKETS, {"sql", "scipy"}))
def incident_bursts_asset(config: BurstConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        start, end = _window(con, config.history_days)
        recent = (end - dt.timedelta(days=config.recent_days)).date()
        frame = incident_bursts(con, start, end, recent, alpha=config.alpha,
                                min_incidents=config.min_incidents)
        frame.insert(0, "finding_id", [finding_id("incident_burst", c, d) for c, d in
                                       zip(frame["ci"], frame["day"], strict=True)])
        return _store(con, "analysis.incident_bursts", frame, list(frame.columns),
                      bursts=int(frame["burst"].sum()))


SELECTION_TABLE = "analysis.forecast_selection"


@dg.multi_asset(
    specs=[
        dg.AssetSpec(["analysis", "kpi_forecasts"], description="Weekly forecasts 4-13 weeks "
                     "ahead per KPI with a target, by the method that won a rolling-origin "
                     "backtest against seasonal naive, with the backtested error per week.",
                     **_spec(KPI_FACTS, {"pandas", "statsmodels"})),
        dg.AssetSpec(["analysis", "target_attainment"], description="Per KPI with a target: "
                     "current level, trend, the date the target is reached (or left) at the "
                     "current trend, and the forecast's verdict.",
                     **_spec(KPI_FACTS, {"pandas", "statsmodels"})),
        dg.AssetSpec(["analysis", "forecast_selection"], description="Per forecast KPI: the "
                     "method the backtest chose, its backtested errors per week ahead and the "
                     "data it was chosen on. The backtest re-runs when the selection is "
                     "reselect_days days of data old, the KPI definition or backtest settings "
                     "changed, the night brings no day after the selection's last day (a "
                     "re-run, or the end of a backfill), the window moved other than forward, "
                     "or any fact it saw changed except the last settle_days days (late "
                     "updates); otherwise only the chosen method is fitted on the current "
                     "series.", **_spec(KPI_FACTS, {"pandas", "statsmodels"})),
    ],
    pool=WAREHOUSE_POOL,
)
def kpi_outlook(config: ForecastConfig, warehouse: Warehouse):
    with warehouse.connect() as con:
        catalogue = _catalogue(con)
        versions = (dict(zip(catalogue["kpi_id"], catalogue["kpi_version"], strict=True))
                    if "kpi_version" in catalogue else {})
        stored = (con.execute(f"SELECT * FROM {SELECTION_TABLE}").df()
                  if _table_exists(con, SELECTION_TABLE) else None)
        tables = outlook_rows(
            _facts(con, config, config.breakdowns), kpi_infos(catalogue),
            breakdowns=tuple(config.breakdowns), kpi_ids=tuple(config.kpi_ids),
            horizon_weeks=config.horizon_weeks, min_horizon_weeks=config.min_horizon_weeks,
            min_train_days=config.min_train_days, max_origins=config.max_origins,
            trend_days=7 * config.trend_weeks, versions=versions, stored=stored,
            reselect_days=config.reselect_days, settle_days=config.settle_days)
        decided = Counter(tables.decisions.values())
        yield _store(con, "analysis.kpi_forecasts", tables.forecasts, FORECAST_COLUMNS)
        yield _store(con, "analysis.target_attainment", tables.attainment, ATTAINMENT_COLUMNS)
        yield _store(con, SELECTION_TABLE, tables.selection, SELECTION_COLUMNS,
                     reused=decided.pop("reused", 0), not_forecast=decided.pop("not_forecast", 0),
                     reselected=sum(decided.values()),
                     **{f"reselected/{k}": v for k, v in sorted(decided.items())})


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    return bool(scalar(con, "SELECT count(*) FROM information_schema.tables "
                       "WHERE table_schema = ? AND table_name = ?", [schema, name]))


ANALYSIS_TABLES = ("kpi_trends", "kpi_signals", "kpi_stability", "kpi_change_points",
                   "kpi_drivers", "pareto", "change_impact", "problem_candidates",
                   "major_outages", "incident_bursts", "target_attainment")


@dg.asset(key=["analysis", "findings"], description="Every finding worth reading, from all "
          "analyses, one row each with kind, KPI, scope, service, CI, day, title, detail and "
          "the evidence as JSON, under ids that stay the same across runs.",
          **_common([dg.AssetKey(["analysis", t]) for t in ANALYSIS_TABLES] + KPI_FACTS[1:],
                    {"pandas"}))
def findings(config: FindingsConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        tables = {t: con.execute(f"SELECT * FROM analysis.{t}").df() for t in ANALYSIS_TABLES}
        for name in ("change_impact", "problem_candidates"):
            tables[f"{name}_flagged"] = tables[name][tables[name]["flagged"].astype(bool)] \
                if "flagged" in tables[name] else tables[name].head(0)
        outages = tables["major_outages"]
        tables["major_outages_flagged"] = (outages[outages["major"].astype(bool)]
                                           if not outages.empty else outages)
        bursts = tables["incident_bursts"]
        tables["incident_bursts_flagged"] = (bursts[bursts["burst"].astype(bool)]
                                             if not bursts.empty else bursts)
        frame = unified_findings(tables, kpi_infos(_catalogue(con)), last_day=last_day(con),
                                 recent_days=config.recent_days,
                                 min_sigmas=config.min_sigmas,
                                 min_relative_change=config.min_relative_change)
        counts = frame.groupby("kind").size().to_dict() if not frame.empty else {}
        return _store(con, "analysis.findings", frame, FINDING_COLUMNS,
                      **{f"kind/{k}": int(v) for k, v in counts.items()})


defs = dg.Definitions(assets=[kpi_trends, kpi_charts, kpi_change_points, kpi_drivers,
                              pareto_asset, change_impact_asset, problem_candidates_asset,
                              major_outages_asset, incident_bursts_asset, kpi_outlook, findings])
