"""Root-cause analyses over the clean tickets, in DuckDB SQL (the tables can be large).

Each function returns a small result (one row per group, change or cluster) as a DataFrame;
the statistics that DuckDB lacks (Poisson tail probabilities) are added in pandas on that
small result. Periods are half-open timestamp ranges [start, end) bound as parameters;
identifiers in the SQL are constants of this module.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

PARETO_DIMENSIONS = ("service", "ci", "category", "assignment_group")
NONE = "(none)"

_PARETO = f"""
WITH base AS (
  SELECT 'incidents' AS measure, 1.0 AS weight, service, ci, category, assignment_group
  FROM clean.incidents WHERE opened_at >= $start AND opened_at < $end
  UNION ALL
  SELECT s.sla_type || '_sla_breaches', 1.0, i.service, i.ci, i.category, i.assignment_group
  FROM clean.sla_records s JOIN clean.incidents i USING (incident_id)
  WHERE s.breached AND s.start_at >= $start AND s.start_at < $end
  UNION ALL
  SELECT 'downtime_minutes', date_diff('second', greatest(start_at, $start),
                                       least(coalesce(end_at, _loaded_at), $end)) / 60.0,
         service, ci, NULL, NULL
  FROM clean.outages
  WHERE NOT planned AND start_at < $end AND coalesce(end_at, _loaded_at) > $start),
long AS (
  {" UNION ALL ".join(
      f"SELECT measure, '{d}' AS dimension, coalesce({d}, '{NONE}') AS value, weight "
      f"FROM base" + (" WHERE measure <> 'downtime_minutes'" if d in ("category",
                                                                     "assignment_group")
                      else "")
      for d in PARETO_DIMENSIONS)}),
