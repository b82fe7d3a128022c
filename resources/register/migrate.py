"""Bringing a register's schema up to date with Alembic, programmatically, on every open.

duckdb-engine registers the `duckdb` SQLAlchemy dialect but no Alembic implementation for it;
DuckDB speaks PostgreSQL's DDL and has transactional DDL, so Alembic's default implementation
is enough once it is registered under the dialect's name (as duckdb-engine's README advises).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from resources.register.models import SCHEMA

MIGRATIONS = Path(__file__).with_name("migrations")


class AlembicDuckDBImpl(DefaultImpl):
    """Alembic's operations for DuckDB (registered with Alembic by subclassing)."""

    __dialect__ = "duckdb"
    transactional_ddl = True


def _config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this version of sevenstep knows."""
    return str(ScriptDirectory(str(MIGRATIONS)).get_current_head())


def current(connection: sa.Connection) -> str | None:
    """The revision a database is at; None before the register was ever created there."""
    context = MigrationContext.configure(connection, opts={"version_table_schema": SCHEMA})
    return context.get_current_revision()


def upgrade(engine: sa.Engine) -> str:
    """Create the `improve` schema if needed and apply every migration not applied yet.

    Migrations only add: data already in the register is carried forward, never dropped.
    """
    with engine.begin() as connection:
        connection.execute(sa.schema.CreateSchema(SCHEMA, if_not_exists=True))
        if current(connection) != head():
            command.upgrade(_config(connection), "head")
        return str(current(connection))
