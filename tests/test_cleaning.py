"""Step-4 cleaning rules on hand-made raw rows: every row lands in exactly one place, with the
reason and the detail a person needs; person names are pseudonymized with a secret salt."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pandas as pd
import pytest

from assets.step4_process.cleaning import clean_range, reconciliation
from assets.step4_process.entities import INCIDENTS
from quality.schemas import CLEAN_TABLES, QUARANTINE, ddl
from resources.config_models import SourceConfig
from resources.settings import sources

DAY = dt.date(2026, 3, 2)
LOADED = "2026-03-10 00:00:00"
SALT = "a-test-salt-that-is-long-enough"


def _row(number: str, **values: str) -> dict[str, str]:
    row = {"number": number, "opened_at": "2026-03-02 09:00:00",
           "sys_updated_on": "2026-03-02 12:00:00", "acknowledged_at": "2026-03-02 09:10:00",
           "resolved_at": "2026-03-02 11:00:00", "closed_at": "", "priority": "3 - Moderate",
           "state": "Resolved", "business_service": "Email", "cmdb_ci": "mx-01",
           "assignment_group": "Messaging", "category": "software", "short_description": "x",
           "caller_id": "alice", "assigned_to": "bob", "contact_type": "email",
           "reassignment_count": "0", "reopen_count": "0", "hold_duration": "600",
           "problem_id": "", "caused_by": ""}
    row.update(values)
    return row


ROWS = [
    _row("INC1"),
    _row("INC2", short_description="<script>alert(1)</script>'; DROP TABLE x; --"),
    _row(""),                                                       # MISSING_KEY
    _row("INC3", opened_at="31/02/2026 25:61"),                     # UNPARSEABLE_TIMESTAMP
    _row("INC4", priority="P9"),                                    # UNKNOWN_CODE
    _row("INC5", resolved_at="2026-03-01 08:00:00"),                # RESOLVED_BEFORE_OPENED
    _row("INC6", opened_at="2027-01-01 00:00:00",
         acknowledged_at="", resolved_at=""),                       # FUTURE_TIMESTAMP
    _row("INC7", priority=""),                                      # MISSING_REQUIRED
    _row("INC8", reassignment_count="two"),                         # UNPARSEABLE_NUMBER
    _row("INC1"),                                                   # DUPLICATE_EXACT
    _row("INC2", sys_updated_on="2026-03-02 08:00:00",
         short_description="older"),                                # DUPLICATE_SUPERSEDED
]
EXPECTED = {"": "MISSING_KEY", "INC3": "UNPARSEABLE_TIMESTAMP", "INC4": "UNKNOWN_CODE",
            "INC5": "RESOLVED_BEFORE_OPENED", "INC6": "FUTURE_TIMESTAMP",
            "INC7": "MISSING_REQUIRED", "INC8": "UNPARSEABLE_NUMBER"}


@pytest.fixture()
def cleaned(monkeypatch) -> duckdb.DuckDBPyConnection:
    monkeypatch.setenv("SEVENSTEP_PSEUDONYM_SALT", SALT)
    source = sources().sources[0].model_copy(update={"pseudonymize": True})
    assert isinstance(source, SourceConfig) and source.name == "synthetic"
    con = duckdb.connect()
    for schema in ("raw", "clean"):
        con.execute(f"CREATE SCHEMA {schema}")
    frame = pd.DataFrame(ROWS)
    frame["_partition"] = DAY
    frame["_row"] = range(1, len(frame) + 1)
    con.register("f", frame)
    con.execute("CREATE TABLE raw.synthetic_incidents AS SELECT *, 'synthetic' AS _source, "
                f"TIMESTAMP '{LOADED}' AS _loaded_at, 'test' AS _query FROM f")
    con.execute(ddl("clean", "incidents", CLEAN_TABLES["incidents"]))
    con.execute(ddl("clean", "incidents_quarantine", QUARANTINE))
    counts = clean_range(con, INCIDENTS, [source], DAY, DAY + dt.timedelta(days=1))
    assert counts == {"clean": 2, "quarantined": 9}
    return con


def test_each_faulty_row_gets_its_reason_and_a_detail_naming_the_field(cleaned) -> None:
    rows = cleaned.execute("SELECT coalesce(source_key, ''), reason_code, detail, _row "
                           "FROM clean.incidents_quarantine").fetchall()
    reasons = {key: code for key, code, _, _ in rows if not code.startswith("DUPLICATE")}
    assert reasons == EXPECTED
    details = {key: detail for key, _, detail, _ in rows}
    assert details["INC3"] == 'opened_at "31/02/2026 25:61" is not a timestamp in the format ' \
                              "%Y-%m-%d %H:%M:%S"
    assert details["INC4"] == ('priority "P9" is not in mapping incident_priority of source '
                               "synthetic (config/sources.yaml)")
    assert details["INC8"] == 'reassignment_count "two" is not a number'
    assert details[""] == "key field number is empty"


def test_duplicates_keep_the_latest_version(cleaned) -> None:
    dupes = dict(cleaned.execute("SELECT reason_code, _row FROM clean.incidents_quarantine "
                                 "WHERE reason_code LIKE 'DUPLICATE%'").fetchall())
    # Identical copies: the later line of the export is kept, the earlier one folded.
    assert dupes == {"DUPLICATE_EXACT": 1, "DUPLICATE_SUPERSEDED": 11}
    kept = dict(cleaned.execute(
        "SELECT incident_id, short_description FROM clean.incidents").fetchall())
    assert kept["INC2"].startswith("<script>")  # stored as text; escaped where it is shown


def test_durations_exclude_time_on_hold(cleaned) -> None:
    ack, resolve, hold = cleaned.execute(
        "SELECT minutes_to_acknowledge, minutes_to_resolve, on_hold_minutes "
        "FROM clean.incidents WHERE incident_id = 'INC1'").fetchall()[0]
    assert (ack, resolve, hold) == (10.0, 110.0, 10.0)  # 120 min open, 10 min on hold


def test_raw_rows_reconcile_and_raw_json_is_kept(cleaned) -> None:
    sources_ = [sources().sources[0]]
    end = DAY + dt.timedelta(days=1)
    assert reconciliation(cleaned, "incidents", sources_, DAY, end) == []
    raw = cleaned.execute("SELECT raw_row FROM clean.incidents_quarantine WHERE "
                          "source_key = 'INC4'").fetchall()[0][0]
    assert json.loads(raw)["priority"] == "P9"


def test_person_fields_are_pseudonymized_stably_without_the_salt(cleaned) -> None:
    callers = {r[0] for r in cleaned.execute("SELECT caller FROM clean.incidents").fetchall()}
    assert len(callers) == 1
    (pseudonym,) = callers
    assert pseudonym.startswith("p-") and "alice" not in pseudonym
    dump = json.dumps(cleaned.execute("SELECT * FROM clean.incidents").df().astype(str)
                      .to_dict("records"))
    assert SALT not in dump and "alice" not in dump and "bob" not in dump


def _late_update_warehouse(monkeypatch) -> tuple[duckdb.DuckDBPyConnection, SourceConfig]:
    """INC1 gathered on DAY, then updated (resolved) and gathered again five days later."""
    monkeypatch.setenv("SEVENSTEP_PSEUDONYM_SALT", SALT)
    source = sources().sources[0]
    later = DAY + dt.timedelta(days=5)
    first = _row("INC1", resolved_at="", state="In Progress")
    update = _row("INC1", resolved_at="2026-03-06 10:00:00",
                  sys_updated_on="2026-03-06 10:00:00")
    frame = pd.DataFrame([first, _row("INC9"), update])
    frame["_partition"] = [DAY, DAY, later]
    frame["_row"] = [1, 2, 1]
    con = duckdb.connect()
    for schema in ("raw", "clean"):
        con.execute(f"CREATE SCHEMA {schema}")
    con.register("f", frame)
    con.execute("CREATE TABLE raw.synthetic_incidents AS SELECT *, 'synthetic' AS _source, "
                f"TIMESTAMP '{LOADED}' AS _loaded_at, 'test' AS _query FROM f")
    con.execute(ddl("clean", "incidents", CLEAN_TABLES["incidents"]))
    con.execute(ddl("clean", "incidents_quarantine", QUARANTINE))
    return con, source


def _state(con: duckdb.DuckDBPyConnection) -> tuple[list, list]:
    clean = con.execute("SELECT incident_id, _partition, resolved_at IS NOT NULL "
                        "FROM clean.incidents ORDER BY ALL").fetchall()
    quarantine = con.execute("SELECT source_key, _partition, reason_code FROM "
                             "clean.incidents_quarantine ORDER BY ALL").fetchall()
    return clean, quarantine


@pytest.mark.parametrize("order", [(0, 5, 0, 5), (5, 0, 5, 0), (0, 5, 5, 0, 0)])
def test_a_late_update_supersedes_the_earlier_day_in_any_order(monkeypatch, order) -> None:
    con, source = _late_update_warehouse(monkeypatch)
    for offset in order:
        day = DAY + dt.timedelta(days=offset)
        clean_range(con, INCIDENTS, [source], day, day + dt.timedelta(days=1))
    clean, quarantine = _state(con)
    later = DAY + dt.timedelta(days=5)
    assert clean == [("INC1", later, True), ("INC9", DAY, True)]
    assert quarantine == [("INC1", DAY, "DUPLICATE_SUPERSEDED")]
    assert reconciliation(con, "incidents", [source], DAY, later + dt.timedelta(days=1)) == []


def test_a_line_the_file_reader_could_not_split_is_quarantined_with_file_and_line(
    monkeypatch,
) -> None:
    monkeypatch.setenv("SEVENSTEP_PSEUDONYM_SALT", SALT)
    frame = pd.DataFrame([_row("INC1"), {k: None for k in _row("x")}])
    frame["_partition"] = DAY
    frame["_row"] = [2, 7]
    frame["_file"] = "drop/incidents.csv"
    frame["_error"] = [None, 'unterminated quote: "INC2,2026-03-02 09:00']
    con = duckdb.connect()
    for schema in ("raw", "clean"):
        con.execute(f"CREATE SCHEMA {schema}")
    con.register("f", frame)
    con.execute("CREATE TABLE raw.synthetic_incidents AS SELECT *, 'synthetic' AS _source, "
                f"TIMESTAMP '{LOADED}' AS _loaded_at FROM f")
    con.execute(ddl("clean", "incidents", CLEAN_TABLES["incidents"]))
    con.execute(ddl("clean", "incidents_quarantine", QUARANTINE))
    counts = clean_range(con, INCIDENTS, [sources().sources[0]], DAY, DAY + dt.timedelta(days=1))
    assert counts == {"clean": 1, "quarantined": 1}
    code, detail = con.execute("SELECT reason_code, detail FROM clean.incidents_quarantine"
                               ).fetchall()[0]
    assert code == "UNPARSEABLE_ROW"
    assert detail == 'line 7 of drop/incidents.csv: unterminated quote: "INC2,2026-03-02 09:00'
