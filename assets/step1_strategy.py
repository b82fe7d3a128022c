"""Step 1 — identify the strategy for improvement.

The vision, objectives, services in scope and their targets come from config/strategy.yaml and
config/kpis.yaml, so the strategy is reviewed like code and every number downstream traces back
to the objective it serves.
"""


import dagster as dg
import pandas as pd

from assets.common import OWNER, replace_table, table_metadata
from resources.settings import kpis, strategy
from resources.warehouse import Warehouse

GROUP = "step1_strategy"
_COMMON = dict(group_name=GROUP, kinds={"duckdb", "yaml"}, owners=[OWNER],
               pool="duckdb_warehouse")


@dg.asset(key=["strategy", "objectives"], description="Improvement objectives, each tied to a "
          "business goal, an owner, a horizon and the services in scope.", **_COMMON)
def objectives(warehouse: Warehouse) -> dg.MaterializeResult:
    cfg = strategy()
    goals = {g.id: g.statement for g in cfg.business_goals}
    frame = pd.DataFrame(
        [
            {
                "objective_id": o.id,
                "statement": o.statement,
                "business_goal_id": o.business_goal,
                "business_goal": goals[o.business_goal],
                "owner": o.owner,
                "horizon": pd.Timestamp(o.horizon),
                "services": ", ".join(o.services),
            }
            for o in cfg.objectives
        ]
    )
    with warehouse.connect() as con:
        rows = replace_table(con, "strategy.objectives", frame)
        return dg.MaterializeResult(
            metadata={**table_metadata(con, "strategy.objectives", rows),
                      "vision": dg.MetadataValue.text(cfg.vision)}
        )


@dg.asset(key=["strategy", "services"], description="Services in scope with criticality, agreed "
          "service hours and users, plus their response and resolution targets.", **_COMMON)
def services(warehouse: Warehouse) -> dg.MaterializeResult:
    cfg = strategy()
    frame = pd.DataFrame([s.model_dump() for s in cfg.services]).rename(columns={"name": "service"})
    levels = pd.DataFrame(
        [
            {
                "priority": p,
                "response_minutes": float(cfg.service_levels.response_minutes[p]),
                "resolution_minutes": float(cfg.service_levels.resolution_minutes[p]),
            }
            for p in sorted(cfg.service_levels.response_minutes)
        ]
    )
    with warehouse.connect() as con:
        rows = replace_table(con, "strategy.services", frame)
        replace_table(con, "strategy.service_levels", levels)
        return dg.MaterializeResult(metadata=table_metadata(con, "strategy.services", rows))


@dg.asset(key=["strategy", "targets"], description="Objective × KPI × target × by when: what "
          "success looks like for each objective.", **_COMMON)
def targets(warehouse: Warehouse) -> dg.MaterializeResult:
    cfg = strategy()
    horizon = {o.id: pd.Timestamp(o.horizon) for o in cfg.objectives}
    frame = pd.DataFrame(
        [
            {
                "objective_id": objective,
                "kpi_id": k.id,
                "direction": k.direction,
                "target": k.target,
                "warning": k.warning,
                "by_when": horizon.get(objective),
            }
            for k in kpis().kpis
            for objective in k.objectives
        ],
        columns=["objective_id", "kpi_id", "direction", "target", "warning", "by_when"],
    )
    with warehouse.connect() as con:
        rows = replace_table(con, "strategy.targets", frame)
        return dg.MaterializeResult(metadata=table_metadata(con, "strategy.targets", rows))


@dg.asset_check(asset=targets, blocking=True, description="Every objective is measured by at "
                "least one KPI and every KPI target names a known objective.")
def objectives_are_measured(warehouse: Warehouse) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        unmeasured = [r[0] for r in con.execute(
            "SELECT objective_id FROM strategy.objectives WHERE objective_id NOT IN "
            "(SELECT objective_id FROM strategy.targets) ORDER BY 1").fetchall()]
        unknown = con.execute(
            "SELECT kpi_id, objective_id FROM strategy.targets WHERE objective_id NOT IN "
            "(SELECT objective_id FROM strategy.objectives) ORDER BY 1").fetchall()
    problems = [f"objective {o} has no KPI measuring it (add it to a KPI's objectives in "
                "config/kpis.yaml)" for o in unmeasured]
    problems += [f"KPI {k} serves objective {o}, which config/strategy.yaml does not define"
                 for k, o in unknown]
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or
                                                  "none")},
    )


@dg.asset_check(asset=targets, description="KPIs with a target that serve no objective "
                "(a warning: a target nobody owns is rarely acted on).")
def targets_serve_objectives(warehouse: Warehouse) -> dg.AssetCheckResult:
    orphans = [k.id for k in kpis().kpis if k.target is not None and not k.objectives]
    return dg.AssetCheckResult(
        passed=not orphans,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"kpis_without_objective": ", ".join(orphans) or "none"},
    )


defs = dg.Definitions(
    assets=[objectives, services, targets],
    asset_checks=[objectives_are_measured, targets_serve_objectives],
)
