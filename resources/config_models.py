"""The shape of every configuration file, with the cross-field rules a reviewer would check."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

Identifier = str  # lower_snake_case, validated where used

_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]*$"
_KPI_ID_PATTERN = r"^[a-z][a-z0-9_]*$"
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class _Strict(BaseModel):
    """Unknown keys are refused: a typo in a field name must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- strategy.yaml (step 1)


class BusinessGoal(_Strict):
    id: str = Field(pattern=_ID_PATTERN)
    statement: str


class Objective(_Strict):
    id: str = Field(pattern=_ID_PATTERN)
    statement: str
    business_goal: str
    owner: str
    horizon: dt.date
    services: list[str] = Field(min_length=1)


class Service(_Strict):
    name: str = Field(min_length=1)
    criticality: Literal["critical", "high", "medium", "low"]
    hours: Literal["24x7", "business"]
    users: int = Field(ge=0)


class ServiceLevels(_Strict):
    response_minutes: dict[int, int]
    resolution_minutes: dict[int, int]

    @model_validator(mode="after")
    def _every_priority(self) -> ServiceLevels:
        for name in ("response_minutes", "resolution_minutes"):
            missing = {1, 2, 3, 4, 5} - set(getattr(self, name))
            if missing:
                raise ValueError(f"{name} needs a target for priorities {sorted(missing)}")
        return self


class Period(_Strict):
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class Reporting(_Strict):
    scorecard_window_days: int = Field(default=28, ge=1, le=366)
    review_cadence: Literal["weekly", "monthly", "quarterly"] = "monthly"


class StrategyConfig(_Strict):
    vision: str
    business_goals: list[BusinessGoal] = Field(min_length=1)
    objectives: list[Objective] = Field(min_length=1)
    services: list[Service] = Field(min_length=1)
    service_levels: ServiceLevels
    baseline: Period
    reporting: Reporting = Reporting()

    def config_problems(self) -> list[tuple[tuple[int | str, ...], str]]:
        """Cross-references inside the file, each at the line of the field that is wrong."""
        goals = {g.id for g in self.business_goals}
        services = {s.name for s in self.services}
        problems: list[tuple[tuple[int | str, ...], str]] = []
        for i, objective in enumerate(self.objectives):
            if objective.business_goal not in goals:
                problems.append((("objectives", i, "business_goal"),
                                 f"business goal {objective.business_goal!r} is not among "
                                 f"business_goals {sorted(goals)}"))
            for j, service in enumerate(objective.services):
                if service not in services:
                    problems.append((("objectives", i, "services", j),
                                     f"service {service!r} is not in services "
                                     f"{sorted(services)}"))
            if objective.horizon <= self.baseline.end:
                problems.append((("objectives", i, "horizon"),
                                 f"horizon {objective.horizon} is not after the end of the "
                                 f"baseline period {self.baseline.end}"))
        for field, items in (("objectives", [o.id for o in self.objectives]),
                             ("services", [s.name for s in self.services])):
            for i, item in enumerate(items):
                if items.index(item) != i:
                    problems.append(((field, i), f"duplicate {field[:-1]} {item!r}"))
        return problems


# ---------------------------------------------------------------- kpis.yaml (step 2)

Breakdown = Literal["service", "priority", "assignment_group", "category", "ci", "contact_type",
                    "change_type"]
Aggregate = Literal["count", "sum", "ratio", "mean", "median", "p90", "p95"]
QUANTILES: dict[str, float] = {"median": 0.5, "p90": 0.9, "p95": 0.95}
"""Aggregates computed from the detail rows at every grain (never from daily values)."""

_AGGREGATE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # aggregate: (fields it needs, fields it refuses)
    "count": ((), ("denominator", "measure")),
    "sum": (("numerator",), ("denominator", "measure")),
    "ratio": (("numerator", "denominator"), ("measure",)),
    "mean": (("measure",), ("numerator", "denominator")),
    **{q: (("measure",), ("numerator", "denominator")) for q in QUANTILES},
}


