"""Great Expectations Data Docs of the source contracts (and distribution checks): rendered
once per run into the report directory, escaped, bounded, linked from the reports' index, and
switchable off."""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import yaml

from assets.step3_gather.gather import build_source_gather
from assets.step3_gather.synthetic import build_synthetic_gather
from assets.step6_present.render import render_index
from pipelines.runner import range_tags
from quality.contracts import DATA_DOCS_DIR, DocsSettings, GxRun, gx_name
from quality.distributions import daily_volume
from resources.project import PROJECT_ROOT, data_dir
from resources.settings import sources
from resources.synthetic import SyntheticSource
from resources.warehouse import Warehouse
from tests.sources_support import source

D3 = dt.date(2026, 3, 3)
SCRIPT = re.compile(r"<script>\s*alert", re.IGNORECASE)
STATUS = re.compile(r"Status:</span>\s*<i [^>]*></i>\s*(\w+)")


def _status(page: str) -> str:
    """The verdict a validation page states in its overview (Succeeded or Failed)."""
    [status] = STATUS.findall(page)
    return status


def _site() -> Path:
    """Where the docs go with no settings: the default report directory of the test's data
    directory (conftest points SEVENSTEP_DATA_DIR at a temporary folder)."""
    return data_dir() / "reports" / DATA_DOCS_DIR


def _synthetic(warehouse: Path, first: dt.date, last: dt.date) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [build_synthetic_gather(sources().get("synthetic"))], tags=range_tags(first, last),
        resources={"warehouse": Warehouse(path=str(warehouse)),
                   "synthetic": SyntheticSource(as_of="2026-06-01T00:00:00",
                                                incidents_per_day=8)},
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success
    return result


def _contract_metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, object]]:
    return {e.event_specific_data.asset_key.path[-1]:
            {k: v.value for k, v in e.event_specific_data.metadata.items()}
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
            and e.event_specific_data.check_name == "source_contract"}


def _pages(site: Path, suite: str) -> list[Path]:
    return sorted((site / "validations" / suite).rglob("*.html"))


def test_a_short_synthetic_run_renders_the_contracts_as_data_docs(tmp_path: Path) -> None:
    synthetic = sources().get("synthetic")
    suites = [f"raw_{synthetic.raw_table(e)}_contract" for e in synthetic.entities]
    result = _synthetic(tmp_path / "w.duckdb", dt.date(2026, 5, 25), dt.date(2026, 5, 26))

    index = _site() / "index.html"
    page = index.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html>") and "</html>" in page
    for suite in suites:
        assert suite in page, f"index does not list {suite}"
        [validation] = _pages(_site(), suite)
        text = validation.read_text(encoding="utf-8")
        assert "2026-05-25..2026-05-26 run" in text  # the run name: days and Dagster run
        assert _status(text) == "Succeeded"
        assert (_site() / "expectations" / f"{suite}.html").is_file()
    # Each contract check points the UI at the site.
    for table, metadata in _contract_metadata(result).items():
        assert metadata["data_docs"] == str(index), table

    # A second run adds its own page per suite; the index lists both runs.
    _synthetic(tmp_path / "w.duckdb", dt.date(2026, 5, 27), dt.date(2026, 5, 27))
    page = index.read_text(encoding="utf-8")
    assert "2026-05-25..2026-05-26 run" in page and "2026-05-27..2026-05-27 run" in page
    assert all(len(_pages(_site(), suite)) == 2 for suite in suites)


