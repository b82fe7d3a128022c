"""`sevenstep demo`, `run` and `report`: running the pipeline and finding its report."""

from __future__ import annotations

import datetime as dt
import sys

import click


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


@click.command()
@click.option("--start", required=True, help="First day, YYYY-MM-DD.")
@click.option("--end", required=True, help="Last day (inclusive), YYYY-MM-DD.")
def run(start: str, end: str) -> None:
    """Run all seven steps over START..END as one run."""
    from pipelines.runner import failure_summary, run_range

    result = run_range(dt.date.fromisoformat(start), dt.date.fromisoformat(end))
    _finish(result, failure_summary)


@click.command()
def report() -> None:
    """Print the path of the newest report."""
    path = _latest_report()
    if path is None:
        raise click.ClickException("no report yet: run `sevenstep demo` first")
    click.echo(path)


def _warehouse_path() -> str:
    from resources.warehouse import default_warehouse_path

    return str(default_warehouse_path())


def _latest_report():
    from resources.report_store import ReportStore

    reports = sorted(ReportStore().path().glob("report-*.html"))
    return reports[-1] if reports else None


def _finish(result, failure_summary) -> None:
    if not result.success:
        click.echo(failure_summary(result), err=True)
        click.echo(f"run {result.run_id} failed; inspect it with `make ui`", err=True)
        sys.exit(1)
    from assets.step6_present.render import scorecard_text
    from assets.step6_present.report_data import row_counts
    from assets.step6_present.scorecard import kpi_cards
    from resources.warehouse import Warehouse

    with Warehouse().connect(read_only=True) as con:
        frame = con.execute("SELECT * FROM present.scorecard").df()
        cards = kpi_cards(con, frame)
        counts = row_counts(con)
    click.echo("\n" + scorecard_text(cards))
    click.echo("\nrows: " + ", ".join(f"{t}={n:,}" for t, n in counts))
    click.echo(f"\nreport: {_latest_report()}")
    click.echo(f"index:  {_latest_report().parent / 'index.html'}")

COMMANDS = [demo, run, report]