class KpiDefinition(_Strict):
    """One KPI: what it measures, how, and against which target. The expressions are SQL over
    one canonical table; quality/kpi_expressions.py checks them when the file is loaded."""

    id: str = Field(pattern=_KPI_ID_PATTERN)
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    unit: str = Field(min_length=1)
    direction: Literal["higher_is_better", "lower_is_better"]
    kind: Literal["event", "snapshot"] = "event"
    aggregate: Aggregate
    table: str
    time_column: str | None = None
    start_column: str | None = None
    end_column: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    measure: str | None = None
    filter: str | None = None
    breakdowns: list[Breakdown] = []
    target: float | None = None
    warning: float | None = None
    objectives: list[str] = []
    owner: str
    attribution: str = Field(min_length=1)
    counting_unit: str = Field(min_length=1)

    @model_validator(mode="after")
    def _kind_fields(self) -> KpiDefinition:
        needed = ("time_column",) if self.kind == "event" else ("start_column", "end_column")
        unused = ("start_column", "end_column") if self.kind == "event" else ("time_column",)
        wants, refuses = _AGGREGATE_FIELDS[self.aggregate]
        missing = [f for f in (*needed, *wants) if not getattr(self, f)]
        if missing:
            raise ValueError(f"a KPI of kind {self.kind!r} with aggregate {self.aggregate!r} "
                             f"needs {', '.join(missing)}")
        extra = [f for f in (*unused, *refuses) if getattr(self, f) is not None]
        if extra:
            raise ValueError(f"{', '.join(extra)} has no meaning for a KPI of kind {self.kind!r} "
                             f"with aggregate {self.aggregate!r}; remove it")
        if len(set(self.breakdowns)) != len(self.breakdowns):
            raise ValueError("breakdowns lists a dimension twice")
        if self.warning is not None and self.target is None:
            raise ValueError("warning is set but target is not")
        if self.target is not None and self.warning is not None:
            wrong = (
                self.warning < self.target
                if self.direction == "lower_is_better"
                else self.warning > self.target
            )
            if wrong:
                better = "above" if self.direction == "lower_is_better" else "below"
                raise ValueError(
                    f"warning {self.warning} must lie {better} target {self.target} for a KPI "
                    f"where {self.direction.replace('_', ' ')}"
                )
        return self

    @property
    def rollup(self) -> Literal["ratio", "last", "quantile"]:
        """How values combine over days: sum(numerator)/sum(denominator), the last day's level
        (snapshots), or a quantile recomputed from the detail rows of the whole period."""
        if self.kind == "snapshot":
            return "last"
        return "quantile" if self.aggregate in QUANTILES else "ratio"

    @property
    def numerator_sql(self) -> str:
        """The aggregate summed per day (quantile KPIs: the count of measured rows)."""
        if self.aggregate == "count":
            return self.numerator or "count(*)"
        if self.aggregate in ("sum", "ratio"):
            return str(self.numerator)
        return f"sum({self.measure})" if self.aggregate == "mean" else f"count({self.measure})"

    @property
    def denominator_sql(self) -> str | None:
        """What the numerator is divided by; None: one per day (counts and sums are rates)."""
        if self.aggregate == "ratio":
            return self.denominator
        if self.aggregate == "mean":
            return f"count({self.measure})"
        return None

    @property
    def definition_hash(self) -> str:
        """A content hash of everything in this entry that changes the numbers (not names,
        prose or targets)."""
        formula = self.model_dump(
            include={"kind", "aggregate", "table", "time_column", "start_column", "end_column",
                     "numerator", "denominator", "measure", "filter"}
        )
        digest = hashlib.sha256(json.dumps(formula, sort_keys=True).encode()).hexdigest()
        return digest[:12]

    @property
    def formula(self) -> str:
        """The formula in SQL words, as shown in the catalogue and the report."""
        if self.kind == "event":
            per = f"on the day of {self.time_column}"
        else:
            per = (f"open at the end of each day as_of ({self.start_column} < as_of, "
                   f"{self.end_column} empty or >= as_of)")
        where = f" WHERE {self.filter}" if self.filter else ""
        if self.aggregate in QUANTILES:
            what = f"quantile_cont({self.measure}, {QUANTILES[self.aggregate]})"
        elif self.aggregate == "mean":
            what = f"avg({self.measure})"
        elif self.denominator_sql:
            what = f"{self.numerator_sql} / {self.denominator_sql}"
        else:
            what = self.numerator_sql + (" per day" if self.kind == "event" else "")
        return f"{what} over {self.table}{where}, {per}"


