"""SQL for the KPI catalogue: one query per KPI and breakdown, run inside DuckDB.

Every KPI lands in clean.kpi_daily as numerator and denominator per day and breakdown value, so
that a roll-up of a ratio, mean, count or sum over any period is sum(numerator) /
sum(denominator) — exact, never a mean of daily ratios. Quantiles (median, p90, p95) cannot be
added up: the same query builder recomputes them from the detail rows with the period as the
group (`grain`), which is what assets/kpi_rollup.py does for weeks, months and windows.

Catalogue expressions are user text: quality/kpi_expressions.py checks them before anything runs
them, and only names from this module, the canonical schema and validated configuration are
pasted into the SQL. Values (the date range) are bound parameters.
"""

from __future__ import annotations

import hashlib

from quality.schemas import CLEAN_TABLES
from quality.sql_expressions import parse_expression
from resources.business_calendar import MACRO, BusinessCalendar, business_calendar
from resources.config_models import QUANTILES, KpiDefinition

ALL = "(all)"
UNKNOWN = "(unknown)"
SQL_REVISION = "2"
"""Part of every KPI version: bump it when a change to the SQL below changes the numbers."""

GRAINS = ("day", "week", "month", "quarter", "year", "window")
RECURRENCE_DAYS = (1, 7, 30)
"""Look-back windows of the virtual columns recurring_1d, recurring_7d and recurring_30d."""

SERVICE_DAYS: dict[str, tuple[str, str]] = {
    "day": ("DATE", "The UTC day."),
    "service": ("VARCHAR", "A service of strategy.yaml."),
    "hours": ("VARCHAR", "Its agreed service hours: 24x7 or business."),
    "scheduled_minutes": ("DOUBLE", "Minutes of the day inside the agreed service hours."),
    "planned_minutes": ("DOUBLE", "Of those, minutes in planned maintenance (merged windows)."),
    "agreed_minutes": ("DOUBLE", "scheduled_minutes - planned_minutes: the agreed service time."),
    "downtime_minutes": ("DOUBLE", "Agreed minutes lost to unplanned outages (merged windows, "
                         "minutes already in planned maintenance not counted again)."),
    "outage_count": ("BIGINT", "Unplanned outages (merged windows) that started on the day."),
    "restore_minutes": ("DOUBLE", "Full length, start to end in calendar minutes, of those "
                        "outages."),
}
"""A derived table KPIs may read like a clean one: one row per service and day, computed per
query from clean.outages, strategy.services and the business calendar."""

VIRTUAL_TABLES: dict[str, dict[str, tuple[str, str]]] = {"service_days": SERVICE_DAYS}
VIRTUAL_TABLE_READS: dict[str, tuple[str, ...]] = {
    "service_days": ("clean.outages", "strategy.services"),
}
VIRTUAL_COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "incidents": {f"recurring_{days}d": ("BOOLEAN", f"An incident on the same ci and category "
                                         f"was opened in the {24 * days} hours before this one.")
                  for days in RECURRENCE_DAYS},
}
SNAPSHOT_COLUMNS: dict[str, tuple[str, str]] = {
    "as_of": ("TIMESTAMP", "The end of the day the snapshot is taken (next midnight, UTC)."),
}
CALENDAR_COLUMNS: dict[str, frozenset[str]] = {
    "incidents": frozenset({"minutes_to_acknowledge_business", "minutes_to_resolve_business"}),
}
"""Clean columns whose values come from the business calendar (their KPIs' versions follow it)."""


def kpi_tables() -> tuple[str, ...]:
    """The tables a KPI may read: the canonical clean tables and the derived ones."""
    return tuple(t for t in CLEAN_TABLES if t != "kpi_daily") + tuple(VIRTUAL_TABLES)


def columns_of(kpi: KpiDefinition) -> dict[str, str]:
    """Column name -> SQL type of everything the KPI's expressions may name."""
    if kpi.table in VIRTUAL_TABLES:
        columns = {n: t for n, (t, _) in VIRTUAL_TABLES[kpi.table].items()}
    elif kpi.table in CLEAN_TABLES and kpi.table != "kpi_daily":
        columns = {n: c.metadata["sql_type"] for n, c in CLEAN_TABLES[kpi.table].columns.items()}
    else:
        return {}
    columns |= {n: t for n, (t, _) in VIRTUAL_COLUMNS.get(kpi.table, {}).items()}
    if kpi.kind == "snapshot":
        columns |= {n: t for n, (t, _) in SNAPSHOT_COLUMNS.items()}
    return columns


