"""Create the register: improve.actions and improve.action_events.

Warehouses made before the register was versioned hold plain improve.actions and
improve.action_events tables (created by step 7 with CREATE TABLE IF NOT EXISTS). Those rows
are carried into the new tables, so upgrading never loses an action or its history.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "improve"


# Columns of the unversioned register that move unchanged; its text `effect` becomes
# effect_summary, and its events get the action's version at the time (unknown: 0).
_LEGACY_ACTION_COLUMNS = (
    "action_id", "title", "description", "kpi_id", "finding_ids", "objective_id",
    "scope_breakdown", "scope_value", "scope", "priority", "status", "owner", "due_date",
    "resources", "baseline_value", "baseline_period", "target", "current_value",
    "last_evaluated", "rationale", "created_at", "updated_at", "version",
)


def upgrade() -> None:
    legacy = set(sa.inspect(op.get_bind()).get_table_names(schema=SCHEMA)) & {
        "actions", "action_events"}
    for table in legacy:  # the target name without schema: the form DuckDB and PostgreSQL share
        op.execute(f"ALTER TABLE {SCHEMA}.{table} RENAME TO {table}_unversioned")
    _create()
    if "actions" in legacy:
        columns = ", ".join(_LEGACY_ACTION_COLUMNS)
        op.execute(
            f"INSERT INTO {SCHEMA}.actions ({columns}, effect_summary, overdue, wrong_way) "
            f"SELECT {columns}, effect, false, false FROM {SCHEMA}.actions_unversioned")
        op.drop_table("actions_unversioned", schema=SCHEMA)
    if "action_events" in legacy:
        op.execute(
            f"INSERT INTO {SCHEMA}.action_events (action_id, version, event_at, actor, field, "
            "old_value, new_value) SELECT action_id, 0, event_at, actor, field, old_value, "
            f"new_value FROM {SCHEMA}.action_events_unversioned ORDER BY event_at")
        op.drop_table("action_events_unversioned", schema=SCHEMA)


def _create() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("action_event_id_seq", schema=SCHEMA)))
    op.create_table(
        "actions",
        sa.Column("action_id", sa.String(40), primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("kpi_id", sa.String(80), nullable=False),
        sa.Column("finding_ids", sa.Text),
        sa.Column("evidence", sa.Text),
        sa.Column("objective_id", sa.String(80)),
        sa.Column("scope_breakdown", sa.String(40), nullable=False),
        sa.Column("scope_value", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("priority", sa.String(20)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("owner", sa.String(120)),
        sa.Column("due_date", sa.Date),
        sa.Column("resources", sa.Text),
        sa.Column("baseline_value", sa.Float),
        sa.Column("baseline_period", sa.String(40)),
        sa.Column("target", sa.Float),
        sa.Column("current_value", sa.Float),
        sa.Column("rationale", sa.Text),
        sa.Column("notes", sa.Text),
        sa.Column("done_on", sa.Date),
        sa.Column("overdue", sa.Boolean, nullable=False),
        sa.Column("wrong_way", sa.Boolean, nullable=False),
        sa.Column("last_evaluated", sa.DateTime),
        sa.Column("effect", sa.Float),
        sa.Column("effect_p_value", sa.Float),
        sa.Column("effect_summary", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "action_events",
        sa.Column("event_id", sa.BigInteger, primary_key=True,
                  server_default=sa.text(f"nextval('{SCHEMA}.action_event_id_seq')")),
        sa.Column("action_id", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("event_at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("field", sa.String(40), nullable=False),
        sa.Column("old_value", sa.Text),
        sa.Column("new_value", sa.Text),
        schema=SCHEMA,
    )
    op.create_index("ix_action_events_action_id", "action_events", ["action_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("action_events", schema=SCHEMA)
    op.drop_table("actions", schema=SCHEMA)
    op.execute(sa.schema.DropSequence(sa.Sequence("action_event_id_seq", schema=SCHEMA)))
