"""What every file reader shares: the format of a file, the refusal of a '_' column, the UTF-8
view of a file, typed columns as text, and the last step from a reader's loose table into stage.

Each format's reader (csv_reader, json_reader, typed_readers) fills a loose temp table with the
file's columns as text plus `_row` and `_error`; append_to_stage then cleans the values and
adds `_file` and `_partition` the same way for all of them, so a row means the same whatever
format it came in. A file naming a column like a lineage column (`_row`, `_id`: any name
starting with '_' would be dropped) is refused here for every format, with one message.
"""

from __future__ import annotations

import codecs
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from resources.config_models import FileFormat
from resources.sources.landing import (
    LINEAGE_COLUMNS,
    SourceReadError,
    add_missing_columns,
    bind,
    create_stage,
    is_utc,
    partition_expression,
    quote,
    source_columns,
    table_columns,
)

DUCKDB_ENCODINGS = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "utf-16": "utf-16",
                    "iso8859-1": "latin-1", "latin-1": "latin-1"}
"""Python codec names DuckDB's CSV reader decodes itself; others are transcoded first."""

EXTENSIONS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".jsonl": "jsonl",
              ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".xlsx": "xlsx",
              ".xlsm": "xlsx"}

DECIMAL_COMMA = r"[+-]?([0-9]{1,3}(\.[0-9]{3})+|[0-9]+),[0-9]+"
"""A number written with a decimal comma and optional thousands dots: 1,5 or 1.234,56."""

UNNAMED = re.compile(r"^column\d+$")


class FileRefused(ValueError):
    """A file its reader could open but must refuse, for a reason it can name (a column, a
    line); read_file raises it as SourceReadError under the file's shown name."""


@dataclass(frozen=True)
class FileRead:
    rows: int
    rejected: int


@dataclass(frozen=True)
class Dating:
    """How a staged row gets its partition: the first of `columns` that parses with `fmt` in the
    timezone `tz`; a row with none falls on its file's fallback day."""

    columns: tuple[str, ...]
    fmt: str
    tz: str

    def sql(self, present: Sequence[str], fallback: str) -> tuple[str, dict[str, object]]:
        expr = partition_expression(self.columns, set(present), is_utc(self.tz))
        sql = f"coalesce({expr}, {fallback})"
        return sql, bind(sql, {"fmt": self.fmt, "tz": self.tz})


def file_format(path: Path, options: FileFormat) -> str:
    if options.format != "auto":
        return options.format
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise SourceReadError(f"{path}: cannot tell the format from the extension "
                              f"{path.suffix!r}; set files.read.format")
    return fmt


def reserved_columns(con: duckdb.DuckDBPyConnection, table: str, own: int = 0) -> list[str]:
    """The file columns of a freshly read table (all but the last `own`, which the reader
    added) that staging would take for lineage and drop: names starting with '_'."""
    names = table_columns(con, "main", table)
    return [n for n in names[:len(names) - own] if n.startswith("_")]


def refuse_reserved(names: Sequence[str], kind: str = "column",
                    first_lines: dict[str, int] | None = None) -> None:
    """Refuse a file bringing `names` that staging would take for lineage: their values would be
    dropped without a word (or, for an exact lineage name, clash with it). A JSON lines file
    gives `first_lines`, the line each name first appears on, so the message points at one."""
    if names:
        what = kind if len(names) == 1 else f"{kind}s"
        lines = first_lines or {}
        named = ", ".join(repr(n) + (f" (first on line {lines[n]})" if n in lines else "")
                          for n in names)
        raise FileRefused(
            f"its {what} {named} would be taken for lineage and "
            f"dropped (a name starting with '_' is reserved for lineage: "
            f"{', '.join(LINEAGE_COLUMNS)}); rename the {what} in the export")


@contextmanager
def utf8(path: Path, encoding: str) -> Iterator[tuple[Path, str]]:
    """The file as DuckDB can decode it: itself, or a UTF-8 copy streamed through Python's codec
    for encodings DuckDB lacks (cp1252, cp850, ...), in constant memory."""
    name = codecs.lookup(encoding).name
    if name in DUCKDB_ENCODINGS:
        yield path, DUCKDB_ENCODINGS[name]
        return
    with tempfile.TemporaryDirectory(prefix="sevenstep-") as folder:
        copy = Path(folder) / (path.stem + ".utf8" + path.suffix)
        with open(path, encoding=name, newline="") as src, open(
                copy, "w", encoding="utf-8", newline="") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        yield copy, "utf-8"


