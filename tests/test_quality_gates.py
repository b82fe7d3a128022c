"""Bad source data gets a blocking check failure with a clear message, and nothing downstream
of it is materialized (issue 5): a missing column, an empty key column, a wrong timezone, and a
code nobody mapped — which is released by fixing the mapping and re-running the day."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from pipelines.runner import failure_summary, run_range
from resources.synthetic import SyntheticSource
from tests.conftest import AS_OF, pipeline_resources

pytestmark = pytest.mark.e2e
CONFIG = Path(__file__).resolve().parents[1] / "config"
DAY = dt.date(2026, 5, 20)


class MutatedSource(SyntheticSource):
    """The synthetic source with one fault applied to every incident of the run."""

    fault: str = "none"

    def days(self, start, end):
        for day, frames in super().days(start, end):
            incidents = frames["incidents"]
            if self.fault == "drop_priority":
                incidents = incidents.drop(columns=["priority"])
            elif self.fault == "empty_keys":
                incidents = incidents.assign(number="")
            elif self.fault == "new_priority_code":
                incidents = incidents.assign(priority="P-URGENT")
            yield day, {**frames, "incidents": incidents}


def _run(folder: Path, first: dt.date, last: dt.date, fault: str = "none"):
    resources = pipeline_resources(folder)
    resources["synthetic"] = MutatedSource(as_of=AS_OF.isoformat(), incidents_per_day=40,
                                           fault=fault)
    return run_range(first, last, resources=resources,
                     dagster_instance=dg.DagsterInstance.ephemeral())


def _failed_checks(result) -> dict[str, dict]:
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            ev = event.event_specific_data
            if not ev.passed:
                out[f"{ev.asset_key.to_user_string()}:{ev.check_name}"] = {
                    k: getattr(v, "value", v) for k, v in ev.metadata.items()}
    return out


def _materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def _config_copy(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(CONFIG, folder)
    sources = yaml.safe_load((folder / "sources.yaml").read_text())
    edit(sources["sources"][0])
    (folder / "sources.yaml").write_text(yaml.safe_dump(sources, sort_keys=False))
    return folder


def test_missing_required_column_blocks_the_clean_layer(tmp_path) -> None:
    result = _run(tmp_path, DAY, DAY, "drop_priority")
    failed = _failed_checks(result)
    assert "raw/synthetic_incidents:source_contract" in failed
    assert "required column 'priority' is missing" in failed[
        "raw/synthetic_incidents:source_contract"]["failures"]
    assert "clean/incidents" not in _materialized(result)
    assert "clean/kpi_daily" not in _materialized(result)


def test_key_column_all_empty_blocks_the_clean_layer(tmp_path) -> None:
    result = _run(tmp_path, DAY, DAY, "empty_keys")
    failures = _failed_checks(result)["raw/synthetic_incidents:source_contract"]["failures"]
    assert "key column 'number' is empty in 100.0% of rows" in failures
    assert "clean/incidents" not in _materialized(result)


def test_wrong_source_timezone_is_caught_by_the_hour_profile(tmp_path, monkeypatch) -> None:
    history = _run(tmp_path, DAY - dt.timedelta(days=21), DAY - dt.timedelta(days=1))
    assert history.success
    wrong = _config_copy(tmp_path, lambda s: s.update(timezone="Asia/Tokyo"))
    monkeypatch.setenv("SEVENSTEP_CONFIG_DIR", str(wrong))
    result = _run(tmp_path, DAY, DAY + dt.timedelta(days=1))
    failed = _failed_checks(result)
    verdict = failed["clean/incidents:opened_hour_profile"]["verdict"]
    shift = float(re.search(r"moved by ([-+][0-9.]+) h", verdict).group(1))
    assert -10 < shift < -8  # Tokyo is 9 hours ahead of UTC
    assert "timezone" in verdict
    assert "clean/kpi_daily" not in _materialized(result)
    # the terminal (sevenstep run, backfill) says why, not only which check
    summary = failure_summary(result).splitlines()
    at = summary.index("check clean/incidents:opened_hour_profile failed")
    assert summary[at + 1] == f"    verdict: {verdict}"


def test_unknown_code_is_quarantined_blocks_and_is_released_by_a_mapping(
    tmp_path, monkeypatch
) -> None:
    result = _run(tmp_path, DAY, DAY, "new_priority_code")
    failed = _failed_checks(result)
    days = failed["clean/incidents:quarantine_share"]["days_over_limit"]
    assert f"{DAY}:" in days and "UNKNOWN_CODE" in days
    assert "clean/kpi_daily" not in _materialized(result)
    warehouse = pipeline_resources(tmp_path)["warehouse"]
    with warehouse.connect(read_only=True) as con:
        rejected = con.execute(
            "SELECT count(*), min(detail) FROM clean.incidents_quarantine "
            "WHERE reason_code = 'UNKNOWN_CODE'").fetchall()[0]
    assert rejected[0] > 10
    assert 'priority "P-URGENT" is not in mapping incident_priority' in rejected[1]

    fixed = _config_copy(
        tmp_path, lambda s: s["mappings"]["incident_priority"].update({"P-URGENT": "1"}))
    monkeypatch.setenv("SEVENSTEP_CONFIG_DIR", str(fixed))
    rerun = _run(tmp_path, DAY, DAY, "new_priority_code")
    assert rerun.success, _failed_checks(rerun)
    with warehouse.connect(read_only=True) as con:
        left = con.execute("SELECT count(*) FROM clean.incidents_quarantine "
                           "WHERE reason_code = 'UNKNOWN_CODE'").fetchall()[0][0]
        released = con.execute("SELECT count(*) FROM clean.incidents WHERE priority = 1 "
                               "AND _partition = ?", [DAY]).fetchall()[0][0]
        # An injected dirty row that also carried the new code now shows its other fault.
        other = con.execute("SELECT count(*) FROM clean.incidents_quarantine WHERE reason_code "
                            "NOT LIKE 'DUPLICATE%' AND _partition = ?", [DAY]).fetchall()[0][0]
    assert left == 0
    assert released + other == rejected[0]
    assert other <= 3
