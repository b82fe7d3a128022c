"""Checking user-written KPI expressions before anything runs them.

A KPI's numerator, denominator and filter are SQL fragments written by users in
config/kpis.yaml. They are compiled here against empty copies of the canonical tables in an
in-memory DuckDB that cannot touch files, attach databases or install extensions; and the parse
tree is inspected so that only a plain expression over the KPI's own table is accepted
(no subqueries, no table functions, no second statement).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import duckdb

from assets.kpi_sql import kpi_queries
from quality.schemas import CLEAN_TABLES, ddl
from resources.config_models import KpiCatalogue, KpiDefinition
from resources.warehouse import scalar

_FORBIDDEN_NODES = {"SUBQUERY", "TABLE_FUNCTION"}
EXPRESSION_FIELDS = ("numerator", "denominator", "filter")
COLUMN_FIELDS = ("time_column", "start_column", "end_column")


def sandbox() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the canonical tables, locked against any outside access."""
    con = duckdb.connect(":memory:")
    for schema in ("clean", "strategy"):
        con.execute(f"CREATE SCHEMA {schema}")
    for name, schema in CLEAN_TABLES.items():
        con.execute(ddl("clean", name, schema))
    con.execute("CREATE TABLE strategy.services (service VARCHAR)")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _expression_problem(con: duckdb.DuckDBPyConnection, expression: str) -> str | None:
    """Why `expression` is not a plain read-only SQL expression, or None."""
    if ";" in expression or "--" in expression or "/*" in expression:
        return "must be a single expression without ';' or comments"
    tree = json.loads(str(scalar(con, "SELECT json_serialize_sql(?)", ["SELECT " + expression])))
    if tree.get("error"):
        return f"is not valid SQL: {tree.get('error_message', 'parse error')}"
    statements = tree.get("statements", [])
    if len(statements) != 1 or statements[0].get("node", {}).get("from_table", {}).get(
        "type"
    ) not in (None, "EMPTY"):
        return "must be an expression, not a query"
    for node in _walk(statements[0]["node"].get("select_list", [])):
        if node.get("class") in _FORBIDDEN_NODES or node.get("type") in _FORBIDDEN_NODES:
            return "may not contain a subquery or table function"
    return None


def kpi_problems(kpi: KpiDefinition, con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(field, reason) for everything wrong with one KPI definition."""
    problems: list[tuple[str, str]] = []
    if kpi.kind == "availability":
        return problems
    if kpi.table not in CLEAN_TABLES or kpi.table == "kpi_daily":
        known = ", ".join(t for t in CLEAN_TABLES if t != "kpi_daily")
        return [("table", f"unknown table {kpi.table!r}; canonical tables are {known}")]
    columns = CLEAN_TABLES[kpi.table].columns
    for field in COLUMN_FIELDS:
        name = getattr(kpi, field)
        if name is None:
            continue
        if name not in columns:
            problems.append((field, f"unknown column {name!r} in clean.{kpi.table}"))
        elif columns[name].metadata["sql_type"] not in ("TIMESTAMP", "DATE"):
            problems.append((field, f"column {name!r} is {columns[name].metadata['sql_type']}, "
                                    "not a timestamp"))
    for field in EXPRESSION_FIELDS:
        expression = getattr(kpi, field)
        if expression is not None:
            problem = _expression_problem(con, expression)
            if problem:
                problems.append((field, problem))
    if problems:
        return problems
    for breakdown, sql in kpi_queries(kpi):
        if breakdown != "all" and breakdown not in columns:
            problems.append(("breakdowns", f"clean.{kpi.table} has no column {breakdown!r}"))
            continue
        try:
            con.execute("EXPLAIN " + sql, {"start": "2026-01-01", "end": "2026-01-02"})
        except duckdb.Error as exc:
            message = str(exc).splitlines()[0]
            problems.append(("numerator/denominator/filter", f"does not compile: {message}"))
            break
    return problems


def catalogue_problems(catalogue: KpiCatalogue, file: str = "config/kpis.yaml") -> list[str]:
    """Every problem in the catalogue as 'file: KPI id: field: reason'."""
    con = sandbox()
    try:
        return [
            f"{file}: KPI {kpi.id}: {field}: {reason}"
            for kpi in catalogue.kpis
            for field, reason in kpi_problems(kpi, con)
        ]
    finally:
        con.close()
