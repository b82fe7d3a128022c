"""SQL databases through SQLAlchemy: any URL from an environment variable, read incrementally by
the table's updated-at column and streamed into DuckDB a chunk at a time.

A run over days [start, end) selects the rows updated in that window (rows never updated: by
their created-at column), converted to bounds in the source's timezone. Every value lands as text,
timestamps in the source's own timestamp_format (so step 4 parses them like any export).

PostgreSQL through psycopg streams the query with COPY ... TO STDOUT (CSV) into a temporary file,
which DuckDB's CSV reader loads and converts in SQL: no value passes through Python, memory holds
one copy buffer. Other databases (and PostgreSQL tables with binary columns) are fetched with a
server-side cursor (`stream_results`, `yield_per`), a chunk of `chunk_rows` at a time, turned into
text in Python and appended to the staging table.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import sqlalchemy as sa

from resources.config_models import SourceConfig
from resources.sources.landing import (
    SourceReadError,
    StageWriter,
    bind,
    create_stage,
    is_utc,
    partition_expression,
    quote,
)

ROW_COLUMN = "_sevenstep_row"
OFFSET = r"[+-][0-9]{2}(:[0-9]{2}){0,2}$"
"""A UTC offset PostgreSQL appends to a timestamptz written in the session's time zone."""


def database_url(source: SourceConfig) -> str:
    assert source.sql is not None
    url = os.environ.get(source.sql.url_env)
    if not url:
        raise SourceReadError(f"source {source.name!r}: environment variable "
                              f"{source.sql.url_env} (sql.url_env) holds no database URL")
    return url


def _column(table: sa.Table, name: str) -> sa.Column | None:
    lowered = {c.name.lower(): c for c in table.columns}
    return lowered.get(name.lower())


def _bound(column: sa.Column, moment: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """A UTC day boundary as the column compares it: aware for timezone-aware columns, else the
    wall-clock time in the source's timezone."""
    local = moment.astimezone(tz)
    aware = isinstance(column.type, sa.DateTime) and bool(column.type.timezone)
    return local if aware else local.replace(tzinfo=None)


def _text_converter(column: sa.Column, fmt: str, tz: ZoneInfo) -> Callable[[object], object]:
    def text(value: object) -> object:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(tz).replace(tzinfo=None)
            return value.strftime(fmt)
        if isinstance(value, dt.date):
            return dt.datetime.combine(value, dt.time()).strftime(fmt)
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value).decode("utf-8", errors="replace")
        return str(value)

    return text


def window_statement(
    source: SourceConfig, entity: str, table: sa.Table, start: dt.date, end: dt.date,
    partition_columns: Sequence[str],
) -> sa.Select:
    """SELECT * of the rows updated (else created) in [start, end), ordered for a stable `_row`."""
    assert source.sql is not None
    tz = ZoneInfo(source.timezone)
    columns = [c for c in (_column(table, n) for n in partition_columns) if c is not None]
    if not columns:
        raise SourceReadError(f"source {source.name!r}: table {table.fullname} has none of the "
                              f"updated/created columns {list(partition_columns)}")
    lo = dt.datetime.combine(start, dt.time(), dt.UTC)
    hi = dt.datetime.combine(end, dt.time(), dt.UTC)
    updated = columns[0]
    window = sa.and_(updated >= _bound(updated, lo, tz), updated < _bound(updated, hi, tz))
    for fallback in columns[1:]:
        window = sa.or_(window, sa.and_(
            updated.is_(None), fallback >= _bound(fallback, lo, tz),
            fallback < _bound(fallback, hi, tz)))
    filters = []
    for name, value in source.sql.filters.get(entity, {}).items():  # type: ignore[call-overload]
        column = _column(table, name)
        if column is None:
            raise SourceReadError(f"source {source.name!r}: sql.filters names column {name!r}, "
                                  f"which table {table.fullname} does not have")
        filters.append(column == value)
    order = [updated, *(table.primary_key.columns or [])]
    return sa.select(table).where(window, *filters).order_by(*order)


def numbered(statement: sa.Select, table: sa.Table, partition_columns: Sequence[str]
             ) -> sa.Select:
    """The window's statement with each row's position in its order as column ROW_COLUMN."""
    updated = next(c for c in (_column(table, n) for n in partition_columns) if c is not None)
    order = [updated, *(table.primary_key.columns or [])]
    return statement.add_columns(sa.func.row_number().over(order_by=order).label(ROW_COLUMN))


