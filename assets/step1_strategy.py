"""Step 1 — identify the strategy for improvement.

The vision, business goals, objectives, services in scope and the targets that say when an
objective is met come from config/strategy.yaml and config/kpis.yaml, so the strategy is
reviewed like code and every number downstream traces back to the objective it serves.

Step 7 feeds back into step 1: strategy/targets shows each KPI's measured value over the
baseline period of strategy.yaml when the warehouse already holds it (a read of earlier runs'
results, deliberately not a dependency, which would make the graph circular).
"""

from __future__ import annotations

import dagster as dg
import duckdb
import pandas as pd

from assets.common import OWNER, content_version, replace_table, table_metadata
from assets.kpi_rollup import window_values
from resources.config_models import KpiCatalogue, StrategyConfig
from resources.settings import calendar, kpis, strategy
from resources.warehouse import Warehouse

GROUP = "step1_strategy"
_COMMON = dict(group_name=GROUP, kinds={"duckdb", "yaml"}, owners=[OWNER],
               pool="duckdb_warehouse")
TARGET_COLUMNS = ["objective_id", "kpi_id", "direction", "unit", "target", "warning", "by_when",
                  "baseline_start", "baseline_end", "baseline_value"]


def _md(problems: list[str]) -> dg.MetadataValue:
    return dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")


@dg.asset(key=["strategy", "objectives"], description="Improvement objectives, each tied to a "
          "business goal, an owner, a horizon and the services in scope.", **_COMMON)
def objectives(warehouse: Warehouse) -> dg.MaterializeResult:
    cfg = strategy()
    goals = {g.id: g.statement for g in cfg.business_goals}
    frame = pd.DataFrame([
        {
            "objective_id": o.id,
            "statement": o.statement,
            "business_goal_id": o.business_goal,
            "business_goal": goals[o.business_goal],
            "owner": o.owner,
            "horizon": pd.Timestamp(o.horizon),
            "services": ", ".join(o.services),
            "review_cadence": cfg.reporting.review_cadence,
        }
        for o in cfg.objectives
    ])
    with warehouse.connect() as con:
        rows = replace_table(con, "strategy.objectives", frame)
        return dg.MaterializeResult(metadata={
            **table_metadata(con, "strategy.objectives", rows),
            "vision": dg.MetadataValue.text(cfg.vision),
            "review_cadence": cfg.reporting.review_cadence,
            "baseline": f"{cfg.baseline.start} .. {cfg.baseline.end}",
        })


@dg.asset(key=["strategy", "services"], description="Services in scope with criticality, agreed "
          "service hours, support hours and users, plus their response and resolution targets.",
          **_COMMON)
def services(warehouse: Warehouse) -> dg.MaterializeResult:
    cfg = strategy()
    always_on = set(calendar().always_on_services)
    frame = pd.DataFrame([
        {"service": s.name, "criticality": s.criticality, "hours": s.hours, "users": s.users,
         "support_24x7": s.name in always_on}
        for s in cfg.services
    ])
    levels = pd.DataFrame([
        {
            "priority": p,
            "response_minutes": float(cfg.service_levels.response_minutes[p]),
            "resolution_minutes": float(cfg.service_levels.resolution_minutes[p]),
        }
        for p in sorted(cfg.service_levels.response_minutes)
    ])
    with warehouse.connect() as con:
        rows = replace_table(con, "strategy.services", frame)
        replace_table(con, "strategy.service_levels", levels)
        return dg.MaterializeResult(metadata=table_metadata(con, "strategy.services", rows),
                                    data_version=content_version(frame, levels))


def baseline_values(con: duckdb.DuckDBPyConnection, cfg: StrategyConfig,
                    catalogue: KpiCatalogue) -> dict[str, float | None]:
    """Each KPI's exact value over the baseline period, from earlier runs; empty if the
    warehouse holds no facts for it yet."""
    try:
        days = con.execute(
            "SELECT count(*) FROM clean.kpi_daily WHERE day BETWEEN ? AND ?",
            [cfg.baseline.start, cfg.baseline.end]).fetchall()[0][0]
        if not days:
            return {}
        end = pd.Timestamp(cfg.baseline.end).date() + pd.Timedelta(days=1)
        return window_values(con, catalogue, cfg.baseline.start, end)
    except (duckdb.CatalogException, duckdb.BinderException):  # no facts, or older tables
        return {}


def targets_frame(cfg: StrategyConfig, catalogue: KpiCatalogue,
                  baseline: dict[str, float | None]) -> pd.DataFrame:
    """Objective x KPI x target x by when, with the baseline the target is set against."""
    horizon = {o.id: pd.Timestamp(o.horizon) for o in cfg.objectives}
    return pd.DataFrame([
        {
            "objective_id": objective,
            "kpi_id": k.id,
            "direction": k.direction,
            "unit": k.unit,
            "target": k.target,
            "warning": k.warning,
            "by_when": horizon.get(objective),
            "baseline_start": pd.Timestamp(cfg.baseline.start),
            "baseline_end": pd.Timestamp(cfg.baseline.end),
            "baseline_value": baseline.get(k.id),
        }
        for k in catalogue.kpis
        for objective in k.objectives
    ], columns=TARGET_COLUMNS)


