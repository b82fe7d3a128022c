"""SQL sources against the real local PostgreSQL and MariaDB, loaded with a GLPI-shaped ticket
schema by the test: the incremental window, a re-run, the high-water mark and a bad table."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.services import require_module, require_service
from tests.sources_support import failure_message, gather, metadata, per_day, rows, source

D1, D2, D3 = dt.date(2026, 3, 2), dt.date(2026, 3, 3), dt.date(2026, 3, 4)

TICKETS = [
    # id, name, date (opened), date_mod (updated), status, priority, type, is_deleted, waiting
    (1, "Mail down", "2026-03-02 08:00:00", "2026-03-02 09:00:00", 5, 5, 1, 0, 120),
    (2, "VPN slow", "2026-03-02 10:00:00", "2026-03-03 11:00:00", 2, 3, 1, 0, 0),
    (3, "New laptop", "2026-03-02 12:00:00", "2026-03-02 12:00:00", 1, 3, 2, 0, 0),  # request
    (4, "Deleted", "2026-03-02 13:00:00", "2026-03-02 13:00:00", 1, 3, 1, 1, 0),  # deleted
    (5, "Printer", "2026-03-03 23:30:00", None, 1, 2, 1, 0, None),  # never updated: by date
    (6, "Disk full", "2026-03-04 07:00:00", "2026-03-04 08:00:00", 6, 6, 1, 0, 30),
]


def _url(kind: str, database: str) -> str:
    if kind == "postgresql":
        require_service("postgresql")
        require_module("psycopg")
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    require_service("mariadb")
    require_module("pymysql")
    return f"mysql+pymysql://root@127.0.0.1:3306/{database}"


@pytest.fixture(params=["postgresql", "mariadb"])
def glpi_database(request, monkeypatch) -> Iterator[tuple[str, sa.Engine, str]]:
    """A glpi_tickets table with a unique name in database `test`; the URL in an env var."""
    url = _url(request.param, "test")
    engine = sa.create_engine(url)
    table = f"glpi_tickets_{uuid.uuid4().hex[:8]}"
    metadata = sa.MetaData()
    tickets = sa.Table(
        table, metadata,
        sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(255)),
        sa.Column("date", sa.DateTime), sa.Column("date_mod", sa.DateTime),
        sa.Column("status", sa.Integer), sa.Column("priority", sa.Integer),
        sa.Column("type", sa.Integer), sa.Column("is_deleted", sa.Integer),
        sa.Column("waiting_duration", sa.Integer))
    try:
        metadata.create_all(engine)
    except sa.exc.OperationalError as exc:
        pytest.fail(f"{request.param} is reachable but refused the test schema: {exc}")
    with engine.begin() as connection:
        connection.execute(tickets.insert(), [
            dict(zip(("id", "name", "date", "date_mod", "status", "priority", "type",
                      "is_deleted", "waiting_duration"),
                     (*t[:2], dt.datetime.fromisoformat(t[2]),
                      dt.datetime.fromisoformat(t[3]) if t[3] else None, *t[4:]), strict=True))
            for t in TICKETS])
    monkeypatch.setenv("GLPI_TEST_URL", url)
    try:
        yield request.param, engine, table
    finally:
        metadata.drop_all(engine)
        engine.dispose()


def _glpi(table: str, **sql: object):
    return source(name="glpi", kind="sql", preset="glpi", entities=["incidents"],
                  sql={"url_env": "GLPI_TEST_URL", "tables": {"incidents": table},
                       "chunk_rows": 100, **sql})


def test_window_rerun_and_high_water_mark(glpi_database, tmp_path: Path) -> None:
    kind, engine, table = glpi_database
    warehouse = tmp_path / "w.duckdb"
    config = _glpi(table)
    result = gather(config, warehouse, D1, D2)
    assert result.success, failure_message(result)
    # Ticket 3 is a request and 4 deleted (preset filters); 5 was never updated: by its date.
    assert per_day(warehouse, "glpi_incidents") == {D1: 1, D2: 2}
    got = rows(warehouse, "SELECT id, date_mod, status, waiting_duration, _row, _query "
               "FROM raw.glpi_incidents ORDER BY id")
    assert [r[:4] for r in got] == [("1", "2026-03-02 09:00:00", "5", "120"),
                                    ("2", "2026-03-03 11:00:00", "2", "0"),
                                    ("5", None, "1", None)]
    assert table in got[0][5]
    assert metadata(result, "glpi_incidents")["high_water_mark_utc"] == "2026-03-03 11:00:00"
    assert gather(config, warehouse, D1, D2).success
    assert per_day(warehouse, "glpi_incidents") == {D1: 1, D2: 2}  # same rows after a re-run
    # A late update moves ticket 1 to the next day: it lands there, and D1 loses its old copy
    # when D1 is re-run (the clean layer keeps the latest version either way).
    with engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE {table} SET date_mod = :m, status = 6 WHERE id = 1"),
                           {"m": dt.datetime(2026, 3, 4, 9)})
    later = gather(config, warehouse, D3, D3)
    assert per_day(warehouse, "glpi_incidents") == {D1: 1, D2: 2, D3: 2}
    assert metadata(later, "glpi_incidents")["high_water_mark_utc"] == "2026-03-04 09:00:00"
    assert gather(config, warehouse, D1, D1).success
    assert per_day(warehouse, "glpi_incidents") == {D2: 2, D3: 2}
    marks = rows(warehouse, "SELECT high_water_mark FROM raw._watermarks")
    assert marks == [(dt.datetime(2026, 3, 4, 9),)]  # re-running an old day never lowers it


def test_timezone_of_the_source_moves_the_window(glpi_database, tmp_path: Path) -> None:
    _, _, table = glpi_database
    warehouse = tmp_path / "w.duckdb"
    # Wall-clock times in New York: 2026-03-03 23:30 there is 4 March in UTC.
    config = _glpi(table).model_copy(update={"timezone": "America/New_York"})
    assert gather(config, warehouse, D3, D3).success
    assert rows(warehouse, "SELECT id FROM raw.glpi_incidents ORDER BY id") == [("5",), ("6",)]


def test_missing_table_fails_naming_it(glpi_database, tmp_path: Path) -> None:
    result = gather(_glpi("glpi_no_such_table"), tmp_path / "w.duckdb", D1, D1,
                    raise_on_error=False)
    assert not result.success
    assert "glpi_no_such_table" in failure_message(result)


def test_unset_url_variable_is_named(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GLPI_TEST_URL", raising=False)
    result = gather(_glpi("glpi_tickets"), tmp_path / "w.duckdb", D1, D1, raise_on_error=False)
    assert "GLPI_TEST_URL" in failure_message(result)
