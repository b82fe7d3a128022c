"""How each raw entity maps onto its canonical clean table.

A field says where its value comes from in the raw (source-shaped) table and how it is parsed;
from these specs the cleaning SQL and the quarantine rules are generated, so adding a field is
one line here plus its column in quality/schemas.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from quality.contracts import RawContract
from resources.business_calendar import incident_business_columns
from resources.config_models import SourceConfig

Kind = Literal["key", "text", "timestamp", "integer", "number", "code"]


@dataclass(frozen=True)
class Field:
    name: str
    raw: str
    kind: Kind = "text"
    required: bool = False
    mapping: str | None = None  # vocabulary in sources.yaml `mappings` (kind "code")
    sql_type: str | None = None  # cast of the canonical code, e.g. SMALLINT for priority
    default: str | None = None  # SQL literal used when the raw value is empty
    scale: float = 1.0  # numbers: multiply (e.g. seconds -> minutes)
    valid_range: tuple[float, float] | None = None
    planned: bool = False  # a planned time (change window) may lie in the future
    person: bool = False  # names a person: pseudonymized when the source asks for it


@dataclass(frozen=True)
class TimeOrder:
    """`later` must not be before `earlier`, else the row is quarantined with `code`."""

    later: str
    earlier: str
    code: str


@dataclass(frozen=True)
class EntitySpec:
    entity: str
    fields: tuple[Field, ...]
    derived: dict[str, str] = field(default_factory=dict)  # canonical column -> SQL over fields
    order: tuple[TimeOrder, ...] = ()
    profile: bool = False  # judge volume, hour-of-day and priority mix against history

    @property
    def key(self) -> Field:
        return next(f for f in self.fields if f.kind == "key")

    @property
    def updated(self) -> str | None:
        return "updated_at" if any(f.name == "updated_at" for f in self.fields) else None


INCIDENTS = EntitySpec(
    "incidents",
    (
        Field("incident_id", "number", "key"),
        Field("service", "business_service"),
        Field("ci", "cmdb_ci"),
        Field("assignment_group", "assignment_group"),
        Field("category", "category"),
        Field("priority", "priority", "code", True, "incident_priority", "SMALLINT"),
        Field("state", "state", "code", True, "incident_state"),
        Field("contact_type", "contact_type"),
        Field("opened_at", "opened_at", "timestamp", True),
        Field("acknowledged_at", "acknowledged_at", "timestamp"),
        Field("resolved_at", "resolved_at", "timestamp"),
        Field("closed_at", "closed_at", "timestamp"),
        Field("updated_at", "sys_updated_on", "timestamp"),
        Field("on_hold_minutes", "hold_duration", "number", default="0", scale=1 / 60,
              valid_range=(0, 1e9)),
        Field("reassignment_count", "reassignment_count", "integer", default="0",
              valid_range=(0, 1e6)),
        Field("reopen_count", "reopen_count", "integer", default="0", valid_range=(0, 1e6)),
        Field("problem_id", "problem_id"),
        Field("caused_by_change", "caused_by"),
        Field("caller", "caller_id", person=True),
        Field("assignee", "assigned_to", person=True),
        Field("short_description", "short_description"),
    ),
    derived={
        "minutes_to_acknowledge": "date_diff('second', opened_at, acknowledged_at) / 60.0",
        "minutes_to_resolve": "greatest(date_diff('second', opened_at, resolved_at) / 60.0 "
        "- on_hold_minutes, 0)",
        "first_resolved_at": "CASE WHEN reopen_count = 0 THEN resolved_at END",
        **incident_business_columns(),  # config/calendar.yaml, computed in SQL
    },
    order=(
        TimeOrder("resolved_at", "opened_at", "RESOLVED_BEFORE_OPENED"),
        TimeOrder("acknowledged_at", "opened_at", "ACKNOWLEDGED_BEFORE_OPENED"),
        TimeOrder("closed_at", "resolved_at", "CLOSED_BEFORE_RESOLVED"),
    ),
    profile=True,
)

CHANGES = EntitySpec(
    "changes",
    (
        Field("change_id", "number", "key"),
        Field("service", "business_service"),
        Field("ci", "cmdb_ci"),
        Field("assignment_group", "assignment_group"),
        Field("change_type", "type", "code", True, "change_type"),
        Field("state", "state", "code", True, "change_state"),
        Field("outcome", "close_code", "code", False, "change_close_code"),
        Field("created_at", "sys_created_on", "timestamp", True),
        Field("start_at", "start_date", "timestamp", planned=True),
        Field("end_at", "end_date", "timestamp", planned=True),
        Field("updated_at", "sys_updated_on", "timestamp"),
        Field("short_description", "short_description"),
    ),
    order=(TimeOrder("end_at", "start_at", "END_BEFORE_START"),),
)

PROBLEMS = EntitySpec(
    "problems",
    (
        Field("problem_id", "number", "key"),
        Field("service", "business_service"),
        Field("ci", "cmdb_ci"),
        Field("category", "category"),
        Field("state", "state", "code", True, "problem_state"),
        Field("opened_at", "opened_at", "timestamp", True),
        Field("resolved_at", "resolved_at", "timestamp"),
        Field("updated_at", "sys_updated_on", "timestamp"),
        Field("short_description", "short_description"),
    ),
    order=(TimeOrder("resolved_at", "opened_at", "RESOLVED_BEFORE_OPENED"),),
)

OUTAGES = EntitySpec(
    "outages",
    (
        Field("outage_id", "outage_id", "key"),
        Field("service", "service", required=True),
        Field("ci", "cmdb_ci"),
        Field("outage_type", "type", "code", True, "outage_type"),
        Field("start_at", "begin", "timestamp", True),
        Field("end_at", "end", "timestamp"),  # empty while the outage goes on
        Field("updated_at", "sys_updated_on", "timestamp"),
        Field("description", "description"),
    ),
    derived={
        "planned": "outage_type = 'planned'",
        "duration_minutes": "date_diff('second', start_at, end_at) / 60.0",
    },
    order=(TimeOrder("end_at", "start_at", "END_BEFORE_START"),),
)

SURVEYS = EntitySpec(
    "surveys",
    (
        Field("response_id", "response_id", "key"),
        Field("incident_id", "incident"),
        Field("service", "business_service"),
        Field("sent_at", "sent_at", "timestamp", True),
        Field("responded_at", "responded_at", "timestamp"),
        Field("score", "score", "integer", valid_range=(1, 5)),
        Field("comment", "comment"),
    ),
    order=(TimeOrder("responded_at", "sent_at", "RESPONDED_BEFORE_SENT"),),
)

ENTITY_SPECS: dict[str, EntitySpec] = {
    s.entity: s for s in (INCIDENTS, CHANGES, PROBLEMS, OUTAGES, SURVEYS)
}


def raw_column(source: SourceConfig, spec: EntitySpec, field: Field) -> str:
    """The source column that holds `field` (the source's `columns` override, else default)."""
    return source.column(spec.entity, field.name, field.raw)


def raw_contract(source: SourceConfig, entity: str) -> RawContract:
    """The source contract for one raw table: its key and required fields must be there."""
    spec = ENTITY_SPECS[entity]
    required = [spec.key] + [f for f in spec.fields if f.required]
    return RawContract(
        table=source.raw_table(entity),
        key=raw_column(source, spec, spec.key),
        required=tuple(dict.fromkeys(raw_column(source, spec, f) for f in required)),
    )
