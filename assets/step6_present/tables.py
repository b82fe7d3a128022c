"""Reading warehouse tables whose shape step 6 does not own.

The report reads what steps 5 and 7 write. Those tables appear and grow columns as the other
steps evolve, so every read here first asks the catalogue which tables and columns exist, and a
missing table is an answer ("not available"), never an exception. Identifiers pasted into SQL
are either constants or names taken from the catalogue and quoted; values are bound parameters.
"""

from __future__ import annotations

import duckdb


def quote(name: str) -> str:
    """Quote one SQL identifier (a catalogue name may contain anything)."""
    return '"' + name.replace('"', '""') + '"'


def qualified(table: str) -> str:
    """Quote ``schema.table`` for SQL."""
    schema, _, name = table.partition(".")
    return f"{quote(schema)}.{quote(name)}"


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The columns of ``schema.table`` in table order; empty when the table does not exist."""
    schema, _, name = table.partition(".")
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()
    return [row[0] for row in rows]


def exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(columns(con, table))


def tables_in(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    """``schema.table`` names of the tables and views in ``schema``, sorted."""
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1",
        [schema],
    ).fetchall()
    return [f"{schema}.{row[0]}" for row in rows]


def first_of(candidates: tuple[str, ...], available: list[str]) -> str | None:
    """The first candidate name present in ``available`` (names compare case-insensitively)."""
    lowered = {name.lower(): name for name in available}
    return next((lowered[c.lower()] for c in candidates if c.lower() in lowered), None)
