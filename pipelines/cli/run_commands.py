"""`sevenstep demo`, `run` and `report`: running the pipeline and finding its report."""

from __future__ import annotations

import datetime as dt
import sys

import click

from pipelines.cli.params import DAY


@click.command()
@click.option("--days", default=90, show_default=True, help="Days of history to build.")
@click.option("--incidents-per-day", type=float, default=None,
              help="Synthetic volume; default from config/sources.yaml.")
def demo(days: int, incidents_per_day: float | None) -> None:
    """Run all seven steps over the last DAYS days of synthetic data and print the scorecard."""
    from pipelines.runner import failure_summary, run_range
    from resources.synthetic import SyntheticSource

    today = dt.datetime.now(dt.UTC).date()
    first, last = today - dt.timedelta(days=days), today - dt.timedelta(days=1)
    click.echo(f"sevenstep demo: {first} .. {last} into {_warehouse_path()}")
    resources = {"synthetic": SyntheticSource(incidents_per_day=incidents_per_day)}
    result = run_range(first, last, resources=resources)
    _finish(result, failure_summary)
    _period_reports(first, last)
    _print_paths()


@click.command()
@click.option("--start", "first", type=DAY, required=True, help="First day, YYYY-MM-DD.")
@click.option("--end", "last", type=DAY, required=True,
              help="Last day (inclusive), YYYY-MM-DD.")
def run(first: dt.date, last: dt.date) -> None:
    """Run all seven steps over START..END as one run."""
    from pipelines.runner import failure_summary, run_range

    if last < first:
        raise click.BadParameter(f"--end {last} is before --start {first}", param_hint="--end")
    result = run_range(first, last)
    _finish(result, failure_summary)
    _print_paths()


@click.command()
@click.option("--kind", type=click.Choice(["rolling", "weekly", "monthly"]), default=None,
              help="Only reports of this kind. Default: the newest report of any kind.")
def report(kind: str | None) -> None:
    """Print the path of the newest report (by the last day it covers)."""
    path = _latest_report(kind)
    if path is None:
        raise click.ClickException(
            f"no {kind + ' ' if kind else ''}report yet: run `sevenstep demo` first")
    click.echo(path)


def _warehouse_path() -> str:
    from resources.warehouse import default_warehouse_path

    return str(default_warehouse_path())


def _latest_report(kind: str | None = None):
    from resources.report_store import ReportStore

    return ReportStore().newest(kind)


def _period_reports(first: dt.date, last: dt.date) -> None:
    """Materialize the newest complete week's and month's reports that overlap first..last
    (not their e-mails: a demo sends no mail)."""
    import dagster as dg

    from assets.step6_present import periods
    from pipelines.definitions import defs
    from pipelines.runner import instance

    for kind in ("weekly", "monthly"):
        key = periods.latest_complete_key(kind, last)
        if periods.for_partition(kind, key).end < first:
            continue
        job = defs.resolve_job_def(f"present_{kind}_reports")
        result = job.execute_in_process(
            instance=instance(), partition_key=key, raise_on_error=False,
            asset_selection=[dg.AssetKey(["present", f"{kind}_report"])],
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
        if not result.success:
            click.echo(f"{kind} report for {key} failed (run {result.run_id}); inspect it with "
                       "`make ui`", err=True)
            sys.exit(1)


def _print_paths() -> None:
    """The index, each kind's newest report, and last the rolling report people open first."""
    from resources.report_store import INDEX, ReportStore

    click.echo(f"\n{'index:':9}{ReportStore().path() / INDEX}")
    for kind, label in (("weekly", "weekly:"), ("monthly", "monthly:"), ("rolling", "report:")):
        path = _latest_report(kind)
        if path is not None:
            click.echo(f"{label:9}{path}")


def _finish(result, failure_summary) -> None:
    if not result.success:
        click.echo(failure_summary(result), err=True)
        click.echo(f"run {result.run_id} failed; inspect it with `make ui`", err=True)
        sys.exit(1)
    from assets.step6_present.report_data import row_counts
    from assets.step6_present.scorecard import kpi_cards
    from assets.step6_present.summaries import scorecard_text
    from resources.warehouse import Warehouse

    with Warehouse().connect(read_only=True) as con:
        frame = con.execute("SELECT * FROM present.scorecard").df()
        cards = kpi_cards(con, frame)
        counts = row_counts(con)
    click.echo("\n" + scorecard_text(cards))
    click.echo("\nrows: " + ", ".join(f"{t}={n:,}" for t, n in counts))

COMMANDS = [demo, run, report]
