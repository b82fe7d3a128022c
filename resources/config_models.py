"""The shape of every configuration file, with the cross-field rules a reviewer would check."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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

    @model_validator(mode="after")
    def _references_exist(self) -> StrategyConfig:
        goals = {g.id for g in self.business_goals}
        services = {s.name for s in self.services}
        for objective in self.objectives:
            if objective.business_goal not in goals:
                raise ValueError(
                    f"objective {objective.id} serves business goal {objective.business_goal!r}, "
                    f"which is not among business_goals {sorted(goals)}"
                )
            unknown = [s for s in objective.services if s not in services]
            if unknown:
                raise ValueError(
                    f"objective {objective.id} names services {unknown} that are not in services"
                )
        for field, items in (("objectives", [o.id for o in self.objectives]),
                             ("services", [s.name for s in self.services])):
            dupes = sorted({i for i in items if items.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {field}: {dupes}")
        return self


# ---------------------------------------------------------------- kpis.yaml (step 2)

Breakdown = Literal["service", "priority", "assignment_group", "category", "ci"]


class KpiDefinition(_Strict):
    id: str = Field(pattern=_KPI_ID_PATTERN)
    name: str
    description: str
    unit: str
    direction: Literal["higher_is_better", "lower_is_better"]
    kind: Literal["event", "snapshot", "availability"]
    table: str | None = None
    time_column: str | None = None
    start_column: str | None = None
    end_column: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    filter: str | None = None
    rollup: Literal["ratio", "last"] = "ratio"
    breakdowns: list[Breakdown] = []
    target: float | None = None
    warning: float | None = None
    objectives: list[str] = []
    owner: str
    attribution: str
    counting_unit: str

    @model_validator(mode="after")
    def _kind_fields(self) -> KpiDefinition:
        needed = {
            "event": ("table", "time_column", "numerator"),
            "snapshot": ("table", "start_column", "end_column", "numerator"),
            "availability": (),
        }[self.kind]
        missing = [f for f in needed if not getattr(self, f)]
        if missing:
            raise ValueError(f"a KPI of kind {self.kind!r} needs {', '.join(missing)}")
        if self.kind == "snapshot" and self.rollup != "last":
            raise ValueError("a snapshot KPI (a level at the end of each day) must use "
                             "rollup: last")
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
    def version(self) -> str:
        """A content hash of everything that changes the numbers (not names or prose)."""
        formula = self.model_dump(
            include={"kind", "table", "time_column", "start_column", "end_column", "numerator",
                     "denominator", "filter", "rollup"}
        )
        digest = hashlib.sha256(json.dumps(formula, sort_keys=True).encode()).hexdigest()
        return digest[:12]

    @property
    def formula(self) -> str:
        """The formula in words and SQL, as shown in the catalogue and the report."""
        if self.kind == "availability":
            return "(agreed minutes - unplanned downtime minutes) / agreed minutes"
        if self.kind == "event":
            per = f"day of {self.time_column}"
        else:
            per = f"open at end of day ({self.start_column} <= t < {self.end_column})"
        den = self.denominator or "1 per day"
        where = f" WHERE {self.filter}" if self.filter else ""
        return f"{self.numerator} / {den} over {self.table}{where}, by {per}"


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
        return next(k for k in self.kpis if k.id == kpi_id)


# ---------------------------------------------------------------- sources.yaml (step 3)


Entity = Literal["incidents", "changes", "problems", "outages", "surveys"]
ENTITY_NAMES: tuple[str, ...] = ("incidents", "changes", "problems", "outages", "surveys")


class SourceConfig(_Strict):
    """One place data comes from. Its raw tables are raw.<name>_<entity>, in the source's own
    columns; `columns` says which source column holds each canonical field where the name
    differs from the ServiceNow-style default in assets/step4_process/entities.py."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    kind: Literal["synthetic"]
    entities: list[Entity] = list(ENTITY_NAMES)
    timezone: str = "UTC"
    timestamp_format: str = "%Y-%m-%d %H:%M:%S"
    options: dict[str, Any] = {}
    columns: dict[Entity, dict[str, str]] = {}
    mappings: dict[str, dict[str, str]] = {}
    # Replace person fields (caller, assignee) by a salted hash in the clean layer; the salt
    # comes from $SEVENSTEP_PSEUDONYM_SALT (resources/pseudonyms.py), never from this file.
    pseudonymize: bool = False

    def raw_table(self, entity: str) -> str:
        """Table name in the raw schema (both parts validated identifiers)."""
        return f"{self.name}_{entity}"

    def column(self, entity: str, field: str, default: str) -> str:
        return self.columns.get(entity, {}).get(field, default)  # type: ignore[call-overload]


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


# ---------------------------------------------------------------- calendar.yaml


class CalendarConfig(_Strict):
    history_start: dt.date
    timezone: str = "UTC"
    working_hours: dict[Weekday, tuple[dt.time, dt.time]] = {}
    holidays: list[dt.date] = []

    @field_validator("working_hours", mode="before")
    @classmethod
    def _parse_times(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                day: tuple(dt.time.fromisoformat(str(t)) for t in span)
                for day, span in value.items()
            }
        return value
