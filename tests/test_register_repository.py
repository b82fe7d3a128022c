"""The register's storage rules on DuckDB (the warehouse) and on the local PostgreSQL.

Migrations, optimistic concurrency, the event history, the protection of fields a person set,
and the CSV round trip with its conflict detection, each on both backends.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pytest
import sqlalchemy as sa

from assets.step7_implement.evaluation import evaluate, windows
from resources.register import PIPELINE, ConflictError, Register, RegisterError, migrate
from resources.register.csv_io import export_csv, import_csv
from tests.services import require_module, require_service

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _proposal(action_id: str = "ACT-1", **values: object) -> dict[str, object]:
    return {"action_id": action_id, "title": "Reduce mean time to resolve for ERP",
            "kpi_id": "mttr", "scope_breakdown": "service", "scope_value": "ERP",
            "scope": "ERP", "rationale": "degrading", "baseline_value": 3000.0,
            **values}


@pytest.fixture(params=["duckdb", "postgresql"])
def url(request, tmp_path: Path):
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
        return
    require_module("psycopg")
    require_service("postgresql")
    engine = sa.create_engine(PG_URL)

    def drop() -> None:
        with engine.begin() as con:
            con.exec_driver_sql("DROP SCHEMA IF EXISTS improve CASCADE")

    drop()
    yield PG_URL
    drop()
    engine.dispose()


def test_open_migrates_once_and_keeps_the_rows(url: str) -> None:
    register = Register.open(url)
    register.create(_proposal())
    again = Register.open(url)  # a second start: nothing re-created, nothing lost
    with again.engine.connect() as con:
        assert migrate.current(con) == migrate.head()
    assert [a.action_id for a in again.actions()] == ["ACT-1"]


def test_every_change_is_a_versioned_event(url: str) -> None:
    register = Register.open(url)
    created = register.create(_proposal())
    assert (created.status, created.version) == ("proposed", 1)
    changed = register.change("ACT-1", {"status": "accepted", "owner": "alice"}, "bob",
                              expected_version=1)
    assert (changed.status, changed.owner, changed.version) == ("accepted", "alice", 2)
    history = register.events("ACT-1")
    assert {("status", None, "proposed"), ("baseline_value", None, "3000.0")} <= {
        (e.field, e.old_value, e.new_value) for e in history if e.version == 1}
    assert [(e.actor, e.field, e.old_value, e.new_value) for e in history if e.version == 2] \
        == [("bob", "status", "proposed", "accepted"), ("bob", "owner", None, "alice")]


def test_a_stale_version_is_refused_with_who_changed_what(url: str) -> None:
    register = Register.open(url)
    register.create(_proposal())
    register.change("ACT-1", {"owner": "alice"}, "bob", expected_version=1)
    with pytest.raises(ConflictError, match=r"version 1 .* version 2.*owner None -> 'alice' "
                                            r"by bob"):
        register.change("ACT-1", {"owner": "carol"}, "dave", expected_version=1)
    assert register.get("ACT-1").owner == "alice"


def test_status_rules(url: str) -> None:
    register = Register.open(url)
    register.create(_proposal())
    with pytest.raises(RegisterError, match="cannot go from proposed to done"):
        register.change("ACT-1", {"status": "done"}, "bob")
    register.change("ACT-1", {"status": "accepted"}, "bob")
    with pytest.raises(RegisterError, match="needs done_on"):
        register.change("ACT-1", {"status": "done"}, "bob")
    register.change("ACT-1", {"status": "done", "done_on": dt.date(2026, 3, 1)}, "bob")
    with pytest.raises(RegisterError, match="set by the evaluation"):
        register.change("ACT-1", {"status": "verified"}, "bob")
    with pytest.raises(RegisterError, match="cannot be set by a person"):
        register.change("ACT-1", {"current_value": 1.0}, "bob")
    register.change("ACT-1", {"status": "verified", "effect": 0.4}, PIPELINE)
    assert register.get("ACT-1").status == "verified"


def test_the_pipeline_never_overwrites_a_field_a_person_set(url: str) -> None:
    register = Register.open(url)
    register.create(_proposal())
    register.change("ACT-1", {"rationale": "the batch window is too short"}, "alice")
    register.change("ACT-1", {"rationale": "degrading again", "current_value": 2500.0},
                    PIPELINE)
    action = register.get("ACT-1")
    assert action.rationale == "the batch window is too short"
    assert action.current_value == 2500.0
    assert not [e for e in register.events("ACT-1")
                if e.actor == PIPELINE and e.field == "rationale" and e.version > 1]


def test_csv_round_trip_applies_edits_and_refuses_conflicts(url: str, tmp_path: Path) -> None:
    register = Register.open(url)
    register.create(_proposal("ACT-1"))
    register.create(_proposal("ACT-2", scope_value="HR Portal", scope="HR Portal"))
    sheet = tmp_path / "register.csv"
    assert export_csv(register, sheet) == 2
    rows = list(csv.DictReader(sheet.open()))
    rows[0]["owner"], rows[0]["due_date"] = "alice", "2026-07-01"
    rows[1]["status"] = "accepted"
    _write(sheet, rows)
    # Meanwhile the nightly run refreshes a measured value, and a colleague edits ACT-2's owner
    # and status: the first does not conflict, the second does.
    register.change("ACT-1", {"current_value": 2900.0}, PIPELINE)
    register.change("ACT-2", {"status": "accepted", "owner": "bob"}, "carol")
    rows[1]["status"] = "rejected"
    rows[1]["notes"] = "not worth it"
    _write(sheet, rows)
    with pytest.raises(ConflictError) as refused:
        import_csv(register, sheet, "dave")
    message = str(refused.value)
    assert "refused and nothing was saved" in message
    assert "ACT-2 exported at version 1, now at version 2" in message
    assert "status 'proposed' -> 'accepted' by carol" in message
    assert "ACT-1" not in message
    assert register.get("ACT-1").owner is None  # all or nothing
    fresh = tmp_path / "fresh.csv"
    export_csv(register, fresh)
    rows = list(csv.DictReader(fresh.open()))
    rows[0]["owner"], rows[0]["due_date"] = "alice", "2026-07-01"
    _write(fresh, rows)
    assert import_csv(register, fresh, "dave") == 1
    action = register.get("ACT-1")
    assert (action.owner, action.due_date, action.current_value) == (
        "alice", dt.date(2026, 7, 1), 2900.0)
    assert {e.actor for e in register.events("ACT-1") if e.field == "owner"} == {"dave"}


def test_csv_errors_name_file_line_and_field(url: str, tmp_path: Path) -> None:
    register = Register.open(url)
    register.create(_proposal("ACT-1"))
    sheet = tmp_path / "register.csv"
    export_csv(register, sheet)
    rows = list(csv.DictReader(sheet.open()))
    rows[0]["due_date"], rows[0]["priority"] = "next week", "urgent"
    rows.append({**rows[0], "action_id": "ACT-404", "due_date": ""})
    _write(sheet, rows)
    with pytest.raises(RegisterError) as refused:
        import_csv(register, sheet, "dave")
    message = str(refused.value)
    assert f"{sheet}:2: ACT-1: field 'due_date': 'next week' is not a date" in message
    assert "field 'priority': 'urgent' is not one of low, medium, high, critical" in message
    assert f"{sheet}:3: no action 'ACT-404'" in message
    assert register.get("ACT-1").version == 1


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_a_warehouse_with_the_unversioned_register_is_carried_forward(tmp_path: Path) -> None:
    """Warehouses built before the register was versioned keep their actions and history."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA improve")
        con.execute("""CREATE TABLE improve.actions (
          action_id VARCHAR PRIMARY KEY, title VARCHAR NOT NULL, description VARCHAR,
          kpi_id VARCHAR NOT NULL, finding_ids VARCHAR, objective_id VARCHAR,
          scope_breakdown VARCHAR NOT NULL, scope_value VARCHAR NOT NULL, scope VARCHAR NOT NULL,
          priority VARCHAR, status VARCHAR NOT NULL, owner VARCHAR, due_date DATE,
          resources VARCHAR, baseline_value DOUBLE, baseline_period VARCHAR, target DOUBLE,
          current_value DOUBLE, last_evaluated TIMESTAMP, effect VARCHAR, rationale VARCHAR,
          created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL, version INTEGER NOT NULL)
          """)
        con.execute("""CREATE TABLE improve.action_events (action_id VARCHAR NOT NULL,
          event_at TIMESTAMP NOT NULL, actor VARCHAR NOT NULL, field VARCHAR NOT NULL,
          old_value VARCHAR, new_value VARCHAR)""")
        con.execute("""INSERT INTO improve.actions VALUES ('ACT-OLD', 'Old action', NULL, 'mttr',
          NULL, NULL, 'service', 'ERP', 'ERP', 'medium', 'accepted', 'alice', DATE '2026-02-01',
          NULL, 10, NULL, 5, 9, NULL, NULL, 'why', TIMESTAMP '2026-01-01',
          TIMESTAMP '2026-01-02', 2)""")
        con.execute("""INSERT INTO improve.action_events VALUES
          ('ACT-OLD', TIMESTAMP '2026-01-01', 'pipeline', 'status', NULL, 'proposed'),
          ('ACT-OLD', TIMESTAMP '2026-01-02', 'alice', 'status', 'proposed', 'accepted')""")
    register = Register.open(f"duckdb:///{path}")
    action = register.get("ACT-OLD")
    assert (action.owner, action.status, action.version, action.due_date) == (
        "alice", "accepted", 2, dt.date(2026, 2, 1))
    assert [(e.actor, e.new_value) for e in register.events("ACT-OLD")] == [
        ("pipeline", "proposed"), ("alice", "accepted")]
    assert register.human_fields()["ACT-OLD"] == {"status"}
    register.change("ACT-OLD", {"owner": "bob"}, "carol", expected_version=2)


