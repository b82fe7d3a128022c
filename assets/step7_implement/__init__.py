"""Step 7 — implement improvement: the improvement (CSI) register that closes the loop.

`improve/actions` runs one turn of the loop (resources.register holds the register itself):
done actions whose evaluation window has passed are verified or found ineffective, new
findings become proposed actions (never a second active action for the same KPI and scope),
and every active action gets its current value and its overdue and wrong-way flags. People
act through `sevenstep actions ...`; a run never overwrites a field a person set.
`improve/outcomes` summarises, per objective, what is at risk and what did not work: the input
of the next strategy review (step 1).
"""


import datetime as dt
from collections import defaultdict

import dagster as dg
import pandas as pd

from assets.common import OWNER, WAREHOUSE_POOL, replace_table, table_metadata
from assets.step7_implement import findings
from assets.step7_implement.loop import Inputs, needed_since, run_turn, scope_of
from assets.step7_implement.outcomes import outcomes_frame
from resources.register import Register
from resources.register.models import ACTIVE_STATUSES, STATUSES, Action, ActionEvent
from resources.register.repository import shown_url
from resources.register.resource import RegisterStore
from resources.register.settings import register_config
from resources.settings import strategy
from resources.warehouse import Warehouse

GROUP = "step7_implement"
_PRIORITY = {"critical": "high", "high": "high", "medium": "medium", "low": "low"}


def _inputs(con, actions: list[Action]) -> Inputs | None:
    """Read what the turn needs from the warehouse; None before any KPI facts exist."""
    last_day = findings.last_day(con)
    if last_day is None:
        return None
    plan = strategy()
    window = plan.reporting.scorecard_window_days
    candidates = findings.candidates(con, last_day - dt.timedelta(days=window - 1))
    scopes = [c.scope for c in candidates] + [scope_of(a) for a in actions
                                              if a.status in ACTIVE_STATUSES]
    kpis_of = defaultdict(list)
    for objective_id, kpi_id in con.execute(
            "SELECT objective_id, kpi_id FROM strategy.targets ORDER BY ALL").fetchall():
        kpis_of[objective_id].append(kpi_id)
    objective_of: dict[tuple[str, str], str] = {}
    for objective in plan.objectives:  # the first objective in strategy.yaml order wins
        for service in ["all", *objective.services]:
            for kpi_id in kpis_of[objective.id]:
                objective_of.setdefault((kpi_id, service), objective.id)
    return Inputs(
        last_day=last_day, window_days=window, catalogue=findings.catalogue(con),
        candidates=candidates, wrong_way=findings.wrong_way(con),
        series=findings.series(con, scopes, needed_since(actions, last_day, window,
                                                         register_config())),
        objective_of=objective_of,
        priority_of={s.name: _PRIORITY[s.criticality] for s in plan.services},
    )


def _snapshot(con, register: Register) -> None:
    """A register kept outside the warehouse is copied into it, so the report and the
    outcomes read improve.actions and improve.action_events wherever the register lives.

    Refused when the warehouse holds a register of its own (versioned, or from before
    versioning): the copy would replace it.
    """
    columns = {r[0] for r in con.execute(
        "SELECT table_name || '.' || column_name FROM information_schema.columns "
        "WHERE table_schema = 'improve'").fetchall()}
    if any(c.startswith("alembic_version.") for c in columns) or (
            "action_events.action_id" in columns and "action_events.event_id" not in columns):
        raise dg.Failure(
            "the warehouse holds an improvement register of its own, and the register is "
            "configured elsewhere (SEVENSTEP_REGISTER_URL or the register resource's url): "
            "copying it in would replace the warehouse's. Copy improve.actions and "
            "improve.action_events into that database first, then drop the improve tables in "
            "the warehouse; or unset the URL.")
    for model, rows in ((Action, register.actions()), (ActionEvent, register.events())):
        columns = [c.name for c in model.__table__.columns]
        frame = pd.DataFrame([[getattr(r, c) for c in columns] for r in rows], columns=columns)
        replace_table(con, f"improve.{model.__tablename__}", frame)


@dg.asset(
    key=["improve", "actions"],
    deps=[dg.AssetKey(["present", "scorecard"]), dg.AssetKey(["analysis", "kpi_trends"]),
          dg.AssetKey(["analysis", "kpi_signals"]), dg.AssetKey(["strategy", "targets"]),
          dg.AssetKey(["clean", "kpi_daily"])],
    group_name=GROUP, kinds={"duckdb", "sqlalchemy"}, owners=[OWNER], pool=WAREHOUSE_POOL,
    description="The improvement register: actions with owner, due date, status, baseline, "
    "current value and measured effect, and every change as an event in "
    "improve.action_events. Human edits are never overwritten.",
)
def actions(context: dg.AssetExecutionContext, warehouse: Warehouse,
            register: RegisterStore) -> dg.MaterializeResult:
    store = register.open(warehouse.database_path())
    context.log.info(f"register: {shown_url(str(store.engine.url))}")
    known = store.actions()
    with warehouse.connect() as con:  # never while the register (maybe the same file) is open
        inputs = _inputs(con, known)
    if inputs is None:
        raise dg.Failure("clean.kpi_daily has no facts yet: the register needs step 4 first")
    outcome = run_turn(store, inputs, register_config())
    context.log.info(f"register: {len(outcome.proposed)} proposed, evaluated "
                     f"{dict(outcome.evaluated)}, {outcome.refreshed} actions updated")
    all_actions = store.actions()
    with warehouse.connect() as con:
        if not store.is_warehouse:
            _snapshot(con, store)
        by_status = pd.Series([a.status for a in all_actions]).value_counts().to_dict()
        return dg.MaterializeResult(metadata={
            **table_metadata(con, "improve.actions", len(all_actions)),
            "new_proposals": len(outcome.proposed),
            "verified_now": outcome.evaluated["verified"],
            "ineffective_now": outcome.evaluated["ineffective"],
            "overdue": sum(a.overdue for a in all_actions),
            "wrong_way": sum(a.wrong_way for a in all_actions),
            **{f"status/{s}": int(by_status.get(s, 0)) for s in STATUSES},
        })


@dg.asset(
    key=["improve", "outcomes"],
    deps=[actions, dg.AssetKey(["present", "scorecard"]),
          dg.AssetKey(["strategy", "objectives"]), dg.AssetKey(["strategy", "targets"])],
    group_name=GROUP, kinds={"duckdb"}, owners=[OWNER], pool=WAREHOUSE_POOL,
    description="Outcomes for the next strategy review (step 1): per objective, the KPIs at "
    "risk or off target, and the actions that were verified or did not work.",
)
def outcomes(warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        frame = outcomes_frame(con)
        rows = replace_table(con, "improve.outcomes", frame)
        return dg.MaterializeResult(metadata={
            **table_metadata(con, "improve.outcomes", rows),
            "objectives_at_risk": int((frame["status"] == "at_risk").sum()),
            "ineffective_actions": int(frame["ineffective_actions"].sum()),
        })


defs = dg.Definitions(assets=[actions, outcomes], resources={"register": RegisterStore()})
