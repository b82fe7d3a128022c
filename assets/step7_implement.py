"""Step 7 — implement improvement: the improvement (CSI) register that closes the loop.

Each run proposes actions for KPIs that are off target or degrading, never duplicating an open
action for the same KPI and scope, and refreshes the measured current value of open actions.
People own every other field: a pipeline run only ever inserts new proposals and updates the
pipeline-owned columns (current_value, last_evaluated), so a human edit is never overwritten.
Every change is recorded in improve.action_events.
"""


import datetime as dt
import hashlib

import dagster as dg

from assets.common import OWNER, WAREHOUSE_POOL, table_metadata
from assets.kpi_sql import ALL
from resources.settings import kpis, strategy
from resources.warehouse import Warehouse

GROUP = "step7_implement"
OPEN_STATUSES = ("proposed", "accepted", "in_progress")
STATUSES = ("proposed", "accepted", "in_progress", "done", "verified", "ineffective", "rejected")

DDL = (
    """CREATE TABLE IF NOT EXISTS improve.actions (
  action_id VARCHAR PRIMARY KEY, title VARCHAR NOT NULL, description VARCHAR,
  kpi_id VARCHAR NOT NULL, finding_ids VARCHAR, objective_id VARCHAR,
  scope_breakdown VARCHAR NOT NULL, scope_value VARCHAR NOT NULL, scope VARCHAR NOT NULL,
  priority VARCHAR, status VARCHAR NOT NULL, owner VARCHAR, due_date DATE, resources VARCHAR,
  baseline_value DOUBLE, baseline_period VARCHAR, target DOUBLE, current_value DOUBLE,
  last_evaluated TIMESTAMP, effect VARCHAR, rationale VARCHAR,
  created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL, version INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS improve.action_events (
  action_id VARCHAR NOT NULL, event_at TIMESTAMP NOT NULL, actor VARCHAR NOT NULL,
  field VARCHAR NOT NULL, old_value VARCHAR, new_value VARCHAR)""",
)

# Candidates: KPIs off target overall, and services whose 13-week trend degrades significantly.
_CANDIDATES = f"""
SELECT s.kpi_id, 'all' AS scope_breakdown, '{ALL}' AS scope_value, s.value AS baseline_value,
       s.target, s.name, s.unit, s.window_start, s.window_end,
       'off target: ' || s.status AS reason, NULL AS finding_id
FROM present.scorecard s WHERE s.status = 'off_target'
UNION ALL
SELECT t.kpi_id, 'service', t.breakdown_value, NULL, c.target, c.name, c.unit,
       t.window_end - 90, t.window_end,
       format('degrading: {{:+.0f}}% over 13 weeks (Mann-Kendall p = {{:.3f}})',
              100 * t.relative_change, t.p_value), t.finding_id
FROM analysis.kpi_trends t JOIN measures.kpi_catalogue c USING (kpi_id)
WHERE t.breakdown = 'service' AND t.window_days = 91 AND t.classification = 'degrading'
"""

_CURRENT = f"""
SELECT a.action_id,
       CASE WHEN c.rollup = 'last' THEN arg_max(k.value, k.day)
            ELSE sum(k.numerator) / nullif(sum(k.denominator), 0) END AS current_value
FROM improve.actions a
JOIN measures.kpi_catalogue c USING (kpi_id)
JOIN clean.kpi_daily k ON k.kpi_id = a.kpi_id AND k.breakdown = a.scope_breakdown
 AND k.breakdown_value = a.scope_value
 AND k.day > (SELECT max(day) FROM clean.kpi_daily) - $window::INTEGER
WHERE a.status IN {OPEN_STATUSES}
GROUP BY a.action_id, c.rollup"""


def action_id(kpi_id: str, scope_value: str, day: dt.date) -> str:
    digest = hashlib.sha1(f"{kpi_id}|{scope_value}".encode()).hexdigest()[:6].upper()
    return f"ACT-{day:%Y%m%d}-{digest}"


@dg.asset(
    key=["improve", "actions"],
    deps=[dg.AssetKey(["present", "scorecard"]), dg.AssetKey(["analysis", "kpi_trends"]),
          dg.AssetKey(["strategy", "targets"])],
    group_name=GROUP, kinds={"duckdb"}, owners=[OWNER], pool=WAREHOUSE_POOL,
    description="The improvement register: proposed and accepted actions with owner, due date, "
    "status, baseline and current KPI value. Human edits are never overwritten.",
)
def actions(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    window = strategy().reporting.scorecard_window_days
    # The first objective a KPI serves is the objective of actions on that KPI.
    objective_of = {k.id: k.objectives[0] for k in kpis().kpis if k.objectives}
    with warehouse.connect() as con:
        for statement in DDL:
            con.execute(statement)
        con.begin()
        open_scopes = {(r[0], r[1]) for r in con.execute(
            f"SELECT kpi_id, scope_value FROM improve.actions WHERE status IN {OPEN_STATUSES}"
        ).fetchall()}
        proposed = 0
        for (kpi_id, breakdown, value, baseline, target, name, unit, w_start, w_end, reason,
             finding) in con.execute(_CANDIDATES).fetchall():
            if (kpi_id, value) in open_scopes:
                continue
            open_scopes.add((kpi_id, value))
            scope = "all services" if breakdown == "all" else value
            new_id = action_id(kpi_id, value, w_end)
            con.execute(
                "INSERT INTO improve.actions (action_id, title, description, kpi_id, "
                "finding_ids, objective_id, scope_breakdown, scope_value, scope, priority, "
                "status, baseline_value, baseline_period, target, rationale, created_at, "
                "updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'proposed', ?, ?, "
                "?, ?, ?, ?, 1) ON CONFLICT DO NOTHING",
                [new_id, f"Improve {name} for {scope}",
                 f"{name} ({unit}) for {scope} is {reason}. Investigate the causes, agree an "
                 "action with its owner, and track the KPI until it recovers.",
                 kpi_id, finding, objective_of.get(kpi_id), breakdown, value, scope,
                 "high" if breakdown == "all" else "medium", baseline,
                 f"{w_start} .. {w_end}", target, reason, now, now],
            )
            con.execute("INSERT INTO improve.action_events VALUES (?, ?, 'pipeline', "
                        "'status', NULL, 'proposed')", [new_id, now])
            proposed += 1
        updates = con.execute(_CURRENT, {"window": window}).fetchall()
        con.executemany(
            "UPDATE improve.actions SET current_value = ?, last_evaluated = ? "
            "WHERE action_id = ?", [(value, now, aid) for aid, value in updates])
        con.commit()
        context.log.info(f"register: {proposed} new proposals, {len(updates)} values refreshed")
        by_status = dict(con.execute(
            "SELECT status, count(*) FROM improve.actions GROUP BY 1").fetchall())
        total = sum(by_status.values())
        return dg.MaterializeResult(metadata={
            **table_metadata(con, "improve.actions", total),
            "new_proposals": proposed,
            **{f"status/{s}": int(by_status.get(s, 0)) for s in STATUSES},
        })


defs = dg.Definitions(assets=[actions])
