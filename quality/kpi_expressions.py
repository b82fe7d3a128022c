"""Checking user-written KPI definitions before anything runs them.

A KPI's numerator, denominator, measure and filter are SQL fragments written by users in
config/kpis.yaml. Each is refused unless it is one plain, read-only, deterministic expression
over the KPI's own table:

1. DuckDB parses it (quality/sql_expressions.py) and the tree is inspected: no second statement,
   no FROM/UNION/LIMIT, no subquery, window, parameter or `*`; no table-qualified names; no
   function that reads files, the session or the clock, or has side effects; only columns of
   the canonical schema (quality/schemas.py) and the derived columns of assets/kpi_sql.py.
2. Its type is probed against empty copies of the canonical tables in an in-memory DuckDB that
   cannot touch files, attach databases or install extensions: a filter must be a condition, a
   numerator a number aggregated over rows, a measure a number per row.
3. The KPI's whole query, as it will run, is bound (DESCRIBE) in the same sandbox.

Every problem names the field and says what is wrong; the loader adds file and line.
"""

from __future__ import annotations

import difflib
from functools import cache

import duckdb

from assets.kpi_sql import (
    SNAPSHOT_COLUMNS,
    VIRTUAL_COLUMNS,
    VIRTUAL_TABLES,
    columns_of,
    expressions,
    kpi_query,
    kpi_tables,
)
from quality.schemas import CLEAN_TABLES, ddl
from quality.sql_expressions import ParsedExpression, parse_expression
from resources.business_calendar import BusinessCalendar, business_calendar
from resources.config_models import KpiCatalogue, KpiDefinition

NUMERIC = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
           "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE"}
TIME_TYPES = {"TIMESTAMP", "DATE"}

_CLOCK = {"now", "today", "current_date", "current_time", "current_timestamp",
          "get_current_time", "get_current_timestamp", "transaction_timestamp",
          "current_localtime", "current_localtimestamp", "epoch_ms_now"}
_SESSION = {"current_setting", "getvariable", "version", "txid_current", "in_search_path",
            "current_database", "current_schema", "current_schemas", "current_catalog",
            "current_user", "current_role", "session_user", "user", "current_query",
            "current_query_id", "current_connection_id", "current_transaction_id",
            "json_serialize_sql", "json_deserialize_sql", "json_execute_serialized_sql",
            "get_block_size", "getenv", "duckdb_secrets", "which_secret"}
_SIDE_EFFECTS = {"nextval", "setval", "currval", "setseed", "random", "uuid", "uuidv4", "uuidv7",
                 "gen_random_uuid", "write_log", "sleep_ms", "pg_sleep", "error", "stats",
                 "vector_type", "assert_true"}
_FILE_PREFIXES = ("read_", "glob", "parquet_", "sniff_csv", "query", "load", "install", "attach",
                  "copy", "export", "import", "checkpoint", "pragma", "iceberg_", "delta_",
                  "sqlite_", "postgres_", "mysql_", "http", "s3", "azure")
_SESSION_PREFIXES = ("pg_", "has_", "inet_", "duckdb_", "__internal")


def forbidden_function(name: str) -> str | None:
    """Why a function may not appear in a KPI expression, or None."""
    if name in _CLOCK:
        return (f"may not call {name}(): a KPI value must not depend on when it is computed "
                "(use as_of in a snapshot KPI)")
    if name in _SIDE_EFFECTS:
        return f"may not call {name}(): it has side effects or a different result on every call"
    if name.startswith(_FILE_PREFIXES):
        return (f"may not call {name}(): KPI expressions cannot read or write files, attach "
                "databases, install extensions or run other SQL")
    if name in _SESSION or name.startswith(_SESSION_PREFIXES):
        return f"may not call {name}(): it reads the database session or environment"
    return None


