"""The `source_freshness` check: passes while a source delivers, warns (without blocking
anything) with the source, entity, last delivery, silence and allowed interval once it stops."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from pydantic import ValidationError

from assets.common import DAILY, SINGLE_RUN
from assets.step3_gather.entities import partition_columns
from assets.step3_gather.freshness import FRESHNESS_CHECK, freshness_result
from assets.step3_gather.gather import build_source_gather
from assets.step3_gather.synthetic import build_synthetic_gather
from pipelines.runner import range_tags
from resources.config_models import SourceConfig
from resources.settings import sources
from resources.synthetic import SyntheticSource
from resources.warehouse import Warehouse
from tests.sources_support import source

D3, D6 = dt.date(2026, 3, 3), dt.date(2026, 3, 6)
HEADER = "number,priority,state,opened_at,sys_updated_on\n"


def _drop(folder: Path, name: str, day: dt.date, hour: int) -> None:
    """A one-ticket export written (modified) at `hour` UTC on `day`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(HEADER + f"INC-{day:%d},3,New,{day} 08:00:00,{day} 09:00:00\n",
                    encoding="utf-8")
    stamp = dt.datetime.combine(day, dt.time(hour), dt.UTC).timestamp()
    os.utime(path, (stamp, stamp))


def _drops(folder: Path, **fields: object) -> SourceConfig:
    return source(name="drops", kind="files", entities=["incidents"],
                  files={"folder": str(folder), "patterns": {"incidents": "incidents_*.csv"}},
                  **fields)


@dg.asset(key=["clean", "drops_downstream"], deps=[dg.AssetKey(["raw", "drops_incidents"])],
          partitions_def=DAILY, backfill_policy=SINGLE_RUN)
def _downstream() -> None:
    """Stands in for step 4: it must still run when the freshness check warns."""


def _run(config: SourceConfig, warehouse: Path, day: dt.date) -> dg.ExecuteInProcessResult:
    return dg.materialize([build_source_gather(config), _downstream],
                          resources={"warehouse": Warehouse(path=str(warehouse))},
                          tags=range_tags(day, day), instance=dg.DagsterInstance.ephemeral(),
                          raise_on_error=False)


def _freshness(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.event_specific_data.asset_key.path[-1]: e.event_specific_data
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
            and e.event_specific_data.check_name == FRESHNESS_CHECK}


def test_drop_folder_without_a_new_file_warns_and_blocks_nothing(tmp_path: Path) -> None:
    folder, warehouse = tmp_path / "drop", tmp_path / "w.duckdb"
    config = _drops(folder, freshness_hours=24)
    _drop(folder, "incidents_0303.csv", D3, 12)

    on_time = _freshness(_run(config, warehouse, D3))["drops_incidents"]
    assert on_time.passed  # 12 hours before the end of 3 March
    assert on_time.severity == dg.AssetCheckSeverity.WARN

    # Nothing new by the end of 6 March: 3 days 12 h after the last file, 24 h allowed.
    silent = _run(config, warehouse, D6)
    late = _freshness(silent)["drops_incidents"]
    assert not late.passed and late.severity == dg.AssetCheckSeverity.WARN
    verdict = late.description or ""
    for words in ("'drops'", "incidents", "incidents_0303.csv", "2026-03-03 12:00 UTC",
                  "silent for 3 days 12 h", "as of 2026-03-07 00:00 UTC", "24 h allowed"):
        assert words in verdict, (words, verdict)
    values = {k: v.value for k, v in late.metadata.items()}
    assert values["silence_hours"] == 84.0 and values["allowed_hours"] == 24
    assert values["last_delivery_utc"] == "2026-03-03 12:00:00"
    # A warning, not a failure: the run succeeds and the asset downstream still runs.
    assert silent.success
    materialized = {e.asset_key for e in silent.get_asset_materialization_events()}
    assert dg.AssetKey(["clean", "drops_downstream"]) in materialized

    # The next export arrives: fresh again, even after the folder was cleaned of the old one.
    (folder / "incidents_0303.csv").unlink()
    _drop(folder, "incidents_0306.csv", D6, 20)
    assert _freshness(_run(config, warehouse, D6))["drops_incidents"].passed


