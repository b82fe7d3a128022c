"""The fast paths of step 3 stage exactly what the careful paths stage.

CSV files sharing a header are read by one read_csv (resources/sources/csv_reader.py), and a
PostgreSQL table is streamed with COPY (resources/sources/sql.py); both exist for speed only, so
each is compared row for row with the path that reads one file, or one fetched row, at a time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import duckdb
import sqlalchemy as sa

from resources.config_models import FileFormat, SourceConfig
from resources.sources import sql as sql_source
from resources.sources.file_readers import Dating, read_file, read_files
from tests.services import require_module, require_service

HEADER = "number,sys_updated_on,opened_at,hold_duration,short_description\n"
FILES = {
    "a.csv": HEADER + "I1,2025-01-02 10:00:00,2025-01-01 09:00:00,1,plain\n"
                      "I2,,2025-01-03 01:00:00,  ,empty update\n",
    "b.csv": HEADER + "I3,2025-01-05 10:00:00,,\"1,5\",no final newline\n"
                      "I4,bad,bad,#N/B,no date at all",
    "c.csv": HEADER + 'I5,2025-01-06 10:00:00,,2,"spans\ntwo lines"\n'
                      "I6,2025-01-07 10:00:00,,3,after it\n",
    "d.csv": HEADER + "I7,2025-01-06 10:00:00,,4,one field,too many\n"
                      "I8,2025-01-07 10:00:00,,5,after a rejected line\n",
    "e.csv": HEADER + "I9,2025-01-08 10:00:00,,6,blank line follows\n\n"
                      "I10,2025-01-09 10:00:00,,7,after it\n",
    "f.csv": "number,opened_at,sys_updated_on\nI11,2025-01-01 08:00:00,2025-01-10 08:00:00\n",
}
DATING = Dating(("sys_updated_on", "opened_at"), "%Y-%m-%d %H:%M:%S", "UTC")
FALLBACK = dt.date(2030, 1, 1)


def _staged(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("SELECT * EXCLUDE (_query) FROM s ORDER BY _file, _row").fetchall()


def test_csv_files_read_together_stage_what_each_file_stages_alone(tmp_path: Path) -> None:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    files = [(tmp_path / name, name) for name in FILES]
    options = FileFormat(null_values=["", "#N/B"], decimal_comma=True)
    fallbacks = dict.fromkeys(FILES, FALLBACK)
    together, alone = duckdb.connect(), duckdb.connect()
    read = read_files(together, files, "s", options, numeric_columns=["hold_duration"],
                      dating=DATING, fallbacks=fallbacks)
    each = {shown: read_file(alone, path, shown, "s", options,
                             numeric_columns=["hold_duration"], dating=DATING,
                             fallback=FALLBACK) for path, shown in files}
    assert read == each
    assert _staged(together) == _staged(alone)
    rows = {r[0]: r for r in together.execute(
        "SELECT number, hold_duration, _row, _partition, _error IS NOT NULL FROM s "
        "WHERE _file IN ('a.csv', 'b.csv', 'c.csv', 'd.csv')").fetchall() if r[0]}
    assert rows["I2"][1:4] == (None, 3, dt.date(2025, 1, 3))  # padded placeholder, created day
    assert rows["I3"][1] == "1.5" and rows["I4"][1:4] == (None, 3, FALLBACK)
    assert rows["I6"][2] == 4  # the physical line, after a value spanning two lines
    assert rows["I8"][2] == 3
    assert together.execute("SELECT count(*) FROM s WHERE _error IS NOT NULL AND _file = "
                            "'d.csv' AND _row = 2").fetchall() == [(1,)]


def test_postgresql_copy_stages_what_fetching_row_by_row_stages(monkeypatch,
                                                                 tmp_path: Path) -> None:
    require_service("postgresql")
    require_module("psycopg")
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    engine = sa.create_engine(url)
    table = f"copy_check_{uuid.uuid4().hex[:8]}"
    with engine.begin() as connection:
        connection.execute(sa.text(
            f"CREATE TABLE {table} (id int PRIMARY KEY, name text, upd timestamp, "
            "tz timestamptz, d date, b boolean, n numeric(8,2), f double precision)"))
        connection.execute(sa.text(
            f"INSERT INTO {table} VALUES "
            "(1, '', '2026-03-02 09:00:00', '2026-03-02 09:00:00+00', '2026-03-01', true, "
            "1.50, 0.1), (2, NULL, '2026-03-02 10:00:00.5', '2026-03-02 23:30:00+00', NULL, "
            "false, NULL, 1e20), (3, E'a,\"b\"\\nc', '2026-03-02 11:00:00', NULL, "
            "'2026-03-02', NULL, -3, NULL)"))
    monkeypatch.setenv("COPY_CHECK_URL", url)
    source = SourceConfig.model_validate({
        "name": "pg", "kind": "sql", "entities": ["incidents"],
        "timezone": "Europe/Amsterdam",
        "sql": {"url_env": "COPY_CHECK_URL", "tables": {"incidents": table}}})
    staged = []
    try:
        for copies in (True, False):
            monkeypatch.setattr(sql_source, "_copies", lambda engine, table, c=copies: c)
            con = duckdb.connect()
            stage, _ = sql_source.stage_sql(con, source, "incidents", dt.date(2026, 3, 1),
                                            dt.date(2026, 3, 4), ["upd"], lambda text: None)
            staged.append(con.execute(
                f"SELECT id, name, upd, tz, d, b, n, f, _row FROM {stage} ORDER BY _row"
            ).fetchall())
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE {table}"))
        engine.dispose()
    by_copy, by_rows = staged
    assert by_copy == by_rows
    assert by_copy[0][1] == "" and by_copy[1][1] is None  # an empty text is not a NULL
    assert by_copy[1][3] == "2026-03-03 00:30:00"  # timestamptz in the source's time zone
