"""`sevenstep template` and `sevenstep enter`: manual data entry into a file-drop source.

Measurements no system records (an outage seen by a person, paper survey results) are typed
into a CSV file in a file-drop source's folder, one validated row at a time; the drop-folder
sensor or the next run gathers it like any export. A row is checked the way step 4 will judge
it (key and required fields present, timestamps in the source's format, numbers, codes in the
source's vocabularies) so a typo is refused at the keyboard, not quarantined later.
"""

from __future__ import annotations

import csv
import datetime as dt
import fnmatch
from pathlib import Path

import click


def _spec_fields(source, entity: str) -> dict[str, tuple[str, object]]:
    """Canonical field -> (source column, field spec)."""
    from assets.step4_process.entities import ENTITY_SPECS, raw_column

    if entity not in ENTITY_SPECS:
        raise click.ClickException(f"entity {entity!r} has no canonical fields; use one of "
                                   f"{sorted(ENTITY_SPECS)}")
    spec = ENTITY_SPECS[entity]
    return {f.name: (raw_column(source, spec, f), f) for f in spec.fields}


def _file_source(name: str, entity: str):
    from resources.settings import sources

    try:
        source = sources().get(name)
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    if source.kind != "files" or source.files is None:
        raise click.ClickException(f"source {name!r} is of kind {source.kind!r}; manual entry "
                                   "writes into a source of kind 'files'")
    if entity not in source.entities:
        raise click.ClickException(f"source {name!r} does not deliver {entity!r} "
                                   f"(entities: {source.entities})")
    return source


def validate(source, entity: str, values: dict[str, str]) -> list[str]:
    """Problems with one entered row, each naming the field and what is expected."""
    fields = _spec_fields(source, entity)
    problems = [f"unknown field {k!r}; fields: {', '.join(fields)}" for k in values
                if k not in fields]
    for name, (column, spec) in fields.items():
        value = values.get(name, "").strip()
        if not value:
            if spec.kind == "key" or spec.required:
                problems.append(f"{name} ({column}) is required")
            continue
        if spec.kind == "timestamp":
            try:
                dt.datetime.strptime(value, source.timestamp_format)
            except ValueError:
                problems.append(f"{name} {value!r} is not a timestamp in the format "
                                f"{source.timestamp_format}")
        elif spec.kind in ("integer", "number"):
            try:
                number = float(value)
            except ValueError:
                problems.append(f"{name} {value!r} is not a number")
            else:
                low, high = spec.valid_range or (float("-inf"), float("inf"))
                if not low <= number <= high:
                    problems.append(f"{name} {value} is outside {low:g}..{high:g}")
        elif spec.kind == "code":
            known = source.mappings.get(spec.mapping, {})
            if value not in known:
                problems.append(f"{name} {value!r} is not in mapping {spec.mapping} of source "
                                f"{source.name} ({', '.join(known) or 'no codes'})")
    return problems


def _target(source, entity: str, file: str | None) -> Path:
    from resources.sources.files import drop_folder

    name = file or f"manual_{entity}.csv"
    pattern = source.files.patterns[entity]
    if not fnmatch.fnmatch(name, pattern):
        raise click.ClickException(f"{name} does not match the pattern {pattern!r} of "
                                   f"{source.name}/{entity}: pass --file NAME that matches it")
    return drop_folder(source) / name


@click.command()
@click.argument("source_name")
@click.argument("entity")
def template(source_name: str, entity: str) -> None:
    """Print the CSV template (header and one example line) for SOURCE_NAME's ENTITY."""
    source = _file_source(source_name, entity)
    fields = _spec_fields(source, entity)
    delimiter = source.files.read.delimiter
    click.echo(delimiter.join(column for column, _ in fields.values()))
    example = {"timestamp": dt.datetime(2026, 1, 31, 9, 30).strftime(source.timestamp_format),
               "key": f"{entity[:3].upper()}-0001"}
    click.echo(delimiter.join(
        example.get(spec.kind, next(iter(source.mappings.get(spec.mapping or "", {})), ""))
        for _, spec in fields.values()))


@click.command()
@click.argument("source_name")
@click.argument("entity")
@click.argument("values", nargs=-1, required=True)
@click.option("--file", "file", default=None, help="File in the drop folder; default "
              "manual_<entity>.csv (must match the source's pattern).")
def enter(source_name: str, entity: str, values: tuple[str, ...], file: str | None) -> None:
    """Append one validated row, given as canonical FIELD=VALUE pairs, to a drop-folder CSV."""
    source = _file_source(source_name, entity)
    pairs = dict(v.split("=", 1) if "=" in v else (v, "") for v in values)
    problems = validate(source, entity, pairs)
    if problems:
        raise click.ClickException("row refused:\n  " + "\n  ".join(problems))
    fields = _spec_fields(source, entity)
    path = _target(source, entity, file)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = source.files.read
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", encoding=options.encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=options.delimiter, quotechar=options.quote or '"',
                            lineterminator="\n")
        if new:
            writer.writerow(column for column, _ in fields.values())
        writer.writerow(pairs.get(name, "") for name in fields)
    click.echo(f"appended to {path}")


COMMANDS = [template, enter]
