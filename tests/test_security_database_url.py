"""A database URL carries a password: it comes from the environment and never reaches the run's
events, its console log or the warehouse, whether the database answers or not (issue 11).

PostgreSQL on 127.0.0.1 trusts local connections, so a URL with a canary password connects and
the SQL source really reads through it. The register's URL is shown with its password hidden.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import sqlalchemy as sa

from resources.register.repository import shown_url
from tests.services import require_module, require_service
from tests.sources_support import failure_message, gather, source

DAY = dt.date(2026, 3, 2)
PASSWORD = f"canary-db-{secrets.token_hex(12)}"


def _history(table: str):
    return source(name="audit", kind="sql", entities=["history"],
                  sql={"url_env": "SEVENSTEP_TEST_AUDIT_URL", "tables": {"history": table}})


def _everything_recorded(result: dg.ExecuteInProcessResult, console: str,
                         warehouse: Path) -> str:
    """The run's events (with all metadata and errors), its console output and every table."""
    parts = [console, *(dg.serialize_value(event) for event in result.all_events)]
    if warehouse.exists():
        with duckdb.connect(str(warehouse), read_only=True) as con:
            for (table,) in con.execute(
                    "SELECT schema_name || '.' || table_name FROM duckdb_tables()").fetchall():
                parts.append(con.execute(f"SELECT * FROM {table}").df().to_csv())
    return "\n".join(parts)


@pytest.fixture
def audit_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    require_service("postgresql")
    require_module("psycopg")
    url = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:5432/test"
    engine = sa.create_engine(url)
    table = f"sys_audit_{uuid.uuid4().hex[:8]}"
    audit = sa.Table(table, sa.MetaData(), sa.Column("documentkey", sa.String(32)),
                     sa.Column("fieldname", sa.String(40)),
                     sa.Column("sys_created_on", sa.DateTime))
    audit.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(audit.insert(), [
            {"documentkey": f"INC{n}", "fieldname": "state",
             "sys_created_on": dt.datetime(2026, 3, 2, 8 + n)} for n in range(3)])
    monkeypatch.setenv("SEVENSTEP_TEST_AUDIT_URL", url)
    try:
        yield table
    finally:
        audit.metadata.drop_all(engine)
        engine.dispose()


def test_a_database_password_is_used_but_never_recorded(
        audit_table: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    warehouse = tmp_path / "w.duckdb"
    result = gather(_history(audit_table), warehouse, DAY, DAY)
    assert result.success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.audit_history").fetchall() == [(3,)]
    recorded = _everything_recorded(result, "".join(capfd.readouterr()), warehouse)
    assert audit_table in recorded  # the scan sees the query lineage ...
    assert PASSWORD not in recorded  # ... but not the password in the URL


def test_a_database_that_refuses_the_connection_is_reported_without_the_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SEVENSTEP_TEST_AUDIT_URL",
                       f"postgresql+psycopg://reader:{PASSWORD}@127.0.0.1:1/itsm")
    warehouse = tmp_path / "w.duckdb"
    result = gather(_history("sys_audit"), warehouse, DAY, DAY, raise_on_error=False)
    assert not result.success
    assert "source 'audit'" in failure_message(result)
    assert PASSWORD not in _everything_recorded(result, "".join(capfd.readouterr()), warehouse)


def test_the_register_url_is_shown_without_its_password() -> None:
    shown = shown_url(f"postgresql+psycopg://csi:{PASSWORD}@db.example.org:5432/register")
    assert PASSWORD not in shown and "csi:***@db.example.org" in shown
