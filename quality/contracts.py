"""Source contracts on raw data, run with Great Expectations 1.x inside Dagster asset checks.

dagster-ge only supports GX below 1.0, so the suites are built here and run in an ephemeral GX
context over the partitions a run just loaded. The suite only asks whether each required column
exists and whether the key is filled in, so GX is given exactly that and no text: one row per raw
row, the key as a nullable one-byte indicator (filled or not, after trimming) and the other
required columns as constant one-byte placeholders. A million raw rows cost GX a few megabytes
instead of a copy of the key strings (measured in benchmarks/gather_sources.py).

A `GxRun` holds one context for all validations of a run. With Data Docs turned on
(config/operations.yaml) its suites and results persist as JSON in `DocsSettings.store` and
`publish()` renders the new pages and the index once, at the end of the run, as static HTML
under the report directory. GX's page templates print column names and failing values without
escaping them, so everything textual GX is given is HTML-escaped first (`gx_name`): a ticket or
a column called `<script>` shows as text, never runs.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd


@dataclass(frozen=True)
class RawContract:
    """What a source must deliver in one raw table before step 4 may read it."""

    table: str
    key: str
    required: tuple[str, ...]
    max_null_key_share: float = 0.10


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


DATA_DOCS_DIR = "data_docs"
"""The Data Docs site's folder inside the report directory (index.html is its entry page)."""
SITE_NAME = "sevenstep"
_DATASOURCE = "sevenstep"


def gx_name(text: str) -> str:
    """Text as GX may see it: HTML-escaped, because its Data Docs templates print column names
    and unexpected values as raw HTML. The browser shows the original text."""
    return html.escape(text, quote=True)


@dataclass(frozen=True)
class DocsSettings:
    """Where a run's Data Docs go: `site` gets the HTML, `store` the GX suites and results it
    is rendered from; `keep_per_suite` newest results of each suite are kept."""

    site: Path
    store: Path
    keep_per_suite: int = 30


def docs_settings() -> DocsSettings | None:
    """Data Docs as config/operations.yaml wants them: None when turned off. The site lies in
    the report directory as the report_store resource resolves it without settings
    ($SEVENSTEP_REPORT_DIR, else data/reports), since the steps that validate do not use that
    resource; GX's JSON stores lie under the data directory."""
    from pipelines.operations import operations
    from resources.project import data_dir
    from resources.report_store import ReportStore

    settings = operations().data_docs
    if not settings.enabled:
        return None
    return DocsSettings(site=ReportStore().path() / DATA_DOCS_DIR,
                        store=data_dir() / "great_expectations",
                        keep_per_suite=settings.keep_per_suite)


def _quiet_gx() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return gx


@dataclass
class GxRun:
    """One Great Expectations context for every validation of a run (context creation and the
    data source are paid once, not per table or day) and the Data Docs built from them."""

    docs: DocsSettings | None
    run_name: str = "sevenstep"
    _context: Any = None
    _run_id: Any = None
    _new: list[Any] = field(default_factory=list)
    _source: Any = None
    _batches: dict[str, Any] = field(default_factory=dict)

    def context(self) -> Any:
        if self._context is None:
            gx = _quiet_gx()
            if self.docs is None:
                self._context = gx.get_context(mode="ephemeral")
            else:
                self._context = gx.get_context(project_config=self._config(gx),
                                               mode="ephemeral")
            self._context.variables.progress_bars = {"globally": False}
            self._run_id = gx.RunIdentifier(run_name=self.run_name,
                                            run_time=dt.datetime.now(dt.UTC))
        return self._context

    def _config(self, gx: Any) -> Any:
        """In-memory context whose suites and results live in files, plus one static site."""
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
        )

        assert self.docs is not None
        config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(),
                                   analytics_enabled=False)
        for store, folder in (("expectations_store", "expectations"),
                              ("validation_results_store", "validations")):
            config.stores[store]["store_backend"] = {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str((self.docs.store / folder).resolve())}
        config.data_docs_sites = {SITE_NAME: {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(self.docs.site.resolve())},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }}
        return config

    def validate(self, frame: pd.DataFrame, suite_name: str, expectations: list[Any],
                 asset: str) -> Any:
        """Validate `frame` (column names and text already passed through `gx_name`, as the
        expectations') against a suite of `expectations`. With Data Docs on, the suite and the
        result (named after the run) are then stored for `publish`; a store that cannot be
        written costs the docs, never the verdict."""
        gx = _quiet_gx()
        context = self.context()
        suite = gx.ExpectationSuite(name=suite_name, expectations=expectations)
        if asset not in self._batches:
            if self._source is None:
                self._source = context.data_sources.add_pandas(_DATASOURCE)
            self._batches[asset] = (self._source.add_dataframe_asset(asset)
                                    .add_batch_definition_whole_dataframe("partitions"))
        batch = self._batches[asset].get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite)
        if self.docs is not None:
            try:
                self._store(context, suite, result, batch.id)
            except Exception as exc:  # noqa: BLE001 - a disk or GX store error, alike
                logging.getLogger(__name__).warning(
                    f"validation of {suite_name} not kept for the Data Docs: "
                    f"{type(exc).__name__}: {exc}")
        return result

    def _store(self, context: Any, suite: Any, result: Any, batch_id: str) -> None:
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        context.suites.add_or_update(suite)
        result.meta["run_id"] = self._run_id
        result.meta["validation_time"] = self._run_id.run_time
        suite_key = ExpectationSuiteIdentifier(name=suite.name)
        key = ValidationResultIdentifier(expectation_suite_identifier=suite_key,
                                         run_id=self._run_id, batch_identifier=batch_id)
        context.validation_results_store.set(key, result)
        self._new += [suite_key, key]

    def publish(self) -> Path | None:
        """Render this run's results and the index (everything, when the index is missing),
        after dropping results beyond `keep_per_suite`; returns the index page."""
        if self.docs is None or not self._new:
            return None
        context = self.context()
        store = context.validation_results_store
        by_suite: dict[str, list[Any]] = {}
        for key in store.list_keys():
            by_suite.setdefault(key.expectation_suite_identifier.name, []).append(key)
        for keys in by_suite.values():
            keys.sort(key=lambda k: k.run_id.run_time, reverse=True)
            for old in keys[self.docs.keep_per_suite:]:
                store.remove_key(old)
        index = self.docs.site / "index.html"
        new, self._new = self._new, []
        context.build_data_docs(site_names=[SITE_NAME],
                                resource_identifiers=new if index.exists() else None)
        return index