def stage_sql(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, entity: str, start: dt.date,
    end: dt.date, partition_columns: Sequence[str], log: Callable[[str], None],
) -> tuple[str | None, str]:
    """Stream the window's rows into `_stage_<entity>`; returns (stage, the query as text)."""
    assert source.sql is not None
    name = source.sql.tables[entity]  # type: ignore[index]
    engine = sa.create_engine(database_url(source), pool_pre_ping=True)
    writer = StageWriter(con, f"_stage_{entity}")
    try:
        try:
            table = sa.Table(name, sa.MetaData(), schema=source.sql.schema_name,
                             autoload_with=engine)
        except sa.exc.NoSuchTableError:
            raise SourceReadError(f"source {source.name!r}: the database has no table "
                                  f"{name!r}") from None
        except sa.exc.SQLAlchemyError as exc:
            raise SourceReadError(f"source {source.name!r}: cannot open table {name!r}: "
                                  f"{str(exc).splitlines()[0]}") from exc
        statement = window_statement(source, entity, table, start, end, partition_columns)
        described = str(statement.compile(engine)).replace("\n", " ")
        if _copies(engine, table):
            _stage_by_copy(con, engine, numbered(statement, table, partition_columns), table,
                           f"_stage_{entity}", source, described, partition_columns, log)
            return f"_stage_{entity}", described
        tz = ZoneInfo(source.timezone)
        names = [c.name for c in table.columns]
        convert = [_text_converter(c, source.timestamp_format, tz) for c in table.columns]
        began = time.monotonic()
        with engine.connect() as connection:
            result = connection.execution_options(
                stream_results=True, yield_per=source.sql.chunk_rows).execute(statement)
            for chunk in result.partitions():
                first = writer.rows + 1
                records = [[f(v) for f, v in zip(convert, row, strict=True)] + [first + i]
                           for i, row in enumerate(chunk)]
                writer.append([*names, "_row"], records)
                rate = writer.rows / max(time.monotonic() - began, 1e-9)
                log(f"{source.name}/{entity}: {writer.rows:,} rows from {name} "
                    f"({rate:,.0f} rows/s)")
        if writer.table is None:
            writer.append(names, [])
        return writer.table, described
    except sa.exc.SQLAlchemyError as exc:
        raise SourceReadError(f"source {source.name!r}: reading {name!r} failed: "
                              f"{str(exc).splitlines()[0]}") from exc
    finally:
        engine.dispose()


def _copies(engine: sa.Engine, table: sa.Table) -> bool:
    """Whether the table can be streamed with PostgreSQL's COPY: psycopg, and no binary column
    (COPY writes bytea as hex, the row-by-row path decodes it as text)."""
    return (engine.dialect.name == "postgresql" and engine.driver == "psycopg"
            and not any(isinstance(c.type, sa.LargeBinary) for c in table.columns))


def _as_text(column: sa.Column, value: str) -> str:
    """SQL turning PostgreSQL's CSV text of a column into what the row-by-row path writes."""
    kind = column.type
    if isinstance(kind, sa.DateTime):
        text = f"regexp_replace({value}, '{OFFSET}', '')" if kind.timezone else value
        stamp = f"try_cast({text} AS TIMESTAMP)"
        return f"coalesce(strftime({stamp}, $fmt), {value})"
    if isinstance(kind, sa.Date):
        return f"coalesce(strftime(CAST(try_cast({value} AS DATE) AS TIMESTAMP), $fmt), {value})"
    if isinstance(kind, sa.Boolean):
        return f"CASE {value} WHEN 't' THEN 'True' WHEN 'f' THEN 'False' ELSE {value} END"
    return value


def _stage_by_copy(
    con: duckdb.DuckDBPyConnection, engine: sa.Engine, statement: sa.Select, table: sa.Table,
    stage: str, source: SourceConfig, query: str, partition_columns: Sequence[str],
    log: Callable[[str], None],
) -> None:
    """COPY the window's rows (numbered by PostgreSQL) to a temporary CSV file, then stage it
    with one DuckDB statement that reads it, re-formats timestamps (written by PostgreSQL in the
    source's time zone) with timestamp_format and sets each row's lineage and partition."""
    compiled = statement.compile(dialect=engine.dialect)
    names = [c.name for c in table.columns]
    began = time.monotonic()
    create_stage(con, stage, names)
    with tempfile.TemporaryDirectory(prefix="sevenstep-copy-") as folder:
        path = Path(folder) / "rows.csv"
        with engine.connect() as connection, open(path, "wb") as out:
            driver = connection.connection  # the psycopg connection, in a transaction
            cursor = driver.cursor()
            try:
                # Local to this transaction: timestamptz in the source's zone, ISO dates.
                cursor.execute("SELECT set_config('TimeZone', %s, true), "
                               "set_config('DateStyle', 'ISO, YMD', true)", [source.timezone])
                with cursor.copy(f"COPY ({compiled}) TO STDOUT (FORMAT csv)",
                                 compiled.params) as copy:
                    for block in copy:
                        out.write(block)
            finally:
                cursor.close()
                driver.rollback()
        if path.stat().st_size:
            columns = "{" + ", ".join(f"{_literal(n)}: 'VARCHAR'"
                                      for n in [*names, ROW_COLUMN]) + "}"
            texts = ", ".join(f"{_as_text(c, 'c.' + quote(c.name))} AS {quote(c.name)}"
                              for c in table.columns)
            partition = partition_expression(partition_columns, set(names),
                                             is_utc(source.timezone))
            sql = (f"INSERT INTO {quote(stage)} BY NAME SELECT *, $query AS _query, "
                   f"{partition} AS _partition FROM (SELECT {texts}, CAST(c.{ROW_COLUMN} AS "
                   f"BIGINT) AS _row FROM read_csv($path, columns = {columns}, header = false, "
                   "delim = ',', quote = '\"', escape = '\"', auto_detect = false, "
                   "allow_quoted_nulls = false, max_line_size = 100000000) c)")
            con.execute(sql, bind(sql, {"path": str(path), "query": query,
                                        "fmt": source.timestamp_format, "tz": source.timezone}))
    rows = int(con.execute(f"SELECT count(*) FROM {quote(stage)}").fetchall()[0][0])
    log(f"{source.name}: {rows:,} rows from {table.fullname} by COPY "
        f"({rows / max(time.monotonic() - began, 1e-9):,.0f} rows/s)")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