def as_text(con: duckdb.DuckDBPyConnection, typed: str, loose: str, row: str, fmt: str,
            tz: str, drop: Sequence[str] = ()) -> None:
    """Typed columns as text: timestamps in the source's own format and timezone (so step 4
    parses them like any other text), nested values as JSON."""
    described = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {quote(typed)}").fetchall()
                 if r[0] not in drop]
    selects = []
    for name, kind in described:
        column = quote(name)
        if kind == "TIMESTAMP WITH TIME ZONE":
            value = f"strftime(timezone($tz, {column}), $fmt)"
        elif kind.startswith("TIMESTAMP") or kind == "DATE":
            value = f"strftime(CAST({column} AS TIMESTAMP), $fmt)"
        elif kind.startswith(("STRUCT", "MAP", "UNION")) or kind.endswith("]") or kind == "JSON":
            value = f"CAST(to_json({column}) AS VARCHAR)"
        else:
            value = f"CAST({column} AS VARCHAR)"
        selects.append(f"{value} AS {column}")
    sql = (f"CREATE OR REPLACE TEMP TABLE {quote(loose)} AS SELECT "
           f"{', '.join(selects + [''])}{row} AS _row, CAST(NULL AS VARCHAR) AS _error "
           f"FROM {quote(typed)} ORDER BY _row")
    con.execute(sql, bind(sql, {"tz": tz, "fmt": fmt}))


def append_to_stage(con: duckdb.DuckDBPyConnection, loose: str, stage: str, options: FileFormat,
                    numeric_columns: Sequence[str], dating: Dating | None,
                    params: dict[str, object], file_sql: str, fallback_sql: str,
                    row_sql: str = "l._row", join: str = "") -> None:
    """Null placeholders to NULL, decimal commas to points in number columns, unnamed empty
    trailing columns dropped; lineage `_file` and the partition added; appended to `stage`."""
    columns = source_columns(con, loose)
    filled = con.execute("SELECT " + ", ".join(
        f"count({quote(c)})" for c in columns) + f" FROM {quote(loose)}").fetchall()[0] \
        if columns else ()
    keep = [c for c, n in zip(columns, filled, strict=True) if n or not UNNAMED.match(c)]
    numeric = {c.lower() for c in numeric_columns}
    selects = []
    for column in keep:
        value = f"l.{quote(column)}"
        if options.null_values:
            # Trimming every value costs more than reading it: only padded values are trimmed.
            padded = f"(starts_with({value}, ' ') OR ends_with({value}, ' '))"
            value = (f"CASE WHEN list_contains($nulls, {value}) OR ({padded} AND "
                     f"list_contains($nulls, trim({value}))) THEN NULL ELSE {value} END")
        if options.decimal_comma and column.lower() in numeric:
            value = (f"CASE WHEN regexp_full_match(trim({value}), '{DECIMAL_COMMA}') "
                     f"THEN replace(replace(trim({value}), '.', ''), ',', '.') ELSE {value} END")
        selects.append(f"{value} AS {quote(column)}")
    partition, bound = dating.sql(keep, fallback_sql) if dating else (fallback_sql, {})
    if _exists(con, stage):
        add_missing_columns(con, "main", stage, keep)
    else:
        create_stage(con, stage, keep)
    sql = (f"INSERT INTO {quote(stage)} BY NAME SELECT {', '.join(selects + [''])}"
           f"{row_sql} AS _row, l._error AS _error, {file_sql} AS _file, "
           f"CAST({partition} AS DATE) AS _partition FROM {quote(loose)} l {join}")
    values = {**params, **bound}
    if options.null_values:
        values["nulls"] = list(options.null_values)
    con.execute(sql, bind(sql, values))


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND "
                            "table_name = ?", [table]).fetchall()[0][0])