def test_a_folder_that_never_got_a_file_warns_and_null_turns_the_check_off(
        tmp_path: Path) -> None:
    folder, warehouse = tmp_path / "drop", tmp_path / "w.duckdb"
    folder.mkdir()
    never = _freshness(_run(_drops(folder), warehouse, D3))["drops_incidents"]
    assert not never.passed and "nothing was ever delivered" in (never.description or "")
    assert {k: v.value for k, v in never.metadata.items()}["allowed_hours"] == 48  # default

    off = _drops(folder, freshness_hours_by_entity={"incidents": None})
    assert _freshness(_run(off, warehouse, D3)) == {}
    checks = {spec.name for spec in build_source_gather(off).check_specs}
    assert checks == {"source_contract"}


def test_the_synthetic_source_is_fresh_on_a_normal_run_and_stale_past_its_extraction(
        tmp_path: Path) -> None:
    synthetic = sources().get("synthetic")
    as_of = "2026-05-28T00:00:00"  # the generator's extraction moment: nothing exists after it

    def run(first: dt.date, last: dt.date) -> dict[str, dg.AssetCheckEvaluation]:
        result = dg.materialize(
            [build_synthetic_gather(synthetic)], tags=range_tags(first, last),
            resources={"warehouse": Warehouse(path=str(tmp_path / "w.duckdb")),
                       "synthetic": SyntheticSource(as_of=as_of, incidents_per_day=8)},
            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
        assert result.success
        return _freshness(result)

    fresh = run(dt.date(2026, 5, 25), dt.date(2026, 5, 27))  # up to the extraction
    assert set(fresh) == {synthetic.raw_table(e) for e in synthetic.entities}
    assert all(check.passed for check in fresh.values()), fresh
    # Three days after the extraction the generator has delivered nothing new.
    stale = run(dt.date(2026, 5, 28), dt.date(2026, 5, 30))
    assert not any(check.passed for check in stale.values())
    verdict = stale["synthetic_outages"].description or ""
    assert "longer than the 48 h allowed" in verdict and "2026-05-27" in verdict


def test_database_rows_count_in_utc_and_a_future_date_hides_nothing() -> None:
    config = source(name="glpi", kind="sql", preset="glpi", entities=["incidents"],
                    timezone="Europe/Amsterdam", freshness_hours=6,
                    sql={"url_env": "GLPI_DATABASE_URL"})
    updated, opened = partition_columns(config, "incidents")
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    con.execute(f'CREATE TABLE raw.glpi_incidents ("{updated}" VARCHAR, "{opened}" VARCHAR, '
                "_partition DATE)")
    con.execute("INSERT INTO raw.glpi_incidents VALUES "
                "('2026-03-03 20:30:00', '2026-03-03 08:00:00', DATE '2026-03-03'), "
                "(NULL, '2026-03-03 21:00:00', DATE '2026-03-03'), "  # opened, never updated
                "('2099-01-01 00:00:00', '2099-01-01 00:00:00', DATE '2099-01-01')")
    # Opened 21:00 in Amsterdam is 20:00 UTC, newer than the update at 20:30 (19:30 UTC):
    # 4 h before the end of 3 March, within 6 h.
    fine = freshness_result(con, config, "incidents", dt.date(2026, 3, 4),
                            dt.datetime(2026, 3, 4, 2, 0))
    assert fine.passed
    values = {k: v.value for k, v in fine.metadata.items()}
    assert values["last_delivery_utc"] == "2026-03-03 20:00:00"
    assert values["as_of_utc"] == "2026-03-04 00:00:00" and values["silence_hours"] == 4.0
    # A run over 4-5 March at 09:00 on the 5th is judged at 09:00: 37 h of silence. The row
    # dated 2099 is ignored, else it would make the source look fresh forever.
    late = freshness_result(con, config, "incidents", dt.date(2026, 3, 6),
                            dt.datetime(2026, 3, 5, 9, 0))
    assert not late.passed
    assert {k: v.value for k, v in late.metadata.items()}["silence_hours"] == 37.0


def test_prometheus_has_no_freshness_and_stray_entities_are_refused(tmp_path: Path) -> None:
    probes = {"name": "probes", "kind": "prometheus", "entities": ["outages"],
              "prometheus": {"url": "http://prometheus:9090", "query": "up"}}
    assert SourceConfig.model_validate(probes).freshness("outages") is None
    with pytest.raises(ValidationError, match="prometheus source delivers outage rows"):
        SourceConfig.model_validate({**probes, "freshness_hours": 24})
    with pytest.raises(ValidationError, match="freshness_hours_by_entity names"):
        _drops(tmp_path, freshness_hours_by_entity={"changes": 12})
    with pytest.raises(ValidationError, match="greater than 0"):
        _drops(tmp_path, freshness_hours=0)