def expressions(kpi: KpiDefinition) -> dict[str, str]:
    """The user-written SQL of a KPI by field name."""
    fields = ("numerator", "denominator", "measure", "filter")
    return {f: getattr(kpi, f) for f in fields if getattr(kpi, f) is not None}


def referenced_columns(kpi: KpiDefinition, breakdowns: bool = True) -> frozenset[str]:
    """Every column a KPI names: in its expressions, time columns (and breakdowns)."""
    names: set[str] = set(kpi.breakdowns) if breakdowns else set()
    for column in (kpi.time_column, kpi.start_column, kpi.end_column):
        if column:
            names.add(column)
    for text in expressions(kpi).values():
        names |= parse_expression(text).columns
    return frozenset(names)


def reads(kpi: KpiDefinition) -> tuple[str, ...]:
    """The warehouse tables a KPI reads (lineage in the asset graph and the catalogue)."""
    if kpi.table in VIRTUAL_TABLE_READS:
        return VIRTUAL_TABLE_READS[kpi.table]
    return (f"clean.{kpi.table}",)


def uses_calendar(kpi: KpiDefinition) -> bool:
    """Whether the business calendar (or agreed service hours) can change the KPI's values."""
    if kpi.table in VIRTUAL_TABLES:
        return True
    if referenced_columns(kpi) & CALENDAR_COLUMNS.get(kpi.table, frozenset()):
        return True
    return any(MACRO in parse_expression(t).functions for t in expressions(kpi).values())


def _services_fingerprint() -> str:
    from resources.settings import strategy

    text = ",".join(sorted(f"{s.name}:{s.hours}" for s in strategy().services))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def kpi_version(kpi: KpiDefinition, calendar: BusinessCalendar | None = None,
                services: str | None = None) -> str:
    """The version recorded on every value: the definition's content hash, the revision of
    this SQL and, for KPIs that depend on it, the business calendar and service hours."""
    parts = [kpi.definition_hash, SQL_REVISION]
    if uses_calendar(kpi):
        parts += [(calendar or business_calendar()).fingerprint(),
                  services if services is not None else _services_fingerprint()]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


_DAYS = """days AS (
  SELECT CAST(range AS DATE) AS day
  FROM range(CAST($start AS TIMESTAMP), CAST($end AS TIMESTAMP), INTERVAL 1 DAY))"""


def _islands(name: str, where: str) -> str:
    """Outage windows matching `where` merged per service (gaps and islands): overlapping or
    touching windows become one. An open window lasts until the row was loaded."""
    return f"""{name}_w AS (
  SELECT service, outage_id, start_at, coalesce(end_at, _loaded_at) AS end_at,
         CASE WHEN start_at <= max(coalesce(end_at, _loaded_at)) OVER (
                PARTITION BY service ORDER BY start_at, outage_id
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
              THEN 0 ELSE 1 END AS new_island
  FROM clean.outages
  WHERE ({where}) AND coalesce(end_at, _loaded_at) > CAST($start AS TIMESTAMP) - INTERVAL 1 DAY),
{name} AS (
  SELECT service, min(start_at) AS start_at, max(end_at) AS end_at
  FROM (SELECT *, sum(new_island) OVER (PARTITION BY service ORDER BY start_at, outage_id)
                  AS island FROM {name}_w)
  GROUP BY service, island)"""


