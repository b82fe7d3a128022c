"""What you should measure vs what you can measure: KPI coverage per source.

Each KPI names the canonical columns it needs (in its expressions, time columns and
breakdowns). Those are traced back to the fields a source must deliver — through derived
columns (minutes_to_resolve comes from opened_at, resolved_at and on_hold_minutes), derived
tables (an SLA record comes from its incident; service_days from outages) and virtual columns —
and then, for every source, the KPI is:

- `cannot`: the source does not deliver the entity, has no column for a needed field, or never
  fills it;
- `partial`: a needed field that every row should have (service, priority, category...) is
  filled in fewer than FILL_THRESHOLD of the source's rows, so the KPI covers part of them, or a
  column needed only for a breakdown is missing;
- `computable` otherwise.

Fields that are empty by meaning (resolved_at of an open incident, problem_id of an incident
with no problem) only need to be delivered and filled somewhere, not in every row.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from assets.kpi_sql import RECURRENCE_DAYS, SNAPSHOT_COLUMNS, referenced_columns
from assets.step4_process.entities import ENTITY_SPECS, raw_column
from quality.sql_expressions import parse_expression
from resources.config_models import KpiDefinition, SourceConfig

FILL_THRESHOLD = 0.95
STATUSES = ("computable", "partial", "cannot")

EMPTY_BY_MEANING: dict[str, frozenset[str]] = {
    "incidents": frozenset({
        "acknowledged_at", "resolved_at", "closed_at", "first_resolved_at", "problem_id",
        "caused_by_change", "assignee", "minutes_to_acknowledge", "minutes_to_resolve",
        "minutes_to_acknowledge_business", "minutes_to_resolve_business"}),
    "changes": frozenset({"outcome", "start_at", "end_at"}),
    "problems": frozenset({"resolved_at"}),
    "outages": frozenset({"end_at", "duration_minutes"}),
    "surveys": frozenset({"responded_at", "score", "comment", "incident_id"}),
}
"""Columns whose emptiness is information (not yet happened, no link), not a gap."""

_OUTAGE_WINDOWS = ("service", "start_at", "end_at", "planned")
_SLA_CLOCK = ("opened_at", "acknowledged_at", "resolved_at", "on_hold_minutes", "priority")
DERIVED_TABLES: dict[str, tuple[str, dict[str, tuple[str, ...]]]] = {
    "sla_records": ("incidents", {
        "incident_id": ("incident_id",), "sla_type": (), "service": ("service",),
        "priority": ("priority",), "target_minutes": ("priority",), "start_at": ("opened_at",),
        "stop_at": ("acknowledged_at", "resolved_at"), "elapsed_minutes": _SLA_CLOCK,
        "stage": ("acknowledged_at", "resolved_at"), "breached": _SLA_CLOCK}),
    "service_days": ("outages", {
        "day": (), "service": ("service",), "hours": (), "scheduled_minutes": (),
        "planned_minutes": _OUTAGE_WINDOWS, "agreed_minutes": _OUTAGE_WINDOWS,
        "downtime_minutes": _OUTAGE_WINDOWS, "outage_count": _OUTAGE_WINDOWS,
        "restore_minutes": _OUTAGE_WINDOWS}),
}
"""Tables computed from an entity table: each column -> the entity columns it comes from."""

VIRTUAL_INPUTS: dict[str, tuple[str, ...]] = {
    f"recurring_{days}d": ("ci", "category", "opened_at") for days in RECURRENCE_DAYS}


@dataclass(frozen=True)
class Needs:
    entity: str
    columns: tuple[str, ...]  # canonical columns of clean.<entity> the KPI depends on
    fields: tuple[str, ...]  # entity fields (delivered by the source) behind those columns
    breakdown_columns: tuple[str, ...] = ()  # needed only to break the KPI down


def _entity_columns(kpi: KpiDefinition, names: set[str]) -> tuple[str, set[str]]:
    """The entity a KPI ultimately reads and the columns of its clean table behind `names`."""
    names = names - set(SNAPSHOT_COLUMNS)
    for virtual, inputs in VIRTUAL_INPUTS.items():
        if virtual in names:
            names = (names - {virtual}) | set(inputs)
    if kpi.table in DERIVED_TABLES:
        entity, lineage = DERIVED_TABLES[kpi.table]
        return entity, {c for name in names for c in lineage.get(name, ())}
    return kpi.table, names


def needs(kpi: KpiDefinition) -> Needs:
    """The entity, clean columns and delivered fields a KPI needs."""
    entity, columns = _entity_columns(kpi, set(referenced_columns(kpi, breakdowns=False)))
    _, everything = _entity_columns(kpi, set(referenced_columns(kpi)))
    spec = ENTITY_SPECS[entity]
    field_names = {f.name for f in spec.fields}
    fields: set[str] = set()
    pending = list(columns)
    while pending:
        name = pending.pop()
        if name in field_names:
            fields.add(name)
        elif name in spec.derived:
            pending += [c for c in parse_expression(spec.derived[name]).columns
                        if c not in fields]
    return Needs(entity, tuple(sorted(columns)), tuple(sorted(fields)),
                 tuple(sorted(everything - columns)))


def _raw_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' "
        "AND table_name = ?", [table]).fetchall()}


def _fill(con: duckdb.DuckDBPyConnection, entity: str, columns: tuple[str, ...],
          source: str) -> tuple[int, dict[str, int]]:
    """Rows of clean.<entity> from `source` and how many of them fill each column."""
    present = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'clean' "
        "AND table_name = ?", [entity]).fetchall()}
    if not present:
        return 0, {}
    counted = [c for c in columns if c in present]
    select = ", ".join(["count(*)"] + [f"count({c})" for c in counted])
    row = con.execute(f"SELECT {select} FROM clean.{entity} WHERE _source = ?",
                      [source]).fetchall()[0]
    return int(row[0]), {c: int(n) for c, n in zip(counted, row[1:], strict=True)}


def _source_problems(con: duckdb.DuckDBPyConnection, need: Needs,
                     source: SourceConfig) -> list[tuple[str, str]]:
    """(status, reason) for everything that keeps one source from giving one KPI."""
    if need.entity not in source.entities:
        return [("cannot", f"the source does not deliver {need.entity}")]
    spec = ENTITY_SPECS[need.entity]
    table = source.raw_table(need.entity)
    raw = _raw_columns(con, table)
    problems = []
    for field in spec.fields:
        column = raw_column(source, spec, field)
        if not raw or column in raw:
            continue
        if field.name in need.fields:
            problems.append(("cannot", f"no column {column!r} for {field.name} in raw.{table}"))
        elif field.name in need.breakdown_columns:
            problems.append(("partial", f"no column {column!r} in raw.{table} to break down by "
                                        f"{field.name}"))
    total, filled = _fill(con, need.entity, need.columns + need.breakdown_columns, source.name)
    if total == 0:
        return problems + [("cannot", f"no rows from this source in clean.{need.entity} yet")]
    optional = EMPTY_BY_MEANING.get(need.entity, frozenset())
    for column in need.columns + need.breakdown_columns:
        share = filled.get(column, 0) / total
        core = column in need.columns
        if share == 0:
            problems.append(("cannot" if core else "partial",
                             f"{column} is never filled ({total:,} rows)"))
        elif share < FILL_THRESHOLD and column not in optional:
            problems.append(("partial", f"{column} is filled in {share:.0%} of {total:,} rows"))
    return problems


def coverage(con: duckdb.DuckDBPyConnection, kpis: list[KpiDefinition],
             sources: list[SourceConfig]) -> pd.DataFrame:
    """One row per source and KPI: status, the fields it needs and why it is not computable."""
    rows = []
    for source in sources:
        for kpi in kpis:
            need = needs(kpi)
            problems = _source_problems(con, need, source)
            rows.append({
                "source": source.name, "kpi_id": kpi.id,
                "status": max((s for s, _ in problems), key=STATUSES.index,
                              default="computable"),
                "entity": need.entity, "fields": ", ".join(need.fields),
                "reasons": "; ".join(dict.fromkeys(r for _, r in problems)),
            })
    return pd.DataFrame(rows, columns=["source", "kpi_id", "status", "entity", "fields",
                                       "reasons"])
