"""Exports that bring a column named like lineage, in every file format the drop folder reads.

Staging takes any column whose name starts with '_' (`_row`, `_file`, `_partition`, ...) for
lineage and drops the source's own values under it. A MongoDB or Elasticsearch export carries
`_id` on every record; a re-exported warehouse table can carry `_row` itself. Either way the file
must be refused by a `dagster.Failure` naming the file and the column (for JSON lines also the
line), never loaded with that column silently gone, nor failed with an unexplained DuckDB error.
The same rows without such a column load, so the refusal is the column's doing.

The files are generated here (Parquet through DuckDB, Excel through openpyxl), from the rows of
the corpus's `bom.csv`; the drop-folder helpers are those of tests/test_bad_input_files.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest

from tests.test_bad_input_files import BAD, DAY, Landed, file_source, land, refusal

Rows = list[dict[str, str]]


def _rows() -> Rows:
    """Two good incidents dated DAY, as the corpus holds them."""
    with open(BAD / "bom.csv", encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _dated(path: Path) -> Path:
    """Written on DAY, like the corpus files `drop` copies (the partition of undated rows)."""
    stamp = dt.datetime.combine(DAY, dt.time(12), dt.UTC).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def _jsonl(path: Path, rows: Rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _parquet(path: Path, rows: Rows) -> None:
    # pandas has no Parquet engine here (no pyarrow): DuckDB writes the frame.
    with duckdb.connect() as con:
        con.from_df(pd.DataFrame(rows, dtype=object)).write_parquet(str(path))


def _xlsx(path: Path, rows: Rows) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(rows[0]))
    for row in rows:
        sheet.append([v if v != "" else None for v in row.values()])
    book.save(path)


WRITERS: dict[str, Callable[[Path, Rows], None]] = {
    "jsonl": _jsonl, "parquet": _parquet, "xlsx": _xlsx}


def _land(tmp_path: Path, name: str, rows: Rows) -> Landed:
    """Write `rows` as drop/<name> in the format its extension names and gather it."""
    folder = tmp_path / "drop"
    folder.mkdir(exist_ok=True)
    suffix = name.rsplit(".", 1)[1]
    WRITERS[suffix](folder / name, rows)
    _dated(folder / name)
    return land(tmp_path, file_source(folder, pattern=f"*.{suffix}"))


def _assert_refused(landed: Landed, name: str, *columns: str) -> str:
    """Refused by a Failure naming the file, each column and why; nothing landed."""
    message = refusal(landed)
    assert f"cannot read {name}:" in message, message
    for column in columns:
        assert repr(column) in message, message
    assert "reserved for lineage" in message and "rename the" in message, message
    assert not landed.result.get_asset_materialization_events()
    return message


@pytest.mark.parametrize("suffix", sorted(WRITERS))
def test_the_same_rows_without_such_a_column_load(tmp_path: Path, suffix: str) -> None:
    """The control: each generated format loads these rows, values intact."""
    landed = _land(tmp_path, f"incidents.{suffix}", _rows())
    assert landed.result.success
    clean = landed.clean()
    assert sorted(clean) == ["BOM-1", "BOM-2"]
    assert clean["BOM-2"]["short_description"] == "mail is slow"


@pytest.mark.parametrize("column", ["_row", "_id"])
@pytest.mark.parametrize("suffix", sorted(WRITERS))
def test_a_column_starting_with_an_underscore_refuses_the_file(
        tmp_path: Path, suffix: str, column: str) -> None:
    """`_row` is an exact lineage name (it used to fail inside DuckDB, unexplained); `_id` is
    any other '_' name (it used to be dropped without a word)."""
    rows = [{**r, column: f"export-{i}"} for i, r in enumerate(_rows())]
    name = f"incidents.{suffix}"
    message = _assert_refused(_land(tmp_path, name, rows), name, column)
    if suffix == "jsonl":  # every line has it: the first line is named
        assert f"field {column!r} (first on line 1)" in message, message
    else:
        assert f"column {column!r} would be taken for lineage" in message, message


def test_a_mongodb_export_with_id_on_every_line_is_refused_naming_line_1(
        tmp_path: Path) -> None:
    """mongoexport writes `_id` (an object) first on every line: refused, naming the field and
    the first line that has it."""
    rows = [{"_id": {"$oid": f"65f0c0ffee{i:014d}"}, **r} for i, r in enumerate(_rows())]
    folder = tmp_path / "drop"
    folder.mkdir()
    path = folder / "mongo.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    _dated(path)
    landed = land(tmp_path, file_source(folder, pattern="*.jsonl"))
    message = _assert_refused(landed, "mongo.jsonl", "_id")
    assert "field '_id' (first on line 1)" in message, message


def test_json_lines_where_only_a_later_line_has_the_field_name_that_line(
        tmp_path: Path) -> None:
    """Lines 1 and 3 are plain incidents, line 2 is blank and line 4 adds `_score` and `_id`:
    the file is refused naming each field with the physical line it first appears on."""
    first, second = _rows()
    later = {**second, "number": "BOM-3", "_score": "1.0", "_id": "abc"}
    folder = tmp_path / "drop"
    folder.mkdir()
    path = folder / "search.jsonl"
    path.write_text("\n".join([json.dumps(first), "", json.dumps(second), json.dumps(later)])
                    + "\n", encoding="utf-8")
    _dated(path)
    landed = land(tmp_path, file_source(folder, pattern="*.jsonl"))
    message = _assert_refused(landed, "search.jsonl", "_score", "_id")
    assert "'_score' (first on line 4)" in message and "'_id' (first on line 4)" in message, \
        message


@pytest.mark.parametrize("reserved", [["b.csv"], ["b.csv", "c.csv"]],
                         ids=["one-file-batch", "two-file-batch"])
def test_a_csv_batch_with_an_underscore_header_is_refused_naming_the_file(
        tmp_path: Path, reserved: list[str]) -> None:
    """CSV files sharing a header are read by one read_csv (the batched path): a.csv is a plain
    export, the others add a column `_x`. The refusal names the first such file, never a.csv,
    and the good file does not land on its own either (the run is refused whole)."""
    folder = tmp_path / "drop"
    folder.mkdir()
    text = (BAD / "bom.csv").read_text(encoding="utf-8-sig").splitlines()
    (folder / "a.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
    _dated(folder / "a.csv")
    for name in reserved:
        lines = [text[0] + ",_x"] + [f"{line},x-{i}" for i, line in enumerate(text[1:])]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        _dated(folder / name)
    landed = land(tmp_path, file_source(folder))
    message = _assert_refused(landed, "b.csv", "_x")
    assert "a.csv" not in message, message


def test_a_json_array_export_with_id_is_refused_naming_the_field(tmp_path: Path) -> None:
    """The JSON array form of the same export (`[{...}, ...]`, read by DuckDB's read_json): no
    line to name, but the file and the field are."""
    rows = [{"_id": f"doc-{i}", **r} for i, r in enumerate(_rows())]
    folder = tmp_path / "drop"
    folder.mkdir()
    path = folder / "export.json"
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    _dated(path)
    landed = land(tmp_path, file_source(folder, pattern="*.json"))
    message = _assert_refused(landed, "export.json", "_id")
    assert "field '_id' would be taken for lineage" in message, message
