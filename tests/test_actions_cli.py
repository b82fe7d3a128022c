"""`sevenstep actions ...` on a register in a temporary warehouse: what people type, and what
they are told when the register refuses."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines.cli import main
from resources.register import Register, default_url


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    register = Register.open(default_url(path))
    for action_id, service in (("ACT-1", "ERP"), ("ACT-2", "Email")):
        register.create({"action_id": action_id, "title": f"Reduce mttr for {service}",
                         "kpi_id": "mttr", "scope_breakdown": "service",
                         "scope_value": service, "scope": service, "rationale": "degrading"})
    return path


def _run(warehouse: Path, *args: str, user: str = "alice") -> tuple[int, str]:
    result = CliRunner().invoke(main, ["actions", *args], env={
        "SEVENSTEP_WAREHOUSE": str(warehouse), "SEVENSTEP_USER": user,
        "SEVENSTEP_REGISTER_URL": ""})
    return result.exit_code, result.output


def test_accept_assign_update_close_and_show(warehouse: Path) -> None:
    assert _run(warehouse, "accept", "ACT-1", "--owner", "bob", "--due", "2026-07-01") == (
        0, "ACT-1: accepted, version 2\n")
    assert _run(warehouse, "assign", "ACT-1", "carol", user="bob")[0] == 0
    code, out = _run(warehouse, "update", "ACT-1", "--set", "status=in_progress",
                     "--set", "resources=two engineers")
    assert (code, out) == (0, "ACT-1: in_progress, version 4\n")
    assert _run(warehouse, "close", "ACT-1", "--on", "2026-06-15")[0] == 0
    code, out = _run(warehouse, "show", "ACT-1")
    assert code == 0
    assert "          status: done" in out and "         done_on: 2026-06-15" in out
    assert "owner" in out and "bob" in out and "carol" in out  # the history shows both owners
    register = Register.open(default_url(warehouse))
    owners = [(e.actor, e.old_value, e.new_value) for e in register.events("ACT-1")
              if e.field == "owner"]
    assert owners == [("alice", None, "bob"), ("bob", "bob", "carol")]


def test_list_shows_active_actions_and_reject_needs_a_reason(warehouse: Path) -> None:
    code, out = _run(warehouse, "reject", "ACT-2")
    assert code == 2 and "Missing option '--reason'" in out
    assert _run(warehouse, "reject", "ACT-2", "--reason", "duplicate of ACT-1")[0] == 0
    code, out = _run(warehouse, "list")
    assert code == 0 and "ACT-1" in out and "ACT-2" not in out
    code, out = _run(warehouse, "list", "--all")
    assert "ACT-2" in out and "rejected" in out
    assert Register.open(default_url(warehouse)).get("ACT-2").notes == "duplicate of ACT-1"


def test_refusals_are_clear_errors(warehouse: Path) -> None:
    code, out = _run(warehouse, "close", "ACT-1")
    assert code == 1 and "status cannot go from proposed to done" in out
    code, out = _run(warehouse, "update", "ACT-1", "--set", "current_value=3")
    assert code == 2 and "field 'current_value' cannot be set by hand" in out
    code, out = _run(warehouse, "accept", "ACT-1", "--expect-version", "7")
    assert code == 1 and "based on version 7 but the register is at version 1" in out
    code, out = _run(warehouse, "show", "ACT-9")
    assert code == 1 and "no action 'ACT-9'" in out


def test_csv_export_and_a_conflicting_import(warehouse: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "actions.csv"
    assert _run(warehouse, "export", str(sheet)) == (0, f"2 actions written to {sheet}\n")
    rows = list(csv.DictReader(sheet.open()))
    rows[0]["owner"] = "dave"
    with sheet.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _run(warehouse, "assign", "ACT-1", "erin", user="bob")  # somebody was quicker
    code, out = _run(warehouse, "import", str(sheet))
    assert code == 1
    assert "conflicting edits: the import was refused and nothing was saved" in out
    assert "ACT-1 exported at version 1, now at version 2" in out
    assert "owner None -> 'erin' by bob" in out
    assert Register.open(default_url(warehouse)).get("ACT-1").owner == "erin"
