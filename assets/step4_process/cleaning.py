"""Cleaning SQL generated from the entity specs, run inside DuckDB per day range.

Every raw row of the range ends in exactly one place: the clean table (the latest version of
each key) or the entity's quarantine with a reason code and a detail naming the field and the
value. Names pasted into the SQL come from entities.py and the raw table's own catalogue
(quoted); values, formats, timezones and vocabularies are bound as parameters or loaded into a
temporary mapping table.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from assets.step4_process.entities import EntitySpec, Field, raw_column
from quality.schemas import CLEAN_TABLES, QUARANTINE
from resources.config_models import SourceConfig
from resources.pseudonyms import pseudonym_salt
from resources.warehouse import scalar

REASONS: dict[str, str] = {
    "UNPARSEABLE_ROW": "The file reader could not split the line into fields (quotes, delimiter).",
    "MISSING_KEY": "The row has no key (ticket number), so it cannot be tracked.",
    "MISSING_REQUIRED": "A required field (e.g. opened_at, priority) is empty.",
    "UNPARSEABLE_TIMESTAMP": "A timestamp does not match the source's timestamp_format.",
    "UNPARSEABLE_NUMBER": "A number field holds text that is not a number.",
    "UNKNOWN_CODE": "A code (priority, state, type...) is not in the source's mapping.",
    "INVALID_VALUE": "A number is outside its valid range (e.g. a score of 7 on 1-5).",
    "FUTURE_TIMESTAMP": "A timestamp lies after the moment the row was loaded.",
    "IMPLAUSIBLE_TIMESTAMP": "A timestamp lies before 1990.",
    "RESOLVED_BEFORE_OPENED": "resolved_at is earlier than opened_at.",
    "ACKNOWLEDGED_BEFORE_OPENED": "acknowledged_at is earlier than opened_at.",
    "CLOSED_BEFORE_RESOLVED": "closed_at is earlier than resolved_at.",
    "END_BEFORE_START": "A change or outage ends before it starts.",
    "RESPONDED_BEFORE_SENT": "A survey answer is dated before the survey was sent.",
    "DUPLICATE_EXACT": "An identical copy of another row with the same key.",
    "DUPLICATE_SUPERSEDED": "An older version of a key whose newer version was kept.",
}
DUPLICATES = ("DUPLICATE_EXACT", "DUPLICATE_SUPERSEDED")


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _raw(column: str, present: set[str]) -> str:
    if column not in present:
        return "CAST(NULL AS VARCHAR)"
    return f"nullif(trim(CAST(r.{quote(column)} AS VARCHAR)), '')"


def _is_utc(source: SourceConfig) -> bool:
    return source.timezone in ("UTC", "Etc/UTC")


def _parsed(field: Field, index: int, raw: str, pseudonymize: bool, utc: bool) -> str:
    """The typed value of a field. Timestamps of a UTC source skip the timezone conversion,
    which costs more than the parsing itself."""
    if field.person and pseudonymize:
        return f"'p-' || left(sha256($salt || {raw}), 16)"
    if field.kind == "timestamp" and utc:
        return f"try_strptime({raw}, $fmt)"
    if field.kind == "timestamp":
        return f"timezone('UTC', timezone($tz, try_strptime({raw}, $fmt)))"
    if field.kind in ("integer", "number"):
        cast = "BIGINT" if field.kind == "integer" else "DOUBLE"
        value = f"try_cast({raw} AS {cast})"
        if field.scale != 1.0:
            value = f"({value} * {float(field.scale)!r})"
        return f"coalesce({value}, {field.default})" if field.default else value
    if field.kind == "code":
        value = f"m{index}.canonical"
        return f"CAST({value} AS {field.sql_type})" if field.sql_type else value
    return raw


def _literal(text: str) -> str:
    """A SQL string literal for a column name (names are data from config, never code)."""
    return "'" + text.replace("'", "''") + "'"


def _rules(
    spec: EntitySpec, source: SourceConfig, present: set[str]
) -> list[tuple[str, str, str]]:
    """(reason code, condition, detail expression) in the order they are tested. Details name
    the source's own column, so a person can find the value in their export."""
    col = {f.name: _literal(raw_column(source, spec, f)) for f in spec.fields}
    key = spec.key
    rules = []
    if "_error" in present:  # the file reader's verdict on a line it could not parse
        file = "coalesce(_file, 'the file')" if "_file" in present else "'the file'"
        rules.append(("UNPARSEABLE_ROW", "_error IS NOT NULL",
                      f"format('line {{}} of {{}}: {{}}', _row, {file}, _error)"))
    rules.append(("MISSING_KEY", f"{key.name} IS NULL",
                  f"format('key field {{}} is empty', {col[key.name]})"))
    for f in spec.fields:
        raw = f"{f.name}__raw"
        shown = f"coalesce(to_json({raw}), 'null')"
        if f.kind == "timestamp":
            rules.append(("UNPARSEABLE_TIMESTAMP", f"{raw} IS NOT NULL AND {f.name} IS NULL",
                          f"format('{{}} {{}} is not a timestamp in the format {{}}', "
                          f"{col[f.name]}, {shown}, $fmt)"))
        if f.kind in ("integer", "number"):
            rules.append(("UNPARSEABLE_NUMBER",
                          f"{raw} IS NOT NULL AND try_cast({raw} AS DOUBLE) IS NULL",
                          f"format('{{}} {{}} is not a number', {col[f.name]}, {shown})"))
        if f.kind == "integer":  # a cast to BIGINT rounds 2.5 and turns 1e30 into the default
            rules.append(("UNPARSEABLE_NUMBER",
                          f"{raw} IS NOT NULL AND try_cast({raw} AS BIGINT) IS DISTINCT FROM "
                          f"try_cast({raw} AS DOUBLE)",
                          f"format('{{}} {{}} is not a whole number', {col[f.name]}, {shown})"))
    for f in spec.fields:
        if f.required:
            rules.append(("MISSING_REQUIRED", f"{f.name}__raw IS NULL",
                          f"format('required field {{}} is empty', {col[f.name]})"))
    for f in spec.fields:
        if f.kind == "code":
            rules.append(("UNKNOWN_CODE", f"{f.name}__raw IS NOT NULL AND {f.name} IS NULL",
                          f"format('{{}} {{}} is not in mapping {f.mapping} of source {{}} "
                          f"(config/sources.yaml)', {col[f.name]}, to_json({f.name}__raw), "
                          "_source)"))
        if f.valid_range:
            lo, hi = f.valid_range
            rules.append(("INVALID_VALUE", f"{f.name} < {lo!r} OR {f.name} > {hi!r}",
                          f"format('{{}} {{}} is outside {lo:g}..{hi:g}', {col[f.name]}, "
                          f"{f.name})"))
    for f in spec.fields:
        if f.kind == "timestamp" and not f.planned:
            rules.append(("FUTURE_TIMESTAMP", f"{f.name} > _loaded_at",
                          f"format('{{}} {{}} is after the load time {{}}', "
                          f"{col[f.name]}, {f.name}, _loaded_at)"))
        if f.kind == "timestamp":
            rules.append(("IMPLAUSIBLE_TIMESTAMP", f"{f.name} < TIMESTAMP '1990-01-01'",
                          f"format('{{}} {{}} is before 1990', {col[f.name]}, {f.name})"))
    for o in spec.order:
        rules.append((o.code, f"{o.later} < {o.earlier}",
                      f"format('{o.later} {{}} is before {o.earlier} {{}}', "
                      f"{o.later}, {o.earlier})"))
    return rules


