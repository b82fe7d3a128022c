"""A self-contained sevenstep installation for one benchmark measurement.

The pipeline under test is the real one (pipelines/definitions.py), pointed by environment
variables at a folder of its own: a config dir whose sources.yaml has one `files` source reading
the benchmark's drop folder, a warehouse, a Dagster home and a report folder. The drop folder
holds hard links to the cached dataset files (step 3 refuses symbolic links that lead out of a
drop folder), one per entity and day, up to the day the measurement needs: a warehouse "holding
one year" has seen exactly one year of nightly drops.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmarks.dataset import Dataset
from resources.project import PROJECT_ROOT
from resources.synthetic_data import ENTITIES

SOURCE = "bench"
SALT = "benchmark-salt-0123456789abcdef"
CONFIG_FILES = ("strategy.yaml", "kpis.yaml", "calendar.yaml", "operations.yaml",
                "register.yaml")


@dataclass(frozen=True)
class Workspace:
    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / "config"

    @property
    def drops(self) -> Path:
        return self.folder / "drops"

    @property
    def warehouse(self) -> Path:
        return self.folder / "warehouse.duckdb"

    def environment(self) -> dict[str, str]:
        """What a process running this installation's pipeline needs in its environment."""
        return {
            **os.environ,
            "SEVENSTEP_CONFIG_DIR": str(self.config),
            "SEVENSTEP_DATA_DIR": str(self.folder),
            "SEVENSTEP_WAREHOUSE": str(self.warehouse),
            "SEVENSTEP_REPORT_DIR": str(self.folder / "reports"),
            "DAGSTER_HOME": str(self.folder / "dagster_home"),
            "SEVENSTEP_PSEUDONYM_SALT": SALT,
            "GX_ANALYTICS_ENABLED": "False",
            "SEVENSTEP_EXECUTOR": "in_process",
        }

    def drop_until(self, data: Dataset, last: dt.date) -> int:
        """Hard-link (else copy) every dataset file of days up to `last` into the drop folder;
        returns how many were added (files already there stay, as earlier nights' drops
        would)."""
        added = 0
        for entity in ENTITIES:
            folder = self.drops / entity
            folder.mkdir(parents=True, exist_ok=True)
            for path in data.files_until(entity, last):
                link = folder / path.name
                if not link.exists():
                    try:
                        os.link(path, link)
                    except OSError:  # another file system: a copy keeps the mtime too
                        shutil.copy2(path, link)
                    added += 1
        return added


def create(folder: Path, data: Dataset) -> Workspace:
    """A fresh installation in `folder` with the project's configuration, except sources.yaml
    (the benchmark's files source) and calendar.yaml's history_start (the dataset's first day)."""
    if folder.exists():
        shutil.rmtree(folder)
    space = Workspace(folder)
    space.config.mkdir(parents=True)
    for name in CONFIG_FILES:
        source = PROJECT_ROOT / "config" / name
        if source.exists():
            shutil.copy(source, space.config / name)
    calendar = yaml.safe_load((space.config / "calendar.yaml").read_text(encoding="utf-8"))
    calendar["history_start"] = data.first
    (space.config / "calendar.yaml").write_text(yaml.safe_dump(calendar, sort_keys=False),
                                                encoding="utf-8")
    _write_sources(space, data.fmt)
    space.drops.mkdir()
    return space


def _write_sources(space: Workspace, fmt: str) -> None:
    """sources.yaml: one files source over the drop folder, with the vocabularies of the
    project's synthetic source (the files are that source's exports)."""
    path = space.config / "sources.yaml"
    project = yaml.safe_load((PROJECT_ROOT / "config" / "sources.yaml").read_text("utf-8"))
    synthetic = next(s for s in project["sources"] if s["kind"] == "synthetic")
    source = {
        "name": SOURCE, "kind": "files", "entities": list(ENTITIES),
        "timezone": synthetic.get("timezone", "UTC"),
        "timestamp_format": synthetic.get("timestamp_format", "%Y-%m-%d %H:%M:%S"),
        "pseudonymize": synthetic.get("pseudonymize", False),
        "mappings": synthetic.get("mappings", {}),
        "files": {"folder": str(space.drops),
                  "patterns": {e: f"{e}/*.{fmt}" for e in ENTITIES}},
    }
    path.write_text(yaml.safe_dump({"sources": [source]}, sort_keys=False), encoding="utf-8")