def sandbox(calendar: BusinessCalendar | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with empty canonical tables, locked against any outside access."""
    con = duckdb.connect(":memory:")
    for schema in ("clean", "strategy"):
        con.execute(f"CREATE SCHEMA {schema}")
    for name, schema in CLEAN_TABLES.items():
        con.execute(ddl("clean", name, schema))
    con.execute("CREATE TABLE strategy.services (service VARCHAR, hours VARCHAR)")
    for name, columns in VIRTUAL_TABLES.items():
        cols = ", ".join(f"{c} {t}" for c, (t, _) in columns.items())
        con.execute(f"CREATE TABLE clean.{name} ({cols})")
    con.execute((calendar or business_calendar()).macro_sql())
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


@cache
def _volatile_functions() -> frozenset[str]:
    """Built-in functions DuckDB marks volatile (a different result on every call)."""
    con = duckdb.connect(":memory:")
    try:
        return frozenset(r[0] for r in con.execute(
            "SELECT DISTINCT function_name FROM duckdb_functions() WHERE stability = 'VOLATILE'"
        ).fetchall())
    finally:
        con.close()


def _structure_problem(parsed: ParsedExpression, volatile: set[str]) -> str | None:
    """Why the parse tree is not one plain, read-only, deterministic expression, or None."""
    if parsed.error:
        return f"is not valid SQL: {parsed.error}"
    if not parsed.plain:
        return ("must be a single expression, not a query (no FROM, WHERE, GROUP BY, UNION, "
                "ORDER BY, LIMIT or second column)")
    classes = parsed.node_classes
    if "SUBQUERY" in classes:
        return "may not contain a subquery: an expression reads only the rows of its own table"
    if "WINDOW" in classes:
        return "may not use a window function (OVER): values are aggregated per day by sevenstep"
    if "PARAMETER" in classes:
        return "may not contain a parameter ($name or ?)"
    if "STAR" in classes:
        return "may not use * or COLUMNS(...) (except in count(*)): name the columns"
    if parsed.qualified_columns:
        name = sorted(parsed.qualified_columns)[0]
        return (f"names {name!r} with a table prefix: refer to the columns of the KPI's table "
                "by their bare name")
    if parsed.qualified_functions:
        return f"may not call schema-qualified {sorted(parsed.qualified_functions)[0]}()"
    for name in sorted(parsed.functions):
        reason = forbidden_function(name) or (
            f"may not call {name}(): it is volatile (a different result on every call)"
            if name in volatile else None)
        if reason:
            return reason
    return None


def _unknown_column(kpi: KpiDefinition, name: str, columns: dict[str, str]) -> str:
    where = f"clean.{kpi.table}"
    if name in SNAPSHOT_COLUMNS and kpi.kind != "snapshot":
        return f"{name!r} exists only in snapshot KPIs"
    hint = difflib.get_close_matches(name, list(columns), n=1)
    also = f"; did you mean {hint[0]!r}?" if hint else f"; columns: {', '.join(sorted(columns))}"
    return f"unknown column {name!r} in {where}{also}"


def _probe(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[str | None, str | None]:
    """(type of the single column, None) or (None, DuckDB's first error line)."""
    try:
        rows = con.execute("DESCRIBE " + sql).fetchall()
    except duckdb.Error as exc:
        return None, str(exc).splitlines()[0]
    return str(rows[0][1]), None


def _binder(message: str) -> str:
    """DuckDB's words, with the type mismatches called what they are."""
    text = message.split(": ", 1)[1] if ": " in message else message
    if "argument types" in text or "Cannot compare" in text or "Could not convert" in text \
            or "Conversion Error" in message or "cannot be cast" in text:
        return f"type mismatch: {text}"
    return text


def _type_problem(con: duckdb.DuckDBPyConnection, field: str, text: str, probe: str) -> str | None:
    """The expression's type against what the field needs, over the probe relation."""
    if field == "filter":
        kind, error = _probe(con, f"SELECT ({text}) AS v FROM {probe}")
        if error:
            return _binder(error)
        if kind != "BOOLEAN":
            return f"type mismatch: a filter must be a condition (BOOLEAN), this is {kind}"
        _, error = _probe(con, f"SELECT 1 AS v FROM {probe} WHERE ({text})")
        return "may not aggregate (a filter selects rows one by one)" if error else None
    if field == "measure":
        kind, error = _probe(con, f"SELECT ({text}) AS v FROM {probe}")
        if error:
            return _binder(error)
        _, aggregated = _probe(con, f"SELECT 1 AS v FROM {probe} WHERE ({text}) IS NULL")
        if aggregated:
            return ("must be a value per row (e.g. minutes_to_resolve), not an aggregate: "
                    "sevenstep aggregates it")
    else:
        kind, error = _probe(con, f"SELECT ({text}) AS v FROM {probe} HAVING TRUE")
        if error and "GROUP BY" in error:
            return (f"must aggregate rows (e.g. count(*), sum(x), count(*) FILTER (WHERE ...)); "
                    f"{text!r} is a value per row — use aggregate: mean/median/p90 with a measure "
                    "for per-row values")
        if error:
            return _binder(error)
    if kind not in NUMERIC and not str(kind).startswith("DECIMAL"):
        return f"type mismatch: must be a number, this is {kind}"
    return None


def _probe_relation(con: duckdb.DuckDBPyConnection, kpi: KpiDefinition) -> str:
    """An empty relation with exactly the columns the KPI may name."""
    extra = {**VIRTUAL_COLUMNS.get(kpi.table, {})}
    if kpi.kind == "snapshot":
        extra |= SNAPSHOT_COLUMNS
    added = "".join(f", CAST(NULL AS {t}) AS {n}" for n, (t, _) in extra.items())
    return f"(SELECT *{added} FROM clean.{kpi.table}) AS kpi_rows"


def kpi_problems(kpi: KpiDefinition, con: duckdb.DuckDBPyConnection,
                 calendar: BusinessCalendar | None = None) -> list[tuple[str, str]]:
    """(field, reason) for everything wrong with one KPI definition."""
    if kpi.table not in kpi_tables():
        return [("table", f"unknown table {kpi.table!r}; a KPI reads one of "
                          f"{', '.join(kpi_tables())}")]
    columns = columns_of(kpi)
    problems: list[tuple[str, str]] = []
    for field in ("time_column", "start_column", "end_column"):
        name = getattr(kpi, field)
        if name is None:
            continue
        if name not in columns:
            problems.append((field, _unknown_column(kpi, name, columns)))
        elif columns[name] not in TIME_TYPES:
            problems.append((field, f"type mismatch: column {name!r} is {columns[name]}, not a "
                                    "timestamp or date"))
    for i, breakdown in enumerate(kpi.breakdowns):
        if breakdown not in columns:
            problems.append((f"breakdowns.{i}", f"clean.{kpi.table} has no column {breakdown!r} "
                                                "to break down by"))
    volatile = _volatile_functions()
    probe = _probe_relation(con, kpi)
    for field, text in expressions(kpi).items():
        if ";" in text or "--" in text or "/*" in text:
            problems.append((field, "must be a single expression: ';' and comments are not "
                                    "allowed"))
            continue
        parsed = parse_expression(text)
        problem = _structure_problem(parsed, volatile)
        unknown = sorted(parsed.columns - set(columns))
        if problem is None and unknown:
            problem = _unknown_column(kpi, unknown[0], columns)
        recurring = sorted(c for c in parsed.columns if c.startswith("recurring_"))
        if problem is None and recurring and (kpi.kind != "event"
                                              or kpi.time_column != "opened_at"):
            problem = f"{recurring[0]} is only available to event KPIs placed by opened_at"
        if problem is None:
            problem = _type_problem(con, field, text, probe)
        if problem:
            problems.append((field, problem))
    if problems:
        return problems
    # The query as it will run (the breakdown variants differ only in a checked column name).
    try:
        con.execute("DESCRIBE " + kpi_query(kpi, None, calendar=calendar),
                    {"start": "2026-01-01", "end": "2026-01-02"}).fetchall()
    except duckdb.Error as exc:
        return [("aggregate",
                 f"the KPI query does not compile: {_binder(str(exc).splitlines()[0])}")]
    return problems


def catalogue_problems(catalogue: KpiCatalogue,
                       calendar: BusinessCalendar | None = None) -> list[tuple[int, str, str]]:
    """(index of the KPI in the file, field, reason) for every problem in the catalogue."""
    calendar = calendar or business_calendar()
    con = sandbox(calendar)
    try:
        return [(i, field, reason) for i, kpi in enumerate(catalogue.kpis)
                for field, reason in kpi_problems(kpi, con, calendar)]
    finally:
        con.close()