class KpiCatalogue(_Strict):
    kpis: list[KpiDefinition] = Field(min_length=1)

    @field_validator("kpis")
    @classmethod
    def _unique_ids(cls, kpis: list[KpiDefinition]) -> list[KpiDefinition]:
        ids = [k.id for k in kpis]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate KPI ids: {dupes}")
        return kpis

    def get(self, kpi_id: str) -> KpiDefinition:
        found = next((k for k in self.kpis if k.id == kpi_id), None)
        if found is None:
            raise KeyError(f"no KPI {kpi_id!r} in the catalogue; known: "
                           f"{', '.join(k.id for k in self.kpis)}")
        return found

    def config_problems(self) -> list[tuple[tuple[int | str, ...], str]]:
        """Every expression checked against the canonical schema in a locked sandbox (run by
        the loader after the shape is valid, so each problem gets its file and line)."""
        from quality.kpi_expressions import catalogue_problems

        return [(("kpis", i, *(int(p) if p.isdigit() else p for p in field.split("."))),
                 reason) for i, field, reason in catalogue_problems(self)]


# ---------------------------------------------------------------- sources.yaml (step 3)


def iana_time_zone(value: str) -> str:
    """A time zone every config file names the same way: an IANA name, checked when the file
    loads rather than when the first timestamp is converted."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as "
                         "'Europe/Amsterdam' or 'UTC')") from None
    return value


TimeZone = Annotated[str, AfterValidator(iana_time_zone)]

Entity = Literal["incidents", "changes", "problems", "outages", "surveys", "slas", "history"]
ENTITY_NAMES: tuple[str, ...] = ("incidents", "changes", "problems", "outages", "surveys")
RAW_ONLY_ENTITIES: tuple[str, ...] = ("slas", "history")
"""Entities without a canonical clean table of their own: task SLAs land in raw only, and the
audit log (`history`) is folded by step 4 into clean.incident_history, not cleaned row for row."""
SourceKind = Literal["synthetic", "files", "sql", "servicenow", "prometheus"]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class FileFormat(_Strict):
    """How the files of a drop folder are written: every known mess of real exports is an
    option here, so a new export needs configuration, not code."""

    format: Literal["auto", "csv", "jsonl", "parquet", "xlsx"] = "auto"
    delimiter: str = Field(default=",", min_length=1, max_length=4)
    quote: str = Field(default='"', max_length=1)
    escape: str = Field(default='"', max_length=1)
    encoding: str = "utf-8"
    header: bool = True
    skip_lines: int = Field(default=0, ge=0)
    null_values: list[str] = [""]
    decimal_comma: bool = False
    sheet: str | None = None

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r} (e.g. utf-8, latin-1, cp1252)") from None
        return value


class FilesConfig(_Strict):
    folder: str = Field(min_length=1)
    patterns: dict[Entity, str]
    read: FileFormat = FileFormat()


class SqlConfig(_Strict):
    url_env: EnvName
    schema_name: str | None = None
    tables: dict[Entity, str] = {}
    filters: dict[Entity, dict[str, str | int | float | bool]] = {}
    chunk_rows: int = Field(default=50_000, ge=100, le=1_000_000)


class ServiceNowConfig(_Strict):
    instance_url: str = Field(pattern=r"^https?://")
    tables: dict[Entity, str] = {}
    query: dict[Entity, str] = {}
    display_value: Literal["true", "false", "all"] = "true"
    page_size: int = Field(default=1000, ge=1, le=10_000)
    user_env: EnvName | None = None
    password_env: EnvName | None = None
    token_env: EnvName | None = None
    max_retries: int = Field(default=5, ge=0, le=20)
    timeout_seconds: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _one_auth(self) -> ServiceNowConfig:
        basic = self.user_env is not None or self.password_env is not None
        if basic and (self.user_env is None or self.password_env is None):
            raise ValueError("basic auth needs both user_env and password_env")
        if basic == (self.token_env is not None):
            raise ValueError("set either user_env and password_env (basic auth) or token_env "
                             "(OAuth bearer token), not both and not neither")
        return self


class PrometheusConfig(_Strict):
    url: str = Field(pattern=r"^https?://")
    query: str = Field(min_length=1)
    step_seconds: int = Field(default=60, ge=1)
    down_below: float = 1.0
    service_label: str = "job"
    ci_label: str | None = "instance"
    services: dict[str, str] = {}
    max_outage_hours: int = Field(default=24, ge=1, le=24 * 31)
    token_env: EnvName | None = None
    timeout_seconds: float = Field(default=60.0, gt=0)


_KIND_SECTIONS = ("files", "sql", "servicenow", "prometheus")
FRESHNESS_HOURS = 48.0
"""Default `freshness_hours`: one daily delivery may be missed or late before a warning."""
Hours = Annotated[float, Field(gt=0, le=24 * 366)]


def _with_preset(data: dict[str, Any]) -> dict[str, Any]:
    """Fill what the source entry leaves out from its preset; explicit entries win."""
    from resources.sources.presets import PRESETS

    name = data.get("preset")
    if name is None:
        return data
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {sorted(PRESETS)}")
    preset = PRESETS[name]
    merged = dict(data)
    merged["columns"] = {
        entity: {**preset.columns.get(entity, {}), **(data.get("columns") or {}).get(entity, {})}
        for entity in {*preset.columns, *(data.get("columns") or {})}
    }
    merged["mappings"] = {
        mapping: {**preset.mappings.get(mapping, {}),
                  **(data.get("mappings") or {}).get(mapping, {})}
        for mapping in {*preset.mappings, *(data.get("mappings") or {})}
    }
    if preset.timestamp_format and "timestamp_format" not in data:
        merged["timestamp_format"] = preset.timestamp_format
    for section in ("sql", "servicenow"):
        if isinstance(data.get(section), dict):
            merged[section] = {**data[section],
                               "tables": {**preset.tables, **data[section].get("tables", {})}}
    if isinstance(data.get("sql"), dict):
        merged["sql"]["filters"] = {**preset.filters, **data["sql"].get("filters", {})}
    return merged


class SourceConfig(_Strict):
    """One place data comes from. Its raw tables are raw.<name>_<entity>, in the source's own
    columns; `columns` says which source column holds each canonical field where the name
    differs from the ServiceNow-style default in assets/step4_process/entities.py. A `preset`
    (resources/sources/presets.py) supplies columns, vocabularies, date format and tables of a
    known tool; what the entry states itself wins."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    kind: SourceKind
    preset: str | None = None
    entities: list[Entity] = list(ENTITY_NAMES)
    timezone: TimeZone = "UTC"
    timestamp_format: str = "%Y-%m-%d %H:%M:%S"
    options: dict[str, Any] = {}
    columns: dict[Entity, dict[str, str]] = {}
    mappings: dict[str, dict[str, str]] = {}
    # Replace person fields (caller, assignee) by a salted hash in the clean layer; the salt
    # comes from $SEVENSTEP_PSEUDONYM_SALT (resources/pseudonyms.py), never from this file.
    pseudonymize: bool = False
    files: FilesConfig | None = None
    sql: SqlConfig | None = None
    servicenow: ServiceNowConfig | None = None
    prometheus: PrometheusConfig | None = None
    # The check `source_freshness` warns when the source has delivered nothing for longer than
    # this (assets/step3_gather/freshness.py); null: not checked. A daily export plus a day of
    # slack by default. Prometheus delivers outages only when something is down, so silence
    # there is good news: its default is null and a value is refused.
    freshness_hours: Hours | None = FRESHNESS_HOURS
    freshness_hours_by_entity: dict[Entity, Hours | None] = {}

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        return _with_preset(data) if isinstance(data, dict) else data

    @model_validator(mode="before")
    @classmethod
    def _no_freshness_for_prometheus(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("kind") != "prometheus":
            return data
        if data.get("freshness_hours") is not None or any(
                v is not None for v in (data.get("freshness_hours_by_entity") or {}).values()):
            raise ValueError("a prometheus source delivers outage rows only while something is "
                             "down, so its silence is no sign of a broken delivery: leave "
                             "freshness_hours out (or null)")
        return {**data, "freshness_hours": None}

    @model_validator(mode="after")
    def _kind_section(self) -> SourceConfig:
        wanted = self.kind if self.kind in _KIND_SECTIONS else None
        for section in _KIND_SECTIONS:
            present = getattr(self, section) is not None
            if section == wanted and not present:
                raise ValueError(f"a source of kind {self.kind!r} needs a {section!r} section")
            if section != wanted and present:
                raise ValueError(f"section {section!r} does not belong to a source of kind "
                                 f"{self.kind!r}")
        if len(set(self.entities)) != len(self.entities):
            raise ValueError(f"entities are listed twice: {self.entities}")
        stray = sorted(set(self.freshness_hours_by_entity) - set(self.entities))
        if stray:
            raise ValueError(f"freshness_hours_by_entity names {stray}, which the source does "
                             f"not deliver (entities: {self.entities})")
        if self.kind == "synthetic":  # it also writes its incidents' audit log (history)
            extra = sorted(set(self.entities) - {*ENTITY_NAMES, "history"})
            if extra:
                raise ValueError(f"the synthetic source does not generate {extra}")
        if self.kind == "prometheus" and self.entities != ["outages"]:
            raise ValueError("a prometheus source delivers only entities: [outages]")
        where = {"files": self.files.patterns if self.files else {},
                 "sql": self.sql.tables if self.sql else {},
                 "servicenow": self.servicenow.tables if self.servicenow else {}}.get(self.kind)
        if where is not None:
            missing = [e for e in self.entities if e not in where]
            if missing:
                field = "patterns" if self.kind == "files" else "tables"
                raise ValueError(f"{self.kind}.{field} names no {field[:-1]} for entities "
                                 f"{missing}")
        return self

    def raw_table(self, entity: str) -> str:
        """Table name in the raw schema (both parts validated identifiers)."""
        return f"{self.name}_{entity}"

    def column(self, entity: str, field: str, default: str) -> str:
        return self.columns.get(entity, {}).get(field, default)  # type: ignore[call-overload]

    def freshness(self, entity: str) -> float | None:
        """Hours `entity` may go without a delivery before `source_freshness` warns; None:
        not checked."""
        if entity in self.freshness_hours_by_entity:
            return self.freshness_hours_by_entity[entity]  # type: ignore[index]
        return self.freshness_hours


class SourcesConfig(_Strict):
    sources: list[SourceConfig] = Field(min_length=1)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate source names: {dupes}")
        return sources

    def providing(self, entity: str) -> list[SourceConfig]:
        """The sources that deliver `entity`, in file order."""
        return [s for s in self.sources if entity in s.entities]

    def get(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(f"config/sources.yaml has no source named {name!r}; "
                       f"known: {[s.name for s in self.sources]}")


# ---------------------------------------------------------------- calendar.yaml

_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def clock_minutes(text: str) -> int:
    """'08:30' -> 510; '24:00' (the end of the day) -> 1440."""
    if not isinstance(text, str) or not _CLOCK.match(text):
        raise ValueError(f"{text!r} is not a time of day as 'HH:MM' (00:00 to 24:00)")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _unquoted_time(value: Any) -> Any:
    """YAML reads an unquoted 18:00 as the number 1080 (base 60): turn it back."""
    return f"{value // 60:02d}:{value % 60:02d}" if isinstance(value, int) else value


def _valid_time(value: str) -> str:
    clock_minutes(value)
    return value


def _ordered_span(span: tuple[str, str]) -> tuple[str, str]:
    if clock_minutes(span[0]) >= clock_minutes(span[1]):
        raise ValueError(f"opening {span[0]} is not before closing {span[1]}")
    return span


Clock = Annotated[str, BeforeValidator(_unquoted_time), AfterValidator(_valid_time)]
Span = Annotated[tuple[Clock, Clock], AfterValidator(_ordered_span)]


class CalendarConfig(_Strict):
    """Partitions and business hours. Working hours are local wall-clock times in `timezone`;
    business-hours durations are computed in SQL (resources/business_calendar.py)."""

    history_start: dt.date
    timezone: TimeZone = "UTC"
    working_hours: dict[Weekday, Span] = {}
    holidays: list[dt.date] = []
    always_on_services: list[str] = []

    @field_validator("holidays", "always_on_services")
    @classmethod
    def _no_repeats(cls, value: list[Any]) -> list[Any]:
        repeated = sorted({str(v) for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"listed twice: {', '.join(repeated)}")
        return value

    def minutes(self, day: str) -> tuple[int, int] | None:
        """(opening, closing) in minutes after local midnight, or None when closed."""
        span = self.working_hours.get(day)  # type: ignore[call-overload]
        return (clock_minutes(span[0]), clock_minutes(span[1])) if span else None
