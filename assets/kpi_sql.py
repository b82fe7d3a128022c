"""SQL for the KPI catalogue: one query per KPI, run inside DuckDB over the clean tables.

Every KPI lands in clean.kpi_daily as numerator and denominator per day and breakdown value, so
that any roll-up (week, month, year) is sum(numerator) / sum(denominator) — exact, never a mean
of daily ratios. Catalogue expressions are user text: they are checked by
quality.kpi_expressions before anything runs them, and only names from this module and the
canonical schema are pasted as identifiers.
"""

from __future__ import annotations

from resources.config_models import KpiDefinition

ALL = "(all)"

_DAYS = """days AS (
  SELECT CAST(range AS DATE) AS day
  FROM range(CAST($start AS TIMESTAMP), CAST($end AS TIMESTAMP), INTERVAL 1 DAY))"""

# Merges overlapping unplanned outage windows per service (gaps and islands), then counts the
# minutes of each day covered by a merged window.
_DOWNTIME = """windows AS (
  SELECT service, start_at, coalesce(end_at, _loaded_at) AS end_at,
         CASE WHEN start_at <= max(coalesce(end_at, _loaded_at)) OVER (
                PARTITION BY service ORDER BY start_at
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
              THEN 0 ELSE 1 END AS new_island
  FROM clean.outages
  WHERE NOT planned AND coalesce(end_at, _loaded_at) > CAST($start AS TIMESTAMP)
    AND start_at < CAST($end AS TIMESTAMP)),
islands AS (
  SELECT service, min(start_at) AS start_at, max(end_at) AS end_at
  FROM (SELECT *, sum(new_island) OVER (PARTITION BY service ORDER BY start_at) AS island
        FROM windows)
  GROUP BY service, island),
down AS (
  SELECT d.day, i.service,
         sum(epoch(least(i.end_at, d.day + INTERVAL 1 DAY) - greatest(i.start_at, d.day)) / 60)
           AS minutes
  FROM days d JOIN islands i ON i.start_at < d.day + INTERVAL 1 DAY AND i.end_at > d.day
  GROUP BY ALL),
facts AS (
  SELECT d.day, s.service AS bd_service,
         1440 - coalesce(down.minutes, 0) AS numerator, 1440.0 AS denominator
  FROM days d CROSS JOIN strategy.services s
  LEFT JOIN down ON down.day = d.day AND down.service = s.service)"""


def _facts(kpi: KpiDefinition, breakdown: str | None) -> str:
    """The CTE that aggregates one KPI to (day, breakdown value)."""
    bd = f"CAST({breakdown} AS VARCHAR)" if breakdown else f"'{ALL}'"
    den = kpi.denominator or "1"
    where = f"({kpi.filter})" if kpi.filter else "TRUE"
    if kpi.kind == "event":
        return f"""facts AS (
  SELECT CAST({kpi.time_column} AS DATE) AS day, {bd} AS bd_value,
         CAST({kpi.numerator} AS DOUBLE) AS numerator, CAST({den} AS DOUBLE) AS denominator
  FROM clean.{kpi.table}
  WHERE {kpi.time_column} >= CAST($start AS TIMESTAMP)
    AND {kpi.time_column} < CAST($end AS TIMESTAMP) AND {where}
  GROUP BY ALL)"""
    return f"""facts AS (
  SELECT d.day, {bd} AS bd_value,
         CAST({kpi.numerator} AS DOUBLE) AS numerator, CAST({den} AS DOUBLE) AS denominator
  FROM days d JOIN clean.{kpi.table} t
    ON t.{kpi.start_column} < d.day + INTERVAL 1 DAY
   AND (t.{kpi.end_column} IS NULL OR t.{kpi.end_column} >= d.day + INTERVAL 1 DAY)
  WHERE {where}
  GROUP BY ALL)"""


def kpi_query(kpi: KpiDefinition, breakdown: str | None) -> str:
    """Rows (kpi_id, day, breakdown, breakdown_value, numerator, denominator, value, version)
    for days in [$start, $end), with a zero row for every day and breakdown value seen, so
    per-day counts roll up over the right number of days."""
    label = breakdown or "all"
    empty_den = "0" if kpi.denominator else "1"
    if kpi.kind == "availability":
        bd = "f.bd_service" if breakdown else f"'{ALL}'"
        body = f"""WITH {_DAYS}, {_DOWNTIME},
agg AS (SELECT day, {bd} AS bd_value, sum(numerator) AS numerator,
               sum(denominator) AS denominator FROM facts f GROUP BY ALL)"""
    else:
        body = f"""WITH {_DAYS}, {_facts(kpi, breakdown)},
agg AS (
  SELECT d.day, v.bd_value, coalesce(f.numerator, 0) AS numerator,
         coalesce(f.denominator, {empty_den}) AS denominator
  FROM days d CROSS JOIN (SELECT DISTINCT bd_value FROM facts
                          UNION SELECT '{ALL}' WHERE '{label}' = 'all') v
  LEFT JOIN facts f ON f.day = d.day AND f.bd_value = v.bd_value)"""
    return f"""{body}
SELECT '{kpi.id}' AS kpi_id, day, '{label}' AS breakdown, bd_value AS breakdown_value,
       numerator, denominator,
       CASE WHEN denominator = 0 THEN NULL ELSE numerator / denominator END AS value,
       '{kpi.version}' AS kpi_version, day AS _partition
FROM agg WHERE bd_value IS NOT NULL"""


def kpi_queries(kpi: KpiDefinition) -> list[tuple[str, str]]:
    """(breakdown label, SQL) for the total and each declared breakdown."""
    return [("all", kpi_query(kpi, None))] + [(b, kpi_query(kpi, b)) for b in kpi.breakdowns]
