"""Audit logs folded into intervals per incident, and what the intervals tell about each one.

A source's raw `history` (ServiceNow sys_audit, GLPI glpi_logs) has one row per change of one
field of one ticket. Step 4 keeps the changes of the incident fields that matter for flow —
state, assignment group, priority — maps their values through the source's vocabularies and
folds them into `clean.incident_history`: one row per ticket and interval during which none of
the three changed. `clean.incident_lifecycle` (a view) reads the intervals: first and final
resolution, reopens, reassignments, ping-pong between groups and the minutes in each state.

Three things differ from the entity tables of cleaning.py:

- A log row belongs to a ticket, not a day: an entry for a ticket opened weeks ago arrives on
  any later day. When a day is cleaned, every ticket with a log row on that day (or with an
  interval filed under it) is rebuilt from **all** its log rows, whatever day they came on. A
  day re-run therefore reaches the same state, and a backfill equals day-by-day runs.
- Rows about other tables (a sys_audit export holds every audited table) or other fields are
  `ignored`, not rejected: they are counted in the reconciliation, not quarantined.
- The value before a ticket's first logged change of a field is the `oldvalue` of that change,
  so a log that starts with a state change still names the group the ticket had then.

Names pasted into the SQL are the source's configured columns (quoted) and constants of this
module; values, formats and vocabularies are parameters or rows of the temporary `_mappings`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from assets.step4_process.cleaning import (
    MAX_QUARANTINE_SHARE,
    MIN_QUARANTINED_TO_BLOCK,
    load_mappings,
    quote,
)
from quality.schemas import INCIDENT_HISTORY, QUARANTINE, ddl
from resources.config_models import SourceConfig
from resources.sources.presets import EXTRA_ENTITY_FIELDS
from resources.warehouse import scalar

ENTITY = "history"
TABLE = "incident_history"
QUARANTINE_TABLE = f"{TABLE}_quarantine"
LIFECYCLE = "incident_lifecycle"
TRACKED = ("state", "assignment_group", "priority")
CODED = {"state": "incident_state", "priority": "incident_priority"}
"""Tracked fields with a vocabulary: its mapping in config/sources.yaml."""
DEFAULT_MAPPINGS: dict[str, dict[str, str]] = {
    "history_field": {f: f for f in TRACKED},
    "history_table": {"incident": "incidents"},
}
"""ServiceNow's names, used by a source whose `mappings` do not name its own."""
DONE = ("resolved", "closed")
STATE_MINUTES = {"new": "minutes_new", "in_progress": "minutes_in_progress",
                 "on_hold": "minutes_on_hold", "resolved": "minutes_resolved"}


def history_column(source: SourceConfig, field: str) -> str:
    """The raw column of a history pseudo-field (`key`, `updated_at`, `field`, ...)."""
    return source.column(ENTITY, field, EXTRA_ENTITY_FIELDS[ENTITY][field])


