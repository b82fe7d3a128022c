"""Where the project's files live.

Every relative path (config, warehouse, reports) is resolved against one root so that the CLI,
`dagster dev` and the tests agree no matter which directory they are started from.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def project_path(value: str | os.PathLike[str]) -> Path:
    """Resolve `value` against the project root unless it is absolute."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def config_dir() -> Path:
    """The folder with strategy.yaml, kpis.yaml, sources.yaml and calendar.yaml.

    Read at call time (not import time) so tests and deployments can point elsewhere with
    SEVENSTEP_CONFIG_DIR.
    """
    return project_path(os.environ.get("SEVENSTEP_CONFIG_DIR", "config"))


def data_dir() -> Path:
    """The folder for the warehouse, reports and the local Dagster home (SEVENSTEP_DATA_DIR)."""
    return project_path(os.environ.get("SEVENSTEP_DATA_DIR", "data"))