def _service_days(calendar: BusinessCalendar) -> str:
    """The CTEs that build service_days for the days of the range."""
    always = "s.hours = '24x7'"

    def agreed(start: str, end: str) -> str:
        return calendar.minutes_sql(start, end, always)

    def covered(islands: str, column: str) -> str:
        clipped = agreed("greatest(i.start_at, dd.day)", "least(i.end_at, dd.day + INTERVAL 1 DAY)")
        return f"""{column} AS (
  SELECT dd.day, i.service, sum({clipped}) AS minutes
  FROM days dd JOIN {islands} i
    ON i.start_at < dd.day + INTERVAL 1 DAY AND i.end_at > dd.day
  JOIN strategy.services s ON s.service = i.service
  GROUP BY ALL)"""

    return f""",
{_islands("sd_any", "TRUE")},
{_islands("sd_planned", "planned")},
{_islands("sd_unplanned", "NOT planned")},
{covered("sd_any", "sd_any_minutes")},
{covered("sd_planned", "sd_planned_minutes")},
sd_breaks AS (
  SELECT CAST(start_at AS DATE) AS day, service, count(*) AS outage_count,
         sum(date_diff('second', start_at, end_at) / 60.0) AS restore_minutes
  FROM sd_unplanned
  WHERE start_at >= CAST($start AS TIMESTAMP) AND start_at < CAST($end AS TIMESTAMP)
  GROUP BY ALL),
service_days AS (
  SELECT dd.day, s.service, s.hours,
         {agreed("CAST(dd.day AS TIMESTAMP)", "dd.day + INTERVAL 1 DAY")} AS scheduled_minutes,
         coalesce(p.minutes, 0) AS planned_minutes,
         scheduled_minutes - planned_minutes AS agreed_minutes,
         coalesce(a.minutes, 0) - coalesce(p.minutes, 0) AS downtime_minutes,
         coalesce(b.outage_count, 0) AS outage_count,
         coalesce(b.restore_minutes, 0) AS restore_minutes
  FROM days dd CROSS JOIN strategy.services s
  LEFT JOIN sd_any_minutes a ON a.day = dd.day AND a.service = s.service
  LEFT JOIN sd_planned_minutes p ON p.day = dd.day AND p.service = s.service
  LEFT JOIN sd_breaks b ON b.day = dd.day AND b.service = s.service)"""


def _source(kpi: KpiDefinition, calendar: BusinessCalendar) -> tuple[str, str]:
    """(extra CTEs, FROM item) for the rows the KPI reads."""
    if kpi.table == "service_days":
        return _service_days(calendar), "service_days"
    windows = [d for d in RECURRENCE_DAYS if f"recurring_{d}d" in referenced_columns(kpi)]
    if kpi.table == "incidents" and windows:
        gap = ("opened_at - lag(opened_at) OVER (PARTITION BY ci, category "
               "ORDER BY opened_at, incident_id)")
        flags = ", ".join(
            f"(ci IS NOT NULL AND category IS NOT NULL AND coalesce({gap} <= INTERVAL {d} DAY, "
            f"FALSE)) AS recurring_{d}d" for d in windows)
        return f""",
incidents_recurring AS (
  SELECT *, {flags}
  FROM clean.incidents
  WHERE opened_at >= CAST($start AS TIMESTAMP) - INTERVAL {max(windows)} DAY
    AND opened_at < CAST($end AS TIMESTAMP))""", "incidents_recurring"
    return "", f"clean.{kpi.table}"


def _bucket(day: str, grain: str) -> str:
    if grain == "day":
        return day
    if grain == "window":
        return "CAST($start AS DATE)"
    return f"CAST(date_trunc('{grain}', {day}) AS DATE)"


def _aggregates(kpi: KpiDefinition) -> str:
    """numerator, denominator and value of one group of detail rows."""
    if kpi.aggregate in QUANTILES:
        quantile = f"quantile_cont({kpi.measure}, {QUANTILES[kpi.aggregate]})"
        return (f"CAST(coalesce({quantile} * count({kpi.measure}), 0) AS DOUBLE) AS numerator, "
                f"CAST(count({kpi.measure}) AS DOUBLE) AS denominator, "
                f"CAST({quantile} AS DOUBLE) AS value")
    den = kpi.denominator_sql
    return (f"CAST({kpi.numerator_sql} AS DOUBLE) AS numerator, "
            f"CAST({den or 'NULL'} AS DOUBLE) AS denominator, CAST(NULL AS DOUBLE) AS value")


# Breakdown values every period gets a row for, whether or not anything happened.
_DOMAINS = {
    None: f"SELECT '{ALL}' AS bd_value",
    "service": "SELECT CAST(service AS VARCHAR) AS bd_value FROM strategy.services",
    "priority": "SELECT CAST(unnest([1, 2, 3, 4, 5]) AS VARCHAR) AS bd_value",
}
_NO_DOMAIN = "SELECT CAST(NULL AS VARCHAR) AS bd_value WHERE false"