def judged_sql(spec: EntitySpec, source: SourceConfig, present: set[str]) -> str:
    """Typed rows of one source and day range, each with its first failing rule (or NULL)."""
    selects = ["r._source", "r._partition", "r._row", "r._loaded_at",
               f"{_raw_file(present)} AS _file"]
    selects += ["r._error"] if "_error" in present else []
    joins = []
    for i, f in enumerate(spec.fields):
        raw = _raw(raw_column(source, spec, f), present)
        selects.append(f"{raw} AS {f.name}__raw")
        selects.append(f"{_parsed(f, i, raw, source.pseudonymize, _is_utc(source))} AS {f.name}")
        if f.kind == "code":
            joins.append(f"LEFT JOIN _mappings m{i} ON m{i}.source = r._source "
                         f"AND m{i}.mapping = '{f.mapping}' AND m{i}.code = {raw}")
    rules = _rules(spec, source, present)
    reason = "CASE " + " ".join(f"WHEN {c} THEN '{code}'" for code, c, _ in rules) + " END"
    detail = "CASE " + " ".join(f"WHEN {c} THEN {d}" for _, c, d in rules) + " END"
    derived = "".join(f", {expr} AS {name}" for name, expr in spec.derived.items())
    return f"""
WITH typed AS (
  SELECT {', '.join(selects)}
  FROM raw.{quote(source.raw_table(spec.entity))} r {' '.join(joins)}
  WHERE r._partition >= $start AND r._partition < $end)
SELECT *{derived}, {reason} AS reason_code, {detail} AS detail FROM typed"""


