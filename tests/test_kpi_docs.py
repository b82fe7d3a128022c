"""docs/kpis.md stays true to the catalogue and the `kpi` commands."""

from __future__ import annotations

import re
from pathlib import Path

from pipelines.cli.kpi_commands import kpi
from resources.settings import kpis

DOC = (Path(__file__).resolve().parents[1] / "docs" / "kpis.md").read_text(encoding="utf-8")


def test_every_shipped_kpi_is_documented_with_its_name() -> None:
    headings = dict(re.findall(r"^#### `([a-z0-9_]+)` — (.+)$", DOC, flags=re.MULTILINE))
    assert headings == {k.id: k.name for k in kpis().kpis}


def test_every_kpi_command_is_documented() -> None:
    for name in kpi.commands:
        assert f"`sevenstep kpi {name} " in DOC or f"`sevenstep kpi {name}`" in DOC, name
