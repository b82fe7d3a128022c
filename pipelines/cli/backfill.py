"""`sevenstep backfill`: years of history as a few runs, with progress, and `sevenstep failures`.

A backfill is one run per chunk of days (config/operations.yaml: backfill.chunk_days), never
one process per day: steps 3-4 load and process each chunk's days in one transaction per
table, steps 1-2 run with the first chunk and steps 5-7 once after the last. Each chunk is a
run in the Dagster instance, so the UI shows it with its logs and checks.
"""

from __future__ import annotations

import datetime as dt
import sys

import click

from pipelines.cli.params import DAY


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else (
        f"{minutes} min {secs:02d} s" if minutes else f"{seconds:.1f} s")


def _days(count: int) -> str:
    return f"{count} day{'s' if count != 1 else ''}"


def _rows_loaded(result) -> int:
    """Raw rows the run landed: each gather asset reports its `rows_loaded` for the whole run
    (a ranged run repeats that metadata on the event of every day, so count each asset once)."""
    loaded: dict[object, int] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        value = materialization.metadata.get("rows_loaded")
        if materialization.asset_key.path[0] == "raw" and value is not None:
            loaded[materialization.asset_key] = int(value.value)
    return sum(loaded.values())


def _steps(groups: tuple[str, ...]) -> str:
    numbers = [int(g[4]) for g in groups]  # "step3_gather" -> 3
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"steps {numbers[0]}-{numbers[-1]}"
    return "steps " + ", ".join(str(n) for n in numbers)


@click.command()
@click.option("--start", "first", type=DAY, required=True, help="First day, YYYY-MM-DD.")
@click.option("--end", "last", type=DAY, required=True,
              help="Last day (inclusive), YYYY-MM-DD.")
@click.option("--chunk-days", type=click.IntRange(min=1), default=None,
              help="Days per run. Default: backfill.chunk_days in config/operations.yaml.")
@click.option("--verbose", is_flag=True, help="Show Dagster's INFO log of every step.")
def backfill(first: dt.date, last: dt.date, chunk_days: int | None, verbose: bool) -> None:
    """Load START..END as a few runs of at most --chunk-days days each, showing progress."""
    from pipelines.operations import operations
    from pipelines.runner import backfill as run_backfill
    from pipelines.runner import chunks, failure_summary
    from resources.warehouse import default_warehouse_path

    if last < first:
        raise click.BadParameter(f"--end {last} is before --start {first}", param_hint="--end")
    size = chunk_days or operations().backfill.chunk_days
    total = len(chunks(first, last, size))
    days = (last - first).days + 1
    click.echo(f"sevenstep backfill: {first} .. {last} ({_days(days)}) as {total} "
               f"run{'s' if total > 1 else ''} of at most {_days(size)} into "
               f"{default_warehouse_path()}")
    elapsed = 0.0
    covered = 0

    def progress(chunk) -> None:
        nonlocal elapsed, covered
        elapsed += chunk.seconds
        covered += (chunk.last - chunk.first).days + 1
        status = "ok" if chunk.result.success else "FAILED"
        left = days - covered
        eta = f"; about {_duration(elapsed / covered * left)} left" if left else ""
        click.echo(f"[{chunk.index + 1}/{chunk.total}] {chunk.first}..{chunk.last} "
                   f"({_steps(chunk.groups)}): {status} in {_duration(chunk.seconds)}, "
                   f"{_rows_loaded(chunk.result):,} raw rows, run {chunk.result.run_id}{eta}")

    done = run_backfill(first, last, size, on_chunk=progress,
                        log_level="INFO" if verbose else "WARNING")
    failed = next((chunk for chunk in done if not chunk.result.success), None)
    if failed is not None:
        click.echo(failure_summary(failed.result), err=True)
        click.echo(f"backfill stopped at {failed.first}..{failed.last} (run "
                   f"{failed.result.run_id}); {failed.first - dt.timedelta(days=1)} and "
                   f"before are loaded. Fix the cause, then resume with `sevenstep backfill "
                   f"--start {failed.first} --end {last}`.", err=True)
        sys.exit(1)
    click.echo(f"done: {_days(days)} in {total} run{'s' if total > 1 else ''}, "
               f"{_duration(elapsed)}")


@click.command()
@click.option("--last", "count", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many of the most recent failures to show.")
def failures(count: int) -> None:
    """The most recent failed runs from the failure log, newest last."""
    from pipelines.operations import operations
    from pipelines.run_failure import read_failures

    path = operations().failures.log_path()
    recorded = read_failures(path)
    if not recorded:
        click.echo(f"no failed runs recorded in {path}")
        return
    for entry in recorded[-count:]:
        click.echo(f"{entry['failed_at']}  {entry['job_name']}  {entry['days']}  "
                   f"run {entry['run_id']}")
        for step, error in dict(entry.get("failed_steps") or {}).items():
            click.echo(f"    {step}: {error}")
        for channel, outcome in dict(entry.get("notified") or {}).items():
            click.echo(f"    alert {channel}: {outcome}")


COMMANDS = [backfill, failures]