def test_column_names_and_ticket_text_never_reach_the_page_as_html(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    evil_column = "<script>alert('column')</script>"
    # The ticket key holds markup; the configured priority column is missing from the file.
    (folder / "incidents.csv").write_text(
        "number,prio,state,opened_at,sys_updated_on\n"
        "<script>alert('ticket')</script>,3,New,2026-03-03 08:00:00,2026-03-03 09:00:00\n"
        "INC2,2,New,2026-03-03 10:00:00,2026-03-03 11:00:00\n", encoding="utf-8")
    config = source(name="drops", kind="files", entities=["incidents"],
                    columns={"incidents": {"priority": evil_column}},
                    files={"folder": str(folder), "patterns": {"incidents": "*.csv"}})
    result = dg.materialize(
        [build_source_gather(config)], tags=range_tags(D3, D3),
        resources={"warehouse": Warehouse(path=str(tmp_path / "w.duckdb"))},
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    # The contract fails (in Dagster, the column's real name) ...
    failures = str(_contract_metadata(result)["drops_incidents"]["failures"])
    assert f"required column {evil_column!r} is missing" in failures

    # ... and the docs show the failure with the name as text, never as markup.
    [validation] = _pages(_site(), "raw_drops_incidents_contract")
    text = validation.read_text(encoding="utf-8")
    assert _status(text) == "Failed"
    assert "&lt;script&gt;alert(&#x27;column&#x27;)&lt;/script&gt;" in text
    for page in _site().rglob("*.html"):
        assert not SCRIPT.search(page.read_text(encoding="utf-8")), page
    assert "ticket" not in text  # GX is given indicators, never the key's text


def test_a_failing_value_is_escaped_and_only_the_newest_results_are_kept(
        tmp_path: Path) -> None:
    import great_expectations as gx

    docs = DocsSettings(site=tmp_path / "site", store=tmp_path / "store", keep_per_suite=2)
    column = gx_name("short description")
    frame = pd.DataFrame({column: [gx_name("<script>alert('value')</script> & more"), "ok"]})
    for n in range(3):
        run = GxRun(docs, f"run {n}")
        result = run.validate(
            frame, "texts", [gx.expectations.ExpectColumnValuesToBeInSet(
                column=column, value_set=["ok"])], "texts")
        assert not result.success
        assert run.publish() == docs.site / "index.html"

    pages = _pages(docs.site, "texts")
    assert [p.parent.parent.name for p in pages] == ["run 1", "run 2"]  # run 0 dropped
    index = (docs.site / "index.html").read_text(encoding="utf-8")
    assert "run 2" in index and "run 0" not in index
    text = pages[-1].read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#x27;value&#x27;)&lt;/script&gt; &amp; more" in text
    assert not SCRIPT.search(text) and "&amp;lt;" not in text  # escaped once, shown as text


def test_docs_that_cannot_be_written_fail_nothing(tmp_path: Path, monkeypatch) -> None:
    blocked = tmp_path / "reports"
    blocked.write_text("a file where the report directory should be", encoding="utf-8")
    monkeypatch.setenv("SEVENSTEP_REPORT_DIR", str(blocked))
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "incidents.csv").write_text(
        "number,priority,state,opened_at,sys_updated_on\n"
        "INC1,3,New,2026-03-03 08:00:00,2026-03-03 09:00:00\n", encoding="utf-8")
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [build_source_gather(source(name="drops", kind="files", entities=["incidents"],
                                    files={"folder": str(folder),
                                           "patterns": {"incidents": "*.csv"}}))],
        tags=range_tags(D3, D3),
        resources={"warehouse": Warehouse(path=str(tmp_path / "w.duckdb"))},
        instance=instance, raise_on_error=False)
    assert result.success  # the gather and its checks stand ...
    assert _contract_metadata(result)["drops_incidents"]["failures"] == "none"
    warnings = [entry.user_message for entry in instance.all_logs(result.run_id)
                if entry.level == logging.WARNING]
    # ... and the run's log says why there are no Data Docs.
    assert any("Data Docs not written: FileExistsError" in w for w in warnings), warnings


def test_turned_off_in_operations_yaml_no_docs_are_written(tmp_path: Path, monkeypatch) -> None:
    config_dir = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", config_dir)
    path = config_dir / "operations.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings["operations"]["data_docs"]["enabled"] = False
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    monkeypatch.setenv("SEVENSTEP_CONFIG_DIR", str(config_dir))
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "incidents.csv").write_text(
        "number,priority,state,opened_at,sys_updated_on\n"
        "INC1,3,New,2026-03-03 08:00:00,2026-03-03 09:00:00\n", encoding="utf-8")
    result = dg.materialize(
        [build_source_gather(source(name="drops", kind="files", entities=["incidents"],
                                    files={"folder": str(folder),
                                           "patterns": {"incidents": "*.csv"}}))],
        tags=range_tags(D3, D3),
        resources={"warehouse": Warehouse(path=str(tmp_path / "w.duckdb"))},
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    metadata = _contract_metadata(result)["drops_incidents"]
    assert result.success and metadata["failures"] == "none"
    assert "data_docs" not in metadata
    assert not _site().exists() and not (data_dir() / "great_expectations").exists()


def test_a_distribution_check_adds_its_validation_to_the_data_docs() -> None:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA clean")
    # 30 days of 10 incidents a day, then a day with 100: outside 4x the usual volume.
    con.execute("CREATE TABLE clean.incidents AS SELECT DATE '2026-04-01' + CAST(i // 10 AS "
                "INTEGER) AS _partition FROM range(300) t(i)")
    con.execute("INSERT INTO clean.incidents SELECT DATE '2026-05-01' FROM range(100)")
    passed, _ = daily_volume(con, "incidents", dt.date(2026, 5, 1), dt.date(2026, 5, 2))
    assert not passed
    [page] = _pages(_site(), "incidents_daily_volume")
    text = page.read_text(encoding="utf-8")
    assert _status(text) == "Failed" and "2026-05-01..2026-05-01" in text
    assert "incidents_daily_volume" in (_site() / "index.html").read_text(encoding="utf-8")


def test_the_reports_index_links_the_data_docs() -> None:
    linked = render_index([], f"{DATA_DOCS_DIR}/index.html")
    assert '<a href="data_docs/index.html">Great Expectations Data Docs</a>' in linked
    assert "Data Docs" not in render_index([])
