"""JSON drops: JSON lines (one object a line) or a JSON array of objects, every value as text.

JSON lines are read as text lines, so a line that is not a JSON object is staged with its line
number, its raw text and the reason in `_error` for step 4 to quarantine, instead of failing the
whole file. A top-level key starting with '_' (`_id` of a MongoDB or Elasticsearch export)
refuses the file, naming the first line that has it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from resources.config_models import FileFormat
from resources.sources.file_staging import as_text, refuse_reserved, reserved_columns, utf8
from resources.sources.landing import quote


def read_json_file(con: duckdb.DuckDBPyConnection, path: Path, loose: str,
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
    with utf8(path, options.encoding) as (readable, encoding):
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
        refuse_reserved([k for k in keys if k.startswith("_")], "field", first)
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
        refuse_reserved(reserved_columns(con, "_jarr"), "field")
        as_text(con, "_jarr", loose, "rowid + 1", "%Y-%m-%d %H:%M:%S", "UTC")
    finally:
        con.execute("DROP TABLE IF EXISTS _jarr")