def publish_quietly(run: GxRun, warn: Callable[[str], None] | None = None) -> Path | None:
    """`run.publish()`, where the Data Docs are a by-product: any GX rendering or disk error is
    reported through `warn` (default: this module's logger) and fails nothing, since the checks
    already hold the verdicts."""
    try:
        return run.publish()
    except Exception as exc:  # noqa: BLE001 - whatever GX or the disk raise, alike
        (warn or logging.getLogger(__name__).warning)(
            f"Great Expectations Data Docs not written: {type(exc).__name__}: {exc}")
        return None


def _expectations(contract: RawContract) -> list[Any]:
    import great_expectations as gx

    return [
        *(gx.expectations.ExpectColumnToExist(column=gx_name(column))
          for column in contract.required),
        gx.expectations.ExpectColumnValuesToNotBeNull(
            column=gx_name(contract.key), mostly=1 - contract.max_null_key_share),
    ]


def _describe(result: Any, contract: RawContract) -> str:
    config = result.expectation_config
    column = html.unescape(config.kwargs.get("column") or "")
    if config.type == "expect_column_to_exist":
        return f"required column {column!r} is missing"
    share = result.result.get("unexpected_percent")
    if share is None:
        return f"key column {column!r} could not be checked: it is missing"
    return (f"key column {column!r} is empty in {share:.1f}% of rows "
            f"(at most {contract.max_null_key_share:.0%} allowed)")


def validate_raw(
    con: duckdb.DuckDBPyConnection, contract: RawContract, start: dt.date, end: dt.date,
    run: GxRun | None = None,
) -> tuple[bool, dict[str, Any]]:
    """Run the contract over raw rows of partitions [start, end), in `run`'s context (a new
    one without Data Docs when none is given)."""
    gx = _quiet_gx()
    present = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'raw' AND table_name = ?", [contract.table]).fetchall()}
    columns = [c for c in contract.required if c in present]
    select = ", ".join(
        (f"CAST(CASE WHEN nullif(trim({_quote(c)}), '') IS NOT NULL THEN 1 END AS TINYINT)"
         if c == contract.key else "CAST(0 AS TINYINT)") + f" AS {_quote(gx_name(c))}"
        for c in columns) or "CAST(0 AS TINYINT) AS _none"
    frame: pd.DataFrame = con.execute(
        f"SELECT {select} FROM raw.{_quote(contract.table)} "
        "WHERE _partition >= ? AND _partition < ?",
        [start, end],
    ).df()
    result = (run or GxRun(None)).validate(frame, f"raw_{contract.table}_contract",
                                           _expectations(contract), contract.table)
    failures = [_describe(r, contract) for r in result.results if not r.success]
    metadata = {
        "rows_checked": len(frame),
        "expectations": len(result.results),
        "failures": "\n".join(failures) or "none",
        "suite": f"raw_{contract.table}_contract (Great Expectations {gx.__version__})",
    }
    return not failures, metadata
