"""`sevenstep actions ...`: people working the improvement register from the terminal.

Every command changes the register through resources.register, so each change is versioned,
checked against the allowed status changes and recorded as events under the person's name
(--by, else $SEVENSTEP_USER, else the login name). --expect-version makes a command refuse to act if
the action changed since the version you looked at.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from pathlib import Path

import click

from resources.register.models import ACTIVE_STATUSES as ACTIVE


def _register():
    from resources.register import Register, default_url
    from resources.warehouse import default_warehouse_path

    return Register.open(default_url(default_warehouse_path()))


def _actor(by: str | None) -> str:
    return by or os.environ.get("SEVENSTEP_USER") or getpass.getuser()


def _change(action_id: str, changes: dict[str, object], by: str | None,
            version: int | None) -> None:
    from resources.register import RegisterError

    try:
        action = _register().change(action_id, changes, _actor(by), expected_version=version)
    except RegisterError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{action.action_id}: {action.status}, version {action.version}")


def _parse(field: str, text: str) -> object:
    from resources.register import RegisterError
    from resources.register.repository import parse_field

    try:
        return parse_field(field, text)
    except RegisterError as exc:
        raise click.BadParameter(str(exc)) from exc


_BY = click.option("--by", help="Who is acting (default $SEVENSTEP_USER, else the login name).")
_VERSION = click.option("--expect-version", "version", type=int,
                        help="Refuse if the action is no longer at this version.")


@click.group()
def actions() -> None:
    """The improvement register: list, inspect and work on actions."""


@actions.command("list")
@click.option("--status", "statuses", multiple=True,
              help="Only these statuses (repeatable). Default: the active ones.")
@click.option("--all", "show_all", is_flag=True, help="Every action, whatever its status.")
def list_actions(statuses: tuple[str, ...], show_all: bool) -> None:
    """List actions: id, status, KPI, scope, owner, due date, values and flags."""
    from tabulate import tabulate

    chosen = None if show_all else (statuses or ACTIVE)
    rows = [[a.action_id, a.status, a.kpi_id, a.scope, a.owner or "", a.due_date or "",
             _number(a.baseline_value), _number(a.current_value),
             " ".join(f for f, on in (("overdue", a.overdue), ("wrong-way", a.wrong_way)) if on),
             a.version, a.title] for a in _register().actions(chosen)]
    if not rows:
        click.echo("no actions")
        return
    click.echo(tabulate(rows, headers=["id", "status", "kpi", "scope", "owner", "due",
                                       "baseline", "current", "flags", "v", "title"]))


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:,.4g}"


@actions.command()
@click.argument("action_id")
def show(action_id: str) -> None:
    """Every field of one action and its full history."""
    from tabulate import tabulate

    from resources.register import RegisterError
    from resources.register.models import ACTION_COLUMNS
    from resources.register.repository import as_text

    register = _register()
    try:
        action = register.get(action_id)
    except RegisterError as exc:
        raise click.ClickException(str(exc)) from exc
    for column in ACTION_COLUMNS:
        click.echo(f"{column:>16}: {as_text(getattr(action, column)) or ''}")
    events = [[e.event_at, e.actor, e.version, e.field, e.old_value or "", e.new_value or ""]
              for e in register.events(action_id)]
    click.echo("\nhistory:\n" + tabulate(events, headers=["when (UTC)", "who", "v", "field",
                                                          "old", "new"]))


@actions.command()
@click.argument("action_id")
@click.option("--owner", help="Who owns the action from now on.")
@click.option("--due", help="Due date, YYYY-MM-DD.")
@_BY
@_VERSION
def accept(action_id: str, owner: str | None, due: str | None, by: str | None,
           version: int | None) -> None:
    """Accept a proposed action (optionally naming its owner and due date)."""
    changes: dict[str, object] = {"status": "accepted"}
    if owner:
        changes["owner"] = owner
    if due:
        changes["due_date"] = _parse("due_date", due)
    _change(action_id, changes, by, version)


@actions.command()
@click.argument("action_id")
@click.argument("owner")
@click.option("--due", help="Due date, YYYY-MM-DD.")
@_BY
@_VERSION
def assign(action_id: str, owner: str, due: str | None, by: str | None,
           version: int | None) -> None:
    """Make OWNER responsible for the action (optionally with a due date)."""
    changes: dict[str, object] = {"owner": owner}
    if due:
        changes["due_date"] = _parse("due_date", due)
    _change(action_id, changes, by, version)


@actions.command()
@click.argument("action_id")
@click.option("--set", "assignments", multiple=True, metavar="FIELD=VALUE",
              help="A field to set (repeatable); an empty VALUE clears it. Fields: title, "
              "description, objective_id, priority, status, owner, due_date, resources, "
              "baseline_value, baseline_period, target, rationale, notes, done_on.")
@_BY
@_VERSION
def update(action_id: str, assignments: tuple[str, ...], by: str | None,
           version: int | None) -> None:
    """Set any field a person may set, e.g. --set status=in_progress --set resources='2 FTE'."""
    changes = {}
    for assignment in assignments:
        field, sep, value = assignment.partition("=")
        if not sep:
            raise click.BadParameter(f"{assignment!r} is not FIELD=VALUE", param_hint="--set")
        changes[field.strip()] = _parse(field.strip(), value)
    if not changes:
        raise click.UsageError("nothing to update: give at least one --set FIELD=VALUE")
    _change(action_id, changes, by, version)


@actions.command()
@click.argument("action_id")
@click.option("--on", "done_on", help="The day the change took effect (YYYY-MM-DD); the "
              "evaluation compares the KPI before and after it. Default: today (UTC).")
@_BY
@_VERSION
def close(action_id: str, done_on: str | None, by: str | None, version: int | None) -> None:
    """Mark the action done; its effect is measured once the evaluation window has passed."""
    day = _parse("done_on", done_on) if done_on else dt.datetime.now(dt.UTC).date()
    _change(action_id, {"status": "done", "done_on": day}, by, version)


@actions.command()
@click.argument("action_id")
@click.option("--reason", required=True, help="Why the action is not taken (kept in notes).")
@_BY
@_VERSION
def reject(action_id: str, reason: str, by: str | None, version: int | None) -> None:
    """Reject a proposed or accepted action, saying why."""
    _change(action_id, {"status": "rejected", "notes": reason}, by, version)


@actions.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--all", "show_all", is_flag=True, help="Every action, not only active ones.")
def export_actions(path: Path, show_all: bool) -> None:
    """Write the actions to a CSV file for bulk editing (keep the version column)."""
    from resources.register.csv_io import export_csv

    count = export_csv(_register(), path, None if show_all else ACTIVE)
    click.echo(f"{count} actions written to {path}")


@actions.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_BY
def import_actions(path: Path, by: str | None) -> None:
    """Apply an edited CSV export; conflicting edits refuse the whole file."""
    from resources.register import RegisterError
    from resources.register.csv_io import import_csv

    try:
        changed = import_csv(_register(), path, _actor(by))
    except RegisterError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{changed} actions changed")


COMMANDS = [actions]
