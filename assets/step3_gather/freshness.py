"""The `source_freshness` check: has a source delivered within its `freshness_hours`?

A gather run succeeds just as well when the source sent nothing new: an empty drop folder, a
replica that stopped replicating. This check says so, as a warning on each raw asset (it blocks
nothing: the day's other sources and the rows already delivered are still worth processing).

What counts as a delivery is what step 3 records of each kind of source:

- files: the modification time of the newest file ever logged for the entity in `raw._files`
  (a file archived out of the folder after loading still counts; a copy dropped again too, since
  the source did send it);
- sql, servicenow: the newest updated-at (else created-at) time among the entity's raw rows, the
  value `raw._watermarks` records as the high-water mark;
- synthetic: the same over all its raw tables together, because one generator pass delivers
  every entity of a day (a day without an outage is not a silent generator).

Days after today are ignored (a mistyped year 2099 must not hide a silent source). Silence is
measured at the end of the run's last day, or now if that is earlier, so a nightly run judges
the source as of midnight and a backfill of old days finds the source's later deliveries.
Dagster's own freshness policies judge when an asset was last materialized, which a nightly run
does whether or not the source delivered: they cannot see this.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg
import duckdb

from assets.step3_gather.entities import partition_columns, raw_key
from resources.config_models import SourceConfig
from resources.sources.landing import bind, is_utc, quote, table_columns

FRESHNESS_CHECK = "source_freshness"


@dataclass(frozen=True)
class Delivery:
    """The newest delivery: when (UTC, naive) and what it was, in words."""

    when: dt.datetime
    what: str


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE "
                            "table_schema = 'raw' AND table_name = ?", [table]).fetchall()[0][0])


def _newest_file(con: duckdb.DuckDBPyConnection, source: SourceConfig,
                 entity: str) -> Delivery | None:
    if not _table_exists(con, "_files"):
        return None
    mtime_ns, path = con.execute(
        "SELECT max(mtime_ns), arg_max(path, mtime_ns) FROM raw._files "
        "WHERE source = ? AND entity = ?", [source.name, entity]).fetchall()[0]
    if mtime_ns is None:
        return None
    when = dt.datetime.fromtimestamp(mtime_ns / 1e9, dt.UTC).replace(tzinfo=None)
    return Delivery(when, f"newest file {path}, by its modification time")


def _newest_row(con: duckdb.DuckDBPyConnection, source: SourceConfig, entity: str,
                today: dt.date) -> dt.datetime | None:
    """The newest source timestamp (UTC) in the newest partition up to `today`; the start of
    that day when none of its rows has a parseable one."""
    table = source.raw_table(entity)
    if not _table_exists(con, table):
        return None
    present = {c.lower(): c for c in table_columns(con, "raw", table)}
    parsed = [f"try_strptime({quote(present[c.lower()])}, $fmt)"
              for c in partition_columns(source, entity) if c.lower() in present]
    stamp = ("CAST(NULL AS TIMESTAMP)" if not parsed
             else parsed[0] if len(parsed) == 1 else f"coalesce({', '.join(parsed)})")
    if parsed and not is_utc(source.timezone):
        stamp = f"timezone('UTC', timezone($tz, {stamp}))"
    sql = (f"WITH newest AS (SELECT max(_partition) AS day FROM raw.{quote(table)} "
           "WHERE _partition <= $today) "
           f"SELECT coalesce(max({stamp}), CAST(any_value(newest.day) AS TIMESTAMP)) "
           f"FROM newest LEFT JOIN raw.{quote(table)} AS r ON r._partition = newest.day")
    value = con.execute(sql, bind(sql, {"fmt": source.timestamp_format,
                                        "tz": source.timezone, "today": today})).fetchall()[0][0]
    return value if isinstance(value, dt.datetime) else None


def newest_delivery(con: duckdb.DuckDBPyConnection, source: SourceConfig, entity: str,
                    now: dt.datetime) -> Delivery | None:
    """The source's newest delivery of `entity` as step 3 recorded it; None: never."""
    if source.kind == "files":
        return _newest_file(con, source, entity)
    entities = source.entities if source.kind == "synthetic" else [entity]
    found = [(when, e) for e in entities
             if (when := _newest_row(con, source, e, now.date())) is not None]
    if not found:
        return None
    when, which = max(found)
    return Delivery(when, f"newest updated/created time in raw.{source.raw_table(which)}")


def _span(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if abs(hours) < 48:
        return f"{hours:.1f} h"
    return f"{int(hours // 24)} days {hours % 24:.0f} h"


def freshness_result(con: duckdb.DuckDBPyConnection, source: SourceConfig, entity: str,
                     end: dt.date, now: dt.datetime) -> dg.AssetCheckResult:
    """The verdict on `entity` of `source` for a run over days before `end`, run at `now`
    (UTC, naive): passed, or a warning naming the source, the entity, the last delivery, the
    silence and the interval allowed."""
    hours = source.freshness(entity)
    assert hours is not None, "no freshness check is declared without an interval"
    as_of = min(now, dt.datetime.combine(end, dt.time()))
    delivery = newest_delivery(con, source, entity, now)
    allowed = dt.timedelta(hours=hours)
    where = f"source {source.name!r}, {entity}"
    if delivery is None:
        passed = False
        verdict = (f"{where}: nothing was ever delivered (as of {as_of:%Y-%m-%d %H:%M} UTC); "
                   f"allowed silence: {hours:g} h")
        silence = None
    else:
        silence = as_of - delivery.when
        passed = silence <= allowed
        last = f"{where}: last delivery {delivery.when:%Y-%m-%d %H:%M} UTC ({delivery.what})"
        if not passed:
            verdict = (f"{last}, silent for {_span(silence)} as of {as_of:%Y-%m-%d %H:%M} UTC: "
                       f"longer than the {hours:g} h allowed (freshness_hours in "
                       "config/sources.yaml)")
        elif silence <= dt.timedelta():
            verdict = (f"{last}, after the end of the run's days ({as_of:%Y-%m-%d %H:%M} UTC); "
                       f"allowed silence: {hours:g} h")
        else:
            verdict = (f"{last}, {_span(silence)} before {as_of:%Y-%m-%d %H:%M} UTC; allowed "
                       f"silence: {hours:g} h")
    return dg.AssetCheckResult(
        asset_key=raw_key(source, entity), check_name=FRESHNESS_CHECK, passed=passed,
        severity=dg.AssetCheckSeverity.WARN, description=verdict,
        metadata={
            "source": source.name, "entity": entity,
            "last_delivery_utc": f"{delivery.when:%Y-%m-%d %H:%M:%S}" if delivery else "never",
            "delivery": delivery.what if delivery else "none",
            "silence_hours": (round(silence.total_seconds() / 3600, 1)
                              if silence is not None else None),
            "allowed_hours": hours,
            "as_of_utc": f"{as_of:%Y-%m-%d %H:%M:%S}",
            "verdict": verdict,
        })
