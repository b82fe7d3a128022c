"""A KPI added in YAML materializes with no code change; changing it marks it stale."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.kpi_rollup import rollup
from assets.kpi_sql import kpi_version
from assets.step2_measures import kpi_catalogue
from assets.step4_process.kpi_facts import (
    CURRENT,
    FACTS_KEY,
    build_kpi_daily,
    catalogue_version,
)
from pipelines.runner import RANGE_END, RANGE_START
from resources.project import config_dir
from resources.settings import kpis
from resources.warehouse import Warehouse
from tests import kpi_dataset as data

USER_KPI = """
  - id: high_priority_share
    name: High-priority share
    description: Share of new incidents raised at priority 1 or 2.
    unit: "%"
    direction: lower_is_better
    aggregate: ratio
    table: incidents
    time_column: opened_at
    numerator: count(*) FILTER (WHERE priority <= 2)
    denominator: count(*)
    breakdowns: [service]
    owner: service.desk.manager
    attribution: Counted on the day the incident was opened.
    counting_unit: incident
"""


@pytest.fixture
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(config_dir(), folder)
    with (folder / "kpis.yaml").open("a", encoding="utf-8") as file:
        file.write(USER_KPI)
    monkeypatch.setenv("SEVENSTEP_CONFIG_DIR", str(folder))
    return folder


def _materialize_facts(warehouse: Warehouse, first: str, last: str) -> dg.ExecuteInProcessResult:
    dg.materialize([kpi_catalogue], resources={"warehouse": warehouse})
    return dg.materialize([build_kpi_daily(kpis())], resources={"warehouse": warehouse},
                          tags={RANGE_START: first, RANGE_END: last}, raise_on_error=False)


def test_a_user_kpi_in_yaml_materializes_without_code(user_config: Path, tmp_path: Path) -> None:
    warehouse = Warehouse(path=str(tmp_path / "warehouse.duckdb"))
    with warehouse.connect() as con:
        data.build(con)
    result = _materialize_facts(warehouse, "2026-03-02", "2026-03-09")
    assert result.success
    assert {e.asset_key for e in result.get_asset_materialization_events()} == {FACTS_KEY}
    kpi = kpis().get("high_priority_share")
    con = duckdb.connect(str(warehouse.database_path()), read_only=True)
    try:
        total = rollup(con, kpi, data.START, data.END, "window")
        by_service = rollup(con, kpi, data.START, data.END, "window", "service")
        daily = con.execute("SELECT value FROM clean.kpi_daily WHERE kpi_id = ? AND "
                            "breakdown = 'all' ORDER BY day", [kpi.id]).fetchall()
    finally:
        con.close()
    assert total["value"].item() == pytest.approx(3 / 8)  # I1, I3, I6 of eight opened
    assert dict(zip(by_service["breakdown_value"], by_service["value"], strict=True)) == \
        pytest.approx({"ERP": 1 / 6, "Email": 2 / 2})  # ERP: I1 of I1 I2 I4 I5 I8 I10
    assert [v for (v,) in daily] == [0.5, 0.5, None, 0, None, 1, None, 0]


def test_a_changed_definition_changes_only_its_versions(user_config: Path, tmp_path: Path) -> None:
    before = kpis()
    facts = build_kpi_daily(before)
    spec = facts.specs_by_key[FACTS_KEY]
    assert spec.code_version == catalogue_version(before)
    lineage = {r.data["kpi_id"]: r.data for r in spec.metadata["kpi_lineage"].records}
    assert lineage["high_priority_share"]["reads"] == "clean.incidents"
    assert lineage["availability"]["reads"] == "clean.outages, strategy.services"
    versions = {k.id: kpi_version(k) for k in before.kpis}
    path = user_config / "kpis.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("priority <= 2", "priority = 1"),
                    encoding="utf-8")
    after = kpis()
    changed = {k.id for k in after.kpis if kpi_version(k) != versions[k.id]}
    assert changed == {"high_priority_share"}
    assert build_kpi_daily(after).specs_by_key[FACTS_KEY].code_version != spec.code_version
    # Names, prose and targets are not part of a version: nothing becomes stale.
    renamed = path.read_text(encoding="utf-8").replace("High-priority share", "P1 share")
    path.write_text(renamed.replace("target: 95", "target: 90"), encoding="utf-8")
    assert {k.id: kpi_version(k) for k in kpis().kpis} == {k.id: kpi_version(k)
                                                             for k in after.kpis}
    assert kpis().get("high_priority_share").name == "P1 share"


def test_history_of_an_older_definition_is_flagged(user_config: Path, tmp_path: Path) -> None:
    warehouse = Warehouse(path=str(tmp_path / "warehouse.duckdb"))
    with warehouse.connect() as con:
        data.build(con)
    assert _materialize_facts(warehouse, "2026-03-02", "2026-03-09").success
    path = user_config / "kpis.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("priority <= 2", "priority = 1"),
                    encoding="utf-8")
    result = _materialize_facts(warehouse, "2026-03-09", "2026-03-09")
    checks = {e.event_specific_data.check_name: e.event_specific_data for e in result.all_events
              if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert not checks[CURRENT].passed
    text = checks[CURRENT].metadata["outdated"].value
    assert "high_priority_share: 7 days (2026-03-02 .. 2026-03-08)" in text
    assert "sevenstep kpi diff high_priority_share" in text
    assert "mttr" not in text
