"""Publishing one report: the page, its BI extracts and chart file, and the refreshed index.

Every file of a report is named after the period (``Period.stem``), so re-running a period
replaces its files and the index links each report to the data behind it.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from assets.step6_present.periods import Period
from assets.step6_present.render import chart_options, render_index, render_report
from assets.step6_present.report_data import report_data
from assets.step6_present.report_model import KpiCard
from assets.step6_present.scorecard import HISTORY_DAYS, kpi_cards
from assets.step6_present.summaries import scorecard_markdown
from assets.step6_present.svg import line_chart, standalone
from quality.contracts import DATA_DOCS_DIR
from resources.report_store import INDEX, ReportStore

EXTRACT_FORMATS = {"csv": "CSV", "parquet": "Parquet"}

_SCORECARD_EXTRACT = """
SELECT ? AS report_kind, CAST(window_start AS DATE) AS period_start,
       CAST(window_end AS DATE) AS period_end, kpi_id, name, unit, direction, value,
       previous_value, target, warning, status, trend, days_with_data, kpi_version
FROM _scorecard ORDER BY kpi_id"""

_SERIES_EXTRACT = """
SELECT k.kpi_id, c.name, c.unit, k.day, k.breakdown, k.breakdown_value, k.numerator,
       k.denominator, k.value, k.kpi_version
FROM clean.kpi_daily k JOIN measures.kpi_catalogue c USING (kpi_id)
WHERE k.day BETWEEN ?::DATE - ?::INTEGER + 1 AND ?::DATE
ORDER BY k.kpi_id, k.breakdown, k.breakdown_value, k.day"""


@dataclass(frozen=True)
class Published:
    """The files one report run wrote, and the cards its page shows."""

    report: Path
    index: Path
    chart: Path
    extracts: tuple[Path, ...]
    cards: tuple[KpiCard, ...]


def extract_names(period: Period) -> list[tuple[str, str]]:
    """(label, file name) of the report's extracts: the scorecard and the KPI series."""
    return [
        (f"{label} ({fmt_label})", f"{period.stem}-{what}.{fmt}")
        for what, label in (("scorecard", "Scorecard"), ("kpi-series", "KPI series"))
        for fmt, fmt_label in EXTRACT_FORMATS.items()
    ]


def chart_document(cards: tuple[KpiCard, ...], period: Period, title: str) -> str:
    """All KPIs against their targets as one SVG document, the report period shaded."""
    charts = [
        line_chart(card.series, target=card.target, highlight=(period.start, period.end),
                   width=480, height=170, title=card.name, **chart_options(card))
        for card in cards
    ]
    return standalone(charts, title=title)


def _write_extracts(con: duckdb.DuckDBPyConnection, store: ReportStore, period: Period,
                    frame: pd.DataFrame) -> tuple[Path, ...]:
    paths = []
    con.register("_scorecard", frame)
    try:
        for _label, name in extract_names(period):
            if "-scorecard." in name:
                sql, params = _SCORECARD_EXTRACT, [period.kind]
            else:
                sql, params = _SERIES_EXTRACT, [period.end, HISTORY_DAYS, period.end]
            paths.append(store.extract(con, sql, name, params))
    finally:
        con.unregister("_scorecard")
    return tuple(paths)


def publish(con: duckdb.DuckDBPyConnection, store: ReportStore, period: Period,
            frame: pd.DataFrame) -> Published:
    """Render and write the report of ``period`` from its scorecard ``frame``."""
    cards = kpi_cards(con, frame)
    data = dataclasses.replace(report_data(con, cards, period), extracts=tuple(
        extract_names(period)))
    report = store.write(f"{period.stem}.html", render_report(data))
    extracts = _write_extracts(con, store, period, frame)
    chart = store.write(f"{period.stem}-kpis.svg", chart_document(cards, period, data.title))
    docs = f"{DATA_DOCS_DIR}/index.html"
    index = store.write(INDEX, render_index(
        store.reports(), docs if (store.path() / docs).is_file() else None))
    return Published(report, index, chart, extracts, cards)


def metadata(published: Published) -> dict[str, object]:
    """What the Dagster UI shows for a report: the scorecard, the charts and every file."""
    image = base64.b64encode(published.chart.read_bytes()).decode("ascii")
    return {
        "path": dg.MetadataValue.path(str(published.report)),
        "index": dg.MetadataValue.path(str(published.index)),
        "bytes": published.report.stat().st_size,
        "kpis": len(published.cards),
        "scorecard": dg.MetadataValue.md(scorecard_markdown(published.cards)),
        "charts": dg.MetadataValue.md(
            f"![Each KPI against its target](data:image/svg+xml;base64,{image})"),
        "chart_file": dg.MetadataValue.path(str(published.chart)),
        **{f"extract_{_extract_key(p)}": dg.MetadataValue.path(str(p))
           for p in published.extracts},
    }


def _extract_key(path: Path) -> str:
    """"report-2026-05-31-kpi-series.csv" -> "kpi_series_csv"."""
    what = "kpi_series" if "-kpi-series." in path.name else "scorecard"
    return f"{what}_{path.suffix.lstrip('.')}"
