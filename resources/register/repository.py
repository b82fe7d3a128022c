"""Reading and changing the register: every change versioned, checked and recorded as events.

Two rules make the register trustworthy as a shared document:

* Optimistic concurrency. Each action has a `version`; a change names the version it was based
  on and is refused with a ConflictError when somebody changed the action since. The UPDATE
  itself is guarded by the version (`... WHERE version = :seen RETURNING version`), so two
  writers racing between read and write cannot both win. duckdb-engine cannot report updated
  row counts, which is why RETURNING is used rather than SQLAlchemy's version_id_col.
* People own what they set. A field a person changed once (any event whose actor is not the
  pipeline) is never changed by the pipeline again; the pipeline owns only the measured fields.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from resources.register import migrate
from resources.register.models import ACTION_COLUMNS, Action, ActionEvent

PIPELINE = "pipeline"
URL_VARIABLE = "SEVENSTEP_REGISTER_URL"

HUMAN_FIELDS = ("title", "description", "objective_id", "priority", "status", "owner",
                "due_date", "resources", "baseline_value", "baseline_period", "target",
                "rationale", "notes", "done_on")
"""What a person may set through the CLI or a CSV import."""
PIPELINE_FIELDS = ("finding_ids", "evidence", "rationale", "status", "current_value",
                   "overdue", "wrong_way", "last_evaluated", "effect", "effect_p_value",
                   "effect_summary")
"""What a pipeline run may change after proposing an action (status only to verified or
ineffective, and never a field a person has set)."""
PRIORITIES = ("low", "medium", "high", "critical")
EVALUATED = ("verified", "ineffective")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "proposed": ("accepted", "rejected"),
    "accepted": ("in_progress", "done", "rejected"),
    "in_progress": ("accepted", "done", "rejected"),
    "done": ("in_progress", *EVALUATED),
    "verified": (),
    "ineffective": (),
    "rejected": (),
}
"""Allowed status changes. Only the pipeline's evaluation moves an action from done to verified
or ineffective; verified, ineffective and rejected are final (the next run proposes anew)."""
_DATES = ("due_date", "done_on")
_FLOATS = ("baseline_value", "target")


class RegisterError(ValueError):
    """A change the register refuses; the message says which action, field and why."""


class ConflictError(RegisterError):
    """The action changed since the version the edit was based on."""


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def as_text(value: object) -> str | None:
    """How a value is written into an event (and a CSV cell): dates ISO, None stays None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def parse_field(field: str, text: str) -> object:
    """A person's text for a human field as the value to store ("" clears the field)."""
    if field not in HUMAN_FIELDS:
        raise RegisterError(f"field {field!r} cannot be set by hand; settable fields: "
                            f"{', '.join(HUMAN_FIELDS)}")
    text = text.strip()
    if text == "":
        if field in ("title", "status"):
            raise RegisterError(f"field {field!r} cannot be empty")
        return None
    try:
        if field in _DATES:
            return dt.date.fromisoformat(text)
        if field in _FLOATS:
            return float(text)
    except ValueError as exc:
        kind = "a date YYYY-MM-DD" if field in _DATES else "a number"
        raise RegisterError(f"field {field!r}: {text!r} is not {kind}") from exc
    if field == "priority" and text not in PRIORITIES:
        raise RegisterError(f"field 'priority': {text!r} is not one of {', '.join(PRIORITIES)}")
    return text


@dataclass(frozen=True)
class Edit:
    """A person's change to one action, based on the version they saw (None: the current)."""

    action_id: str
    changes: Mapping[str, object]
    expected_version: int | None = None


def default_url(warehouse_path: Path) -> str:
    """$SEVENSTEP_REGISTER_URL, else the warehouse file itself (through duckdb-engine)."""
    return os.environ.get(URL_VARIABLE) or f"duckdb:///{warehouse_path}"


def shown_url(url: str) -> str:
    """The URL with its password hidden: the only form that may appear in logs."""
    return sa.make_url(url).render_as_string(hide_password=True)