def _content_hash(present: set[str]) -> str:
    """A hash of a raw row's source columns by name (not its lineage), to tell exact copies
    apart. JSON escapes every value, so two different rows never print alike."""
    columns = sorted(c for c in present if not c.startswith("_"))
    if not columns:
        return "md5('{}')"
    fields = ", ".join(f"{quote(c)} := r.{quote(c)}" for c in columns)
    return f"md5(CAST(to_json(struct_pack({fields})) AS VARCHAR))"


def _raw_file(present: set[str]) -> str:
    """The file of raw row `r`, or NULL for a source that has no files."""
    return "r._file" if "_file" in present else "CAST(NULL AS VARCHAR)"


def _same_raw_row(a: str, b: str) -> str:
    """`a` and `b` name one raw row of a source. `_row` is the physical line, numbered per
    file, so two files with rows on the same day share line numbers: `_file` tells them apart
    (NULL for a source without files, hence IS NOT DISTINCT FROM)."""
    return (f"{a}._partition = {b}._partition AND {a}._row = {b}._row "
            f"AND {a}._file IS NOT DISTINCT FROM {b}._file")


def kept_raw_row(spec: EntitySpec, source: SourceConfig, present: set[str],
                  pointers: str) -> str:
    """FROM clause: `p`, each clean row in `pointers` (src, k, part, row) of the source $src,
    with `r`, the raw row it was cleaned from. A clean table keeps no `_file`, and several
    files of one day can have a line of that number with that key; the one that was cleaned is
    the one the quarantine does not hold (every raw row is in exactly one of the two)."""
    key = _raw(raw_column(source, spec, spec.key), present)
    sql = (f"{pointers} p JOIN raw.{quote(source.raw_table(spec.entity))} r "
           f"ON r._partition = p.part AND r._row = p.row AND {key} = p.k WHERE p.src = $src")
    if "_file" in present:
        sql += (f" AND NOT EXISTS (SELECT 1 FROM clean.{spec.entity}_quarantine q "
                "WHERE q._source = p.src AND q._partition = p.part AND q._row = p.row "
                "AND q.source_key = p.k AND (q.raw_row ->> '_file') IS NOT DISTINCT FROM r._file)")
    return sql


def load_mappings(con: duckdb.DuckDBPyConnection, sources: list[SourceConfig]) -> None:
    """Every source's vocabularies as one temp table (source, mapping, code, canonical)."""
    con.execute("CREATE OR REPLACE TEMP TABLE _mappings "
                "(source VARCHAR, mapping VARCHAR, code VARCHAR, canonical VARCHAR)")
    rows = [(s.name, mapping, code.strip(), canonical)
            for s in sources for mapping, codes in s.mappings.items()
            for code, canonical in codes.items()]
    if rows:
        con.executemany("INSERT INTO _mappings VALUES (?, ?, ?, ?)", rows)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'raw' AND table_name = ?", [table]).fetchall()}


