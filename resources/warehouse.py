"""The DuckDB warehouse: one file, one schema per step, opened only while a run needs it."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from resources.project import data_dir, project_path

LOG = logging.getLogger(__name__)
SCHEMAS = ("strategy", "measures", "raw", "clean", "analysis", "present", "improve")


def default_warehouse_path() -> Path:
    """$SEVENSTEP_WAREHOUSE, else data/warehouse.duckdb under the data directory."""
    configured = os.environ.get("SEVENSTEP_WAREHOUSE")
    return project_path(configured) if configured else data_dir() / "warehouse.duckdb"


class Warehouse(dg.ConfigurableResource):
    """DuckDB allows one writing process: connections are opened per asset and closed after,
    never at definition load, so the webserver never holds the file."""

    path: str | None = Field(
        default=None,
        description="DuckDB file. Empty: $SEVENSTEP_WAREHOUSE, else data/warehouse.duckdb.",
    )
    memory_limit: str | None = Field(
        default=None, description="DuckDB memory_limit, e.g. '4GB'. Empty: DuckDB's default."
    )
    threads: int | None = Field(default=None, description="DuckDB threads. Empty: all cores.")
    lock_wait_seconds: float = Field(
        default=120.0, ge=0,
        description="How long to wait for another process (a run, a `sevenstep` command) to "
        "release the file before failing with a message naming it.",
    )

    def database_path(self) -> Path:
        return project_path(self.path) if self.path else default_warehouse_path()

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = self.database_path()
        if read_only and not path.exists():
            raise FileNotFoundError(
                f"warehouse {path} does not exist yet: run `sevenstep demo` or materialize step 3"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, str | int] = {}
        if self.memory_limit:
            config["memory_limit"] = self.memory_limit
        if self.threads:
            config["threads"] = self.threads
        con = self._open(path, read_only, config)
        try:
            if not read_only:
                for schema in SCHEMAS:
                    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            yield con
        finally:
            con.close()

    def _open(self, path: Path, read_only: bool, config: dict[str, str | int]
              ) -> duckdb.DuckDBPyConnection:
        """DuckDB lets one process write a file, and no other process open it meanwhile, even
        to read: a command run while the nightly run writes (or the reverse) waits for the
        lock with backoff instead of failing at once, then fails saying who holds it."""
        waited, pause = 0.0, 0.2
        while True:
            try:
                return duckdb.connect(str(path), read_only=read_only, config=config)
            except duckdb.IOException as exc:
                if "Could not set lock" not in str(exc):
                    raise
                holder = re.search(r"\(PID (\d+)\)", str(exc))
                by = f"process {holder.group(1)}" if holder else "another process"
                if not waited and self.lock_wait_seconds:
                    LOG.warning("warehouse %s is in use by %s; waiting up to %.0f s", path, by,
                                self.lock_wait_seconds)
                if waited >= self.lock_wait_seconds:
                    raise WarehouseBusy(
                        f"warehouse {path} is in use by {by} (a run or a sevenstep command); "
                        f"waited {waited:.0f} s for it to finish. Try again when it has ended, "
                        "or raise the warehouse resource's lock_wait_seconds."
                    ) from exc
            step = min(pause, self.lock_wait_seconds - waited)
            time.sleep(step)
            waited += step
            pause = min(pause * 2, 5.0)


class WarehouseBusy(RuntimeError):
    """The DuckDB file stayed locked by another process for longer than lock_wait_seconds."""


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: object = ()) -> object:
    """The single value of a one-row query.

    DuckDB 2 refuses further work on a connection whose result was not read to the end, so this
    reads every row (there is one) rather than fetchone().
    """
    rows = con.execute(sql, params).fetchall()
    return rows[0][0] if rows else None