@dg.asset(key=["strategy", "targets"], description="Objective × KPI × target × by when: what "
          "success looks like for each objective, beside the KPI's value over the baseline "
          "period.", **_COMMON)
def targets(warehouse: Warehouse) -> dg.MaterializeResult:
    cfg, catalogue = strategy(), kpis()
    with warehouse.connect() as con:
        frame = targets_frame(cfg, catalogue, baseline_values(con, cfg, catalogue))
        rows = replace_table(con, "strategy.targets", frame)
        return dg.MaterializeResult(metadata=table_metadata(con, "strategy.targets", rows))


def unmeasured_objectives(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Objectives no KPI measures, and KPIs serving objectives the strategy does not define."""
    unmeasured = [r[0] for r in con.execute(
        "SELECT objective_id FROM strategy.objectives WHERE objective_id NOT IN "
        "(SELECT objective_id FROM strategy.targets) ORDER BY 1").fetchall()]
    unknown = con.execute(
        "SELECT kpi_id, objective_id FROM strategy.targets WHERE objective_id NOT IN "
        "(SELECT objective_id FROM strategy.objectives) ORDER BY 1").fetchall()
    return ([f"objective {o} has no KPI measuring it (add it to a KPI's objectives in "
             "config/kpis.yaml)" for o in unmeasured]
            + [f"KPI {k} serves objective {o}, which config/strategy.yaml does not define"
               for k, o in unknown])


def wrong_way_targets(frame: pd.DataFrame) -> list[str]:
    """Targets that do not point the way the KPI improves: a share outside 0..1, or a target
    that asks for a worse value than the baseline."""
    problems = []
    for r in frame.drop_duplicates("kpi_id").itertuples():
        if pd.isna(r.target):
            continue
        if r.unit == "%" and not 0 <= r.target <= 1:
            problems.append(f"{r.kpi_id}: target {r.target:g} is not a share between 0 and 1")
        if pd.isna(r.baseline_value):
            continue
        lower = r.direction == "lower_is_better"
        if (r.target > r.baseline_value) if lower else (r.target < r.baseline_value):
            better = "lower" if lower else "higher"
            problems.append(
                f"{r.kpi_id}: target {r.target:g} is worse than the baseline "
                f"{r.baseline_value:.4g}, though {better} is better: it asks for deterioration")
    return problems


@dg.asset_check(asset=targets, blocking=True, pool=_COMMON["pool"],
                description="Every objective is measured by at "
                "least one KPI and every KPI names only objectives the strategy defines.")
def objectives_are_measured(warehouse: Warehouse) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        problems = unmeasured_objectives(con)
    return dg.AssetCheckResult(passed=not problems, metadata={"problems": _md(problems)})


@dg.asset_check(asset=targets, description="KPIs with a target that serve no objective "
                "(a warning: a target nobody owns is rarely acted on).")
def targets_serve_objectives() -> dg.AssetCheckResult:
    orphans = [k.id for k in kpis().kpis if k.target is not None and not k.objectives]
    return dg.AssetCheckResult(
        passed=not orphans,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"kpis_without_objective": ", ".join(orphans) or "none"},
    )


@dg.asset_check(asset=targets, pool=_COMMON["pool"],
                description="Targets point the way the KPI improves: shares lie "
                "in 0..1 and no target is worse than the KPI's baseline value.")
def targets_point_the_right_way(warehouse: Warehouse) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        frame = con.execute("SELECT * FROM strategy.targets").df()
    problems = wrong_way_targets(frame)
    return dg.AssetCheckResult(
        passed=not problems, severity=dg.AssetCheckSeverity.WARN,
        metadata={"problems": _md(problems),
                  "kpis_with_baseline": int(frame.dropna(subset=["baseline_value"])
                                            ["kpi_id"].nunique())})


def unknown_services(cfg: StrategyConfig, always_on: list[str]) -> list[str]:
    """Services named by objectives or calendar.yaml that strategy.yaml does not list."""
    known = {s.name for s in cfg.services}
    problems = [f"objective {o.id} names service {s!r}" for o in cfg.objectives
                for s in o.services if s not in known]
    problems += [f"calendar.yaml always_on_services names {s!r}" for s in always_on
                 if s not in known]
    return [f"{p}, which is not a service of strategy.yaml" for p in problems]


@dg.asset_check(asset=services, blocking=True, description="Every service referenced by an "
                "objective or by calendar.yaml (24x7 support) is a service of strategy.yaml.")
def services_referenced_exist() -> dg.AssetCheckResult:
    problems = unknown_services(strategy(), calendar().always_on_services)
    return dg.AssetCheckResult(passed=not problems, metadata={"problems": _md(problems)})


defs = dg.Definitions(
    assets=[objectives, services, targets],
    asset_checks=[objectives_are_measured, targets_serve_objectives,
                  targets_point_the_right_way, services_referenced_exist],
)
