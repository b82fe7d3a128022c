"""Where report files go: one directory with a stable file name per report and an index."""

from __future__ import annotations

import datetime as dt
import html
import os
import re
from pathlib import Path

import dagster as dg
from pydantic import Field

from resources.project import data_dir, project_path

_TITLE = re.compile(r"<title>(.*?)</title>", re.S)


class ReportStore(dg.ConfigurableResource):
    """Writes report files atomically (temp file + rename) so a reader never sees half a page."""

    directory: str | None = Field(
        default=None,
        description="Report directory. Empty: $SEVENSTEP_REPORT_DIR, else data/reports.",
    )

    def path(self) -> Path:
        configured = self.directory or os.environ.get("SEVENSTEP_REPORT_DIR")
        return project_path(configured) if configured else data_dir() / "reports"

    def write(self, name: str, content: str | bytes) -> Path:
        if "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"report file name {name!r} must be a plain file name")
        folder = self.path()
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        temp = folder / f".{name}.tmp"
        if isinstance(content, str):
            temp.write_text(content, encoding="utf-8")
        else:
            temp.write_bytes(content)
        temp.replace(target)
        return target

    def reports(self) -> list[tuple[str, str, dt.datetime]]:
        """(title, file name, modified) of every HTML report except the index."""
        entries = []
        for file in sorted(self.path().glob("*.html")):
            if file.name == "index.html":
                continue
            head = file.read_text(encoding="utf-8", errors="replace")[:4000]
            match = _TITLE.search(head)
            title = html.unescape(match.group(1).strip()) if match else file.stem
            modified = dt.datetime.fromtimestamp(file.stat().st_mtime, dt.UTC)
            entries.append((title, file.name, modified))
        return entries
