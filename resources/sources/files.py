"""File drops: a folder per source, a glob pattern per entity, and a load log (raw._files).

A run over days [start, end) stages the rows of every file in the folder that may hold rows of
those days: new or changed files, and files already loaded whose recorded day span overlaps the
range (the load log keeps each file's content hash, size, modification time and span, so an
unchanged file outside the range is not even opened). A file whose content hash equals another
file's (the same export dropped twice under two names) is loaded once; the log names the copy.
The folder is the source of truth: re-running a day reloads it from the files present.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from resources.config_models import SourceConfig
from resources.project import project_path
from resources.sources.file_readers import Dating, file_day, read_files
from resources.sources.landing import LOAD_LOG_DDL, SourceReadError, quote, source_columns

HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class FileEntry:
    """One row of the load log raw._files."""

    path: str
    sha256: str
    size: int
    mtime_ns: int
    first_partition: dt.date | None = None
    last_partition: dt.date | None = None
    rows: int = 0
    rejected: int = 0
    duplicate_of: str | None = None


@dataclass
class FilesStaged:
    stage: str | None = None
    entries: list[FileEntry] = field(default_factory=list)
    read: int = 0
    unchanged: int = 0
    duplicates: int = 0


def drop_folder(source: SourceConfig) -> Path:
    assert source.files is not None
    return project_path(source.files.folder)


def discover(source: SourceConfig, entity: str) -> list[Path]:
    """Files matching the entity's pattern, sorted by path so the first copy of a duplicate wins
    the same way every time."""
    assert source.files is not None
    folder = drop_folder(source)
    pattern = source.files.patterns[entity]  # type: ignore[index]
    where = f"source {source.name!r}, files.patterns.{entity}"
    if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        raise SourceReadError(f"{where}: {pattern!r} reaches outside the drop folder {folder}; "
                              "a pattern is relative to the folder and has no '..'")
    if not folder.is_dir():
        return []
    found = sorted(p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("."))
    # Anyone who can write to the folder can leave a link there: never follow one out of it.
    inside = folder.resolve()
    for path in found:
        if not path.resolve().is_relative_to(inside):
            raise SourceReadError(f"{where}: {path.relative_to(folder).as_posix()} links to a "
                                  f"file outside the drop folder {folder}; refused")
    return found


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def logged(con: duckdb.DuckDBPyConnection, source: str, entity: str) -> dict[str, FileEntry]:
    con.execute(LOAD_LOG_DDL)
    rows = con.execute(
        "SELECT path, sha256, size, mtime_ns, first_partition, last_partition, rows, rejected, "
        "duplicate_of FROM raw._files WHERE source = ? AND entity = ?", [source, entity]
    ).fetchall()
    return {r[0]: FileEntry(*r) for r in rows}


def stage_paths(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, files: Sequence[tuple[Path, str]],
    stage: str, partition_columns: Sequence[str], numeric_columns: Sequence[str],
) -> dict[str, tuple[int, int]]:
    """Read files (path, shown name) into `stage`, each row with its partition (a row without a
    parseable date falls on the day its file was last modified); returns (rows, rejected) per
    file."""
    assert source.files is not None
    read = read_files(
        con, files, stage, source.files.read, numeric_columns=numeric_columns,
        timestamp_format=source.timestamp_format, timezone=source.timezone,
        dating=Dating(tuple(partition_columns), source.timestamp_format, source.timezone),
        fallbacks={shown: file_day(path) for path, shown in files})
    found = source_columns(con, stage) if read else []
    dated = {c.lower() for c in partition_columns} & {c.lower() for c in found}
    for shown, done in read.items():
        if done.rows > done.rejected and not dated:
            raise SourceReadError(
                f"cannot read {shown}: it has none of the columns {list(partition_columns)} "
                f"that date a row (found {found[:8]}); check files.read (delimiter, encoding, "
                "header) and the source's columns map")
    return {shown: (done.rows, done.rejected) for shown, done in read.items()}


def stage_files(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, entity: str, start: dt.date,
    end: dt.date, partition_columns: Sequence[str], numeric_columns: Sequence[str],
    log: Callable[[str], None],
) -> FilesStaged:
    """Stage every file that may hold rows of [start, end) into one table `_stage_<entity>`."""
    known = logged(con, source.name, entity)
    files = discover(source, entity)
    folder = drop_folder(source)
    result = FilesStaged()
    first_copy: dict[str, str] = {}
    wanted: list[tuple[Path, str, str, os.stat_result]] = []
    for path in files:
        shown = path.relative_to(folder).as_posix()
        stat = path.stat()
        before = known.get(shown)
        same = before is not None and (before.size, before.mtime_ns) == (stat.st_size,
                                                                         stat.st_mtime_ns)
        sha = before.sha256 if same and before else content_hash(path)
        if sha in first_copy:
            result.duplicates += 1
            result.entries.append(FileEntry(shown, sha, stat.st_size, stat.st_mtime_ns,
                                            duplicate_of=first_copy[sha]))
            log(f"{source.name}/{entity}: {shown} has the same content as "
                f"{first_copy[sha]}; not loaded twice")
            continue
        first_copy[sha] = shown
        if same and before and not _overlaps(before, start, end):
            result.unchanged += 1
            continue
        wanted.append((path, shown, sha, stat))
    if not wanted:
        return result
    began = time.monotonic()
    stage = f"_stage_{entity}"
    con.execute(f"DROP TABLE IF EXISTS {quote(stage)}")
    read = stage_paths(con, source, [(p, s) for p, s, _, _ in wanted], stage,
                       partition_columns, numeric_columns)
    spans = {shown: (first, last) for shown, first, last in con.execute(
        f"SELECT _file, min(_partition), max(_partition) FROM {quote(stage)} GROUP BY _file"
    ).fetchall()}
    for _, shown, sha, stat in wanted:
        rows, rejected = read[shown]
        first, last = spans.get(shown, (None, None))
        result.entries.append(FileEntry(shown, sha, stat.st_size, stat.st_mtime_ns, first,
                                        last, rows, rejected))
    result.stage, result.read = stage, len(wanted)
    total = sum(rows for rows, _ in read.values())
    rate = total / max(time.monotonic() - began, 1e-9)
    log(f"{source.name}/{entity}: {len(wanted):,} of {len(files):,} files read, {total:,} rows "
        f"({sum(bad for _, bad in read.values()):,} unparseable) spanning "
        f"{min((f for f, _ in spans.values() if f), default=None)}.."
        f"{max((last for _, last in spans.values() if last), default=None)}, "
        f"{rate:,.0f} rows/s")
    return result


def _overlaps(entry: FileEntry, start: dt.date, end: dt.date) -> bool:
    if entry.first_partition is None or entry.last_partition is None:
        return False
    return entry.first_partition < end and entry.last_partition >= start


def record_files(
    con: duckdb.DuckDBPyConnection, source: str, entity: str, entries: Sequence[FileEntry],
    loaded_at: dt.datetime,
) -> None:
    """Upsert the load log; called inside the transaction that replaces the raw rows."""
    if not entries:  # an empty folder: nothing to log (DuckDB refuses an empty executemany)
        return
    con.executemany(
        "INSERT OR REPLACE INTO raw._files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(source, entity, e.path, e.sha256, e.size, e.mtime_ns, e.first_partition,
          e.last_partition, e.rows, e.rejected, e.duplicate_of, loaded_at) for e in entries])


def file_partitions(
    source: SourceConfig, path: Path, partition_columns: Sequence[str],
    numeric_columns: Sequence[str] = (),
) -> list[dt.date]:
    """The days a file's rows fall on, read in a private in-memory DuckDB (never the warehouse,
    which a running load may hold): what the drop-folder sensor asks runs for."""
    con = duckdb.connect()
    try:
        stage_paths(con, source, [(path, path.name)], "_probe", partition_columns,
                    numeric_columns)
        return [r[0] for r in con.execute(
            "SELECT DISTINCT _partition FROM _probe WHERE _partition IS NOT NULL ORDER BY 1"
        ).fetchall()]
    finally:
        con.close()