class Register:
    """The register in one database; open it with Register.open, which migrates it first."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Register:
        """Connect (no pool: DuckDB's file is released between uses) and upgrade the schema."""
        engine = sa.create_engine(url, poolclass=NullPool)
        migrate.upgrade(engine)
        return cls(engine)

    @property
    def is_warehouse(self) -> bool:
        """True when the register lives in a DuckDB file (the warehouse) itself."""
        return self.engine.dialect.name == "duckdb"

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # ------------------------------------------------------------------ reading

    def actions(self, statuses: Iterable[str] | None = None) -> list[Action]:
        query = sa.select(Action).order_by(Action.action_id)
        if statuses is not None:
            query = query.where(Action.status.in_(tuple(statuses)))
        with self._session() as session:
            return list(session.scalars(query))

    def get(self, action_id: str) -> Action:
        with self._session() as session:
            action = session.get(Action, action_id)
        if action is None:
            raise RegisterError(f"no action {action_id!r} in the register")
        return action

    def events(self, action_id: str | None = None) -> list[ActionEvent]:
        query = sa.select(ActionEvent).order_by(ActionEvent.event_id)
        if action_id is not None:
            query = query.where(ActionEvent.action_id == action_id)
        with self._session() as session:
            return list(session.scalars(query))

    def human_fields(self, session: Session | None = None) -> dict[str, set[str]]:
        """Per action, the fields a person has set at least once (from the event history)."""
        query = (sa.select(ActionEvent.action_id, ActionEvent.field)
                 .where(ActionEvent.actor != PIPELINE).distinct())
        owned: dict[str, set[str]] = defaultdict(set)
        with self._session() if session is None else nullcontext(session) as s:
            for action_id, field in s.execute(query):
                owned[action_id].add(field)
        return owned

    # ------------------------------------------------------------------ writing

    def create(self, values: Mapping[str, object], at: dt.datetime | None = None) -> Action:
        """Insert a pipeline proposal; each field it sets becomes an event of version 1."""
        at = at or now_utc()
        unknown = set(values) - set(ACTION_COLUMNS)
        if unknown:
            raise RegisterError(f"unknown action fields: {', '.join(sorted(unknown))}")
        row = {"overdue": False, "wrong_way": False, **values, "status": "proposed",
               "created_at": at, "updated_at": at, "version": 1}
        with self._session() as session, session.begin():
            session.execute(sa.insert(Action).values(row))
            _record(session, str(row["action_id"]), 1, PIPELINE, at,
                    [(k, None, v) for k, v in row.items()
                     if v is not None and k not in ("action_id", "created_at", "updated_at",
                                                    "version")])
        return self.get(str(row["action_id"]))

    def change(self, action_id: str, changes: Mapping[str, object], actor: str,
               expected_version: int | None = None) -> Action:
        """Apply one change (all fields or none) and return the action as it is now."""
        self.apply([Edit(action_id, changes, expected_version)], actor)
        return self.get(action_id)

    def apply(self, edits: Iterable[Edit], actor: str) -> int:
        """Apply several edits in one transaction: a refused edit leaves the register as it was.

        Returns how many actions changed (edits that change nothing are skipped).
        """
        edits = list(edits)
        at = now_utc()
        changed = 0
        with self._session() as session, session.begin():
            owned = self.human_fields(session) if actor == PIPELINE else {}
            for edit in edits:
                changed += _apply_one(session, edit, actor, at, owned.get(edit.action_id, set()))
        return changed


def _check(action: Action, changes: Mapping[str, object], actor: str) -> None:
    allowed = PIPELINE_FIELDS if actor == PIPELINE else HUMAN_FIELDS
    for field in changes:
        if field not in allowed:
            who = "the pipeline" if actor == PIPELINE else "a person"
            raise RegisterError(f"{action.action_id}: field {field!r} cannot be set by {who}")
    status = changes.get("status", action.status)
    if status != action.status:
        if status not in TRANSITIONS.get(action.status, ()):
            allowed_next = ", ".join(TRANSITIONS.get(action.status, ())) or "none (final)"
            raise RegisterError(f"{action.action_id}: status cannot go from {action.status} to "
                                f"{status}; allowed: {allowed_next}")
        if status in EVALUATED and actor != PIPELINE:
            raise RegisterError(f"{action.action_id}: {status} is set by the evaluation after "
                                "the evaluation window, not by hand")
    if actor != PIPELINE and status == "done" and changes.get("done_on", action.done_on) is None:
        raise RegisterError(f"{action.action_id}: a done action needs done_on (the day the "
                            "change took effect)")


def _apply_one(session: Session, edit: Edit, actor: str, at: dt.datetime,
               owned: set[str]) -> int:
    action = session.get(Action, edit.action_id)
    if action is None:
        raise RegisterError(f"no action {edit.action_id!r} in the register")
    changes = dict(edit.changes)
    if actor == PIPELINE:  # never overwrite what a person set
        changes = {k: v for k, v in changes.items() if k not in owned or k == "status"}
    _check(action, changes, actor)
    diff = [(k, getattr(action, k), v) for k, v in changes.items() if getattr(action, k) != v]
    seen = action.version
    if edit.expected_version is not None and edit.expected_version != seen:
        if not diff:
            return 0
        raise ConflictError(_conflict(session, action, edit.expected_version))
    if not diff:
        return 0
    new_version = session.execute(
        sa.update(Action)
        .where(Action.action_id == action.action_id, Action.version == seen)
        .values({k: new for k, _, new in diff} | {"version": seen + 1, "updated_at": at})
        .returning(Action.version)
        .execution_options(synchronize_session=False)
    ).scalar()
    if new_version is None:
        raise ConflictError(f"{action.action_id} changed while it was being edited (version "
                            f"{seen} is no longer current): read it again and retry")
    _record(session, action.action_id, new_version, actor, at, diff)
    session.expire(action)
    return 1


def _conflict(session: Session, action: Action, expected: int) -> str:
    """Who changed what since the version the edit was based on, in words."""
    later = session.scalars(
        sa.select(ActionEvent).where(ActionEvent.action_id == action.action_id,
                                     ActionEvent.version > expected)
        .order_by(ActionEvent.event_id)).all()
    changes = "; ".join(f"{e.field} {e.old_value!r} -> {e.new_value!r} by {e.actor} at "
                        f"{e.event_at:%Y-%m-%d %H:%M}" for e in later[:5])
    more = f" (and {len(later) - 5} more)" if len(later) > 5 else ""
    return (f"{action.action_id}: your edit is based on version {expected} but the register "
            f"is at version {action.version}; changed since: {changes}{more}. Nothing was "
            "saved: export again and re-apply your edit")


def _record(session: Session, action_id: str, version: int, actor: str, at: dt.datetime,
            changes: Iterable[tuple[str, object, object]]) -> None:
    rows = [{"action_id": action_id, "version": version, "event_at": at, "actor": actor,
             "field": field, "old_value": as_text(old), "new_value": as_text(new)}
            for field, old, new in changes]
    if rows:
        session.execute(sa.insert(ActionEvent), rows)