def clean_range(
    con: duckdb.DuckDBPyConnection,
    spec: EntitySpec,
    sources: list[SourceConfig],
    start: dt.date,
    end: dt.date,
) -> dict[str, int]:
    """Replace clean rows and quarantine of [start, end) from the raw tables of every source
    that delivers the entity. The caller owns the transaction."""
    entity = spec.entity
    for table in (entity, f"{entity}_quarantine"):
        con.execute(f"DELETE FROM clean.{table} WHERE _partition >= ? AND _partition < ?",
                    [start, end])
    load_mappings(con, sources)
    key = spec.key.name
    columns = ", ".join(CLEAN_TABLES[entity].columns)
    quarantine_cols = ", ".join(QUARANTINE.columns)
    con.execute("CREATE OR REPLACE TEMP TABLE _moved (k VARCHAR)")
    for source in sources:
        present = _columns(con, source.raw_table(entity))
        if entity not in source.entities or not present:
            continue
        params = {"start": start, "end": end, "fmt": source.timestamp_format}
        if not _is_utc(source):
            params["tz"] = source.timezone
        if source.pseudonymize and any(f.person for f in spec.fields):
            params["salt"] = pseudonym_salt()
        con.execute(f"CREATE OR REPLACE TEMP TABLE _judged AS "
                    f"{judged_sql(spec, source, present)}", params)
        _find_losers(con, spec)
        _settle_with_other_days(con, spec, sources, start, end)
        con.execute(f"""
INSERT INTO clean.{entity} ({columns})
SELECT {columns} FROM _judged j
WHERE reason_code IS NULL
  AND NOT EXISTS (SELECT 1 FROM _losers l WHERE {_same_raw_row("l", "j")})
""")
        # A duplicate's reason names the version finally kept, known once every source and
        # day is settled: _point_duplicates writes it; until then the detail names the key.
        con.execute(f"""
INSERT INTO clean.{entity}_quarantine ({quarantine_cols})
WITH rejected AS (
  SELECT reason_code, detail, {key}__raw AS source_key, _partition, _row, _file FROM _judged
  WHERE reason_code IS NOT NULL
  UNION ALL
  SELECT 'DUPLICATE_SUPERSEDED', format('older version of {key} {{}}', k), k,
         _partition, _row, _file
  FROM _losers)
SELECT '{entity}', q.reason_code, q.detail, q.source_key, CAST(to_json(r) AS VARCHAR),
       r._source, r._partition, r._row, r._loaded_at
FROM rejected q JOIN raw.{quote(source.raw_table(entity))} r
  ON r._partition = q._partition AND r._row = q._row
 AND {_raw_file(present)} IS NOT DISTINCT FROM q._file
WHERE r._partition >= $start AND r._partition < $end""", {"start": start, "end": end})
    _point_duplicates(con, spec, sources, start, end)
    counts = {}
    for label, table in (("clean", entity), ("quarantined", f"{entity}_quarantine")):
        counts[label] = int(scalar(con, f"SELECT count(*) FROM clean.{table} "
                                   "WHERE _partition >= ? AND _partition < ?", [start, end]))
    return counts


def _find_losers(con: duckdb.DuckDBPyConnection, spec: EntitySpec) -> None:
    """_losers (_partition, _row, _file, k): valid rows of the range whose key occurs again
    with a newer version (latest update, then latest day, then latest line of the export, then
    the file named last). Only repeated keys are ranked, so the cost follows the duplicates,
    not the range."""
    key = spec.key.name
    order = f"{spec.updated} DESC NULLS LAST, " if spec.updated else ""
    con.execute(f"""
CREATE OR REPLACE TEMP TABLE _losers AS
SELECT _partition, _row, _file, k FROM (
  SELECT _partition, _row, _file, {key} AS k, row_number() OVER w AS rn
  FROM _judged SEMI JOIN (SELECT {key} FROM _judged WHERE reason_code IS NULL
                          GROUP BY 1 HAVING count(*) > 1) d USING ({key})
  WHERE reason_code IS NULL
  WINDOW w AS (PARTITION BY {key}
               ORDER BY {order}_partition DESC, _row DESC, _file DESC NULLS LAST))
WHERE rn > 1""")


