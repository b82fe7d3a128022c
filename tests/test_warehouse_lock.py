"""DuckDB lets one process hold a database file for writing and no other process open it then,
even to read: the warehouse resource waits for the lock, then fails naming the holder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines.cli import main
from resources.warehouse import Warehouse, WarehouseBusy

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE SCHEMA IF NOT EXISTS clean")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _hold(path: Path, seconds: float) -> subprocess.Popen:
    """Another process writing the file (as a run would) for `seconds`."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_reader_fails_naming_the_process_that_holds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    holder = _hold(path, 60)
    try:
        with pytest.raises(WarehouseBusy) as caught:
            with Warehouse(path=str(path), lock_wait_seconds=0.5).connect(read_only=True):
                pass
        message = str(caught.value)
        assert str(path) in message and f"process {holder.pid}" in message
        assert "lock_wait_seconds" in message
    finally:
        holder.kill()
        holder.wait()


def test_a_writer_waits_for_the_lock_and_then_goes_on(tmp_path: Path, caplog) -> None:
    path = tmp_path / "warehouse.duckdb"
    holder = _hold(path, 1.5)
    with Warehouse(path=str(path), lock_wait_seconds=60).connect() as con:
        con.execute("CREATE TABLE clean.t AS SELECT 1 AS x")
    holder.wait()
    assert holder.returncode == 0  # the holder was not disturbed
    assert f"is in use by process {holder.pid}; waiting up to 60 s" in caplog.text


def test_a_command_on_a_busy_warehouse_says_so_without_a_traceback(tmp_path: Path,
                                                                    monkeypatch) -> None:
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("SEVENSTEP_WAREHOUSE", str(path))
    original = Warehouse._open

    def quick(self, *args):  # the default wait is two minutes; the message is the same
        return original(self.model_copy(update={"lock_wait_seconds": 0.3}), *args)

    monkeypatch.setattr(Warehouse, "_open", quick)
    holder = _hold(path, 60)
    try:
        done = CliRunner().invoke(main, ["quarantine"])
    finally:
        holder.kill()
        holder.wait()
    assert done.exit_code == 1, done.output
    assert f"Error: warehouse {path} is in use by process {holder.pid}" in done.output
    assert "Traceback" not in done.output
