"""Where report files go: one directory with a stable file name per report and an index.

Each report page carries its kind and period in ``<meta name="sevenstep-...">`` tags; the index
is rebuilt from those, so deleting a report file removes it from the index on the next run and
nothing else (no manifest) can disagree with the folder.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from resources.project import data_dir, project_path

INDEX = "index.html"
HEAD_BYTES = 4000
_TITLE = re.compile(r"<title>(.*?)</title>", re.S)
_META = re.compile(r'<meta name="sevenstep-([a-z-]+)" content="([^"]*)">')
EXTRACT_FORMATS = {"csv": "(FORMAT csv, HEADER)", "parquet": "(FORMAT parquet)"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a CSV cell as a formula (OWASP, CSV injection):
a text cell starting with one gets a leading single quote in CSV extracts."""


@dataclass(frozen=True)
class ReportFile:
    """One report in the directory, as the index lists it."""

    file_name: str
    title: str
    kind: str  # "rolling" | "weekly" | "monthly" | "" (a page without sevenstep metadata)
    period_start: dt.date | None
    period_end: dt.date | None
    generated: dt.datetime
    extras: tuple[str, ...]  # extracts and charts beside it: "<stem>-*.csv", ...

    @property
    def newest_first(self) -> tuple[dt.date, dt.datetime]:
        """Sort key: reports on later days first, the latest rendering first within a day."""
        return (self.period_end or self.generated.date(), self.generated)


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def neutralized(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()) -> str:
    """``sql`` with every text cell that starts like a formula prefixed by a single quote.

    Breakdown values, names and statuses in an extract may be ticket text, and a spreadsheet
    runs a CSV cell starting with = + - @ (or a tab or CR) as a formula. Only text columns
    (VARCHAR, ENUM) are touched, in the query itself, so DuckDB does the work while it writes
    and numbers keep their sign and type. DESCRIBE gives the column types by binding the query
    without running it; column names are quoted identifiers, the characters fixed literals.
    """
    columns = con.execute(f"DESCRIBE ({sql})", list(params)).fetchall()
    starts = ", ".join(f"chr({ord(c)})" for c in FORMULA_STARTS)
    replace = []
    for name, sql_type, *_ in columns:
        if sql_type == "VARCHAR" or sql_type.startswith("ENUM("):
            cell = f"CAST({_quote(name)} AS VARCHAR)"
            replace.append(f"CASE WHEN left({cell}, 1) IN ({starts}) THEN chr(39) || {cell} "
                           f"ELSE {cell} END AS {_quote(name)}")
    if not replace:
        return sql
    return f"SELECT * REPLACE ({', '.join(replace)}) FROM ({sql})"


def _plain(name: str) -> str:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"report file name {name!r} must be a plain file name")
    return name


class ReportStore(dg.ConfigurableResource):
    """Writes report files atomically (temp file + rename) so a reader never sees half a page."""

    directory: str | None = Field(
        default=None,
        description="Report directory. Empty: $SEVENSTEP_REPORT_DIR, else data/reports.",
    )

    def path(self) -> Path:
        configured = self.directory or os.environ.get("SEVENSTEP_REPORT_DIR")
        return project_path(configured) if configured else data_dir() / "reports"

    def _temp(self, name: str) -> tuple[Path, Path]:
        folder = self.path()
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f".{_plain(name)}.tmp", folder / name

    def write(self, name: str, content: str | bytes) -> Path:
        temp, target = self._temp(name)
        if isinstance(content, str):
            temp.write_text(content, encoding="utf-8")
        else:
            temp.write_bytes(content)
        temp.replace(target)
        return target

    def extract(self, con: duckdb.DuckDBPyConnection, sql: str, name: str,
                params: Sequence[object] = ()) -> Path:
        """Write a query's result with DuckDB ``COPY``, as CSV or Parquet by ``name``'s suffix.

        ``sql`` comes from step-6 code, never from data; the file path is a bound parameter.
        In CSV, text a spreadsheet would run as a formula is neutralized (``neutralized``);
        Parquet is typed, so its text is written as it is.
        """
        suffix = Path(name).suffix.lstrip(".")
        if suffix not in EXTRACT_FORMATS:
            raise ValueError(f"extract {name!r} must end in one of {sorted(EXTRACT_FORMATS)}")
        if suffix == "csv":
            sql = neutralized(con, sql, params)
        temp, target = self._temp(name)
        con.execute(f"COPY ({sql}) TO ? {EXTRACT_FORMATS[suffix]}", [*params, str(temp)])
        temp.replace(target)
        return target

    def reports(self) -> list[ReportFile]:
        """Every HTML report in the directory except the index, newest first."""
        folder = self.path()
        if not folder.is_dir():
            return []
        names = sorted(p.name for p in folder.iterdir() if p.is_file())
        entries = []
        for name in names:
            if not name.endswith(".html") or name == INDEX or name.startswith("."):
                continue
            file = folder / name
            head = file.read_text(encoding="utf-8", errors="replace")[:HEAD_BYTES]
            match = _TITLE.search(head)
            meta = {key: html.unescape(value) for key, value in _META.findall(head)}
            stem = name.removesuffix(".html") + "-"
            generated = meta.get("generated")
            try:
                when = dt.datetime.fromisoformat(generated) if generated else None
            except ValueError:
                when = None
            if when is not None and when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            entries.append(ReportFile(
                file_name=name,
                title=html.unescape(match.group(1).strip()) if match else file.stem,
                kind=meta.get("kind", ""),
                period_start=_date(meta.get("period-start")),
                period_end=_date(meta.get("period-end")),
                generated=when or dt.datetime.fromtimestamp(file.stat().st_mtime, dt.UTC),
                extras=tuple(n for n in names if n.startswith(stem) and not n.endswith(".tmp")),
            ))
        return sorted(entries, key=lambda entry: entry.newest_first, reverse=True)

    def newest(self, kind: str | None = None) -> Path | None:
        """The newest report (of ``kind``, if given): the one the CLI prints."""
        entries = [e for e in self.reports() if kind is None or e.kind == kind]
        return self.path() / entries[0].file_name if entries else None
