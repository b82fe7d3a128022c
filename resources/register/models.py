"""The improvement (CSI) register as SQLAlchemy models: `improve.actions` and its history.

The same models serve the warehouse (DuckDB through duckdb-engine) and PostgreSQL, so only
portable types are used: strings, floats, integers, booleans, dates and naive UTC timestamps.
The schema is created and evolved only by the Alembic migrations next to this module; the
models are what the code reads and writes.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "improve"

STATUSES = ("proposed", "accepted", "in_progress", "done", "verified", "ineffective", "rejected")
ACTIVE_STATUSES = ("proposed", "accepted", "in_progress", "done")
"""An action in one of these states blocks a new proposal for the same KPI and scope; `done`
counts because its effect is still being measured."""
OPEN_STATUSES = ("proposed", "accepted", "in_progress")
"""Work not finished yet: these can be overdue."""

EVENT_ID = sa.Sequence("action_event_id_seq", schema=SCHEMA)


class Base(DeclarativeBase):
    metadata = sa.MetaData(schema=SCHEMA)


class Action(Base):
    """One improvement action: what to do about a finding, who owns it and whether it worked."""

    __tablename__ = "actions"

    action_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    description: Mapped[str | None] = mapped_column(sa.Text)
    kpi_id: Mapped[str] = mapped_column(sa.String(80))
    finding_ids: Mapped[str | None] = mapped_column(sa.Text)  # comma-separated analysis ids
    evidence: Mapped[str | None] = mapped_column(sa.Text)
    objective_id: Mapped[str | None] = mapped_column(sa.String(80))
    scope_breakdown: Mapped[str] = mapped_column(sa.String(40))  # all, service, ci, group
    scope_value: Mapped[str] = mapped_column(sa.String(200))
    scope: Mapped[str] = mapped_column(sa.String(200))  # how the scope reads in a report
    priority: Mapped[str | None] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(20))
    owner: Mapped[str | None] = mapped_column(sa.String(120))
    due_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    resources: Mapped[str | None] = mapped_column(sa.Text)
    baseline_value: Mapped[float | None] = mapped_column(sa.Float)
    baseline_period: Mapped[str | None] = mapped_column(sa.String(40))
    target: Mapped[float | None] = mapped_column(sa.Float)
    current_value: Mapped[float | None] = mapped_column(sa.Float)
    rationale: Mapped[str | None] = mapped_column(sa.Text)
    notes: Mapped[str | None] = mapped_column(sa.Text)  # decisions, e.g. why it was rejected
    done_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    overdue: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    wrong_way: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    last_evaluated: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    effect: Mapped[float | None] = mapped_column(sa.Float)  # relative change, + is better
    effect_p_value: Mapped[float | None] = mapped_column(sa.Float)
    effect_summary: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime)
    version: Mapped[int] = mapped_column(sa.Integer)


class ActionEvent(Base):
    """One changed field of one action: who, when, old and new value (as text)."""

    __tablename__ = "action_events"

    event_id: Mapped[int] = mapped_column(
        sa.BigInteger, EVENT_ID, server_default=EVENT_ID.next_value(), primary_key=True
    )
    action_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    version: Mapped[int] = mapped_column(sa.Integer)  # the action's version after the change
    event_at: Mapped[dt.datetime] = mapped_column(sa.DateTime)
    actor: Mapped[str] = mapped_column(sa.String(120))
    field: Mapped[str] = mapped_column(sa.String(40))
    old_value: Mapped[str | None] = mapped_column(sa.Text)
    new_value: Mapped[str | None] = mapped_column(sa.Text)


ACTION_COLUMNS: tuple[str, ...] = tuple(c.name for c in Action.__table__.columns)
