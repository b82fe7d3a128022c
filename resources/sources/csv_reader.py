"""CSV drops: DuckDB's read_csv with explicit options and all_varchar, so a big file never passes
through Python, and `_row` is the physical line a record starts on.

CSV files that share a header line are read together by one read_csv over the list (a folder of
two years of nightly drops is thousands of small files, and per-file statements would cost more
than the rows); a file of such a batch whose line count shows a value spanning lines, or that has
a line DuckDB rejected, is read again on its own, where the physical line numbers of its records
are worked out exactly. A line with the wrong number of fields is staged with its columns empty,
the raw text and the reason in `_error`, for step 4 to quarantine. When DuckDB cannot sniff a
file at all (a quote opened and never closed), it is read again with the configured dialect and
no sniffing, so the broken line is known by its number; a quote opened on line N that never
closes (the rest of the file would be one value) refuses the file naming that line.
"""

from __future__ import annotations

import codecs
import datetime as dt
import tempfile
from collections.abc import Sequence
from pathlib import Path

import duckdb

from resources.config_models import FileFormat
from resources.sources.file_staging import (
    DUCKDB_ENCODINGS,
    Dating,
    FileRead,
    FileRefused,
    append_to_stage,
    file_format,
    refuse_reserved,
    reserved_columns,
    utf8,
)
from resources.sources.landing import bind, quote, source_columns

BATCHABLE_ENCODINGS = ("utf-8", "latin-1")
"""DuckDB decodes these itself and a line feed is the byte 0x0A in them, so a file's lines can
be counted on its bytes."""
VIRTUAL_COLUMNS = ("filename", "file_index")
COUNT_BLOCK = 1 << 22


# ------------------------------------------------------------------------ CSV, in batches


def _header(path: Path, lines: int) -> bytes:
    """The first `lines` lines of a file, as bytes: files with equal ones share their columns."""
    with open(path, "rb") as handle:
        return b"".join(handle.readline() for _ in range(lines))


def csv_batches(files: Sequence[tuple[Path, str]], options: FileFormat
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


def read_csv_batch(
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
        if reserved_columns(con, loose, own=1):
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
        append_to_stage(con, loose, stage, options, numeric_columns, dating, {}, "f.shown",
                        "f.fallback", row_sql=f"l.rowid - f.first_rowid + {header_lines + 1}",
                        join="JOIN _batch_files f USING (_fi)")
        counts = con.execute(
            f"SELECT _file, count(*), count(_error) FROM {quote(stage)} WHERE _file IN "
            "(SELECT shown FROM _batch_files) GROUP BY _file").fetchall()
        return {shown: FileRead(int(n), int(bad)) for shown, n, bad in counts}
    finally:
        con.execute(f"DROP TABLE IF EXISTS {quote(loose)}")
        con.execute("DROP TABLE IF EXISTS _batch_files")


# ----------------------------------------------------------------------- CSV, one file


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


def read_csv_file(con: duckdb.DuckDBPyConnection, path: Path, loose: str,
                  options: FileFormat) -> None:
    """read_csv with the configured dialect; malformed lines land in DuckDB's reject tables and
    are staged as rejected rows. `_row` is the physical line in the file, counting the lines that
    quoted values spread over. A file DuckDB cannot sniff (a quote that never closes makes every
    candidate dialect fail) is read again without sniffing, the header's names given, so the
    line that breaks it is rejected by its number instead of the whole file by its name."""
    skip = options.skip_lines
    header_lines = skip + (1 if options.header else 0)
    with utf8(path, options.encoding) as (readable, encoding):
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
    refuse_reserved(reserved_columns(con, loose))
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
