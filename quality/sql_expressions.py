"""What a SQL expression is made of, read from DuckDB's own parse tree.

User-written KPI expressions are never inspected with regular expressions: DuckDB parses them
(`json_serialize_sql`) and the tree says which columns they name, which functions they call and
which kinds of node they contain. The KPI checker refuses on that basis; the query builder uses
the column list to know which virtual columns a KPI needs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import duckdb


@dataclass(frozen=True)
class ParsedExpression:
    text: str
    error: str | None = None
    plain: bool = True  # one SELECT of one item, no FROM/WHERE/GROUP/ORDER/LIMIT/CTE/UNION
    columns: frozenset[str] = frozenset()  # bare column names (lambda parameters excluded)
    qualified_columns: frozenset[str] = frozenset()  # 'a.b' style references
    functions: frozenset[str] = frozenset()  # lower-case names of every function called
    qualified_functions: frozenset[str] = frozenset()  # schema.function calls
    node_classes: frozenset[str] = frozenset()  # class and type of every node


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _lambda_parameters(select_list: Any) -> set[str]:
    names: set[str] = set()
    for node in _walk(select_list):
        if node.get("class") == "LAMBDA":
            for param in _walk(node.get("lhs")):
                if param.get("class") == "COLUMN_REF":
                    names.update(param.get("column_names", []))
    return names


_LOCK = threading.Lock()


@cache
def _parser() -> duckdb.DuckDBPyConnection:
    """One in-memory connection that only ever runs json_serialize_sql (opening one per call
    costs more than the parse)."""
    return duckdb.connect(":memory:")


@lru_cache(maxsize=4096)
def parse_expression(text: str) -> ParsedExpression:
    """Parse `SELECT <text>` (never executed) and summarise its tree."""
    with _LOCK:
        rows = _parser().execute("SELECT json_serialize_sql(?)", ["SELECT " + text]).fetchall()
    tree = json.loads(rows[0][0])
    if tree.get("error"):
        return ParsedExpression(text, error=str(tree.get("error_message", "parse error")))
    statements = tree.get("statements", [])
    node = statements[0].get("node", {}) if statements else {}
    select_list = node.get("select_list", [])
    plain = (
        len(statements) == 1 and node.get("type") == "SELECT_NODE" and len(select_list) == 1
        and node.get("from_table", {}).get("type") in (None, "EMPTY")
        and not any(node.get(k) for k in ("where_clause", "having", "qualify", "group_expressions",
                                          "modifiers", "sample"))
        and not node.get("cte_map", {}).get("map")
    )
    params = _lambda_parameters(select_list)
    columns, qualified, functions, qualified_functions, classes = set(), set(), set(), set(), set()
    for item in _walk(select_list):
        if "class" in item:
            classes.update((str(item["class"]), str(item.get("type", ""))))
        if item.get("class") == "COLUMN_REF":
            names = item.get("column_names", [])
            if len(names) == 1 and names[0] not in params:
                columns.add(names[0])
            elif len(names) > 1:
                qualified.add(".".join(names))
        if item.get("class") in ("FUNCTION", "WINDOW") and "function_name" in item:
            name = str(item["function_name"]).lower()
            functions.add(name)
            if item.get("schema") or item.get("catalog"):
                qualified_functions.add(f"{item.get('schema') or item.get('catalog')}.{name}")
    return ParsedExpression(
        text, plain=plain, columns=frozenset(columns),
        qualified_columns=frozenset(qualified), functions=frozenset(functions),
        qualified_functions=frozenset(qualified_functions), node_classes=frozenset(classes))
