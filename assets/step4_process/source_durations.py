"""The durations a source stamps on its incidents, against the ones step 4 computes.

ServiceNow's business rules `mark_resolved` / `mark_closed` write `calendar_duration` (opened to
resolved, wall clock) and `business_duration` (the same in the instance's schedule) on every
resolved incident. Neither removes time on hold. Where a source delivers them, the warning
check `source_durations` of clean/incidents compares them, incident by incident, with:

- `calendar_duration` against resolved_at - opened_at;
- `business_duration` against the working minutes of config/calendar.yaml from opened_at to
  resolved_at — the figure clean.incidents' `minutes_to_resolve_business` starts from, before it
  removes the on-hold share (the source counts hold, so comparing with the reduced figure would
  flag every ticket that waited).

A disagreement beyond the tolerance says the source's schedule, its clock or our calendar is
not what everyone thinks: worth a look, not a reason to stop the run. The raw values are read
through the clean rows' lineage, so the clean table needs no extra column. A clean row keeps no
`_file`, and two files of a file source can hold the same key on the same line of one day (one
of them then a duplicate in the quarantine): the raw row read is the one cleaning.py kept, the
one the quarantine does not hold (`kept_raw_row`), never an arbitrary one. A duration arrives
as seconds, as a glide duration ("1970-01-03 04:05:06" = 2 days 4:05:06, the Table API's
value), as "2 04:05:06" (gs.dateDiff) or as display text ("2 Days 4 Hours 5 Minutes").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pandas as pd

from assets.step4_process.cleaning import kept_raw_row, quote
from assets.step4_process.entities import INCIDENTS
from resources.business_calendar import BusinessCalendar, business_calendar
from resources.config_models import SourceConfig

CHECK = "source_durations"
FIELDS = {"business_duration": "business_minutes", "calendar_duration": "calendar_minutes"}
"""Source column (default name; a source's `columns.incidents` may rename it) -> the computed
minutes it is compared with."""
TOLERANCE_MINUTES = 1.0
TOLERANCE_SHARE = 0.01
"""A value disagrees when it is off by more than a minute and more than 1% of ours."""
MAX_EXAMPLES = 10


def duration_minutes_sql(text: str) -> str:
    """Minutes of a duration in any of the forms sources export, NULL when it is none."""
    glide = f"try_strptime({text}, '%Y-%m-%d %H:%M:%S')"
    clock = r"^(?:(\d+) +)?(\d+):(\d{2}):(\d{2})$"

    def part(pattern: str, group: int = 1) -> str:
        return f"coalesce(try_cast(regexp_extract({text}, '{pattern}', {group}) AS BIGINT), 0)"

    def unit(name: str) -> str:
        return (f"coalesce(try_cast(regexp_extract(lower({text}), '(\\d+) *{name}', 1) "
                "AS BIGINT), 0)")

    words = r"^( *\d+ *(days?|hours?|minutes?|seconds?) *)+$"
    return f"""(CASE
  WHEN {text} IS NULL THEN NULL
  WHEN try_cast({text} AS DOUBLE) IS NOT NULL THEN try_cast({text} AS DOUBLE) / 60.0
  WHEN {glide} IS NOT NULL THEN date_diff('second', TIMESTAMP '1970-01-01', {glide}) / 60.0
  WHEN regexp_full_match({text}, '{clock}') THEN
    ({part(clock, 1)} * 86400 + {part(clock, 2)} * 3600 + {part(clock, 3)} * 60
     + {part(clock, 4)}) / 60.0
  WHEN regexp_full_match(lower({text}), '{words}') THEN
    ({unit('day')} * 86400 + {unit('hour')} * 3600 + {unit('minute')} * 60
     + {unit('second')}) / 60.0
END)"""


def _present(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'raw' AND table_name = ?", [table]).fetchall()}


def compared_sql(source: SourceConfig, present: set[str], calendar: BusinessCalendar) -> str:
    """Resolved clean incidents of one source and day range beside their raw durations.

    Each clean row is paired with the raw row it was cleaned from (cleaning.kept_raw_row: by
    day, line and key, and for a file source the one of the files matching it that the
    quarantine does not hold). Every raw row is either clean or quarantined, so exactly one
    matches; the QUALIFY only keeps the answer deterministic (the file named last) should the
    clean table and the quarantine ever disagree with the raw table."""
    texts = []
    for field in FIELDS:
        column = source.column("incidents", field, field)
        texts.append(f"nullif(trim(CAST(r.{quote(column)} AS VARCHAR)), '')"
                     if column in present else "CAST(NULL AS VARCHAR)")
    business = calendar.minutes_sql("p.opened_at", "p.resolved_at",
                                     calendar.always_on_sql("p.service"))
    resolved = """(SELECT incident_id, opened_at, resolved_at, service,
          minutes_to_resolve_business,
          _source AS src, incident_id AS k, _partition AS part, _row AS row
   FROM clean.incidents
   WHERE _source = $src AND _partition >= $start AND _partition < $end
     AND resolved_at IS NOT NULL)"""
    file = "r._file" if "_file" in present else "CAST(NULL AS VARCHAR)"
    return f"""
WITH paired AS (
  SELECT p.incident_id, {texts[0]} AS business_text, {texts[1]} AS calendar_text,
         {business} AS business_minutes,
         date_diff('second', p.opened_at, p.resolved_at) / 60.0 AS calendar_minutes,
         p.minutes_to_resolve_business
  FROM {kept_raw_row(INCIDENTS, source, present, resolved)}
  QUALIFY row_number() OVER (PARTITION BY p.incident_id ORDER BY {file} DESC NULLS LAST) = 1)
SELECT *, {duration_minutes_sql('business_text')} AS business_source,
       {duration_minutes_sql('calendar_text')} AS calendar_source
FROM paired"""


def compare(con: duckdb.DuckDBPyConnection, sources: list[SourceConfig], start: dt.date,
            end: dt.date, calendar: BusinessCalendar | None = None) -> pd.DataFrame:
    """One row per resolved incident of [start, end) and source duration field delivered:
    incident_id, field, source_text, source_minutes, computed_minutes, disagrees."""
    cal = calendar or business_calendar()
    frames = []
    for source in sources:
        present = _present(con, source.raw_table("incidents"))
        if "incidents" not in source.entities or not any(
                source.column("incidents", f, f) in present for f in FIELDS):
            continue
        frame = con.execute(compared_sql(source, present, cal),
                            {"src": source.name, "start": start, "end": end}).df()
        for field, computed in FIELDS.items():
            kind = field.split("_")[0]
            part = pd.DataFrame({
                "incident_id": frame["incident_id"], "field": field,
                "source_text": frame[f"{kind}_text"], "source_minutes": frame[f"{kind}_source"],
                "computed_minutes": frame[computed]})
            frames.append(part[part["source_text"].notna()])
    columns = ["incident_id", "field", "source_text", "source_minutes", "computed_minutes"]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    difference = (out["source_minutes"].astype(float) - out["computed_minutes"].astype(float))
    limit = (out["computed_minutes"].astype(float).abs() * TOLERANCE_SHARE).clip(
        lower=TOLERANCE_MINUTES)
    out["difference"] = difference
    out["disagrees"] = out["source_minutes"].notna() & out["computed_minutes"].notna() & (
        difference.abs() > limit)
    return out


def check(con: duckdb.DuckDBPyConnection, sources: list[SourceConfig], start: dt.date,
          end: dt.date, calendar: BusinessCalendar | None = None) -> tuple[bool, dict[str, Any]]:
    """The verdict and metadata of the `source_durations` check."""
    compared = compare(con, sources, start, end, calendar)
    if compared.empty:
        return True, {"compared": 0, "note": "no source delivers business_duration or "
                      "calendar_duration for the resolved incidents of these days"}
    unreadable = compared[compared["source_minutes"].isna()]
    wrong = compared[compared["disagrees"]]
    metadata: dict[str, Any] = {"compared": len(compared), "disagreeing": len(wrong),
                                "unreadable": len(unreadable),
                                "tolerance": f"{TOLERANCE_MINUTES:g} minute and "
                                f"{TOLERANCE_SHARE:.0%} of the computed value"}
    for field in FIELDS:
        mine = compared[compared["field"] == field]
        metadata[f"{field}_compared"] = len(mine)
        metadata[f"{field}_disagreeing"] = int(mine["disagrees"].sum())
    examples = pd.concat([wrong, unreadable]).head(MAX_EXAMPLES)
    metadata["examples"] = (examples[["incident_id", "field", "source_text", "source_minutes",
                                      "computed_minutes", "difference"]]
                            .round(1).astype(str).to_markdown(index=False)
                            if len(examples) else "none")
    return wrong.empty and unreadable.empty, metadata