def test_evaluation_verifies_a_real_improvement_and_not_noise() -> None:
    rng = np.random.default_rng(1)
    before = rng.lognormal(np.log(3000), 0.5, 28)
    better = rng.lognormal(np.log(1500), 0.5, 28)
    same = rng.lognormal(np.log(3000), 0.5, 28)
    args = dict(alpha=0.05, min_relative_change=0.05, min_days=10, unit="minutes")
    good = evaluate(before, better, "lower_is_better", **args)
    assert good.verified and good.p_value < 0.05 and good.relative_change > 0.3
    assert good.summary.startswith("verified: median daily value")
    assert not evaluate(before, same, "lower_is_better", **args).verified
    # the same improvement on a higher-is-better KPI is a deterioration
    assert not evaluate(before, better, "higher_is_better", **args).verified
    thin = evaluate(before[:5], better, "lower_is_better", **args)
    assert not thin.verified and "cannot be shown" in thin.summary
    assert windows(dt.date(2026, 3, 1), 28) == (
        (dt.date(2026, 2, 1), dt.date(2026, 2, 28)), (dt.date(2026, 3, 1), dt.date(2026, 3, 28)))
    assert windows(dt.date(2026, 3, 1), 28, settle=7)[1] == (
        dt.date(2026, 3, 8), dt.date(2026, 4, 4))