def _settle_with_other_days(
    con: duckdb.DuckDBPyConnection,
    spec: EntitySpec,
    sources: list[SourceConfig],
    start: dt.date,
    end: dt.date,
) -> None:
    """A ticket updated after the day it was first gathered lands again in a later partition.
    Only its newest version may stay clean: here the candidates of [start, end) meet the clean
    rows of other days with the same key. A losing candidate joins _losers (so it goes to the
    quarantine); a losing older clean row moves to its own day's quarantine, so every day still
    reconciles. Re-running either day, in any order, reaches the same state. A moved row's key
    goes to _moved: the duplicates of other days that named it get their reason again. A clean
    row is found by day, line and key, since two files of a day can share a line number."""
    entity, key = spec.entity, spec.key.name
    # Versions are ordered by the source's update time where the clean table keeps it.
    kept = spec.updated and spec.updated in CLEAN_TABLES[entity].columns
    new_updated = spec.updated if kept else "CAST(NULL AS TIMESTAMP)"
    old_updated = f"c.{spec.updated}" if kept else "CAST(NULL AS TIMESTAMP)"
    con.execute(f"""
CREATE OR REPLACE TEMP TABLE _contest AS
WITH cand AS (
  SELECT {key} AS k, {new_updated} AS upd, _partition AS part, _row AS row, _file AS file,
         _source AS src
  FROM _judged j
  WHERE reason_code IS NULL AND NOT EXISTS (
    SELECT 1 FROM _losers l WHERE {_same_raw_row("l", "j")})),
old AS (
  SELECT c.{key} AS k, {old_updated} AS upd, c._partition AS part, c._row AS row,
         CAST(NULL AS VARCHAR) AS file, c._source AS src
  FROM clean.{entity} c
  WHERE (c._partition < $start OR c._partition >= $end) AND c.{key} IN (SELECT k FROM cand))
SELECT *, row_number() OVER w AS place
FROM (SELECT *, true AS is_new FROM cand WHERE k IN (SELECT k FROM old)
      UNION ALL SELECT *, false FROM old)
WINDOW w AS (PARTITION BY k ORDER BY upd DESC NULLS LAST, part DESC, row DESC)""",
                {"start": start, "end": end})
    con.execute("INSERT INTO _losers SELECT part, row, file, k FROM _contest "
                "WHERE is_new AND place > 1")
    moved = con.execute("SELECT DISTINCT src FROM _contest WHERE NOT is_new AND place > 1"
                        ).fetchall()
    by_name = {s.name: s for s in sources}
    for (name,) in moved:
        source = by_name[name]
        present = _columns(con, source.raw_table(entity))
        losing = "(SELECT * FROM _contest WHERE NOT is_new AND place > 1)"
        con.execute(f"""
INSERT INTO clean.{entity}_quarantine ({', '.join(QUARANTINE.columns)})
SELECT '{entity}', 'DUPLICATE_SUPERSEDED', format('older version of {key} {{}}', p.k), p.k,
       CAST(to_json(r) AS VARCHAR), r._source, r._partition, r._row, r._loaded_at
FROM {kept_raw_row(spec, source, present, losing)}""", {"src": name})
    con.execute("INSERT INTO _moved SELECT DISTINCT k FROM _contest WHERE NOT is_new AND place > 1")
    con.execute(f"""
DELETE FROM clean.{entity} t USING _contest c
WHERE NOT c.is_new AND c.place > 1 AND t._source = c.src
  AND t._partition = c.part AND t._row = c.row AND t.{key} = c.k""")


