"""The Definitions load the way `dagster dev -w workspace.yaml` loads them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from pipelines.definitions import defs

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ["step1_strategy", "step2_measures", "step3_gather", "step4_process", "step5_analyze",
          "step6_present", "step7_implement"]


def test_definitions_validate() -> None:
    dg.Definitions.validate_loadable(defs)


def test_seven_groups_with_schema_prefixed_keys() -> None:
    graph = defs.resolve_asset_graph()
    prefix_of_group = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        prefix_of_group.setdefault(node.group_name, set()).add(key.path[0])
    assert sorted(prefix_of_group) == GROUPS
    assert prefix_of_group["step1_strategy"] == {"strategy"}
    assert prefix_of_group["step2_measures"] == {"measures"}
    assert prefix_of_group["step3_gather"] == {"raw"}
    assert prefix_of_group["step4_process"] == {"clean"}
    assert prefix_of_group["step5_analyze"] == {"analysis"}
    assert prefix_of_group["step6_present"] == {"present"}
    assert prefix_of_group["step7_implement"] == {"improve"}


def test_lineage_runs_from_strategy_to_actions() -> None:
    graph = defs.resolve_asset_graph()
    start = dg.AssetKey(["strategy", "targets"])
    seen, frontier = {start}, [start]
    while frontier:
        for child in graph.get(frontier.pop()).child_keys:
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    assert dg.AssetKey(["improve", "actions"]) in seen
    assert dg.AssetKey(["present", "report"]) in seen


def test_every_asset_has_description_owner_and_kinds() -> None:
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, key
        assert node.owners, key
        assert node.kinds, key


def test_dagster_cli_validates_the_workspace(tmp_path: Path) -> None:
    """Run as a user would on a fresh clone: its own Dagster home, nothing made beforehand."""
    dagster = Path(sys.executable).parent / "dagster"
    home = tmp_path / "dagster_home"
    home.mkdir()
    done = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "DAGSTER_HOME": str(home)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sevenstep" in done.stdout + done.stderr
