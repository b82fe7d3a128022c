"""Outcomes feed step 1: per objective, what is at risk and which actions did not work.

The next strategy review starts from this table (improve.outcomes): an objective is at risk
when a KPI serving it is at risk or off target on the scorecard, or when an action taken for
it was evaluated as ineffective.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from resources.register.models import ACTIVE_STATUSES

NO_OBJECTIVE = "(none)"
COLUMNS = ["objective_id", "statement", "owner", "status", "kpis_at_risk", "active_actions",
           "verified_actions", "ineffective_actions", "did_not_work", "summary"]

_SQL = f"""
WITH kpis AS (
  SELECT t.objective_id,
         string_agg(s.kpi_id || ' (' || replace(s.status, '_', ' ') || ')', ', '
                    ORDER BY s.kpi_id) AS kpis_at_risk
  FROM strategy.targets t JOIN present.scorecard s USING (kpi_id)
  WHERE s.status IN ('at_risk', 'off_target') GROUP BY 1),
acts AS (
  SELECT coalesce(objective_id, '{NO_OBJECTIVE}') AS objective_id,
         count(*) FILTER (WHERE status IN {ACTIVE_STATUSES}) AS active_actions,
         count(*) FILTER (WHERE status = 'verified') AS verified_actions,
         count(*) FILTER (WHERE status = 'ineffective') AS ineffective_actions,
         string_agg(action_id || ' ' || title || ' (' || coalesce(effect_summary, '') || ')',
                    '; ' ORDER BY action_id) FILTER (WHERE status = 'ineffective')
           AS did_not_work
  FROM improve.actions GROUP BY 1)
SELECT coalesce(o.objective_id, a.objective_id) AS objective_id,
       coalesce(o.statement, 'actions on KPIs that serve no objective') AS statement,
       o.owner, k.kpis_at_risk, coalesce(a.active_actions, 0) AS active_actions,
       coalesce(a.verified_actions, 0) AS verified_actions,
       coalesce(a.ineffective_actions, 0) AS ineffective_actions, a.did_not_work
FROM strategy.objectives o
FULL JOIN acts a ON a.objective_id = o.objective_id
LEFT JOIN kpis k ON k.objective_id = o.objective_id
ORDER BY 1"""


def outcomes_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    frame = con.execute(_SQL).df()
    at_risk = frame["kpis_at_risk"].notna() | (frame["ineffective_actions"] > 0)
    frame["status"] = ["at_risk" if risk else "on_track" for risk in at_risk]
    frame["summary"] = [_summary(r) for r in frame.itertuples()]
    return frame[COLUMNS]


def _summary(row: object) -> str:
    parts = []
    if isinstance(row.kpis_at_risk, str):
        parts.append(f"KPIs at risk: {row.kpis_at_risk}")
    if row.ineffective_actions:
        parts.append(f"{row.ineffective_actions} action(s) did not work")
    parts.append(f"{row.active_actions} active, {row.verified_actions} verified")
    return "; ".join(parts)
