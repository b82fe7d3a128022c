"""Reading one export file into a DuckDB staging table, as text, with its source line numbers.

CSV, JSON lines and Parquet go through DuckDB's own readers (read_csv with explicit options and
all_varchar, so a big file never passes through Python); Excel goes through openpyxl in read-only
mode, a batch of rows at a time. CSV files that share a header line are read together by one
read_csv over the list (a folder of two years of nightly drops is thousands of small files, and
per-file statements would cost more than the rows); a file of such a batch whose line count shows
a value spanning lines, or that has a line DuckDB rejected, is read again on its own, where the
physical line numbers of its records are worked out exactly. Every row's partition is computed
while it is staged, in the same statement, never by a later UPDATE. Rows that cannot be parsed
(a CSV line with the wrong number of fields, a JSON line that is not an object) are staged too,
with their columns empty, the raw text and the reason in `_error`: step 4 then quarantines them
with the file and line, so nothing in a file is silently lost. When DuckDB cannot sniff a CSV
file at all (a quote opened and never closed), it is read again with the configured dialect and
no sniffing, so the broken line is known by its number. A file that cannot be read at all, whose
quote opened on line N never closes (the rest of the file would be one value), or that names a
column like a lineage column (`_row`, `_id`: any name starting with '_' would be dropped) in a CSV
or Excel header, a Parquet schema or a top-level JSON key, raises SourceReadError naming the file
and what is wrong (the line, the column).
"""

from __future__ import annotations

