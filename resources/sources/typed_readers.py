"""Parquet and Excel drops: files whose cells carry types, turned into text as step 4 expects.

A timestamp is written back in the source's own `timestamp_format` and timezone, so step 4
parses it like the same column of a CSV export. Parquet goes through DuckDB's read_parquet;
Excel goes through openpyxl in read-only mode, a batch of rows at a time, so a big sheet never
sits in memory whole. A Parquet schema or an Excel header naming a column that starts with '_'
refuses the file before any row is read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd

from resources.config_models import FileFormat
from resources.sources.file_staging import as_text, refuse_reserved
from resources.sources.landing import SourceReadError, create_stage, quote

EXCEL_BATCH = 10_000


# -------------------------------------------------------------------------------- Parquet


def read_parquet_file(con: duckdb.DuckDBPyConnection, path: Path, loose: str, fmt: str,
                      tz: str) -> None:
    """read_parquet with each row's position in the file as `_row`. The schema alone (the
    file's footer, no row read) is checked first for columns staging would drop."""
    refuse_reserved([r[0] for r in con.execute(
        "DESCRIBE SELECT * FROM read_parquet($path)", {"path": str(path)}).fetchall()
        if r[0].startswith("_")])
    con.execute("CREATE OR REPLACE TEMP TABLE _pq AS SELECT * FROM read_parquet($path, "
                "file_row_number = true)", {"path": str(path)})
    as_text(con, "_pq", loose, "file_row_number + 1", fmt, tz, drop=("file_row_number",))
    con.execute("DROP TABLE _pq")


# ---------------------------------------------------------------------------------- Excel


def _excel_text(value: object, fmt: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime(fmt)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time()).strftime(fmt)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _header_names(cells: Sequence[object]) -> list[str]:
    """Header names as DuckDB's CSV reader makes them: empty -> columnN, repeats -> name_1."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, cell in enumerate(cells):
        name = str(cell).strip() if cell is not None and str(cell).strip() else f"column{i}"
        base = name
        while name.lower() in seen:
            seen[base.lower()] += 1
            name = f"{base}_{seen[base.lower()] - 1}"
        seen.setdefault(name.lower(), 1)
        names.append(name)
    return names


def read_excel_file(con: duckdb.DuckDBPyConnection, path: Path, loose: str,
                    options: FileFormat, fmt: str) -> None:
    """openpyxl in read-only mode streams the sheet; rows go to DuckDB in batches. A header
    cell naming a column that starts with '_' refuses the file before any row is read."""
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        if options.sheet is not None and options.sheet not in book.sheetnames:
            raise SourceReadError(f"{path.name}: no sheet {options.sheet!r}; sheets: "
                                  f"{book.sheetnames}")
        sheet = book[options.sheet] if options.sheet else book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        for _ in range(options.skip_lines):
            next(rows, None)
        first = next(rows, None) or ()
        names = _header_names(first) if options.header else [
            f"column{i}" for i in range(len(first))]
        refuse_reserved([n for n in names if n.startswith("_")])
        line = options.skip_lines + 1
        if not options.header:
            rows = iter([first, *rows])
            line -= 1
        create_stage(con, loose, names)
        batch: list[list[object]] = []
        for values in rows:
            line += 1
            if values is None or all(v is None for v in values):
                continue
            texts = [_excel_text(v, fmt) for v in values[:len(names)]]
            batch.append(texts + [None] * (len(names) - len(texts)) + [line])
            if len(batch) >= EXCEL_BATCH:
                _insert_batch(con, loose, names, batch)
                batch = []
        _insert_batch(con, loose, names, batch)
    finally:
        book.close()
    for column in ("_file", "_query", "_partition"):
        con.execute(f"ALTER TABLE {quote(loose)} DROP COLUMN {column}")


def _insert_batch(con: duckdb.DuckDBPyConnection, table: str, names: list[str],
                  batch: list[list[object]]) -> None:
    if not batch:
        return
    frame = pd.DataFrame(batch, columns=[*names, "_row"], dtype=object)
    insert_frame(con, table, frame)


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Append a small DataFrame (one batch) by column name."""
    con.register("_batch", frame)
    try:
        con.execute(f"INSERT INTO {quote(table)} BY NAME SELECT * FROM _batch")
    finally:
        con.unregister("_batch")
