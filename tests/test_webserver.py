"""The Dagster UI as an operator uses it: `dagster dev -w workspace.yaml` on a free port against
a temporary DAGSTER_HOME (with sevenstep's own dagster.yaml), asked through its GraphQL API and
opened in headless Chromium.

One module fixture starts the server and does what an operator would do in the UI: load the
strategy and KPI catalogue, then at the same moment launch a backfill of three days and a run
of two other days. The tests read what happened: the groups and lineage, the queue and the
warehouse pool keeping the two runs from writing at once, the backfill as one run, history
going stale when a KPI definition changes and fresh again after one `sevenstep backfill`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
import yaml

from pipelines.runner import RANGE_END, RANGE_START, ensure_instance_config
from tests.services import stop_process_group

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GROUPS = ["step1_strategy", "step2_measures", "step3_gather", "step4_process", "step5_analyze",
          "step6_present", "step7_implement"]
BACKFILL_DAYS = [dt.date(2026, 5, 18) + dt.timedelta(days=d) for d in range(3)]  # Mon-Wed
RUN_DAYS = [dt.date(2026, 5, 21), dt.date(2026, 5, 22)]  # Thu-Fri
"""Fixed weekdays long past: the synthetic source gives the same rows whatever today is."""
FACTS = ["clean", "kpi_daily"]
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
WAIT = 600.0
"""Seconds before a hung server or run is given up on (a guard, not a performance limit)."""


@dataclass
class Ui:
    url: str
    env: dict[str, str]
    folder: Path
    log: Path
    backfill_id: str = ""
    run_id: str = ""
    notes: dict[str, object] = field(default_factory=dict)

    def query(self, text: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.url}/graphql", data=json.dumps({"query": text,
                                                    "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.loads(response.read())
        assert "errors" not in answer, answer["errors"]
        return answer["data"]

    def keys(self, groups: tuple[str, ...], partitioned_only: bool = False) -> list[dict]:
        nodes = self.query("{ assetNodes { assetKey { path } groupName isPartitioned } }")
        return [n["assetKey"] for n in nodes["assetNodes"] if n["groupName"] in groups
                and (n["isPartitioned"] or not partitioned_only)]

    def launch(self, groups: tuple[str, ...], tags: dict[str, str] | None = None) -> str:
        params = {"selector": {"repositoryLocationName": "sevenstep",
                               "repositoryName": "__repository__", "jobName": "sevenstep_all",
                               "assetSelection": self.keys(groups, partitioned_only=bool(tags))},
                  "runConfigData": {},
                  "executionMetadata": {"tags": [{"key": k, "value": v}
                                                 for k, v in (tags or {}).items()]}}
        answer = self.query("""mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
            __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
            } }""", {"p": params})["launchRun"]
        assert answer["__typename"] == "LaunchRunSuccess", answer
        return answer["run"]["runId"]

    def run(self, run_id: str) -> dict:
        return self.query("""query($id: ID!) { runOrError(runId: $id) { ... on Run {
            status tags { key value } stepStats { stepKey status startTime endTime } } } }""",
                          {"id": run_id})["runOrError"]

    def wait(self, run_id: str) -> dict:
        deadline = time.monotonic() + WAIT
        while (run := self.run(run_id))["status"] not in FINISHED:
            assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
            time.sleep(2)
        return run

    def stale(self, day: dt.date) -> tuple[str, list[str]]:
        node = self.query("""query($p: String!) { assetNodes(assetKeys: [{path: ["clean",
            "kpi_daily"]}]) { staleStatus(partition: $p) staleCauses(partition: $p) {
            reason } } }""", {"p": day.isoformat()})["assetNodes"][0]
        return node["staleStatus"], [c["reason"] for c in node["staleCauses"]]

    def reload(self) -> None:
        answer = self.query("""mutation { reloadRepositoryLocation(repositoryLocationName:
            "sevenstep") { __typename ... on WorkspaceLocationEntry { locationOrLoadError {
            __typename ... on PythonError { message } } } } }""")["reloadRepositoryLocation"]
        assert answer["locationOrLoadError"]["__typename"] == "RepositoryLocation", answer

    def sevenstep(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "sevenstep"), *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=WAIT)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _environment(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SEVENSTEP_", "DAGSTER_")) or k == "SEVENSTEP_REQUIRE_SERVICES"}
    return {**env, "DAGSTER_HOME": str(folder / "dagster_home"),
            "SEVENSTEP_DATA_DIR": str(folder / "data"),
            "SEVENSTEP_CONFIG_DIR": str(folder / "config"), "GX_ANALYTICS_ENABLED": "False"}


def _wait_until_loaded(ui: Ui, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        if server.poll() is not None:
            pytest.fail(f"dagster dev exited with {server.returncode}:\n"
                        + ui.log.read_text()[-4000:])
        try:
            entries = ui.query("""{ workspaceOrError { ... on Workspace { locationEntries {
                name locationOrLoadError { __typename } } } } }""")
            loaded = [e for e in entries["workspaceOrError"]["locationEntries"]
                      if e["locationOrLoadError"]
                      and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"]
            if loaded:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "dagster dev did not load the code location"
        time.sleep(2)


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("ui")
    shutil.copytree(ROOT / "config", folder / "config")
    ensure_instance_config(folder / "dagster_home")
    port = _free_port()
    log = folder / "dagster-dev.log"
    env = _environment(folder)
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p",
             str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    ui = Ui(f"http://127.0.0.1:{port}", env, folder, log)
    try:
        _wait_until_loaded(ui, server)
        seed = ui.wait(ui.launch(("step1_strategy", "step2_measures")))
        assert seed["status"] == "SUCCESS", seed
        # An operator starts a backfill and, while it waits, a run of two other days.
        answer = ui.query("""mutation($p: LaunchBackfillParams!) {
            launchPartitionBackfill(backfillParams: $p) { __typename
            ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
                          {"p": {"assetSelection": ui.keys(("step3_gather", "step4_process"),
                                                           partitioned_only=True),
                                 "partitionNames": [d.isoformat() for d in BACKFILL_DAYS]}})
        assert "backfillId" in answer["launchPartitionBackfill"], answer
        ui.backfill_id = answer["launchPartitionBackfill"]["backfillId"]
        ui.run_id = ui.launch(("step3_gather", "step4_process"), {
            RANGE_START: RUN_DAYS[0].isoformat(), RANGE_END: RUN_DAYS[-1].isoformat()})
        ui.wait(ui.run_id)
        yield ui
    finally:
        stop_process_group(server, grace=60)


def _backfill(ui: Ui) -> dict:
    deadline = time.monotonic() + WAIT
    while True:
        backfill = ui.query("""query($id: String!) { partitionBackfillOrError(backfillId: $id) {
            ... on PartitionBackfill { status numPartitions runs(limit: 20) { runId status } }
            } }""", {"id": ui.backfill_id})["partitionBackfillOrError"]
        if backfill["status"] not in ("REQUESTED",):
            return backfill
        assert time.monotonic() < deadline, f"backfill {ui.backfill_id} still {backfill}"
        time.sleep(2)


def test_graphql_shows_seven_groups_with_lineage_owners_kinds_and_checks(ui) -> None:
    nodes = ui.query("""{ assetNodes { assetKey { path } groupName description kinds
        owners { __typename } dependencyKeys { path }
        assetChecksOrError { ... on AssetChecks { checks { name } } } } }""")["assetNodes"]
    by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    assert sorted({n["groupName"] for n in nodes}) == GROUPS  # the UI lists groups sorted
    group_of = {key: n["groupName"] for key, n in by_key.items()}
    edges = {(group_of["/".join(d["path"])], n["groupName"])
             for n in nodes for d in n["dependencyKeys"]}
    # Every step builds on the one before, except gathering, which starts from the sources.
    expected = {(a, b) for a, b in zip(GROUPS, GROUPS[1:], strict=False)
                if b != "step3_gather"} | {("step2_measures", "step4_process")}
    assert expected <= edges, f"missing lineage {sorted(expected - edges)}"
    # From the strategy to the improvement register, along dependency edges.
    children: dict[str, set[str]] = {}
    for key, node in by_key.items():
        for dep in node["dependencyKeys"]:
            children.setdefault("/".join(dep["path"]), set()).add(key)
    seen, frontier = {"strategy/targets"}, ["strategy/targets"]
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    assert {"clean/kpi_daily", "present/report", "improve/actions"} <= seen
    assert all(n["description"] and n["owners"] and n["kinds"] for n in nodes)
    assert {"duckdb", "great_expectations"} <= set(by_key["raw/synthetic_incidents"]["kinds"])
    assert {"duckdb", "pandera", "great_expectations"} <= set(by_key["clean/incidents"]["kinds"])
    checks = {key: {c["name"] for c in n["assetChecksOrError"].get("checks", [])}
              for key, n in by_key.items()}
    assert "source_contract" in checks["raw/synthetic_incidents"]
    assert {"raw_rows_reconcile", "pandera_contract"} <= checks["clean/incidents"]
    assert "kpi_facts_complete" in checks["clean/kpi_daily"]


def test_the_webserver_holds_no_lock_on_the_warehouse(ui) -> None:
    warehouse = ui.folder / "data" / "warehouse.duckdb"
    assert warehouse.exists()
    with duckdb.connect(str(warehouse)) as con:  # read-write: fails if anyone holds the file
        con.execute("CREATE TABLE IF NOT EXISTS main.lock_probe AS SELECT 1 AS x")
        con.execute("DROP TABLE main.lock_probe")


def test_two_runs_at_once_end_well_one_writer_at_a_time(ui) -> None:
    backfill = _backfill(ui)
    run = ui.run(ui.run_id)
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    assert run["status"] == "SUCCESS", run
    [backfill_run] = backfill["runs"]
    steps = {rid: ui.run(rid)["stepStats"] for rid in (backfill_run["runId"], ui.run_id)}
    first, second = steps.values()
    assert first and second
    overlapping = [(a["stepKey"], b["stepKey"]) for a in first for b in second
                   if a["startTime"] < b["endTime"] and b["startTime"] < a["endTime"]]
    assert overlapping == [], "two warehouse writers ran at the same time"


def test_a_ui_backfill_of_three_days_is_one_run(ui) -> None:
    backfill = _backfill(ui)
    assert backfill["numPartitions"] == len(BACKFILL_DAYS)
    [only] = backfill["runs"]
    tags = {t["key"]: t["value"] for t in ui.run(only["runId"])["tags"]}
    assert (tags[RANGE_START], tags[RANGE_END]) == (BACKFILL_DAYS[0].isoformat(),
                                                     BACKFILL_DAYS[-1].isoformat())


def test_a_kpi_change_marks_history_stale_and_one_backfill_refreshes_it(ui) -> None:
    days = [*BACKFILL_DAYS, *RUN_DAYS]
    assert _backfill(ui)["status"] == "COMPLETED_SUCCESS"
    # Re-loading an unchanged strategy and catalogue leaves history fresh.
    assert ui.wait(ui.launch(("step1_strategy", "step2_measures")))["status"] == "SUCCESS"
    assert {day: ui.stale(day)[0] for day in days} == {day: "FRESH" for day in days}

    kpis = ui.folder / "config" / "kpis.yaml"
    catalogue = yaml.safe_load(kpis.read_text())
    [major] = [k for k in catalogue["kpis"] if k["id"] == "major_incidents"]
    major["filter"] = "priority <= 2"  # P2 incidents now count as major too
    kpis.write_text(yaml.safe_dump(catalogue, sort_keys=False))
    ui.reload()
    for day in days:
        status, causes = ui.stale(day)
        assert status == "STALE" and "has a new code version" in causes, (day, causes)

    refreshed = days[:4]
    done = ui.sevenstep("backfill", "--start", refreshed[0].isoformat(), "--end",
                        refreshed[-1].isoformat(), "--chunk-days", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"sevenstep backfill: {refreshed[0]} .. {refreshed[-1]} (4 days)"
                               " as 2 runs")
    assert lines[1].startswith(f"[1/2] {refreshed[0]}..{refreshed[1]} (steps 1-4): ok in ")
    assert lines[2].startswith(f"[2/2] {refreshed[2]}..{refreshed[3]} (steps 3-7): ok in ")
    assert lines[-1].startswith("done: 4 days in 2 runs")
    shown = sum(int(re.search(r", ([\d,]+) raw rows,", line).group(1).replace(",", ""))
                for line in lines[1:3])
    with duckdb.connect(str(ui.folder / "data" / "warehouse.duckdb"), read_only=True) as con:
        tables = [t for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' "
            "AND table_name LIKE 'synthetic_%'").fetchall()]
        landed = sum(con.execute(f'SELECT count(*) FROM raw."{t}" WHERE _partition BETWEEN ? '
                                 "AND ?", [refreshed[0], refreshed[-1]]).fetchall()[0][0]
                     for t in tables)
    assert shown == landed > 0
    assert {day: ui.stale(day)[0] for day in refreshed} == {day: "FRESH" for day in refreshed}
    assert ui.stale(days[-1])[0] == "STALE"  # a day the backfill did not cover


def test_the_asset_graph_in_a_browser(ui) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from tests.browser import launched, screenshot

    with launched() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{ui.url}/asset-groups", wait_until="domcontentloaded")
        page.get_by_text(GROUPS[0], exact=True).first.wait_for(timeout=WAIT * 1000)
        try:  # Dagster's newsletter prompt covers the graph on a new instance
            page.get_by_role("button", name="Skip").first.click(timeout=10_000)
        except PlaywrightTimeout:
            pass
        page.wait_for_timeout(1500)  # let the graph lay itself out
        tops = [page.get_by_text(g, exact=True).first.bounding_box()["y"] for g in GROUPS]
        path = screenshot(page, "dagster-asset-graph.png")
    assert tops == sorted(tops), f"groups not listed in step order: {tops}"
    assert path.stat().st_size > 20_000