def kpi_query(kpi: KpiDefinition, breakdown: str | None, grain: str = "day",
              calendar: BusinessCalendar | None = None) -> str:
    """Rows (kpi_id, day, breakdown, breakdown_value, numerator, denominator, value,
    kpi_version, _partition) for days in [$start, $end), one per period of `grain` and value.

    Every period gets a row for every value of a breakdown with a known domain (the total,
    each service of strategy.yaml, priorities 1-5) — zeros where nothing happened, so per-day
    rates roll up over the right number of days — plus a row for any other value that has
    facts in the period. The rows of a day therefore do not depend on which other days the
    run covers: a backfill writes exactly what day-by-day runs write. A snapshot KPI is a level
    at the end of each day: it is only computed per day (its roll-up is the period's last day).
    """
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}; one of {', '.join(GRAINS)}")
    if kpi.kind == "snapshot" and grain != "day":
        raise ValueError("a snapshot KPI is computed per day; roll it up with kpi_rollup")
    calendar = calendar or business_calendar()
    label = breakdown or "all"
    bd = f"coalesce(CAST({breakdown} AS VARCHAR), '{UNKNOWN}')" if breakdown else f"'{ALL}'"
    where = f"({kpi.filter})" if kpi.filter else "TRUE"
    ctes, source = _source(kpi, calendar)
    if kpi.kind == "event":
        facts = f"""facts AS (
  SELECT {_bucket(f"CAST({kpi.time_column} AS DATE)", grain)} AS period, {bd} AS bd_value,
         {_aggregates(kpi)}
  FROM {source}
  WHERE {kpi.time_column} >= CAST($start AS TIMESTAMP)
    AND {kpi.time_column} < CAST($end AS TIMESTAMP) AND {where}
  GROUP BY ALL)"""
    else:
        facts = f"""facts AS (
  SELECT d.day AS period, {bd} AS bd_value, {_aggregates(kpi)}
  FROM (SELECT day, day + INTERVAL 1 DAY AS as_of FROM days) d JOIN {source} t
    ON t.{kpi.start_column} < d.as_of
   AND (t.{kpi.end_column} IS NULL OR t.{kpi.end_column} >= d.as_of)
  WHERE {where}
    -- rows closed before the range's first day ends cannot be open on any of its days: the
    -- join then meets the rows still open, not the whole history
    AND (t.{kpi.end_column} IS NULL
         OR t.{kpi.end_column} >= CAST($start AS TIMESTAMP) + INTERVAL 1 DAY)
    AND t.{kpi.start_column} < CAST($end AS TIMESTAMP)
  GROUP BY ALL)"""
    per_day = kpi.denominator_sql is None and kpi.aggregate not in QUANTILES
    denominator = "p.days" if per_day else "coalesce(f.denominator, 0)"
    value = ("value" if kpi.aggregate in QUANTILES
             else "CASE WHEN denominator = 0 THEN NULL ELSE numerator / denominator END")
    return f"""WITH {_DAYS}{ctes}, {facts},
periods AS (SELECT {_bucket("day", grain)} AS period, count(*) AS days FROM days GROUP BY 1),
domain AS ({_DOMAINS.get(breakdown, _NO_DOMAIN)}),
agg AS (
  SELECT p.period, v.bd_value, coalesce(f.numerator, 0) AS numerator,
         CAST({denominator} AS DOUBLE) AS denominator, f.value
  FROM periods p CROSS JOIN domain v
  LEFT JOIN facts f ON f.period = p.period AND f.bd_value = v.bd_value
  UNION ALL
  SELECT p.period, f.bd_value, f.numerator, CAST({denominator} AS DOUBLE), f.value
  FROM facts f JOIN periods p ON p.period = f.period
  WHERE f.bd_value NOT IN (SELECT bd_value FROM domain))
SELECT '{kpi.id}' AS kpi_id, period AS day, '{label}' AS breakdown,
       bd_value AS breakdown_value, numerator, denominator,
       {value} AS value, '{kpi_version(kpi, calendar)}' AS kpi_version, period AS _partition
FROM agg"""


def kpi_queries(kpi: KpiDefinition, calendar: BusinessCalendar | None = None,
                grain: str = "day") -> list[tuple[str, str]]:
    """(breakdown label, SQL) for the total and each declared breakdown."""
    return [(b or "all", kpi_query(kpi, b, grain, calendar)) for b in (None, *kpi.breakdowns)]
