"""Manual data entry (`sevenstep template` / `enter`) and the drop-folder sensor."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.runner import RANGE_END, RANGE_START
from pipelines.sensors import day_stretches, drop_folder_sensor
from tests.sources_support import gather, per_day, rows, source

ROOT = Path(__file__).resolve().parents[1]
MANUAL = """
  - name: manual
    kind: files
    entities: [outages]
    timezone: UTC
    timestamp_format: "%Y-%m-%d %H:%M"
    files:
      folder: {folder}
      patterns: {{outages: "manual_*.csv"}}
    mappings:
      outage_type: {{planned: planned, unplanned: unplanned}}
"""


@pytest.fixture
def manual_config(tmp_path: Path, monkeypatch) -> Path:
    """The project's config plus a manual-entry source, in SEVENSTEP_CONFIG_DIR."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    folder = tmp_path / "drop"
    with open(config / "sources.yaml", "a", encoding="utf-8") as handle:
        handle.write(MANUAL.format(folder=folder))
    monkeypatch.setenv("SEVENSTEP_CONFIG_DIR", str(config))
    return folder


def test_template_and_validated_entry_gathered_like_any_file(manual_config: Path,
                                                             tmp_path: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(main, ["template", "manual", "outages"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[0].split(",")[:5] == ["outage_id", "service", "cmdb_ci",
                                                           "type", "begin"]
    refused = runner.invoke(main, ["enter", "manual", "outages", "outage_id=M-1",
                                   "service=Email", "outage_type=sometimes",
                                   "start_at=yesterday"])
    assert refused.exit_code != 0
    assert "outage_type 'sometimes' is not in mapping outage_type" in refused.output
    assert "start_at 'yesterday' is not a timestamp in the format %Y-%m-%d %H:%M" in (
        refused.output)
    assert not (manual_config / "manual_outages.csv").exists()
    for n, day in ((1, "2026-03-02"), (2, "2026-03-03")):
        done = runner.invoke(main, ["enter", "manual", "outages", f"outage_id=M-{n}",
                                    "service=Email, EU", "outage_type=unplanned",
                                    f"start_at={day} 08:00", f"end_at={day} 08:30"])
        assert done.exit_code == 0, done.output
    from resources.settings import sources

    config = sources().get("manual")
    warehouse = tmp_path / "w.duckdb"
    assert gather(config, warehouse, dt.date(2026, 3, 2), dt.date(2026, 3, 3)).success
    assert rows(warehouse, "SELECT outage_id, service, _row FROM raw.manual_outages "
                "ORDER BY _row") == [("M-1", "Email, EU", 2), ("M-2", "Email, EU", 3)]


def test_sensor_asks_runs_for_the_days_of_new_content_only(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    config = source(name="drops", kind="files", entities=["outages"],
                    files={"folder": str(folder), "patterns": {"outages": "*.csv"}})
    header = "outage_id,service,type,begin,end\n"
    (folder / "a.csv").write_text(header + "O-1,Email,unplanned,2026-03-02 08:00:00,\n"
                                  "O-2,Email,unplanned,2026-03-03 08:00:00,\n"
                                  "O-3,VPN,planned,2026-03-07 08:00:00,\n")
    sensor = drop_folder_sensor(config)
    first = sensor(dg.build_sensor_context(cursor=None))
    ranges = [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in first.run_requests]
    assert ranges == [("2026-03-02", "2026-03-03"), ("2026-03-07", "2026-03-07")]
    # Nothing new: no run. The same content under another name: no run either.
    again = sensor(dg.build_sensor_context(cursor=first.cursor))
    assert not again.run_requests
    shutil.copyfile(folder / "a.csv", folder / "a_copy.csv")
    copy = sensor(dg.build_sensor_context(cursor=again.cursor))
    assert not copy.run_requests
    (folder / "b.csv").write_text(header + "O-4,Email,unplanned,2026-03-05 08:00:00,\n")
    new = sensor(dg.build_sensor_context(cursor=copy.cursor))
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in new.run_requests] == [
        ("2026-03-05", "2026-03-05")]
    # The run the sensor asks for loads each content once.
    warehouse = tmp_path / "w.duckdb"
    gather(config, warehouse, dt.date(2026, 3, 2), dt.date(2026, 3, 7))
    assert sum(per_day(warehouse, "drops_outages").values()) == 4


def test_day_stretches() -> None:
    d = dt.date(2026, 3, 1)
    days = {d, d + dt.timedelta(1), d + dt.timedelta(5)}
    assert day_stretches(days) == [(d, d + dt.timedelta(1)),
                                   (d + dt.timedelta(5), d + dt.timedelta(5))]