def _point_duplicates(
    con: duckdb.DuckDBPyConnection,
    spec: EntitySpec,
    sources: list[SourceConfig],
    start: dt.date,
    end: dt.date,
) -> None:
    """Give each duplicate its final reason: it names the version finally kept (the key's clean
    row, whichever day that is on), and it is DUPLICATE_EXACT when its source columns equal
    that row's, else DUPLICATE_SUPERSEDED. So the reasons follow from the data alone, not from
    how the days were grouped into runs: a copy whose day's winner a later day superseded names
    the later version, also when the copy's day was cleaned before the later day was.
    Duplicates of [start, end) are new; those of other days only change where this run moved
    their key's clean row to the quarantine (_moved), since they named that row."""
    entity, key = spec.entity, spec.key.name
    con.execute(f"""
CREATE OR REPLACE TEMP TABLE _dups AS
SELECT _source AS src, _partition AS part, _row AS row, raw_row ->> '_file' AS file,
       source_key AS k
FROM clean.{entity}_quarantine
WHERE reason_code IN {DUPLICATES}
  AND (_partition >= $start AND _partition < $end OR source_key IN (SELECT k FROM _moved))""",
                {"start": start, "end": end})
    if not scalar(con, "SELECT count(*) FROM _dups"):
        return
    kept = spec.updated and spec.updated in CLEAN_TABLES[entity].columns
    updated = f"c.{spec.updated}" if kept else "CAST(NULL AS TIMESTAMP)"
    con.execute(f"""
CREATE OR REPLACE TEMP TABLE _wins AS
SELECT c._source AS src, c.{key} AS k, c._partition AS part, c._row AS row, {updated} AS upd
FROM clean.{entity} c WHERE c.{key} IN (SELECT k FROM _dups)""")
    con.execute("CREATE OR REPLACE TEMP TABLE _dup_hashes (src VARCHAR, part DATE, row BIGINT, "
                "file VARCHAR, k VARCHAR, hash VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE _win_hashes (src VARCHAR, k VARCHAR, part DATE, "
                "row BIGINT, upd TIMESTAMP, file VARCHAR, hash VARCHAR)")
    for source in sources:
        present = _columns(con, source.raw_table(entity))
        if entity not in source.entities or not present:
            continue
        con.execute(f"""
INSERT INTO _dup_hashes
SELECT d.src, d.part, d.row, d.file, d.k, {_content_hash(present)}
FROM _dups d JOIN raw.{quote(source.raw_table(entity))} r
  ON r._partition = d.part AND r._row = d.row
 AND {_raw_file(present)} IS NOT DISTINCT FROM d.file
WHERE d.src = $src""", {"src": source.name})
        con.execute(f"""
INSERT INTO _win_hashes
SELECT p.src, p.k, p.part, p.row, p.upd, {_raw_file(present)}, {_content_hash(present)}
FROM {kept_raw_row(spec, source, present, "_wins")}""", {"src": source.name})
    # One kept version per key, unless two sources keep one each: then the duplicate's own
    # source's, else the newest.
    con.execute(f"""
CREATE OR REPLACE TEMP TABLE _pointed AS
WITH kept AS (
  SELECT d.src, d.part, d.row, d.file, d.k, d.hash = w.hash AS same,
         format('row {{}} of {{}}', w.row, w.part) || coalesce(' (' || w.file || ')', '') AS kept
  FROM _dup_hashes d JOIN _win_hashes w ON w.k = d.k
  QUALIFY row_number() OVER (
    PARTITION BY d.src, d.part, d.row, d.file
    ORDER BY w.src = d.src DESC, w.upd DESC NULLS LAST, w.part DESC, w.row DESC,
             w.file DESC NULLS LAST, w.src) = 1)
SELECT src, part, row, file, k,
       CASE WHEN same THEN 'DUPLICATE_EXACT' ELSE 'DUPLICATE_SUPERSEDED' END AS reason_code,
       CASE WHEN same THEN format('identical to {{}}, which was kept', kept)
            ELSE format('older version of {key} {{}}; {{}} is newer and was kept', k, kept)
       END AS detail
FROM kept""")
    con.execute(f"""
UPDATE clean.{entity}_quarantine q SET reason_code = p.reason_code, detail = p.detail
FROM _pointed p
WHERE q._source = p.src AND q._partition = p.part AND q._row = p.row AND q.source_key = p.k
  AND q.reason_code IN {DUPLICATES} AND (q.raw_row ->> '_file') IS NOT DISTINCT FROM p.file
  AND (q.reason_code <> p.reason_code OR q.detail <> p.detail)""")


