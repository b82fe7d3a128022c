"""The improvement loop end to end: a year of synthetic data through the real definitions.

Two services get four times slower to resolve 60 days before the actions are closed. The
register proposes an action for each; through the CLI a person accepts both, edits them and
closes them on the same day. The generator then makes ERP fast again (the action worked) and
leaves Email slow (it did not). Later runs must keep every human edit and the history, wait
for the evaluation window, then mark the ERP action verified and the Email action
ineffective, with the numbers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from resources.register import Register, default_url
from resources.register.models import Action, ActionEvent
from resources.register.settings import register_config
from resources.report_store import ReportStore
from resources.synthetic import SyntheticSource
from resources.synthetic_data import SyntheticParams
from resources.warehouse import Warehouse

pytestmark = pytest.mark.e2e

FIRST = dt.date(2024, 11, 5)
FIRST_RUN_END = dt.date(2025, 9, 30)
DONE_ON = dt.date(2025, 10, 1)  # both actions are closed as taking effect on this day
EARLY_RUN_END = dt.date(2025, 10, 20)  # before the evaluation window has passed
LAST = dt.date(2025, 11, 4)  # one year of data in all; the window (7 + 28 days) has passed
SLOWER_FROM = DONE_ON - dt.timedelta(days=60)
FIXED, UNFIXED = "ERP", "Email"
CHANGES = ((FIXED, SLOWER_FROM, 4.0), (UNFIXED, SLOWER_FROM, 4.0), (FIXED, DONE_ON, 0.25))
HUMAN = {"owner", "due_date", "title", "rationale", "priority", "resources", "status",
         "done_on"}


class StagedSource(SyntheticSource):
    """The synthetic source without its scenario events, with the staged resolution changes."""

    def params(self) -> SyntheticParams:
        return dataclasses.replace(super().params(), events=False, resolution_changes=CHANGES)


@dataclass
class Story:
    proposed: list[Action]
    fixed_id: str
    unfixed_id: str
    other_id: str
    after_edits: dict[str, Action]
    history_after_edits: list[ActionEvent]
    after_early_run: dict[str, Action]
    history_after_early_run: list[ActionEvent]
    final: dict[str, Action]
    warehouse: Path


def _cli(warehouse: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["actions", *args], env={
        "SEVENSTEP_WAREHOUSE": str(warehouse), "SEVENSTEP_USER": "service.owner"})
    assert result.exit_code == 0, result.output
    return result.output


def _by_id(register: Register) -> dict[str, Action]:
    return {a.action_id: a for a in register.actions()}


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    from pipelines.runner import run_range

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    assert "SEVENSTEP_REGISTER_URL" not in os.environ, "this test keeps the register in DuckDB"
    folder = tmp_path_factory.mktemp("register_loop")
    warehouse = folder / "warehouse.duckdb"
    resources = {
        "warehouse": Warehouse(path=str(warehouse)),
        "synthetic": StagedSource(as_of=f"{LAST + dt.timedelta(days=1)}T00:00:00",
                                  incidents_per_day=20.0),
        "report_store": ReportStore(directory=str(folder / "reports")),
    }
    instance = dg.DagsterInstance.ephemeral()

    def run(first: dt.date, last: dt.date) -> None:
        result = run_range(first, last, resources=resources, dagster_instance=instance,
                           log_level="WARNING")
        assert result.success, f"run {first} .. {last} failed"

    run(FIRST, FIRST_RUN_END)
    register = Register.open(default_url(warehouse))
    proposed = register.actions()
    mttr = {a.scope_value: a.action_id for a in proposed if a.kpi_id == "mttr"}
    fixed_id, unfixed_id = mttr[FIXED], mttr[UNFIXED]
    other_id = next(a.action_id for a in proposed if a.action_id not in (fixed_id, unfixed_id))

    for action_id in (fixed_id, unfixed_id):
        _cli(warehouse, "accept", action_id, "--owner", "erp.lead", "--due", "2025-10-20")
        _cli(warehouse, "update", action_id, "--set", "title=Speed up the batch fix process",
             "--set", "rationale=Batch failures wait for the nightly window",
             "--set", "priority=critical", "--set", "resources=two engineers for a month",
             "--set", "status=in_progress")
        seen = register.get(action_id).version
        _cli(warehouse, "close", action_id, "--on", DONE_ON.isoformat(),
             "--expect-version", str(seen))
    _cli(warehouse, "accept", other_id, "--due", "2025-10-05")
    _cli(warehouse, "assign", other_id, "capacity.planner")
    after_edits, history_after_edits = _by_id(register), register.events()

    run(DONE_ON, EARLY_RUN_END)
    after_early_run, history_after_early_run = _by_id(register), register.events()
    run(EARLY_RUN_END + dt.timedelta(days=1), LAST)
    return Story(proposed, fixed_id, unfixed_id, other_id, after_edits, history_after_edits,
                 after_early_run, history_after_early_run, _by_id(register), warehouse)


def test_the_first_run_proposes_an_action_per_degrading_service(story: Story) -> None:
    by_id = {a.action_id: a for a in story.proposed}
    for action_id, service in ((story.fixed_id, FIXED), (story.unfixed_id, UNFIXED)):
        action = by_id[action_id]
        assert action.status == "proposed"
        assert (action.scope_breakdown, action.scope, action.objective_id) == (
            "service", service, "OBJ-RESTORE")
        assert action.title == f"Reduce mean time to resolve for {service}"
        assert action.rationale.startswith("Degrading: +")
        assert action.finding_ids and action.evidence.startswith(f"as of {FIRST_RUN_END}")
        assert action.baseline_value > 0 and action.target is not None
    scopes = [(a.kpi_id, a.scope_breakdown, a.scope_value) for a in story.proposed]
    assert len(scopes) == len(set(scopes)), "one active action per KPI and scope"


def test_a_rerun_after_human_edits_keeps_them_and_the_history(story: Story) -> None:
    for action_id in (story.fixed_id, story.unfixed_id, story.other_id):
        edited, later = story.after_edits[action_id], story.after_early_run[action_id]
        for field in HUMAN:
            assert getattr(later, field) == getattr(edited, field), (action_id, field)
    fixed = story.after_early_run[story.fixed_id]
    assert (fixed.owner, fixed.title, fixed.priority) == (
        "erp.lead", "Speed up the batch fix process", "critical")
    keys = [(e.event_id, e.actor, e.field, e.old_value, e.new_value)
            for e in story.history_after_edits]
    assert [(e.event_id, e.actor, e.field, e.old_value, e.new_value)
            for e in story.history_after_early_run][:len(keys)] == keys
    assert {e.actor for e in story.history_after_edits} == {"pipeline", "service.owner"}


def test_actions_wait_for_the_evaluation_window(story: Story) -> None:
    assert story.after_early_run[story.fixed_id].status == "done"
    assert story.after_early_run[story.unfixed_id].status == "done"
    other = story.after_early_run[story.other_id]
    assert other.overdue and other.current_value is not None  # due 2025-10-05, not done


def test_later_runs_verify_the_action_that_worked_and_not_the_other(story: Story) -> None:
    settings = register_config().evaluation
    after = DONE_ON + dt.timedelta(days=settings.settle_days)
    fixed, unfixed = story.final[story.fixed_id], story.final[story.unfixed_id]
    assert fixed.status == "verified", fixed.effect_summary
    assert fixed.effect > 0.3 and fixed.effect_p_value < 0.05
    assert fixed.effect_summary.startswith("verified: median daily value")
    assert f"after {after} .. {after + dt.timedelta(days=settings.window_days - 1)}" in \
        fixed.effect_summary
    assert unfixed.status == "ineffective", unfixed.effect_summary
    assert unfixed.effect_p_value >= 0.05 or unfixed.effect < 0.05
    assert unfixed.effect_summary.startswith("ineffective:")
    assert fixed.owner == "erp.lead" and unfixed.priority == "critical"


def test_the_loop_reopens_what_did_not_work_and_reports_it(story: Story) -> None:
    again = [a for a in story.final.values() if a.kpi_id == "mttr"
             and a.scope_value == UNFIXED and a.status == "proposed"]
    assert len(again) == 1 and story.unfixed_id in again[0].rationale
    with duckdb.connect(str(story.warehouse), read_only=True) as con:
        restore = con.execute(
            "SELECT status, ineffective_actions, verified_actions, did_not_work "
            "FROM improve.outcomes WHERE objective_id = 'OBJ-RESTORE'").fetchall()
    (status, ineffective, verified, did_not_work), = restore
    assert (status, ineffective, verified) == ("at_risk", 1, 1)
    assert story.unfixed_id in did_not_work
