"""The pandera contracts run month by month, yet still see duplicates across months."""

from __future__ import annotations

import datetime as dt

import duckdb

from quality.schemas import SLA_RECORDS, ddl
from quality.validation import validate_partitions

ROW = ("I1", "response", "Email", 1, 10.0, "2026-01-01 08:00:00", None, 5.0, "in_progress",
       False)


def _warehouse(rows: list[tuple]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA clean")
    con.execute(ddl("clean", "sla_records", SLA_RECORDS))
    con.executemany("INSERT INTO clean.sla_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows)
    return con


def test_a_duplicate_key_two_months_apart_fails_the_contract() -> None:
    con = _warehouse([(*ROW, dt.date(2026, 1, 1)), (*ROW, dt.date(2026, 3, 1))])
    passed, meta = validate_partitions(con, "sla_records", SLA_RECORDS, dt.date(2026, 1, 1),
                                       dt.date(2026, 4, 1))
    assert not passed
    assert meta["rows_checked"] == 2
    assert "incident_id+sla_type | unique" in meta["failures"]


def test_a_rule_broken_in_one_month_is_reported_with_its_column() -> None:
    bad = ("I2", "escalation", "Email", 1, -1.0, "2026-02-01 08:00:00", None, 5.0,
           "in_progress", False, dt.date(2026, 2, 1))
    con = _warehouse([(*ROW, dt.date(2026, 1, 1)), bad])
    passed, meta = validate_partitions(con, "sla_records", SLA_RECORDS, dt.date(2026, 1, 1),
                                       dt.date(2026, 4, 1))
    assert not passed
    assert "sla_type" in meta["failures"] and "target_minutes" in meta["failures"]


def test_valid_rows_pass() -> None:
    con = _warehouse([(*ROW, dt.date(2026, 1, 1)),
                      ("I2", *ROW[1:], dt.date(2026, 2, 15))])
    passed, meta = validate_partitions(con, "sla_records", SLA_RECORDS, dt.date(2026, 1, 1),
                                       dt.date(2026, 4, 1))
    assert passed and meta == {"rows_checked": 2, "failures": "none"}
