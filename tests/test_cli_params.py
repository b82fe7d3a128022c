"""Mistyped days on the command line are usage errors naming the option, never a traceback
from inside a run (and nothing runs)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pipelines.cli import main


@pytest.mark.parametrize(("args", "option", "value"), [
    (["run", "--start", "2024-13-01", "--end", "2024-12-01"], "--start", "2024-13-01"),
    (["backfill", "--start", "2024-01-01", "--end", "2024-02-30"], "--end", "2024-02-30"),
    (["kpi", "rollup", "mttr", "--start", "last monday"], "--start", "last monday"),
    (["kpi", "diff", "mttr", "--end", "01/02/2024"], "--end", "01/02/2024"),
    (["quarantine", "--day", "2024-1-5x"], "--day", "2024-1-5x"),
])
def test_a_malformed_day_is_a_usage_error_naming_the_option(args, option, value) -> None:
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 2, done.output
    assert f"Invalid value for '{option}': '{value}' is not a date as YYYY-MM-DD" in done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)


@pytest.mark.parametrize("command", ["run", "backfill"])
def test_an_end_before_the_start_is_refused_before_anything_runs(command, tmp_path,
                                                                 monkeypatch) -> None:
    monkeypatch.setenv("SEVENSTEP_DATA_DIR", str(tmp_path))
    done = CliRunner().invoke(main, [command, "--start", "2024-03-02", "--end", "2024-03-01"])
    assert done.exit_code == 2, done.output
    assert "--end 2024-03-01 is before --start 2024-03-02" in done.output
    assert list(tmp_path.iterdir()) == []  # no warehouse, no Dagster home
