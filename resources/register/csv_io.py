"""Bulk editing through a spreadsheet: export the register to CSV, edit, import it back.

Each row carries the `version` it was exported at. On import, a row that changes anything is
applied only if the action is still at that version; otherwise the whole import is refused and
the message names every conflicting row, who changed the action since and what. Columns a
person cannot set (the measured values, flags, ids) are exported for reading and ignored on
import.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from resources.register.models import Action
from resources.register.repository import (
    HUMAN_FIELDS,
    ConflictError,
    Edit,
    Register,
    RegisterError,
    as_text,
    parse_field,
)

READ_ONLY = ("kpi_id", "scope", "current_value", "overdue", "wrong_way", "effect_summary",
             "finding_ids")
COLUMNS = ("action_id", "version", *READ_ONLY[:2], *HUMAN_FIELDS, *READ_ONLY[2:])


def export_csv(register: Register, path: Path, statuses: Iterable[str] | None = None) -> int:
    """Write the actions (optionally only some statuses) to `path`; returns the row count."""
    actions = register.actions(statuses)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for action in actions:
            writer.writerow([as_text(getattr(action, c)) or "" for c in COLUMNS])
    return len(actions)


def read_edits(register: Register, path: Path) -> list[tuple[int, Edit]]:
    """(line, edit) for every row that changes something; RegisterError lists all bad cells."""
    current = {a.action_id: a for a in register.actions()}
    errors: list[str] = []
    edits: list[tuple[int, Edit]] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"action_id", "version"} - set(reader.fieldnames or ())
        if missing:
            raise RegisterError(f"{path}: the header lacks {', '.join(sorted(missing))} "
                                "(export the register first and edit that file)")
        editable = [c for c in reader.fieldnames or () if c in HUMAN_FIELDS]
        for row in reader:
            line = reader.line_num
            edit = _row_edit(row, editable, current, f"{path}:{line}", errors)
            if edit is not None:
                edits.append((line, edit))
    if errors:
        raise RegisterError("the import was refused, nothing was saved:\n  " +
                            "\n  ".join(errors))
    return edits


def _row_edit(row: dict[str, str], editable: list[str], current: dict[str, Action],
              where: str, errors: list[str]) -> Edit | None:
    action_id = (row.get("action_id") or "").strip()
    action = current.get(action_id)
    if action is None:
        errors.append(f"{where}: no action {action_id!r} in the register (rows cannot create "
                      "actions)")
        return None
    try:
        version = int(row["version"])
    except (TypeError, ValueError):
        errors.append(f"{where}: {action_id}: version {row.get('version')!r} is not a number")
        return None
    changes = {}
    for field in editable:
        try:
            value = parse_field(field, row.get(field) or "")
        except RegisterError as exc:
            errors.append(f"{where}: {action_id}: {exc}")
            continue
        if value != getattr(action, field):
            changes[field] = value
    return Edit(action_id, changes, version) if changes else None


def import_csv(register: Register, path: Path, actor: str) -> int:
    """Apply a CSV edit in one transaction; returns how many actions changed.

    A row exported at an older version is merged field by field: a cell is a conflict when
    the register changed that field since the export (the cell would silently undo or
    overwrite somebody's change). Changes to other fields since then (the nightly run's
    current value, say) do not conflict. All conflicts are listed in one ConflictError before
    anything is written; the version guard in Register.apply still catches a racing edit.
    """
    edits = read_edits(register, path)
    current = {a.action_id: a.version for a in register.actions()}
    conflicts, rebased = [], []
    for line, edit in edits:
        since = [ev for ev in register.events(edit.action_id)
                 if ev.version > (edit.expected_version or 0)]
        clashes = [ev for ev in since if ev.field in edit.changes]
        if clashes:
            conflicts.append(f"{path}:{line}: {edit.action_id} exported at version "
                             f"{edit.expected_version}, now at version "
                             f"{current[edit.action_id]}; changed since: " + "; ".join(
                                 f"{ev.field} {ev.old_value!r} -> {ev.new_value!r} by "
                                 f"{ev.actor}" for ev in clashes))
        rebased.append(Edit(edit.action_id, edit.changes, current[edit.action_id]))
    if conflicts:
        raise ConflictError(
            "conflicting edits: the import was refused and nothing was saved. Export again, "
            "re-apply your edits to the fresh file and import that:\n  " + "\n  ".join(conflicts))
    return register.apply(rebased, actor)