counted AS (SELECT measure, dimension, value, sum(weight) AS amount FROM long GROUP BY ALL)
SELECT measure, dimension, value, amount,
       amount / sum(amount) OVER w AS share,
       sum(amount) OVER (w ORDER BY amount DESC, value
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
         / sum(amount) OVER w AS cumulative_share,
       row_number() OVER (w ORDER BY amount DESC, value) AS rank,
       count(*) OVER w AS groups
FROM counted
WINDOW w AS (PARTITION BY measure, dimension)
ORDER BY measure, dimension, rank"""


def pareto(con: duckdb.DuckDBPyConnection, start: dt.datetime, end: dt.datetime,
           vital_share: float = 0.8) -> pd.DataFrame:
    """Incidents, SLA breaches (per SLA type) and unplanned downtime minutes by service, CI,
    category and assignment group over [start, end), largest first.

    ``vital_few`` marks the groups that together make up ``vital_share`` of the total (the
    group that crosses the line included): the "20 % of causes behind 80 % of the effect".
    """
    frame = con.execute(_PARETO, {"start": start, "end": end}).df()
    frame["vital_few"] = (frame["cumulative_share"] - frame["share"]) < vital_share
    return frame


_CHANGES = """
WITH ch AS (
  SELECT change_id, change_type, outcome, service, ci, start_at,
         coalesce(end_at, start_at) AS done_at
  FROM clean.changes
  WHERE start_at >= $start AND start_at < $end AND state <> 'cancelled'),
inc AS (SELECT incident_id, service, ci, opened_at, caused_by_change,
               date_trunc('day', opened_at) AS day FROM clean.incidents
        WHERE opened_at >= $start),
ch_days AS (  -- each change once per day its window touches: joins then meet one day's
  -- incidents of a CI or service instead of all of them (the cost of a join on the service
  -- alone grows with changes x incidents)
  SELECT change_id, service, ci, start_at, done_at,
         unnest(generate_series(date_trunc('day', start_at),
                                date_trunc('day', done_at + to_hours($hours::INTEGER)),
                                INTERVAL 1 DAY)) AS day
  FROM ch),
on_ci AS (
  SELECT c.change_id, i.incident_id, 'ci' AS matched_on, i.caused_by_change
  FROM ch_days c JOIN inc i ON i.ci = c.ci AND i.day = c.day
   AND i.opened_at >= c.start_at AND i.opened_at < c.done_at + to_hours($hours::INTEGER)),
on_service AS (
  SELECT c.change_id, i.incident_id, 'service' AS matched_on, i.caused_by_change
  FROM ch_days c JOIN inc i ON i.service = c.service AND i.day = c.day
   AND i.ci IS DISTINCT FROM c.ci
   AND i.opened_at >= c.start_at AND i.opened_at < c.done_at + to_hours($hours::INTEGER)),
links AS (SELECT * FROM on_ci UNION ALL SELECT * FROM on_service),
ci_rate AS (  -- incidents per hour on each CI over the whole period: what to expect anyway
  SELECT ci, count(*) / (epoch($end - $start) / 3600.0) AS per_hour
  FROM clean.incidents WHERE opened_at >= $start AND opened_at < $end GROUP BY ci)
SELECT c.change_id, c.change_type, c.outcome, c.service, c.ci,
       CAST(c.start_at AS DATE) AS change_day, c.start_at, c.done_at AS end_at,
       count(l.incident_id) FILTER (WHERE l.matched_on = 'ci') AS incidents,
       count(l.incident_id) AS incidents_same_service,
       count(l.incident_id) FILTER (WHERE l.caused_by_change = c.change_id) AS recorded_causes,
       coalesce(any_value(r.per_hour), 0)
         * (epoch(c.done_at - c.start_at) / 3600.0 + $hours) AS expected,
       coalesce(string_agg(l.incident_id, ', ' ORDER BY l.incident_id)
                FILTER (WHERE l.matched_on = 'ci'), '') AS incident_ids
FROM ch c LEFT JOIN links l USING (change_id) LEFT JOIN ci_rate r ON r.ci = c.ci
GROUP BY c.change_id, c.change_type, c.outcome, c.service, c.ci, c.start_at, c.done_at"""


def change_impact(con: duckdb.DuckDBPyConnection, start: dt.datetime, end: dt.datetime,
                  window_hours: int = 24) -> pd.DataFrame:
    """Every change implemented in [start, end) with the incidents opened on its CI (and on
    its service) from its start until ``window_hours`` after its end.

    ``expected`` is what the CI's ordinary incident rate predicts for that stretch of time and
    ``p_value`` the Poisson probability of at least ``incidents`` by chance. ``rank`` orders the
    failed and emergency changes by the incidents that followed (most first); other changes
    have no rank.
    """
    frame = con.execute(_CHANGES, {"start": start, "end": end, "hours": window_hours}).df()
    frame["excess"] = frame["incidents"] - frame["expected"]
    frame["p_value"] = stats.poisson.sf(frame["incidents"] - 1, frame["expected"].clip(1e-9))
    frame["failed_or_emergency"] = ((frame["outcome"] == "failed")
                                    | (frame["change_type"] == "emergency"))
    frame = frame.sort_values(["failed_or_emergency", "incidents", "incidents_same_service",
                               "p_value", "change_id"],
                              ascending=[False, False, False, True, True], ignore_index=True)
    frame["rank"] = pd.array([k + 1 if risky else None
                              for k, risky in enumerate(frame["failed_or_emergency"])],
                             dtype="Int64")
    return frame


_CLUSTERS = """
WITH inc AS (
  SELECT incident_id, service, ci, category, opened_at, nullif(problem_id, '') AS problem_id
  FROM clean.incidents
  WHERE opened_at >= $start AND opened_at < $end AND ci IS NOT NULL AND category IS NOT NULL),
counted AS (  -- every incident opens a window of $days days on its CI and category: the
  -- incidents (and linked ones) in it, counted by a window function in one sorted pass
  SELECT service, ci, category, opened_at,
         count(*) OVER w AS in_window, count(problem_id) OVER w AS linked_in_window
  FROM inc
  WINDOW w AS (PARTITION BY ci, category ORDER BY opened_at RANGE BETWEEN CURRENT ROW
               AND to_days($days::INTEGER) - INTERVAL 1 MICROSECOND FOLLOWING)),
windows AS (  -- incidents opened at the same moment open the same window (counted per opener)
  SELECT service, ci, category, opened_at AS window_start, count(*) AS openers,
         count(*) * any_value(in_window) AS incidents,
         count(*) * any_value(linked_in_window) AS linked
  FROM counted GROUP BY ALL),
busiest AS (
  SELECT * FROM windows
  QUALIFY row_number() OVER (PARTITION BY service, ci, category
                             ORDER BY incidents DESC, window_start) = 1),
best AS (  -- the incidents of the busiest window only, listed once per opener
  SELECT w.service, w.ci, w.category, w.window_start, w.incidents, w.linked,
         string_agg(b.incident_id, ', ' ORDER BY b.opened_at, b.incident_id) AS incident_ids
  FROM (SELECT *, unnest(range(openers)) AS opener FROM busiest) w
  JOIN inc b ON b.ci = w.ci AND b.category = w.category AND b.opened_at >= w.window_start
   AND b.opened_at < w.window_start + to_days($days::INTEGER)
  GROUP BY w.service, w.ci, w.category, w.window_start, w.incidents, w.linked),
peers AS (  -- the other CI/category pairs of the same service, in the same window
  SELECT b.service, b.ci, b.category, count(i.incident_id) - b.incidents AS peer_incidents
  FROM best b JOIN inc i ON i.service = b.service AND i.opened_at >= b.window_start
   AND i.opened_at < b.window_start + to_days($days::INTEGER)
  GROUP BY b.service, b.ci, b.category, b.incidents),
pairs AS (SELECT service, count(DISTINCT (ci, category)) AS pairs FROM inc GROUP BY service)
SELECT b.service, b.ci, b.category, CAST(b.window_start AS DATE) AS window_start,
       CAST(b.window_start + to_days($days::INTEGER - 1) AS DATE) AS window_end,
       b.incidents, b.linked, p.peer_incidents / greatest(n.pairs - 1, 1) AS expected,
       b.incident_ids,
       EXISTS (SELECT 1 FROM clean.problems pr
               WHERE pr.ci = b.ci AND (pr.category = b.category OR pr.category IS NULL)
                 AND pr.opened_at < b.window_start + to_days($days::INTEGER)
                 AND (pr.resolved_at IS NULL OR pr.resolved_at >= b.window_start))
         AS problem_open
FROM best b JOIN peers p USING (service, ci, category) JOIN pairs n USING (service)
WHERE b.incidents >= $min_incidents AND b.linked = 0"""


def problem_candidates(con: duckdb.DuckDBPyConnection, start: dt.datetime, end: dt.datetime,
                       *, window_days: int = 30, min_incidents: int = 5) -> pd.DataFrame:
    """CI and category pairs with ``min_incidents`` or more incidents within ``window_days``
    days (their busiest such window in [start, end)), none of them linked to a problem and no
    problem record open on that CI and category meanwhile.

    ``expected`` is the count of an average other CI/category pair of the same service in the
    same window; ``p_value`` the Poisson probability of at least ``incidents`` given that:
    small values mark a pair that recurs far more than its peers.
    """
    frame = con.execute(_CLUSTERS, {"start": start, "end": end, "days": window_days,
                                    "min_incidents": min_incidents}).df()
    frame = frame[~frame["problem_open"]].drop(columns="problem_open")
    frame["excess_ratio"] = frame["incidents"] / frame["expected"].where(frame["expected"] > 0)
    frame["p_value"] = stats.poisson.sf(frame["incidents"] - 1, frame["expected"].clip(1e-9))
    return frame.sort_values(["p_value", "incidents", "ci", "category"],
                             ascending=[True, False, True, True], ignore_index=True)


_OUTAGES = """
SELECT outage_id, service, ci, CAST(start_at AS DATE) AS day, start_at,
       coalesce(end_at, _loaded_at) AS end_at, end_at IS NULL AS ongoing,
       date_diff('second', start_at, coalesce(end_at, _loaded_at)) / 60.0 AS minutes
FROM clean.outages
WHERE NOT planned AND start_at >= $start AND start_at < $end
ORDER BY minutes DESC, outage_id"""


def major_outages(con: duckdb.DuckDBPyConnection, start: dt.datetime, end: dt.datetime,
                  *, target: float, budget_days: int, fence_sigmas: float) -> pd.DataFrame:
    """Unplanned outages in [start, end), each with its share of the downtime budget that the
    availability target allows a service over ``budget_days`` days
    (budget = (1 - target) * budget_days * 1440 minutes).

    ``major`` marks an outage far longer than this organisation's outages usually last: its
    log duration lies more than ``fence_sigmas`` robust standard deviations (IQR / 1.349)
    above the median log duration of all the unplanned outages of the period. Durations are
    log-normal-like, so the fence is set on the log scale.
    """
    frame = con.execute(_OUTAGES, {"start": start, "end": end}).df()
    budget = (1 - target) * budget_days * 1440
    frame["budget_minutes"] = budget
    frame["budget_share"] = frame["minutes"] / budget if budget > 0 else np.inf
    logs = np.log(frame["minutes"].clip(lower=1.0))
    spread = float(logs.quantile(0.75) - logs.quantile(0.25)) / 1.349 if len(logs) else 0.0
    fence = float(np.exp(logs.median() + fence_sigmas * spread)) if len(logs) >= 8 else np.inf
    frame["usual_limit_minutes"] = fence
    frame["major"] = frame["minutes"] > fence
    return frame


_BURSTS = """
WITH daily AS (
  SELECT service, ci, CAST(opened_at AS DATE) AS day, count(*) AS incidents
  FROM clean.incidents
  WHERE opened_at >= $start AND opened_at < $end AND ci IS NOT NULL GROUP BY ALL),
totals AS (SELECT day, sum(incidents) AS day_total FROM daily GROUP BY day),
per_ci AS (SELECT ci, sum(incidents) AS ci_total FROM daily GROUP BY ci),
grand AS (SELECT sum(incidents) AS total FROM daily)
SELECT d.service, d.ci, d.day, d.incidents, t.day_total,
       (p.ci_total - d.incidents) / nullif(g.total - t.day_total, 0) * t.day_total AS expected
FROM daily d JOIN totals t USING (day) JOIN per_ci p USING (ci) CROSS JOIN grand g
WHERE d.day >= CAST($recent AS DATE)"""


def incident_bursts(con: duckdb.DuckDBPyConnection, start: dt.datetime, end: dt.datetime,
                    recent: dt.date, *, alpha: float, min_incidents: int) -> pd.DataFrame:
    """Days since ``recent`` on which a CI received far more incidents than its usual share of
    the day's volume.

    ``expected`` = the CI's share of all incidents over [start, end) without that day, times the
    day's total: weekends, holidays and overall growth move the expectation with them. ``burst``
    marks days with at least ``min_incidents`` incidents and a Poisson p value below ``alpha``.
    """
    frame = con.execute(_BURSTS, {"start": start, "end": end, "recent": recent}).df()
    frame["expected"] = frame["expected"].fillna(0.0)
    frame["p_value"] = stats.poisson.sf(frame["incidents"] - 1, frame["expected"].clip(1e-9))
    frame["burst"] = (frame["p_value"] < alpha) & (frame["incidents"] >= min_incidents)
    return frame.sort_values(["p_value", "day", "ci"], ignore_index=True)
