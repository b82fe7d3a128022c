"""Reading one export file into a DuckDB staging table, as text, with its source line numbers.

The one entry point for file drops: read_file and read_files pick the reader by format (CSV in
csv_reader, JSON lines and arrays in json_reader, Parquet and Excel in typed_readers), and the
shared file_staging turns what each reader loaded into staged rows the same way. Every row's
partition is computed while it is staged, in the same statement, never by a later UPDATE. Rows
that cannot be parsed (a CSV line with the wrong number of fields, a JSON line that is not an
object) are staged too, with their columns empty, the raw text and the reason in `_error`: step
4 then quarantines them with the file and line, so nothing in a file is silently lost. A file
that cannot be read at all, whose quote opened on line N never closes (the rest of the file would
be one value), or that names a column like a lineage column (`_row`, `_id`: any name starting
with '_' would be dropped) in a CSV or Excel header, a Parquet schema or a top-level JSON key,
raises SourceReadError naming the file and what is wrong (the line, the column).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

import duckdb

from resources.config_models import FileFormat
from resources.sources.csv_reader import csv_batches, read_csv_batch, read_csv_file
from resources.sources.file_staging import (
    Dating,
    FileRead,
    FileRefused,
    append_to_stage,
    file_format,
)
from resources.sources.json_reader import read_json_file
from resources.sources.landing import SourceReadError, quote
from resources.sources.typed_readers import read_excel_file, read_parquet_file


def read_file(
    con: duckdb.DuckDBPyConnection, path: Path, shown: str, stage: str, options: FileFormat,
    *, numeric_columns: Sequence[str] = (), timestamp_format: str = "%Y-%m-%d %H:%M:%S",
    timezone: str = "UTC", dating: Dating | None = None, fallback: dt.date | None = None,
) -> FileRead:
    """Stage `path` (named `shown` in lineage and errors) into temp table `stage`, created or
    appended to (adding the columns the file brings); rows get their partition from `dating`,
    else `fallback`."""
    fmt = file_format(path, options)
    loose = f"{stage}_loose"
    try:
        if fmt == "csv":
            read_csv_file(con, path, loose, options)
        elif fmt == "jsonl":
            read_json_file(con, path, loose, options)
        elif fmt == "parquet":
            read_parquet_file(con, path, loose, timestamp_format, timezone)
        else:
            read_excel_file(con, path, loose, options, timestamp_format)
    except SourceReadError:
        raise
    except FileRefused as exc:
        con.execute(f"DROP TABLE IF EXISTS {quote(loose)}")
        raise SourceReadError(f"cannot read {shown}: {exc}") from None
    except (duckdb.Error, OSError, ValueError, KeyError, UnicodeError) as exc:
        raise SourceReadError(f"cannot read {shown} as {fmt}: {_reason(exc)}") from exc
    try:
        append_to_stage(con, loose, stage, options, numeric_columns, dating,
                        {"file": shown, "fallback": fallback}, "$file", "$fallback")
    finally:
        con.execute(f"DROP TABLE IF EXISTS {quote(loose)}")
    rows, rejected = con.execute(
        f"SELECT count(*), count(_error) FROM {quote(stage)} WHERE _file = ?", [shown]
    ).fetchall()[0]
    _refuse_unreadable(con, stage, shown, int(rows), int(rejected))
    return FileRead(int(rows), int(rejected))


def read_files(
    con: duckdb.DuckDBPyConnection, files: Sequence[tuple[Path, str]], stage: str,
    options: FileFormat, *, numeric_columns: Sequence[str] = (),
    timestamp_format: str = "%Y-%m-%d %H:%M:%S", timezone: str = "UTC",
    dating: Dating | None = None, fallbacks: dict[str, dt.date] | None = None,
) -> dict[str, FileRead]:
    """Stage many files (path, shown name) into `stage`: CSV files sharing a header line in one
    read_csv each, the others one by one with read_file. Returns what each file staged."""
    fallbacks = fallbacks or {}
    batches, single = csv_batches(files, options)
    read: dict[str, FileRead] = {}
    for batch in batches:
        read |= read_csv_batch(con, batch, stage, options, numeric_columns, dating, fallbacks)
        single += [(p, s) for p, s in batch if s not in read]
    for path, shown in sorted(single, key=lambda f: f[1]):
        read[shown] = read_file(con, path, shown, stage, options,
                                numeric_columns=numeric_columns,
                                timestamp_format=timestamp_format, timezone=timezone,
                                dating=dating, fallback=fallbacks.get(shown))
    return read


def _reason(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _refuse_unreadable(con: duckdb.DuckDBPyConnection, stage: str, shown: str, rows: int,
                       rejected: int) -> None:
    if rows and rows == rejected:
        first = con.execute(f"SELECT _error FROM {quote(stage)} WHERE _file = ? ORDER BY _row "
                            "LIMIT 1", [shown]).fetchall()[0][0]
        raise SourceReadError(f"cannot read {shown}: none of its {rows} rows parse with the "
                              f"configured options (first: {first})")


def file_day(path: Path) -> dt.date:
    """The UTC day a file was last written: the partition of rows without a usable date."""
    return dt.datetime.fromtimestamp(os.stat(path).st_mtime, dt.UTC).date()
