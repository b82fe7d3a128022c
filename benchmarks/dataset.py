"""The benchmark's source data: the synthetic ITSM source written out as nightly export files.

A scale is a number of incidents over two years; changes, problems, outages and surveys come in
the proportions the generator gives them (resources/synthetic_data.py). The files are what a
ServiceNow-style drop folder holds after two years of nightly exports: one file per entity and
day, holding the rows last updated on that day (the day step 3 partitions them on), with the
file's modification time at the end of that day. One more day follows the two years: the "new
day" a nightly run on top of the full history gathers.

Generated once per (seed, scale, format) under benchmarks/cache/<seed>-<scale>/<format>/
(gitignored) and reused while the generator's code is unchanged (a fingerprint of its source
files is kept in manifest.json).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from resources.project import PROJECT_ROOT
from resources.synthetic_data import ENTITIES, SyntheticParams, generate_day

CACHE = Path(__file__).resolve().parent / "cache"
START = dt.date(2024, 1, 1)
HISTORY_DAYS = 730
"""Two years of history; day HISTORY_DAYS (the 731st) is the new day of the nightly run."""
WEEKDAY_MEAN = 0.8
"""Mean of the generator's weekday volume factors: incidents_per_day is a weekday's volume."""
SCALES = {"XS": 20_000, "S": 1_000_000, "M": 10_000_000}
"""Incidents over the two years of history."""
FORMATS = ("csv", "parquet")
BATCH_DAYS = 31

DATE_COLUMNS: dict[str, tuple[str, str]] = {
    "incidents": ("sys_updated_on", "opened_at"),
    "changes": ("sys_updated_on", "sys_created_on"),
    "problems": ("sys_updated_on", "opened_at"),
    "outages": ("sys_updated_on", "begin"),
    "surveys": ("responded_at", "sent_at"),
}
"""The columns that date a row (updated, else created), as config/sources.yaml's synthetic source
names them: a row's file is the day step 3 will partition it on."""

GENERATOR_FILES = ("resources/synthetic_data.py", "resources/synthetic_events.py",
                   "benchmarks/dataset.py")


@dataclass(frozen=True)
class Dataset:
    """Files of one (seed, scale, format) on disk."""

    folder: Path
    seed: int
    scale: str
    fmt: str
    rows: dict[str, int]
    files: int
    bytes: int
    generated_s: float

    @property
    def first(self) -> dt.date:
        return START

    def day(self, offset: int) -> dt.date:
        return START + dt.timedelta(days=offset)

    def file(self, entity: str, day: dt.date) -> Path:
        return self.folder / entity / f"{day.isoformat()}.{self.fmt}"

    def files_until(self, entity: str, last: dt.date) -> list[Path]:
        """The entity's files of days up to `last` (inclusive), oldest first."""
        return sorted(p for p in (self.folder / entity).iterdir()
                      if dt.date.fromisoformat(p.stem) <= last)


def incidents_per_day(scale: str) -> float:
    """The generator's weekday volume that yields the scale's incidents over the history."""
    return SCALES[scale] / HISTORY_DAYS / WEEKDAY_MEAN


def fingerprint() -> str:
    digest = hashlib.sha256()
    for name in GENERATOR_FILES:
        digest.update((PROJECT_ROOT / name).read_bytes())
    return digest.hexdigest()[:16]


def params(seed: int, scale: str) -> SyntheticParams:
    as_of = dt.datetime.combine(START + dt.timedelta(days=HISTORY_DAYS + 1), dt.time())
    return SyntheticParams(seed=seed, incidents_per_day=incidents_per_day(scale), as_of=as_of)