def _present(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'raw' AND table_name = ?", [table]).fetchall()}


def _raw(column: str, present: set[str]) -> str:
    if column not in present:
        return "CAST(NULL AS VARCHAR)"
    return f"nullif(trim(CAST(r.{quote(column)} AS VARCHAR)), '')"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def providers(sources: list[SourceConfig], con: duckdb.DuckDBPyConnection
              ) -> list[tuple[SourceConfig, set[str]]]:
    """Sources delivering `history` whose raw table exists, with its columns."""
    found = []
    for source in sources:
        if ENTITY in source.entities:
            present = _present(con, source.raw_table(ENTITY))
            if present:
                found.append((source, present))
    return found


def load_history_mappings(con: duckdb.DuckDBPyConnection, sources: list[SourceConfig]) -> None:
    """`_mappings` (cleaning.load_mappings) plus the default field and table names of the
    sources that do not configure their own."""
    load_mappings(con, sources)
    rows = [(s.name, mapping, code, canonical)
            for s in sources for mapping, codes in DEFAULT_MAPPINGS.items()
            if mapping not in s.mappings for code, canonical in codes.items()]
    if rows:
        con.executemany("INSERT INTO _mappings VALUES (?, ?, ?, ?)", rows)


def judged_sql(source: SourceConfig, present: set[str], where: str) -> str:
    """Every raw history row of one source that `where` selects, typed and classified:
    `status` is used, ignored or quarantined (then with `reason_code` and `detail`)."""
    col = {f: history_column(source, f) for f in EXTRA_ENTITY_FIELDS[ENTITY]}
    raw = {f: _raw(c, present) for f, c in col.items()}
    name = {f: _literal(c) for f, c in col.items()}
    at = f"try_strptime({raw['updated_at']}, $fmt)"
    if source.timezone not in ("UTC", "Etc/UTC"):
        at = f"timezone('UTC', timezone($tz, {at}))"
    table_ok = ("t.canonical = 'incidents'" if col["table"] in present else "true")
    file = "r._file" if "_file" in present else "CAST(NULL AS VARCHAR)"
    error = "r._error" if "_error" in present else "CAST(NULL AS VARCHAR)"
    rules = [
        ("MISSING_KEY", "key__raw IS NULL",
         f"format('key field {{}} is empty', {name['key']})"),
        ("MISSING_REQUIRED", "changed_at__raw IS NULL",
         f"format('required field {{}} is empty', {name['updated_at']})"),
        ("UNPARSEABLE_TIMESTAMP", "changed_at IS NULL",
         f"format('{{}} {{}} is not a timestamp in the format {{}}', {name['updated_at']}, "
         "to_json(changed_at__raw), $fmt)"),
        ("FUTURE_TIMESTAMP", "changed_at > _loaded_at",
         f"format('{{}} {{}} is after the load time {{}}', {name['updated_at']}, changed_at, "
         "_loaded_at)"),
        ("IMPLAUSIBLE_TIMESTAMP", "changed_at < TIMESTAMP '1990-01-01'",
         f"format('{{}} {{}} is before 1990', {name['updated_at']}, changed_at)"),
        ("MISSING_REQUIRED", "field <> 'assignment_group' AND new__raw IS NULL",
         f"format('{{}} of a {{}} change is empty', {name['new_value']}, field)"),
        ("UNKNOWN_CODE", "new__raw IS NOT NULL AND new_value IS NULL",
         f"format('{{}} {{}} of a {{}} change is not in mapping {{}} of source {{}} "
         f"(config/sources.yaml)', {name['new_value']}, to_json(new__raw), field, vocabulary, "
         "_source)"),
        ("UNKNOWN_CODE", "old__raw IS NOT NULL AND old_value IS NULL",
         f"format('{{}} {{}} of a {{}} change is not in mapping {{}} of source {{}} "
         f"(config/sources.yaml)', {name['old_value']}, to_json(old__raw), field, vocabulary, "
         "_source)"),
    ]
    reason = ("CASE WHEN _error IS NOT NULL THEN 'UNPARSEABLE_ROW' WHEN NOT relevant THEN NULL "
              + " ".join(f"WHEN {c} THEN '{code}'" for code, c, _ in rules) + " END")
    detail = ("CASE WHEN _error IS NOT NULL THEN format('line {} of {}: {}', _row, "
              "coalesce(_file, 'the file'), _error) WHEN NOT relevant THEN NULL "
              + " ".join(f"WHEN {c} THEN {d}" for _, c, d in rules) + " END")

    def mapped(side: str, value: str) -> str:
        """The canonical code of a coded field, the text itself of the others."""
        return (f"CASE WHEN f.canonical IN {tuple(CODED)} THEN m_{side}.canonical "
                f"ELSE {raw[value]} END")

    vocabulary = ("CASE f.canonical " + " ".join(
        f"WHEN '{field}' THEN '{mapping}'" for field, mapping in CODED.items()) + " END")
    joins = " ".join(
        f"LEFT JOIN _mappings m_{side} ON m_{side}.source = r._source "
        f"AND m_{side}.mapping = {vocabulary} AND m_{side}.code = {raw[value]}"
        for side, value in (("old", "old_value"), ("new", "new_value")))
    return f"""
WITH typed AS (
  SELECT r._source, r._partition, r._row, r._loaded_at, {file} AS _file, {error} AS _error,
         {raw['key']} AS key__raw, {raw['updated_at']} AS changed_at__raw, {at} AS changed_at,
         {raw['field']} AS field__raw, {raw['old_value']} AS old__raw,
         {raw['new_value']} AS new__raw, f.canonical AS field, {vocabulary} AS vocabulary,
         {mapped('old', 'old_value')} AS old_value,
         {mapped('new', 'new_value')} AS new_value,
         coalesce({table_ok} AND f.canonical IN {TRACKED}, false) AS relevant,
         CAST(to_json(r) AS VARCHAR) AS raw_row
  FROM raw.{quote(source.raw_table(ENTITY))} r
  LEFT JOIN _mappings f ON f.source = r._source AND f.mapping = 'history_field'
       AND f.code = {raw['field']}
  LEFT JOIN _mappings t ON t.source = r._source AND t.mapping = 'history_table'
       AND t.code = {raw['table']}
  {joins}
  WHERE {where})
SELECT * EXCLUDE (raw_row), {reason} AS reason_code, {detail} AS detail,
       CASE WHEN {reason} IS NOT NULL THEN 'quarantined' WHEN relevant THEN 'used'
            ELSE 'ignored' END AS status,
       CASE WHEN {reason} IS NOT NULL THEN raw_row END AS raw_row
FROM typed"""


def _params(source: SourceConfig, extra: dict[str, Any]) -> dict[str, Any]:
    params = {"fmt": source.timestamp_format, **extra}
    if source.timezone not in ("UTC", "Etc/UTC"):
        params["tz"] = source.timezone
    return params


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(ddl("clean", TABLE, INCIDENT_HISTORY))
    con.execute(ddl("clean", QUARANTINE_TABLE, QUARANTINE))


def fold_range(con: duckdb.DuckDBPyConnection, sources: list[SourceConfig], start: dt.date,
               end: dt.date) -> dict[str, int]:
    """Rebuild the intervals of every ticket touched by raw history of [start, end) and
    replace the quarantine of those days. The caller owns the transaction. Leaves `_hist_day`
    (rows of the range with their status) for the reconciliation. Rows carry `_file` (NULL
    for a source without files): a file source numbers the lines of each file, so two files of
    one day share `_row`, and only (`_source`, `_partition`, `_file`, `_row`) names a raw row."""
    found = providers(sources, con)
    load_history_mappings(con, [s for s, _ in found])
    columns = ["_source", "_partition", "_file", "_row", "_loaded_at", "key__raw", "changed_at",
               "field", "old_value", "new_value", "status", "reason_code", "detail", "raw_row"]
    con.execute("CREATE OR REPLACE TEMP TABLE _hist_day (" + ", ".join(
        f"{c} {t}" for c, t in zip(columns, (
            "VARCHAR", "DATE", "VARCHAR", "BIGINT", "TIMESTAMP", "VARCHAR", "TIMESTAMP",
            "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR"),
            strict=True))
        + ")")
    for source, present in found:
        con.execute(f"INSERT INTO _hist_day SELECT {', '.join(columns)} FROM ("
                    + judged_sql(source, present, "r._partition >= $start AND r._partition < $end")
                    + ")", _params(source, {"start": start, "end": end}))
    con.execute(f"DELETE FROM clean.{QUARANTINE_TABLE} WHERE _partition >= ? AND _partition < ?",
                [start, end])
    con.execute(f"""
INSERT INTO clean.{QUARANTINE_TABLE} ({', '.join(QUARANTINE.columns)})
SELECT '{ENTITY}', reason_code, detail, key__raw, raw_row, _source, _partition, _row, _loaded_at
FROM _hist_day WHERE status = 'quarantined'""")
    # Tickets to rebuild: a log row of theirs came on these days, or an interval of theirs
    # was filed under them (the row that opened it may have gone from the raw table).
    con.execute(f"""
CREATE OR REPLACE TEMP TABLE _hist_tickets AS
SELECT DISTINCT key__raw AS incident_id FROM _hist_day
WHERE status <> 'ignored' AND key__raw IS NOT NULL
UNION SELECT incident_id FROM clean.{TABLE} WHERE _partition >= $start AND _partition < $end""",
                {"start": start, "end": end})
    con.execute("CREATE OR REPLACE TEMP TABLE _hist_events AS SELECT * FROM _hist_day LIMIT 0")
    for source, present in found:
        key = _raw(history_column(source, "key"), present)
        con.execute(f"INSERT INTO _hist_events SELECT {', '.join(columns)} FROM ("
                    + judged_sql(source, present,
                                 f"{key} IN (SELECT incident_id FROM _hist_tickets)")
                    + ") WHERE status = 'used'", _params(source, {}))
    con.execute(f"DELETE FROM clean.{TABLE} "
                "WHERE incident_id IN (SELECT incident_id FROM _hist_tickets)")
    con.execute(f"INSERT INTO clean.{TABLE} ({', '.join(INCIDENT_HISTORY.columns)}) "
                + intervals_sql("_hist_events"))
    counts = {"tickets": int(scalar(con, "SELECT count(*) FROM _hist_tickets") or 0)}
    for status in ("used", "ignored", "quarantined"):
        counts[status] = int(scalar(
            con, "SELECT count(*) FROM _hist_day WHERE status = ?", [status]) or 0)
    counts["intervals"] = int(scalar(
        con, f"SELECT count(*) FROM clean.{TABLE} "
        "WHERE incident_id IN (SELECT incident_id FROM _hist_tickets)") or 0)
    return counts


def intervals_sql(events: str) -> str:
    """Intervals from a table of used log rows (key__raw, changed_at, field, old_value, new_value,
    lineage: _source, _partition, _file, _row, _loaded_at). At each moment a ticket changed,
    each field holds the new value of its last change up to then, else the old value of its
    next change; rows of one moment count in raw order. Consecutive moments with the same three
    values are one interval, carrying the lineage of the log row that opened it.

    Raw order is day, source, file, line: a file source reads its files in name order and
    numbers the lines of each, so two files of one day share line numbers and `_row` alone
    would leave their rows of one moment (and the lineage picked) to the scan order. The
    order is total, so every `first`/`last` below picks from the same row."""
    order = "ORDER BY _partition, _source, _file NULLS FIRST, _row"
    per_field = "\n".join(f"""
ASOF LEFT JOIN (SELECT * FROM fv WHERE field = '{f}') {f}_le
  ON p.incident_id = {f}_le.incident_id AND p.changed_at >= {f}_le.changed_at
ASOF LEFT JOIN (SELECT * FROM fv WHERE field = '{f}') {f}_gt
  ON p.incident_id = {f}_gt.incident_id AND p.changed_at < {f}_gt.changed_at""" for f in TRACKED)
    values = ", ".join(
        f"CASE WHEN {f}_le.changed_at IS NOT NULL THEN {f}_le.new_value "
        f"ELSE {f}_gt.old_value END AS {f}"
        for f in TRACKED)
    same = " AND ".join(f"{f} IS NOT DISTINCT FROM lag({f}) OVER w" for f in TRACKED)
    return f"""
WITH ev AS (SELECT key__raw AS incident_id, * EXCLUDE (key__raw) FROM {events}),
fv AS (
  SELECT incident_id, field, changed_at, last(new_value {order}) AS new_value,
         first(old_value {order}) AS old_value
  FROM ev GROUP BY ALL),
p AS (
  SELECT incident_id, changed_at, last(_source {order}) AS _source,
         last(_partition {order}) AS _partition, last(_row {order}) AS _row,
         last(_loaded_at {order}) AS _loaded_at
  FROM ev GROUP BY ALL),
pv AS (
  SELECT p.*, {values} FROM p {per_field}),
marked AS (
  SELECT *, row_number() OVER w = 1 OR NOT ({same}) AS opens FROM pv
  WINDOW w AS (PARTITION BY incident_id ORDER BY changed_at))
SELECT incident_id, state, assignment_group, CAST(priority AS SMALLINT),
       changed_at AS valid_from,
       lead(changed_at) OVER (PARTITION BY incident_id ORDER BY changed_at) AS valid_to,
       _source, _partition, _row, _loaded_at
FROM marked WHERE opens"""


def lifecycle_sql() -> str:
    """The view clean.incident_lifecycle over clean.incident_history."""
    done = f"coalesce(state IN {DONE}, false)"
    minutes = ",\n  ".join(
        f"coalesce(sum(minutes) FILTER (WHERE state = '{state}'), 0) AS {name}"
        for state, name in STATE_MINUTES.items())
    return f"""
CREATE OR REPLACE VIEW clean.{LIFECYCLE} AS
WITH h AS (
  SELECT *, {done} AS done, lag({done}) OVER w AS was_done,
         last_value(assignment_group IGNORE NULLS) OVER (
           w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_group,
         date_diff('second', valid_from, valid_to) / 60.0 AS minutes
  FROM clean.{TABLE} WINDOW w AS (PARTITION BY incident_id ORDER BY valid_from)),
entered AS (
  SELECT incident_id, assignment_group, count(*) AS times FROM h
  WHERE assignment_group IS NOT NULL AND assignment_group IS DISTINCT FROM prev_group
  GROUP BY ALL),
returns AS (
  SELECT incident_id, sum(times - 1) AS group_returns FROM entered GROUP BY ALL)
SELECT h.incident_id,
  min(valid_from) AS first_event_at,
  any_value(state) FILTER (WHERE valid_to IS NULL) AS current_state,
  any_value(assignment_group) FILTER (WHERE valid_to IS NULL) AS current_group,
  min(valid_from) FILTER (WHERE done) AS first_resolved_at,
  CASE WHEN bool_or(valid_to IS NULL AND done)
       THEN coalesce(max(valid_to) FILTER (WHERE NOT done), min(valid_from)) END
    AS final_resolved_at,
  count(*) FILTER (WHERE was_done AND NOT done AND state IS NOT NULL) AS reopen_count,
  count(*) FILTER (WHERE assignment_group <> prev_group) AS reassignment_count,
  CAST(coalesce(any_value(r.group_returns), 0) AS BIGINT) AS group_returns,
  coalesce(any_value(r.group_returns), 0) > 0 AS ping_pong,
  {minutes}
FROM h LEFT JOIN returns r USING (incident_id)
GROUP BY h.incident_id"""


def refresh_lifecycle(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(lifecycle_sql())


def reconciliation(con: duckdb.DuckDBPyConnection, sources: list[SourceConfig],
                   start: dt.date, end: dt.date) -> list[tuple[dt.date, int, int, int, int]]:
    """Days where raw rows != used + ignored + quarantined: (day, raw, used, ignored,
    quarantined). `used` and `ignored` come from the run's judgement (`_hist_day`), the
    quarantined rows from the quarantine table as written."""
    tables = [s.raw_table(ENTITY) for s, _ in providers(sources, con)]
    union = " UNION ALL ".join(f"SELECT _partition FROM raw.{quote(t)}" for t in tables)
    union = union or "SELECT CAST(NULL AS DATE) AS _partition WHERE false"
    return con.execute(f"""
WITH raw AS (SELECT _partition, count(*) n FROM ({union})
             WHERE _partition >= $start AND _partition < $end GROUP BY ALL),
     judged AS (SELECT _partition, count(*) FILTER (WHERE status = 'used') AS used,
                       count(*) FILTER (WHERE status = 'ignored') AS ignored
                FROM _hist_day GROUP BY ALL),
     qua AS (SELECT _partition, count(*) n FROM clean.{QUARANTINE_TABLE}
             WHERE _partition >= $start AND _partition < $end GROUP BY ALL)
SELECT coalesce(raw._partition, judged._partition, qua._partition) AS day, coalesce(raw.n, 0),
       coalesce(used, 0), coalesce(ignored, 0), coalesce(qua.n, 0)
FROM raw FULL JOIN judged USING (_partition) FULL JOIN qua USING (_partition)
WHERE coalesce(raw.n, 0) <> coalesce(used, 0) + coalesce(ignored, 0) + coalesce(qua.n, 0)
ORDER BY day""", {"start": start, "end": end}).fetchall()


def tickets_without_intervals(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Tickets with a used log row in the run's days but no interval: a fold that lost one."""
    return [r[0] for r in con.execute(f"""
SELECT DISTINCT key__raw FROM _hist_day d WHERE status = 'used'
  AND NOT EXISTS (SELECT 1 FROM clean.{TABLE} h WHERE h.incident_id = d.key__raw)
ORDER BY 1 LIMIT 10""").fetchall()]


def quarantine_share(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date
                     ) -> list[tuple[dt.date, int, int, str]]:
    """Days whose rejected log rows exceed the noise the entity tables allow: (day, rejected,
    relevant rows, top reason). Ignored rows (other tables and fields) do not count."""
    return con.execute(f"""
WITH q AS (SELECT _partition, count(*) AS rejected, mode(reason_code) AS top_reason
           FROM clean.{QUARANTINE_TABLE}
           WHERE _partition >= $start AND _partition < $end GROUP BY 1),
u AS (SELECT _partition, count(*) AS used FROM _hist_day WHERE status = 'used' GROUP BY 1)
SELECT q._partition, q.rejected, q.rejected + coalesce(u.used, 0), q.top_reason
FROM q LEFT JOIN u USING (_partition)
WHERE q.rejected >= {MIN_QUARANTINED_TO_BLOCK}
  AND q.rejected > {MAX_QUARANTINE_SHARE} * (q.rejected + coalesce(u.used, 0))
ORDER BY 1""", {"start": start, "end": end}).fetchall()
