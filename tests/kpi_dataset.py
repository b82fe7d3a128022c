"""A small, fixed ITSM dataset whose KPI values are worked out by hand in test_kpi_values.py.

Eight days, 2026-03-02 (Monday) to 2026-03-09 (Monday), two services: ERP (business hours,
09:00-17:00 UTC Monday to Friday, 2026-03-04 a holiday) and Email (supported and agreed 24x7).
Every row is written into empty copies of the canonical clean tables; the derived columns of
clean.incidents come from the same SQL the pipeline uses (entities.py and the business
calendar), so the business-hours and on-hold cases are tested through the real formulas.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from assets.common import replace_table
from assets.kpi_sql import kpi_queries
from assets.step2_measures import catalogue_frame
from assets.step4_process.entities import INCIDENTS as INCIDENT_SPEC
from quality.schemas import CLEAN_TABLES, KPI_DAILY, ddl
from resources.business_calendar import BusinessCalendar, incident_business_columns
from resources.settings import kpis

START = dt.date(2026, 3, 2)
END = dt.date(2026, 3, 10)  # exclusive: 8 days
LOADED = "2026-03-20 00:00:00"

CALENDAR = BusinessCalendar(
    timezone="UTC",
    hours=((540, 1020),) * 5 + (None, None),
    holidays=(dt.date(2026, 3, 4),),
    always_on=("Email",),
)

# id, service, priority, opened, acknowledged, resolved, hold minutes, reassignments, reopens,
# problem, caused by, contact, ci, category, group
INCIDENTS = [
    ("I1", "ERP", 1, "2026-03-02 10:00", "2026-03-02 10:30", "2026-03-02 12:00", 0, 0, 0,
     None, None, "phone", "erp-1", "A", "G1"),
    ("I2", "ERP", 3, "2026-03-02 16:00", "2026-03-02 16:20", "2026-03-03 10:00", 60, 1, 0,
     "PRB1", None, "email", "erp-1", "A", "G1"),
    ("I3", "Email", 2, "2026-03-03 08:00", "2026-03-03 09:00", "2026-03-03 14:00", 0, 2, 1,
     None, "CHG1", "phone", "mail-1", "B", "G2"),
    ("I4", "ERP", 4, "2026-03-03 17:30", "2026-03-04 09:30", "2026-03-05 11:00", 0, 0, 0,
     None, None, "walk-in", "erp-2", "A", "G1"),
    ("I5", "ERP", 3, "2026-03-05 09:00", "2026-03-05 09:10", "2026-03-07 10:00", 600, 3, 0,
     None, None, "phone", "erp-1", "A", "G2"),
    ("I6", "Email", 1, "2026-03-07 20:00", "2026-03-07 20:05", None, 0, 0, 0,
     None, None, "self-service", "mail-1", "B", "G2"),
    ("I7", "ERP", 5, "2026-02-15 10:00", "2026-02-15 12:00", None, 0, 0, 0,
     None, None, "email", "erp-3", "C", "G1"),
    ("I8", "ERP", 3, "2026-03-09 09:00", "2026-03-09 09:15", "2026-03-09 10:00", 0, 0, 0,
     None, None, "phone", "erp-2", "A", "G1"),
    ("I9", "Email", 3, "2026-02-27 12:00", "2026-02-27 12:30", "2026-03-02 12:00", 1320, 1, 1,
     None, None, "email", "mail-2", "B", "G2"),
    ("I10", "ERP", 4, "2026-03-09 15:00", None, None, 0, 0, 0,
     None, None, "phone", "erp-3", "C", "G2"),
]

# incident, type, service, priority, target, start, stop, elapsed, stage, breached
SLA_RECORDS = [
    ("I1", "response", "ERP", 1, 15, "2026-03-02 10:00", "2026-03-02 10:30", 30, True),
    ("I2", "response", "ERP", 3, 240, "2026-03-02 16:00", "2026-03-02 16:20", 20, False),
    ("I3", "response", "Email", 2, 30, "2026-03-03 08:00", "2026-03-03 09:00", 60, True),
    ("I4", "response", "ERP", 4, 480, "2026-03-03 17:30", "2026-03-04 09:30", 960, True),
    ("I5", "response", "ERP", 3, 240, "2026-03-05 09:00", "2026-03-05 09:10", 10, False),
    ("I6", "response", "Email", 1, 15, "2026-03-07 20:00", "2026-03-07 20:05", 5, False),
    ("I8", "response", "ERP", 3, 240, "2026-03-09 09:00", "2026-03-09 09:15", 15, False),
    ("I10", "response", "ERP", 4, 480, "2026-03-09 15:00", None, 540, False),
    ("I9", "resolution", "Email", 3, 2880, "2026-02-27 12:00", "2026-03-02 12:00", 3000, True),
    ("I1", "resolution", "ERP", 1, 240, "2026-03-02 10:00", "2026-03-02 12:00", 120, False),
    ("I2", "resolution", "ERP", 3, 2880, "2026-03-02 16:00", "2026-03-03 10:00", 1020, False),
    ("I3", "resolution", "Email", 2, 480, "2026-03-03 08:00", "2026-03-03 14:00", 360, False),
    ("I4", "resolution", "ERP", 4, 5760, "2026-03-03 17:30", "2026-03-05 11:00", 2490, False),
    ("I5", "resolution", "ERP", 3, 2880, "2026-03-05 09:00", "2026-03-07 10:00", 2340, False),
    ("I8", "resolution", "ERP", 3, 2880, "2026-03-09 09:00", "2026-03-09 10:00", 60, False),
]

# id, created, type, outcome, end
CHANGES = [
    ("C1", "2026-03-02 08:00", "normal", "successful", "2026-03-03 10:00"),
    ("C2", "2026-03-02 09:00", "emergency", "failed", "2026-03-02 12:00"),
    ("C3", "2026-03-03 10:00", "standard", "successful_with_issues", "2026-03-04 02:00"),
    ("C4", "2026-03-05 10:00", "normal", None, None),
    ("C5", "2026-03-06 11:00", "emergency", "successful", "2026-03-06 15:00"),
    ("C6", "2026-02-25 10:00", "normal", "failed", "2026-03-02 05:00"),
]

# id, opened, resolved
PROBLEMS = [
    ("PRB1", "2026-02-20 00:00", "2026-03-03 12:00"),
    ("PRB2", "2026-03-02 00:00", "2026-03-06 00:00"),
    ("PRB3", "2026-03-01 00:00", None),
]

# id, service, planned, start, end
OUTAGES = [
    ("O1", "Email", False, "2026-03-02 10:00", "2026-03-02 10:30"),
    ("O2", "Email", False, "2026-03-02 10:20", "2026-03-02 11:00"),
    ("O3", "ERP", False, "2026-03-03 16:30", "2026-03-03 18:30"),
    ("O4", "ERP", True, "2026-03-05 09:00", "2026-03-05 10:00"),
    ("O5", "ERP", False, "2026-03-05 09:30", "2026-03-05 10:30"),
    ("O6", "Email", False, "2026-03-07 23:30", "2026-03-08 00:30"),
    ("O7", "Email", True, "2026-03-08 02:00", "2026-03-08 03:00"),
]

# id, service, sent, responded, score
SURVEYS = [
    ("S1", "ERP", "2026-03-02 13:00", "2026-03-02 15:00", 5),
    ("S2", "Email", "2026-03-02 13:30", "2026-03-04 09:00", 3),
    ("S3", "ERP", "2026-03-03 15:00", None, None),
    ("S4", "ERP", "2026-03-05 12:00", "2026-03-05 13:00", 4),
    ("S5", "Email", "2026-03-07 11:00", None, None),
    ("S6", "ERP", "2026-03-09 11:00", "2026-03-09 12:00", 1),
]

SERVICES = [("ERP", "critical", "business", 100, False), ("Email", "high", "24x7", 500, True)]


def _lineage(row: int, day: str) -> dict[str, object]:
    return {"_source": "test", "_partition": day[:10], "_row": row, "_loaded_at": LOADED}


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, object]]) -> None:
    for row in rows:
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        con.execute(f"INSERT INTO clean.{table} ({names}) VALUES ({marks})", list(row.values()))


def build(con: duckdb.DuckDBPyConnection, calendar: BusinessCalendar = CALENDAR) -> None:
    """Create the clean and strategy tables and fill them with the dataset above."""
    for schema in ("clean", "strategy"):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for name, schema in CLEAN_TABLES.items():
        con.execute(ddl("clean", name, schema))
    con.execute("CREATE TABLE strategy.services (service VARCHAR, criticality VARCHAR, "
                "hours VARCHAR, users BIGINT, support_24x7 BOOLEAN)")
    con.executemany("INSERT INTO strategy.services VALUES (?, ?, ?, ?, ?)", SERVICES)
    _insert(con, "incidents", [
        {"incident_id": i, "service": svc, "priority": p, "state": "new", "opened_at": o,
         "acknowledged_at": a, "resolved_at": r, "on_hold_minutes": hold,
         "reassignment_count": moves, "reopen_count": reopens, "problem_id": prb,
         "caused_by_change": chg, "contact_type": contact, "ci": ci, "category": cat,
         "assignment_group": group, **_lineage(n, o)}
        for n, (i, svc, p, o, a, r, hold, moves, reopens, prb, chg, contact, ci, cat, group)
        in enumerate(INCIDENTS)])
    derived = {**{k: v for k, v in INCIDENT_SPEC.derived.items() if "business" not in k},
               **incident_business_columns(calendar)}
    con.execute("UPDATE clean.incidents SET " + ", ".join(
        f"{name} = {expression}" for name, expression in derived.items()))
    _insert(con, "sla_records", [
        {"incident_id": i, "sla_type": t, "service": svc, "priority": p, "target_minutes": tgt,
         "start_at": s, "stop_at": e, "elapsed_minutes": el,
         "stage": "completed" if e else "in_progress", "breached": b, "_partition": s[:10]}
        for i, t, svc, p, tgt, s, e, el, b in SLA_RECORDS])
    _insert(con, "changes", [
        {"change_id": c, "service": "ERP", "change_type": t, "state": "closed", "outcome": o,
         "created_at": cr, "start_at": e, "end_at": e, **_lineage(n, cr)}
        for n, (c, cr, t, o, e) in enumerate(CHANGES)])
    _insert(con, "problems", [
        {"problem_id": p, "service": "ERP", "category": "A", "state": "new", "opened_at": o,
         "resolved_at": r, **_lineage(n, o)} for n, (p, o, r) in enumerate(PROBLEMS)])
    _insert(con, "outages", [
        {"outage_id": o, "service": svc, "planned": planned, "start_at": s, "end_at": e,
         **_lineage(n, s)} for n, (o, svc, planned, s, e) in enumerate(OUTAGES)])
    _insert(con, "surveys", [
        {"response_id": r, "service": svc, "sent_at": s, "responded_at": a, "score": score,
         **_lineage(n, s)} for n, (r, svc, s, a, score) in enumerate(SURVEYS)])


def build_with_facts(con: duckdb.DuckDBPyConnection) -> None:
    """The dataset, the catalogue and clean.kpi_daily of every configured KPI over START..END:
    what the KPI commands and the value tests read."""
    build(con)
    con.execute("CREATE SCHEMA measures")
    replace_table(con, "measures.kpi_catalogue", catalogue_frame())
    con.execute(ddl("clean", "kpi_daily", KPI_DAILY))
    con.execute(CALENDAR.macro_sql())
    for kpi in kpis().kpis:
        for _, sql in kpi_queries(kpi, CALENDAR):
            con.execute(f"INSERT INTO clean.kpi_daily {sql}", {"start": START, "end": END})
