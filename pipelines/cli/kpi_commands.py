"""`sevenstep kpi ...`: the KPI catalogue from the command line.

`check` validates a catalogue file the way the pipeline will; `list` and `show` print what is
defined; `rollup` gives exact values for weeks, months or any window from the warehouse; and
`diff` shows, before anyone backfills, what a changed definition would do to history: the
values on record beside the values the definition in the file gives, period by period.
Everything here only reads the warehouse.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from pathlib import Path

import click

from pipelines.cli.params import DAY

GRAIN_CHOICE = click.Choice(["day", "week", "month", "quarter", "year", "window"])


def _catalogue(file: str | None):
    from resources.config_files import ConfigError, load_model
    from resources.config_models import KpiCatalogue
    from resources.project import config_dir

    path = Path(file) if file else config_dir() / "kpis.yaml"
    try:
        return load_model(path, KpiCatalogue)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _kpi(catalogue, kpi_id: str):
    try:
        return catalogue.get(kpi_id)
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None


def _connect():
    from resources.warehouse import Warehouse

    @contextmanager
    def connection():
        with Warehouse().connect(read_only=True) as con:
            con.execute("SET enable_external_access = false")  # it runs KPI expressions
            yield con

    if not Warehouse().database_path().exists():
        raise click.ClickException(f"warehouse {Warehouse().database_path()} does not exist "
                                   "yet: run `sevenstep demo` or the pipeline first")
    return connection()


def _stored_range(con, kpi_id: str) -> tuple[dt.date | None, dt.date | None]:
    import duckdb

    try:
        rows = con.execute("SELECT min(day), max(day) FROM clean.kpi_daily WHERE kpi_id = ?",
                           [kpi_id]).fetchall()
    except duckdb.CatalogException:  # no facts table yet
        return None, None
    first, last = rows[0]
    return first, last


@click.group()
def kpi() -> None:
    """The KPI catalogue: check, list, show, roll up and compare definitions."""


@kpi.command()
@click.option("--file", "file", default=None, help="A kpis.yaml to check (default: the "
              "configuration folder's).")
def check(file: str | None) -> None:
    """Validate a KPI catalogue: shape, expressions against the canonical schema, read-only."""
    catalogue = _catalogue(file)
    click.echo(f"ok: {len(catalogue.kpis)} KPIs, every expression checked against the "
               "canonical schema")


@kpi.command(name="list")
@click.option("--file", "file", default=None, help="A kpis.yaml (default: the configuration's).")
def list_kpis(file: str | None) -> None:
    """One line per KPI: id, aggregate, roll-up, table, target and version."""
    import pandas as pd

    from assets.kpi_sql import kpi_version

    catalogue = _catalogue(file)
    frame = pd.DataFrame([
        {"kpi_id": k.id, "aggregate": k.aggregate, "rollup": k.rollup, "table": k.table,
         "unit": k.unit, "target": k.target, "version": kpi_version(k)}
        for k in catalogue.kpis])
    click.echo(frame.to_string(index=False))


@kpi.command()
@click.argument("kpi_id")
@click.option("--file", "file", default=None, help="A kpis.yaml (default: the configuration's).")
def show(kpi_id: str, file: str | None) -> None:
    """Everything about one KPI: formula, attribution, counting unit, fields, version."""
    from assets.kpi_coverage import needs
    from assets.kpi_sql import kpi_version, reads

    k = _kpi(_catalogue(file), kpi_id)
    lines = [
        f"{k.id}: {k.name}", k.description, f"formula:       {k.formula}",
        f"aggregate:     {k.aggregate} (roll-up: {k.rollup})", f"unit:          {k.unit}",
        f"direction:     {k.direction.replace('_', ' ')}",
        f"target:        {k.target} (warning {k.warning})",
        f"attribution:   {k.attribution}", f"counting unit: {k.counting_unit}",
        f"reads:         {', '.join(reads(k))}", f"fields:        {', '.join(needs(k).fields)}",
        f"breakdowns:    {', '.join(k.breakdowns) or 'none'}",
        f"objectives:    {', '.join(k.objectives) or 'none'}", f"version:       {kpi_version(k)}",
    ]
    click.echo("\n".join(lines))


@kpi.command()
@click.argument("kpi_id")
@click.option("--grain", type=GRAIN_CHOICE, default="week", show_default=True)
@click.option("--start", type=DAY, default=None,
              help="First day, YYYY-MM-DD (default: first stored).")
@click.option("--end", type=DAY, default=None, help="Last day, inclusive (default: last stored).")
@click.option("--breakdown", default=None, help="A breakdown of the KPI, e.g. service.")
def rollup(kpi_id: str, grain: str, start: dt.date | None, end: dt.date | None,
           breakdown: str | None) -> None:
    """Exact values of a KPI per week, month, ... from the warehouse (medians and percentiles
    recomputed from the detail rows, ratios as sum over sum)."""
    from assets.kpi_rollup import rollup as kpi_rollup
    from resources.settings import kpis

    k = _kpi(kpis(), kpi_id)
    if breakdown and breakdown not in k.breakdowns:
        raise click.ClickException(f"{kpi_id} has no breakdown {breakdown!r}; it has "
                                   f"{', '.join(k.breakdowns) or 'none'}")
    with _connect() as con:
        first, last = _stored_range(con, kpi_id)
        first, last = start or first, end or last
        if first is None or last is None:
            raise click.ClickException(f"no stored values of {kpi_id}: run the pipeline first")
        frame = kpi_rollup(con, k, first, last + dt.timedelta(days=1), grain, breakdown)
    click.echo(f"{k.name} ({k.unit}), {grain} {first} .. {last}, roll-up {k.rollup}")
    click.echo(frame.to_string(index=False))


def _new_facts(con, k, start: dt.date, end: dt.date) -> str:
    """The values a definition gives per day, in a temporary table shaped like kpi_daily."""
    from assets.kpi_sql import kpi_queries
    from resources.business_calendar import business_calendar

    calendar = business_calendar()
    con.execute(calendar.macro_sql())
    union = " UNION ALL ".join(f"({sql})" for _, sql in kpi_queries(k, calendar))
    con.execute(f"CREATE OR REPLACE TEMP TABLE kpi_daily_new AS {union}",
                {"start": start, "end": end})
    return "kpi_daily_new"


def _old_definition(con, kpi_id: str):
    import duckdb

    from resources.config_models import KpiDefinition

    try:
        rows = con.execute("SELECT definition FROM measures.kpi_catalogue WHERE kpi_id = ?",
                           [kpi_id]).fetchall()
    except duckdb.CatalogException:  # no catalogue materialized yet
        return None
    return KpiDefinition.model_validate_json(rows[0][0]) if rows else None


@kpi.command()
@click.argument("kpi_id")
@click.option("--file", "file", default=None, help="The kpis.yaml with the new definition "
              "(default: the configuration's).")
@click.option("--grain", type=GRAIN_CHOICE, default="week", show_default=True)
@click.option("--start", type=DAY, default=None,
              help="First day, YYYY-MM-DD (default: first stored).")
@click.option("--end", type=DAY, default=None, help="Last day, inclusive (default: last stored).")
def diff(kpi_id: str, file: str | None, grain: str, start: dt.date | None,
         end: dt.date | None) -> None:
    """Old and new values of a KPI side by side over history, before a backfill.

    Old: the values on record in clean.kpi_daily (for medians and percentiles over more than a
    day, recomputed with the definition the catalogue was materialized with). New: the
    definition in the file, computed over the same clean rows. Nothing is written.
    """
    import pandas as pd

    from assets.kpi_rollup import rollup as kpi_rollup
    from assets.kpi_sql import kpi_version

    new = _kpi(_catalogue(file), kpi_id)
    with _connect() as con:
        first, last = _stored_range(con, kpi_id)
        first, last = start or first, end or last
        if first is None or last is None:
            raise click.ClickException(f"no stored values of {kpi_id} and no --start/--end")
        stop = last + dt.timedelta(days=1)
        old = _old_definition(con, kpi_id)
        versions = [r[0] for r in con.execute(
            "SELECT DISTINCT kpi_version FROM clean.kpi_daily WHERE kpi_id = ? AND day >= ? "
            "AND day < ? ORDER BY 1", [kpi_id, first, stop]).fetchall()] if old else []
        before = (kpi_rollup(con, old, first, stop, grain) if old is not None
                  else pd.DataFrame(columns=["period", "breakdown_value", "value"]))
        after = kpi_rollup(con, new, first, stop, grain,
                           facts=_new_facts(con, new, first, stop))
    table = after[["period", "value"]].rename(columns={"value": "new"}).merge(
        before[["period", "value"]].rename(columns={"value": "old"}), on="period", how="outer")
    table["change"] = table["new"] - table["old"]
    table = table[["period", "old", "new", "change"]].sort_values("period")
    changed = int((table["change"].abs() > 1e-9).sum() + (table["old"].isna()
                                                           != table["new"].isna()).sum())
    click.echo(f"{new.name} ({new.unit}), {grain} {first} .. {last}")
    click.echo(f"old: version {', '.join(versions) or 'none on record'}"
               + (f" — {old.formula}" if old else ""))
    click.echo(f"new: version {kpi_version(new)} — {new.formula}")
    click.echo(table.to_string(index=False))
    click.echo(f"{changed} of {len(table)} periods differ"
               + ("; backfill them to record the new values" if changed else ""))


COMMANDS = [kpi]