import codecs
import datetime as dt
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

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
EXCEL_BATCH = 10_000
BATCHABLE_ENCODINGS = ("utf-8", "latin-1")
"""DuckDB decodes these itself and a line feed is the byte 0x0A in them, so a file's lines can
be counted on its bytes."""
VIRTUAL_COLUMNS = ("filename", "file_index")
COUNT_BLOCK = 1 << 22


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
            _read_csv(con, path, loose, options)
        elif fmt == "jsonl":
            _read_json(con, path, loose, options)
        elif fmt == "parquet":
            _read_parquet(con, path, loose, timestamp_format, timezone)
        else:
            _read_excel(con, path, loose, options, timestamp_format)
    except SourceReadError:
        raise
    except FileRefused as exc:
        con.execute(f"DROP TABLE IF EXISTS {quote(loose)}")
        raise SourceReadError(f"cannot read {shown}: {exc}") from None
    except (duckdb.Error, OSError, ValueError, KeyError, UnicodeError) as exc:
        raise SourceReadError(f"cannot read {shown} as {fmt}: {_reason(exc)}") from exc
    try:
        _finish(con, loose, stage, options, numeric_columns, dating,
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
    batches, single = _batches(files, options)
    read: dict[str, FileRead] = {}
    for batch in batches:
        read |= _read_csv_batch(con, batch, stage, options, numeric_columns, dating, fallbacks)
        single += [(p, s) for p, s in batch if s not in read]
    for path, shown in sorted(single, key=lambda f: f[1]):
        read[shown] = read_file(con, path, shown, stage, options,
                                numeric_columns=numeric_columns,
                                timestamp_format=timestamp_format, timezone=timezone,
                                dating=dating, fallback=fallbacks.get(shown))
    return read


def _reserved(con: duckdb.DuckDBPyConnection, table: str, own: int = 0) -> list[str]:
    """The file columns of a freshly read table (all but the last `own`, which the reader
    added) that staging would take for lineage and drop: names starting with '_'."""
    names = table_columns(con, "main", table)
    return [n for n in names[:len(names) - own] if n.startswith("_")]


def _refuse_reserved(names: Sequence[str], kind: str = "column",
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


def _reason(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _refuse_unreadable(con: duckdb.DuckDBPyConnection, stage: str, shown: str, rows: int,
                       rejected: int) -> None:
    if rows and rows == rejected:
        first = con.execute(f"SELECT _error FROM {quote(stage)} WHERE _file = ? ORDER BY _row "
                            "LIMIT 1", [shown]).fetchall()[0][0]
        raise SourceReadError(f"cannot read {shown}: none of its {rows} rows parse with the "
                              f"configured options (first: {first})")


def _finish(con: duckdb.DuckDBPyConnection, loose: str, stage: str, options: FileFormat,
            numeric_columns: Sequence[str], dating: Dating | None, params: dict[str, object],
            file_sql: str, fallback_sql: str, row_sql: str = "l._row", join: str = "") -> None:
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


# ------------------------------------------------------------------------ CSV, in batches


def _header(path: Path, lines: int) -> bytes:
    """The first `lines` lines of a file, as bytes: files with equal ones share their columns."""
    with open(path, "rb") as handle:
        return b"".join(handle.readline() for _ in range(lines))


def _batches(files: Sequence[tuple[Path, str]], options: FileFormat
             ) -> tuple[list[list[tuple[Path, str]]], list[tuple[Path, str]]]:
    """CSV files grouped by their header line, and the rest."""
    encoding = DUCKDB_ENCODINGS.get(codecs.lookup(options.encoding).name)
    groups: dict[bytes, list[tuple[Path, str]]] = {}
    single: list[tuple[Path, str]] = []
    for path, shown in files:
        if (not options.header or encoding not in BATCHABLE_ENCODINGS
                or file_format(path, options) != "csv"):
            single.append((path, shown))
            continue
        head = _header(path, options.skip_lines + 1)
        groups.setdefault(head, []).append((path, shown))
    batches = []
    for head, members in groups.items():
        names = head.decode(encoding, errors="replace").lower()
        if any(v in names for v in VIRTUAL_COLUMNS):
            single += members
        else:
            batches.append(members)
    return batches, single


def _lines(path: Path) -> int:
    """Physical lines of a file: its line feeds, plus one for a last line without one."""
    count, last = 0, b"\n"
    with open(path, "rb") as handle:
        while block := handle.read(COUNT_BLOCK):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _read_csv_batch(
    con: duckdb.DuckDBPyConnection, batch: list[tuple[Path, str]], stage: str,
    options: FileFormat, numeric_columns: Sequence[str], dating: Dating | None,
    fallbacks: dict[str, dt.date],
) -> dict[str, FileRead]:
    """One read_csv over files with the same header. A file whose records do not each take one
    line (a value spanning lines, a rejected line, blank lines) is left out of the result for
    read_file to stage alone; the others get `_row` = header lines + position in the file. A
    header naming a column `_...` leaves every file to read_file, which refuses it."""
    header_lines = options.skip_lines + 1
    loose = f"{stage}_batch"
    try:
        for table in ("_rejects", "_reject_scans"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {quote(loose)} AS SELECT *, file_index AS _fi "
            "FROM read_csv($paths, all_varchar = true, header = true, delim = $delim, "
            "quote = $quote, escape = $escape, skip = $skip, encoding = $encoding, "
            "store_rejects = true, rejects_table = '_rejects', rejects_scan = '_reject_scans', "
            "max_line_size = 10000000)",
            {"paths": [str(p) for p, _ in batch], "delim": options.delimiter,
             "quote": options.quote or None, "escape": options.escape or None,
             "skip": options.skip_lines,
             "encoding": DUCKDB_ENCODINGS[codecs.lookup(options.encoding).name]})
    except duckdb.Error:
        con.execute(f"DROP TABLE IF EXISTS {quote(loose)}")
        return {}  # e.g. an empty file: each is read (and judged) on its own
    try:
        if _reserved(con, loose, own=1):
            return {}  # read_file refuses each file naming the column, as for a single file
        rejected = {r[0] for r in con.execute(
            "SELECT DISTINCT s.file_path FROM _rejects r JOIN _reject_scans s "
            "USING (scan_id, file_id)").fetchall()}
        spans = {int(i): (int(n), int(first)) for i, n, first in con.execute(
            f"SELECT _fi, count(*), min(rowid) FROM {quote(loose)} GROUP BY _fi").fetchall()}
        good = [i for i, (path, _) in enumerate(batch) if str(path) not in rejected
                and i in spans and _lines(path) == header_lines + spans[i][0]]
        if not good:
            return {}
        con.execute(f"DELETE FROM {quote(loose)} WHERE NOT list_contains($good, _fi)",
                    {"good": good})
        con.execute("CREATE OR REPLACE TEMP TABLE _batch_files (_fi BIGINT, shown VARCHAR, "
                    "fallback DATE, first_rowid BIGINT)")
        con.executemany("INSERT INTO _batch_files VALUES (?, ?, ?, ?)",
                        [(i, batch[i][1], fallbacks.get(batch[i][1]), spans[i][1])
                         for i in good])
        con.execute(f"ALTER TABLE {quote(loose)} ADD COLUMN _error VARCHAR")
        _finish(con, loose, stage, options, numeric_columns, dating, {}, "f.shown",
                "f.fallback", row_sql=f"l.rowid - f.first_rowid + {header_lines + 1}",
                join="JOIN _batch_files f USING (_fi)")
        counts = con.execute(
            f"SELECT _file, count(*), count(_error) FROM {quote(stage)} WHERE _file IN "
            "(SELECT shown FROM _batch_files) GROUP BY _file").fetchall()
        return {shown: FileRead(int(n), int(bad)) for shown, n, bad in counts}
    finally:
        con.execute(f"DROP TABLE IF EXISTS {quote(loose)}")
        con.execute("DROP TABLE IF EXISTS _batch_files")


# ------------------------------------------------------------------------------------ CSV


@contextmanager
def _utf8(path: Path, encoding: str) -> Iterator[tuple[Path, str]]:
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


def _csv_into(con: duckdb.DuckDBPyConnection, path: Path, loose: str, options: FileFormat,
              encoding: str, columns: Sequence[str] | None = None) -> None:
    """read_csv of one file into `loose`, rejected lines kept in _rejects: DuckDB sniffs the
    rest of the dialect, or, given the `columns`, reads exactly the configured one."""
    for table in ("_rejects", "_reject_scans"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    strict = "auto_detect = false, columns = $columns, " if columns is not None else ""
    sql = (f"CREATE OR REPLACE TEMP TABLE {quote(loose)} AS SELECT * FROM read_csv($path, "
           f"{strict}all_varchar = true, header = $header, delim = $delim, quote = $quote, "
           "escape = $escape, skip = $skip, encoding = $encoding, store_rejects = true, "
           "rejects_table = '_rejects', rejects_scan = '_reject_scans', "
           "max_line_size = 100000000)")  # a 10 MB pasted log is a ticket, not an error
    con.execute(sql, bind(sql, {
        "path": str(path), "header": options.header, "delim": options.delimiter,
        "quote": options.quote or None, "escape": options.escape or None,
        "skip": options.skip_lines, "encoding": encoding,
        "columns": {c: "VARCHAR" for c in columns or ()}}))


def _csv_names(con: duckdb.DuckDBPyConnection, path: Path, options: FileFormat,
               encoding: str) -> list[str] | None:
    """The column names DuckDB gives a file, sniffed on its first lines alone (title lines,
    then the header or first record): a file whose later line breaks the sniffer still has
    them. None when those lines cannot be read either."""
    with tempfile.TemporaryDirectory(prefix="sevenstep-") as folder:
        head = Path(folder) / "head.csv"
        with open(path, encoding=encoding, errors="replace", newline="") as src, open(
                head, "w", encoding="utf-8", newline="") as dst:
            dst.write("".join(src.readline() for _ in range(options.skip_lines + 1)))
        try:
            names = [r[0] for r in con.execute(
                "DESCRIBE SELECT * FROM read_csv($path, all_varchar = true, header = $header, "
                "delim = $delim, quote = $quote, escape = $escape, skip = $skip)",
                {"path": str(head), "header": options.header, "delim": options.delimiter,
                 "quote": options.quote or None, "escape": options.escape or None,
                 "skip": options.skip_lines}).fetchall()]
        except duckdb.Error:
            return None
    return names or None


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path, loose: str,
              options: FileFormat) -> None:
    """read_csv with the configured dialect; malformed lines land in DuckDB's reject tables and
    are staged as rejected rows. `_row` is the physical line in the file, counting the lines that
    quoted values spread over. A file DuckDB cannot sniff (a quote that never closes makes every
    candidate dialect fail) is read again without sniffing, the header's names given, so the
    line that breaks it is rejected by its number instead of the whole file by its name."""
    skip = options.skip_lines
    header_lines = skip + (1 if options.header else 0)
    with _utf8(path, options.encoding) as (readable, encoding):
        try:
            _csv_into(con, readable, loose, options, encoding)
        except duckdb.Error as sniffing:
            names = _csv_names(con, readable, options, encoding)
            if names is None:
                raise
            try:
                _csv_into(con, readable, loose, options, encoding, names)
            except duckdb.Error:
                raise sniffing from None
    _refuse_reserved(_reserved(con, loose))
    columns = source_columns(con, loose)
    text = "concat_ws('', " + ", ".join(quote(c) for c in columns) + ")"
    con.execute(f"ALTER TABLE {quote(loose)} ADD COLUMN _row BIGINT")
    con.execute(f"ALTER TABLE {quote(loose)} ADD COLUMN _error VARCHAR")
    rejects = con.execute(
        "SELECT line, any_value(csv_line ORDER BY column_idx), "
        "arg_min(error_type || ': ' || error_message, column_idx) FROM _rejects "
        "GROUP BY line ORDER BY line").fetchall()
    multiline = bool(con.execute(
        f"SELECT count(*) FILTER (WHERE contains({text}, chr(10))) FROM {quote(loose)}"
    ).fetchall()[0][0])
    if not multiline and not rejects:
        con.execute(f"UPDATE {quote(loose)} SET _row = rowid + {header_lines + 1}")
        return
    # Lines used by each good record: 1 plus the newlines inside its quoted values.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _lines AS
        SELECT _i, _n, coalesce(sum(_n) OVER (ORDER BY _i ROWS BETWEEN UNBOUNDED PRECEDING
        AND 1 PRECEDING), 0) AS _pre FROM (SELECT rowid AS _i,
        1 + length({text}) - length(replace({text}, chr(10), '')) AS _n FROM {quote(loose)})""")
    # DuckDB numbers a rejected record by records, counting skipped and header lines: the k-th
    # reject (0-based) follows `good` good records.
    shifts, spent = [], 0
    records = con.execute("SELECT count(*) FROM _lines").fetchall()[0][0]
    for k, (line, csv_line, error) in enumerate(rejects):
        good = line - header_lines - 1 - k
        before = con.execute(
            "SELECT coalesce((SELECT _pre FROM _lines WHERE _i = $g), "
            "(SELECT coalesce(sum(_n), 0) FROM _lines))", {"g": good}).fetchall()[0][0]
        physical = header_lines + 1 + int(before) + spent
        problem = _open_quote(physical, csv_line or "", error) if (
            k == len(rejects) - 1 and good == records) else None
        if problem:
            con.execute("DROP TABLE _lines")
            raise FileRefused(problem)
        spent += 1 + (csv_line or "").count("\n")
        shifts.append((good, spent))
        con.execute(f"INSERT INTO {quote(loose)} (_row, _error) VALUES (?, ?)",
                    [physical, f"{error} | line text: {csv_line}"])
    con.execute("CREATE OR REPLACE TEMP TABLE _shifts (g BIGINT, spent BIGINT)")
    if shifts:
        con.executemany("INSERT INTO _shifts VALUES (?, ?)", shifts)
    # A good record after the k-th reject moves down by the lines of rejects 0..k.
    con.execute(f"""UPDATE {quote(loose)} AS t SET _row = {header_lines + 1} + l._pre
        + coalesce((SELECT max(s.spent) FROM _shifts s WHERE s.g <= l._i), 0)
        FROM _lines l WHERE l._i = t.rowid AND t._error IS NULL""")
    con.execute("DROP TABLE _lines")


def _open_quote(line: int, text: str, error: str) -> str | None:
    """Why the file is refused when its last record, rejected for a quote, spans lines: a quote
    opened on `line` never closed, so the rest of the file ran into one value. Quarantined, that
    record would hide the rows after it in one entry; refused, the line is named."""
    spans = text.rstrip("\r\n").count("\n") + 1
    if not error.startswith("UNQUOTED VALUE") or spans < 2:
        return None
    first = text.splitlines()[0]
    return (f"line {line} opens a quote that never closes, so lines {line} to {line + spans - 1}"
            f" (the end of the file) would be one value ({error}); fix the quoting or set "
            f"files.read.quote. Line {line}: {first[:200]!r}")


# ----------------------------------------------------------------------------------- JSON


def _read_json(con: duckdb.DuckDBPyConnection, path: Path, loose: str,
               options: FileFormat) -> None:
    """JSON lines (one object a line), or a JSON array of objects. Lines are read as text so a
    malformed line is staged with its line number instead of failing the file. A top-level key
    starting with '_' (`_id` of a MongoDB or Elasticsearch export) refuses the file naming the
    first line that has it: it is found by the query that lists the keys, at no extra pass."""
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        _read_json_array(con, path, loose)
        return
    with _utf8(path, options.encoding) as (readable, encoding):
        # JSON text never holds a raw control character, so \x1f never splits a line.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _jsonl AS SELECT line FROM read_csv($path, "
            "columns = {'line': 'VARCHAR'}, header = false, delim = chr(31), "
            "quote = '', escape = '', auto_detect = false, encoding = $encoding, "
            "max_line_size = 100000000)", {"path": str(readable), "encoding": encoding})
    con.execute("ALTER TABLE _jsonl ADD COLUMN _row BIGINT")
    con.execute("UPDATE _jsonl SET _row = rowid + 1")
    con.execute("DELETE FROM _jsonl WHERE line IS NULL OR trim(line) = ''")
    usable = "json_valid(line) AND starts_with(ltrim(line), '{')"  # valid and an object
    # Extract from valid lines only (a CASE would still parse the broken ones).
    con.execute(f"CREATE OR REPLACE TEMP TABLE _jsonl_ok AS SELECT _row, line FROM _jsonl "
                f"WHERE {usable}")
    try:
        first = {k: int(row) for k, row in con.execute(
            "SELECT k, min(_row) FROM (SELECT unnest(json_keys(line)) AS k, _row FROM _jsonl_ok) "
            "GROUP BY k ORDER BY min(_row)").fetchall()}
        keys = list(first)
        _refuse_reserved([k for k in keys if k.startswith("_")], "field", first)
        values = [f"json_extract_string(line, $k{i}) AS {quote(k)}" for i, k in enumerate(keys)]
        params = {f"k{i}": _json_path(k) for i, k in enumerate(keys)}
        con.execute(f"CREATE OR REPLACE TEMP TABLE {quote(loose)} AS SELECT "
                    f"{', '.join(values + [''])}_row, CAST(NULL AS VARCHAR) AS _error "
                    "FROM _jsonl_ok ORDER BY _row", params)
        con.execute(f"INSERT INTO {quote(loose)} (_row, _error) SELECT _row, "
                    "'not a JSON object | line text: ' || left(line, 2000) FROM _jsonl "
                    f"WHERE NOT ({usable}) ORDER BY _row")
    finally:
        con.execute("DROP TABLE IF EXISTS _jsonl")
        con.execute("DROP TABLE IF EXISTS _jsonl_ok")


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _read_json_array(con: duckdb.DuckDBPyConnection, path: Path, loose: str) -> None:
    """A JSON array export: DuckDB's reader; `_row` is the record's position (1-based). A
    top-level key starting with '_' refuses the file, as for JSON lines (no line to name)."""
    con.execute("CREATE OR REPLACE TEMP TABLE _jarr AS SELECT * FROM read_json($path, "
                "format = 'array', records = true, maximum_object_size = 1000000000)",
                {"path": str(path)})
    try:
        _refuse_reserved(_reserved(con, "_jarr"), "field")
        _as_text(con, "_jarr", loose, "rowid + 1", "%Y-%m-%d %H:%M:%S", "UTC")
    finally:
        con.execute("DROP TABLE IF EXISTS _jarr")


# -------------------------------------------------------------------------------- Parquet


def _read_parquet(con: duckdb.DuckDBPyConnection, path: Path, loose: str, fmt: str,
                  tz: str) -> None:
    """read_parquet with each row's position in the file as `_row`. The schema alone (the
    file's footer, no row read) is checked first for columns staging would drop."""
    _refuse_reserved([r[0] for r in con.execute(
        "DESCRIBE SELECT * FROM read_parquet($path)", {"path": str(path)}).fetchall()
        if r[0].startswith("_")])
    con.execute("CREATE OR REPLACE TEMP TABLE _pq AS SELECT * FROM read_parquet($path, "
                "file_row_number = true)", {"path": str(path)})
    _as_text(con, "_pq", loose, "file_row_number + 1", fmt, tz, drop=("file_row_number",))
    con.execute("DROP TABLE _pq")


def _as_text(con: duckdb.DuckDBPyConnection, typed: str, loose: str, row: str, fmt: str,
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


def _read_excel(con: duckdb.DuckDBPyConnection, path: Path, loose: str, options: FileFormat,
                fmt: str) -> None:
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
        _refuse_reserved([n for n in names if n.startswith("_")])
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


def file_day(path: Path) -> dt.date:
    """The UTC day a file was last written: the partition of rows without a usable date."""
    return dt.datetime.fromtimestamp(os.stat(path).st_mtime, dt.UTC).date()