def dataset(seed: int, scale: str, fmt: str = "csv", log=print) -> Dataset:
    """The cached files of (seed, scale, fmt), generating them first when missing or stale."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; one of {', '.join(SCALES)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    folder = CACHE / f"{seed}-{scale}" / fmt
    manifest = folder / "manifest.json"
    if manifest.exists():
        info = json.loads(manifest.read_text())
        if info.get("fingerprint") == fingerprint():
            return Dataset(folder, seed, scale, fmt, info["rows"], info["files"],
                           info["bytes"], info["generated_s"])
    log(f"generating scale {scale} (seed {seed}, {SCALES[scale]:,} incidents, {fmt}) into "
        f"{folder} ...")
    return _generate(folder, seed, scale, fmt, log)


def _generate(folder: Path, seed: int, scale: str, fmt: str, log) -> Dataset:
    began = time.perf_counter()
    if folder.exists():
        shutil.rmtree(folder)
    work = folder.parent / f".{fmt}-work"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    p = params(seed, scale)
    con = duckdb.connect(str(work / "generate.duckdb"))
    try:
        created: set[str] = set()
        pending: dict[str, list] = {e: [] for e in ENTITIES}
        last = HISTORY_DAYS  # inclusive: the new day after the history
        for offset in range(last + 1):
            day = START + dt.timedelta(days=offset)
            for entity, frame in generate_day(p, day).items():
                frame["_generated"] = day
                pending[entity].append(frame)
            if (offset + 1) % BATCH_DAYS == 0 or offset == last:
                for entity in ENTITIES:
                    _append(con, entity, pending[entity], entity in created)
                    created.add(entity)
                    pending[entity] = []
                log(f"  generated {offset + 1}/{last + 1} days "
                    f"({time.perf_counter() - began:.0f} s)")
        rows = {}
        for entity in ENTITIES:
            rows[entity] = _write(con, entity, folder / entity, work / entity, fmt)
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
    paths = [p for e in ENTITIES for p in (folder / e).iterdir()]
    info = {"fingerprint": fingerprint(), "seed": seed, "scale": scale, "format": fmt,
            "start": START.isoformat(), "history_days": HISTORY_DAYS, "rows": rows,
            "files": len(paths), "bytes": sum(p.stat().st_size for p in paths),
            "generated_s": round(time.perf_counter() - began, 1)}
    (folder / "manifest.json").write_text(json.dumps(info, indent=2))
    log(f"  {sum(rows.values()):,} rows in {info['files']:,} files "
        f"({info['bytes'] / 2**20:,.0f} MiB) in {info['generated_s']} s")
    return Dataset(folder, seed, scale, fmt, rows, info["files"], info["bytes"],
                   info["generated_s"])


def _append(con: duckdb.DuckDBPyConnection, entity: str, frames: list, exists: bool) -> None:
    import pandas as pd

    frame = pd.concat(frames, ignore_index=True)
    con.register("_frame", frame)
    try:
        if exists:
            con.execute(f"INSERT INTO {entity} SELECT * FROM _frame")
        else:
            con.execute(f"CREATE TABLE {entity} AS SELECT * FROM _frame")
    finally:
        con.unregister("_frame")


def _write(con: duckdb.DuckDBPyConnection, entity: str, target: Path, work: Path,
           fmt: str) -> int:
    """One file per day of last update (else creation) with the entity's export columns; the
    file's mtime is the end of its day, as a nightly export would leave it."""
    updated, created = DATE_COLUMNS[entity]
    columns = ", ".join(f'"{c}"' for c in
                        (r[0] for r in con.execute(f"DESCRIBE {entity}").fetchall())
                        if c != "_generated")
    day = (f"coalesce(CAST(try_strptime(nullif(\"{updated}\", ''), '%Y-%m-%d %H:%M:%S') AS DATE), "
           f"CAST(try_strptime(nullif(\"{created}\", ''), '%Y-%m-%d %H:%M:%S') AS DATE), "
           "_generated)")
    # Rows dated after the history's new day (a defect: a timestamp in the future) stay in the
    # file of the day they were generated, where a real export would have delivered them.
    last = START + dt.timedelta(days=HISTORY_DAYS)
    options = "FORMAT csv, HEADER" if fmt == "csv" else "FORMAT parquet"
    con.execute(f"""COPY (SELECT {columns}, CASE WHEN {day} BETWEEN DATE '{START}' AND
                  DATE '{last}' THEN {day} ELSE _generated END AS _day FROM {entity}
                  ORDER BY rowid) TO '{work}' ({options}, PARTITION_BY (_day))""")
    target.mkdir(parents=True)
    for part in sorted(work.iterdir()):
        written = list(part.iterdir())
        if len(written) != 1:
            raise RuntimeError(f"expected one file in {part}, found {len(written)}")
        day_of = dt.date.fromisoformat(part.name.split("=", 1)[1])
        path = target / f"{day_of.isoformat()}.{fmt}"
        written[0].rename(path)
        moment = dt.datetime.combine(day_of + dt.timedelta(days=1), dt.time(0, 30),
                                     dt.UTC).timestamp()
        os.utime(path, (moment, moment))
    return int(con.execute(f"SELECT count(*) FROM {entity}").fetchall()[0][0])
