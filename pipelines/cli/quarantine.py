"""`sevenstep quarantine`: what step 4 rejected, why, and how to release it."""

from __future__ import annotations

import datetime as dt
import json
import unicodedata

import click

from assets.step4_process.cleaning import REASONS
from pipelines.cli.params import DAY

RELEASE_HINT = (
    "To release rows: fix the source data, or add the code to the source's `mappings` in "
    "config/sources.yaml, then re-run the days with `sevenstep run --start DAY --end DAY`."
)


@click.command()
@click.option("--entity", help="Only this entity (incidents, changes, ...).")
@click.option("--reason", help="Only this reason code, e.g. UNKNOWN_CODE.")
@click.option("--day", type=DAY, help="Only this partition day, YYYY-MM-DD.")
@click.option("--limit", default=20, show_default=True, help="Rows to list.")
@click.option("--raw", "show_raw", is_flag=True, help="Print each row's raw JSON too.")
def quarantine(entity: str | None, reason: str | None, day: dt.date | None, limit: int,
               show_raw: bool) -> None:
    """List and explain quarantined rows: counts by reason, then examples."""
    from resources.warehouse import Warehouse

    where, params = ["TRUE"], []
    for column, value in (("entity", entity), ("reason_code", reason),
                          ("_partition", day)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    condition = " AND ".join(where)
    with Warehouse().connect(read_only=True) as con:
        summary = con.execute(
            f"SELECT entity, reason_code, count(*) FROM clean.quarantine WHERE {condition} "
            "GROUP BY 1, 2 ORDER BY 1, 3 DESC", params).fetchall()
        rows = con.execute(
            f"SELECT entity, reason_code, CAST(_partition AS VARCHAR), _source, _row, "
            f"coalesce(source_key, ''), detail, raw_row FROM clean.quarantine WHERE {condition} "
            "ORDER BY _partition DESC, entity, _row LIMIT ?", [*params, limit]).fetchall()
    if not summary:
        click.echo("The quarantine is empty for this selection.")
        return
    click.echo("Quarantined rows by reason:")
    for ent, code, n in summary:
        click.echo(f"  {ent:<10} {code:<26} {n:>8,}  {REASONS.get(code, '')}")
    click.echo(f"\nLatest {len(rows)} rows:")
    for ent, code, part, source, row, key, detail, raw in rows:
        click.echo(f"  {part} {source} {ent} row {row} {_shown(key) or '(no key)'}: {code} — "
                   f"{_shown(detail)}")
        if show_raw:
            click.echo("    " + _shown(json.dumps(json.loads(raw), ensure_ascii=False)))
    click.echo("\n" + RELEASE_HINT)


def _shown(text: str) -> str:
    """Ticket text for a terminal: control and format characters (ANSI escapes, bidi
    overrides) become spaces, so a ticket cannot rewrite what the operator sees."""
    return "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)


COMMANDS = [quarantine]
