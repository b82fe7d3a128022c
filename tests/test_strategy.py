"""Step 1: the strategy assets and their checks, on the real definitions."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from assets import step1_strategy as step1
from assets.kpi_sql import kpi_queries
from quality.schemas import KPI_DAILY, ddl
from resources.config_models import Period, StrategyConfig
from resources.project import config_dir
from resources.settings import calendar, kpis, strategy
from resources.warehouse import Warehouse
from tests import kpi_dataset as data

CHECKS = [step1.objectives_are_measured, step1.targets_serve_objectives,
          step1.targets_point_the_right_way, step1.services_referenced_exist]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(config_dir(), folder)
    monkeypatch.setenv("SEVENSTEP_CONFIG_DIR", str(folder))
    return folder


def _run(tmp_path: Path) -> dict[str, dg.AssetCheckEvaluation]:
    warehouse = Warehouse(path=str(tmp_path / "warehouse.duckdb"))
    result = dg.materialize([step1.objectives, step1.services, step1.targets, *CHECKS],
                            resources={"warehouse": warehouse}, raise_on_error=False)
    return {e.event_specific_data.check_name: e.event_specific_data for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def _problems(evaluation: dg.AssetCheckEvaluation) -> str:
    return evaluation.metadata["problems"].value


def test_shipped_strategy_passes_every_check(config: Path, tmp_path: Path) -> None:
    checks = _run(tmp_path)
    assert sorted(checks) == sorted(next(iter(c.check_specs)).name for c in CHECKS)
    assert all(c.passed for c in checks.values()), {k: c.metadata for k, c in checks.items()}
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        targets = con.execute("SELECT objective_id, count(*) FROM strategy.targets "
                              "GROUP BY 1").fetchall()
        always_on = con.execute("SELECT service FROM strategy.services WHERE support_24x7 "
                                "ORDER BY 1").fetchall()
    assert {o for o, _ in targets} == {o.id for o in strategy().objectives}
    assert [s for (s,) in always_on] == sorted(calendar().always_on_services)


def test_an_unmeasured_objective_fails_the_blocking_check(config: Path, tmp_path: Path) -> None:
    text = (config / "kpis.yaml").read_text(encoding="utf-8")
    (config / "kpis.yaml").write_text(text.replace("objectives: [OBJ-CSAT]", "objectives: []"),
                                      encoding="utf-8")
    checks = _run(tmp_path)
    assert not checks["objectives_are_measured"].passed
    assert checks["objectives_are_measured"].blocking
    assert _problems(checks["objectives_are_measured"]) == (
        "- objective OBJ-CSAT has no KPI measuring it (add it to a KPI's objectives in "
        "config/kpis.yaml)")
    assert not checks["targets_serve_objectives"].passed  # the CSAT KPIs still have targets
    assert "csat_mean" in checks["targets_serve_objectives"].metadata[
        "kpis_without_objective"].value


def test_a_kpi_serving_an_unknown_objective_fails(config: Path, tmp_path: Path) -> None:
    text = (config / "kpis.yaml").read_text(encoding="utf-8")
    (config / "kpis.yaml").write_text(
        text.replace("objectives: [OBJ-CHANGE]", "objectives: [OBJ-CHANGE, OBJ-GONE]", 1),
        encoding="utf-8")
    problems = _problems(_run(tmp_path)["objectives_are_measured"])
    assert problems == ("- KPI change_volume serves objective OBJ-GONE, which "
                        "config/strategy.yaml does not define")


def test_a_24x7_service_unknown_to_the_strategy_fails(config: Path, tmp_path: Path) -> None:
    text = (config / "calendar.yaml").read_text(encoding="utf-8")
    (config / "calendar.yaml").write_text(text.replace("[Email, Network, Payments]",
                                                       "[Email, Mainframe]"), encoding="utf-8")
    check = _run(tmp_path)["services_referenced_exist"]
    assert not check.passed
    assert _problems(check) == ("- calendar.yaml always_on_services names 'Mainframe', which "
                                "is not a service of strategy.yaml")


def _baseline_strategy() -> StrategyConfig:
    return strategy().model_copy(update={"baseline": Period(start=data.START,
                                                            end=data.END - dt.timedelta(1))})


def test_targets_carry_the_exact_baseline_value() -> None:
    con = duckdb.connect(":memory:")
    data.build(con)
    con.execute(ddl("clean", "kpi_daily", KPI_DAILY))
    con.execute(data.CALENDAR.macro_sql())
    for kpi in kpis().kpis:
        for _, sql in kpi_queries(kpi, data.CALENDAR):
            con.execute(f"INSERT INTO clean.kpi_daily {sql}",
                        {"start": data.START, "end": data.END})
    baseline = step1.baseline_values(con, _baseline_strategy(), kpis())
    frame = step1.targets_frame(_baseline_strategy(), kpis(), baseline)
    values = frame.drop_duplicates("kpi_id").set_index("kpi_id")["baseline_value"]
    assert values["mttr"] == pytest.approx(9390 / 7)  # see test_kpi_values.py
    assert values["mttr_median"] == 1020  # recomputed from detail rows, not daily medians
    assert values["backlog"] == 3  # the level on the last baseline day
    assert frame["baseline_start"].unique().tolist() == [pd.Timestamp(data.START)]


def test_no_baseline_before_any_facts_exist() -> None:
    con = duckdb.connect(":memory:")
    assert step1.baseline_values(con, strategy(), kpis()) == {}


def test_targets_that_ask_for_deterioration_are_flagged() -> None:
    frame = pd.DataFrame([
        {"kpi_id": "mttr", "direction": "lower_is_better", "unit": "minutes", "target": 3000,
         "baseline_value": 1341.4},
        {"kpi_id": "csat_mean", "direction": "higher_is_better", "unit": "score",
         "target": 4.0, "baseline_value": 4.0},
        {"kpi_id": "availability", "direction": "higher_is_better", "unit": "%",
         "target": 99.5, "baseline_value": None},
        {"kpi_id": "reopen_rate", "direction": "lower_is_better", "unit": "%", "target": 0.02,
         "baseline_value": 0.03},
    ])
    assert step1.wrong_way_targets(frame) == [
        "mttr: target 3000 is worse than the baseline 1341, though lower is better: it asks "
        "for deterioration",
        "availability: target 99.5 is not a share between 0 and 1",
    ]