def reconciliation(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    sources: list[SourceConfig],
    start: dt.date,
    end: dt.date,
) -> list[tuple[dt.date, int, int, int]]:
    """Days where raw rows != clean rows + quarantined rows: (day, raw, clean, quarantined)."""
    tables = [s.raw_table(entity) for s in sources
              if entity in s.entities and _columns(con, s.raw_table(entity))]
    union = " UNION ALL ".join(f"SELECT _partition FROM raw.{quote(t)}" for t in tables)
    union = union or "SELECT CAST(NULL AS DATE) AS _partition WHERE false"
    return con.execute(f"""
WITH raw AS (SELECT _partition, count(*) n FROM ({union})
             WHERE _partition >= $start AND _partition < $end GROUP BY ALL),
     cln AS (SELECT _partition, count(*) n FROM clean.{entity}
             WHERE _partition >= $start AND _partition < $end GROUP BY ALL),
     qua AS (SELECT _partition, count(*) n FROM clean.{entity}_quarantine
             WHERE _partition >= $start AND _partition < $end GROUP BY ALL)
SELECT coalesce(raw._partition, cln._partition, qua._partition) AS day,
       coalesce(raw.n, 0), coalesce(cln.n, 0), coalesce(qua.n, 0)
FROM raw FULL JOIN cln USING (_partition) FULL JOIN qua USING (_partition)
WHERE coalesce(raw.n, 0) <> coalesce(cln.n, 0) + coalesce(qua.n, 0)
ORDER BY day""", {"start": start, "end": end}).fetchall()


def refresh_quarantine_view(con: duckdb.DuckDBPyConnection) -> None:
    """clean.quarantine: one view over every entity's quarantine, for people and the CLI."""
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'clean' "
        "AND table_type = 'BASE TABLE' AND suffix(table_name, '_quarantine') ORDER BY 1"
    ).fetchall()]
    if tables:
        union = " UNION ALL ".join(f"SELECT * FROM clean.{quote(t)}" for t in tables)
        con.execute(f"CREATE OR REPLACE VIEW clean.quarantine AS {union}")


MAX_QUARANTINE_SHARE = 0.05
MIN_QUARANTINED_TO_BLOCK = 5
BENIGN_REASONS = DUPLICATES


def quarantine_share(
    con: duckdb.DuckDBPyConnection, entity: str, start: dt.date, end: dt.date
) -> list[tuple[dt.date, int, int, str]]:
    """Days where more rows were rejected than a source's usual noise: (day, rejected, total,
    top reason). Duplicates are folded, not rejected, so they do not count. A new code every
    row carries, a renamed column or a changed date format shows up here."""
    return con.execute(f"""
WITH q AS (
  SELECT _partition, count(*) AS rejected, mode(reason_code) AS top_reason
  FROM clean.{entity}_quarantine
  WHERE _partition >= $start AND _partition < $end AND reason_code NOT IN {BENIGN_REASONS}
  GROUP BY 1),
c AS (SELECT _partition, count(*) AS kept FROM clean.{entity}
      WHERE _partition >= $start AND _partition < $end GROUP BY 1)
SELECT q._partition, q.rejected, q.rejected + coalesce(c.kept, 0), q.top_reason
FROM q LEFT JOIN c USING (_partition)
WHERE q.rejected >= {MIN_QUARANTINED_TO_BLOCK}
  AND q.rejected > {MAX_QUARANTINE_SHARE} * (q.rejected + coalesce(c.kept, 0))
ORDER BY 1""", {"start": start, "end": end}).fetchall()
