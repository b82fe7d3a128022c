"""Sensors: a run starts when new files land in a drop folder, for the days the files cover.

The sensor never opens the warehouse (a running load holds DuckDB's write lock); it keeps what
it has seen in its cursor: each file's size, modification time and content hash, and every hash
it has already asked a run for, so a file already loaded (the same content, under any name)
does not start a second run. It reads each new file into a private in-memory DuckDB to learn
which days its rows fall on, and asks one run per stretch of consecutive days.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import dagster as dg

from assets.common import DAILY
from pipelines.runner import RANGE_END, RANGE_START
from resources.config_models import SourceConfig
from resources.sources.file_readers import file_day
from resources.sources.files import content_hash, discover, drop_folder, file_partitions
from resources.sources.landing import SourceReadError


def day_stretches(days: set[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days as (first, last) pairs: one run each, no run for days in between."""
    stretches: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if stretches and day == stretches[-1][1] + dt.timedelta(days=1):
            stretches[-1] = (stretches[-1][0], day)
        else:
            stretches.append((day, day))
    return stretches


def _existing(days: set[dt.date]) -> set[dt.date]:
    """Only days that are partitions already (from history_start to yesterday): rows of today
    are gathered by the nightly run once the day is over."""
    keys = DAILY.get_partition_keys()
    if not keys:
        return set()
    first, last = dt.date.fromisoformat(keys[0]), dt.date.fromisoformat(keys[-1])
    return {d for d in days if first <= d <= last}


def drop_folder_sensor(source: SourceConfig) -> dg.SensorDefinition:
    # Imported here: the step-3 package builds its sensors with this function.
    from assets.step3_gather.entities import numeric_columns, partition_columns, raw_key

    selection = (dg.AssetSelection.assets(*(raw_key(source, e) for e in source.entities))
                 .downstream() & dg.AssetSelection.groups("step3_gather", "step4_process"))
    job = dg.define_asset_job(
        f"gather_{source.name}_job", selection=selection,
        description=f"Gathers source {source.name!r} and processes the same days (steps 3-4).")

    @dg.sensor(
        name=f"{source.name}_new_files", job=job, minimum_interval_seconds=60,
        description=f"Starts a run of steps 3-4 for the days covered by new files in "
        f"{drop_folder(source)}; a file with the content of one already loaded is skipped.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        state = json.loads(context.cursor) if context.cursor else {}
        seen: dict[str, list] = state.get("seen", {})
        hashes: set[str] = set(state.get("hashes", []))
        days: set[dt.date] = set()
        new_hashes: list[str] = []
        for entity in source.entities:
            for path in discover(source, entity):
                name = f"{entity}:{path.relative_to(drop_folder(source)).as_posix()}"
                stat = path.stat()
                if seen.get(name, [None, None])[:2] == [stat.st_size, stat.st_mtime_ns]:
                    continue
                sha = content_hash(path)
                seen[name] = [stat.st_size, stat.st_mtime_ns, sha]
                if sha in hashes:
                    context.log.info(f"{name}: content already loaded, no new run")
                    continue
                hashes.add(sha)
                new_hashes.append(sha)
                try:
                    days |= set(file_partitions(source, path, partition_columns(source, entity),
                                                numeric_columns(source, entity)))
                except SourceReadError as exc:
                    # The run fails on the file and says why, where people look for failures.
                    context.log.warning(f"{name}: {exc}")
                    days.add(file_day(path))
        cursor = json.dumps({"seen": seen, "hashes": sorted(hashes)})
        stretches = day_stretches(_existing(days))
        if not stretches:
            return dg.SensorResult(skip_reason="no new file content", cursor=cursor)
        batch = hashlib.sha256("".join(sorted(new_hashes)).encode()).hexdigest()[:12]
        return dg.SensorResult(cursor=cursor, run_requests=[
            dg.RunRequest(run_key=f"{source.name}:{first}:{last}:{batch}",
                          tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat()})
            for first, last in stretches])

    return _sensor
