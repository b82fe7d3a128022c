"""The documentation stays true to the code.

The pages under docs/ are what users and reviewers trust; a column, reason code, configuration
field, environment variable, asset, check or command that exists in the code but not in the
docs (or the other way round, for the column and reason tables) fails here with the page, the
section and the name to fix.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from quality.schemas import CLEAN_TABLES, QUARANTINE
from resources.config_models import (
    ENTITY_NAMES,
    CalendarConfig,
    KpiCatalogue,
    SourcesConfig,
    StrategyConfig,
)

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DATA_MODEL = "docs/data-model.md"
CONFIGURATION = "docs/configuration.md"
ARCHITECTURE = "docs/architecture.md"

SCHEMAS = {schema.name: schema for schema in (*CLEAN_TABLES.values(), QUARANTINE)}
CONFIG_MODELS: dict[str, type[BaseModel]] = {
    "strategy.yaml": StrategyConfig,
    "kpis.yaml": KpiCatalogue,
    "calendar.yaml": CalendarConfig,
    "sources.yaml": SourcesConfig,
}
_HEADING = re.compile(r"(#{1,6})\s+(.*?)\s*$")
_NAME_CELL = re.compile(r"^\(?`([A-Za-z_][A-Za-z0-9_]*)`\)?$")
# Calls that read or set an environment variable by literal name, in Python source.
_PY_ENV = re.compile(
    r"""(?:environ(?:\.get|\.setdefault|\.pop)?\s*[\[(]|getenv\(|setenv\(|delenv\(|EnvVar\()"""
    r"""\s*["']([A-Z][A-Z0-9_]*)["']"""
)
_DOC_LINK = re.compile(r"\]\(([\w.-]+\.md)(?:#[\w-]*)?\)")
# Names kept in constants (`ENV = "SEVENSTEP_..."`) are found by their prefix.
_PY_PROJECT_VAR = re.compile(r"""["'](SEVENSTEP_[A-Z0-9_]+)["']""")
_SHELL_EXPORT = re.compile(r"^\s*export\s+([A-Z][A-Z0-9_]*)", re.MULTILINE)
_CODE_DIRS = ("pipelines", "assets", "resources", "quality")
"""Product code: variables that only tests or benchmarks set for themselves are not a user's."""


def read(relative: str) -> str:
    path = ROOT / relative
    if not path.exists():
        pytest.fail(f"{relative} does not exist")
    return path.read_text(encoding="utf-8")


def section(text: str, heading: str, page: str) -> str:
    """The body under the heading whose text is exactly `heading`, up to the next heading of
    the same or a higher level (lines inside code fences are never headings)."""
    lines = text.splitlines()
    fenced = False
    start = level = None
    for index, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match is None:
            continue
        if start is None:
            if match.group(2) == heading:
                start, level = index + 1, len(match.group(1))
        elif len(match.group(1)) <= level:
            return "\n".join(lines[start:index])
    if start is None:
        pytest.fail(f"{page}: no section headed {heading!r}")
    return "\n".join(lines[start:])


def named_rows(body: str) -> dict[str, list[str]]:
    """Markdown table rows whose first cell is one `name` (or (`name`)): name -> other cells."""
    rows = {}
    for line in body.splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = _NAME_CELL.match(cells[0])
        if match:
            rows[match.group(1)] = cells[1:]
    return rows


def with_linked_pages(body: str) -> str:
    """A section plus the docs pages it links to: a feature's owner may keep its field table
    in its own page, as long as the section points there."""
    pages = sorted({DOCS / link for link in _DOC_LINK.findall(body)})
    return "\n".join([body, *(p.read_text(encoding="utf-8") for p in pages if p.is_file())])


def all_docs_text() -> str:
    pages = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
    return "\n".join(page.read_text(encoding="utf-8") for page in pages)


# ------------------------------------------------------------------ docs/data-model.md


@pytest.mark.parametrize("table", sorted(SCHEMAS))
def test_data_model_lists_every_column_with_its_type_and_nullability(table: str) -> None:
    schema = SCHEMAS[table]
    documented = named_rows(section(read(DATA_MODEL), f"`{table}`", DATA_MODEL))
    expected = {
        name: [column.metadata["sql_type"], "yes" if column.nullable else "no"]
        for name, column in schema.columns.items()
    }
    missing = sorted(set(expected) - set(documented))
    stale = sorted(set(documented) - set(expected))
    wrong = [
        f"{name}: documented as {documented[name][:2]}, quality/schemas.py says {kind}"
        for name, kind in expected.items()
        if name in documented and documented[name][:2] != kind
    ]
    problems = ([f"missing columns {missing}"] if missing else []) + (
        [f"columns not in quality/schemas.py {stale}"] if stale else []) + wrong
    assert not problems, f"{DATA_MODEL} section `{table}`: " + "; ".join(problems)


def test_data_model_lists_every_quarantine_reason_code() -> None:
    from assets.step4_process.cleaning import REASONS

    body = section(read(DATA_MODEL), "Quarantine reason codes", DATA_MODEL)
    documented = set(named_rows(body))
    missing = sorted(set(REASONS) - documented)
    stale = sorted(documented - set(REASONS))
    assert not missing, (f"{DATA_MODEL}: reason codes of assets/step4_process/cleaning.py "
                         f"REASONS not documented: {missing}")
    assert not stale, f"{DATA_MODEL}: documented reason codes that REASONS lacks: {stale}"


@pytest.mark.parametrize("entity", ENTITY_NAMES)
def test_data_model_maps_every_raw_field_to_its_source_column(entity: str) -> None:
    from assets.step4_process.entities import ENTITY_SPECS

    spec = ENTITY_SPECS[entity]
    heading = f"{entity} → `clean.{entity}`"
    documented = named_rows(section(read(DATA_MODEL), heading, DATA_MODEL))
    expected = {f.name: f"`{f.raw}`" for f in spec.fields} | {d: "derived" for d in spec.derived}
    problems = [
        f"{name}: documented source {documented[name][0]!r}, entities.py says {source!r}"
        if name in documented else f"{name}: missing"
        for name, source in expected.items()
        if name not in documented or documented[name][0] != source
    ]
    stale = sorted(set(documented) - set(expected))
    if stale:
        problems.append(f"fields not in assets/step4_process/entities.py: {stale}")
    assert not problems, f"{DATA_MODEL} section {heading!r}: " + "; ".join(problems)


# ------------------------------------------------------------------ docs/configuration.md


def _nested_models(annotation: object) -> Iterator[tuple[type[BaseModel], str]]:
    """Models reachable inside a field's type, with the path suffix that leads into them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, ""
        return
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset):
        for arg in args:
            for model, suffix in _nested_models(arg):
                yield model, "[]" + suffix
    elif origin is dict and len(args) == 2:
        for model, suffix in _nested_models(args[1]):
            yield model, ".*" + suffix
    else:
        for arg in args:
            yield from _nested_models(arg)


def field_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """`objectives`, `objectives[].owner`, `service_levels.response_minutes`, ..."""
    for name, info in model.model_fields.items():
        path = prefix + name
        yield path
        for nested, suffix in _nested_models(info.annotation):
            yield from field_paths(nested, f"{path}{suffix}.")


@pytest.mark.parametrize("file", list(CONFIG_MODELS))
def test_configuration_documents_every_field(file: str) -> None:
    text = with_linked_pages(section(read(CONFIGURATION), file, CONFIGURATION))
    missing = [path for path in field_paths(CONFIG_MODELS[file]) if f"`{path}`" not in text]
    assert not missing, (f"{CONFIGURATION} section {file!r} (or a docs page it links to) does "
                         f"not document {CONFIG_MODELS[file].__name__} fields {missing}")


def test_configuration_documents_every_source_mapping() -> None:
    from assets.step4_process.entities import ENTITY_SPECS

    body = with_linked_pages(section(read(CONFIGURATION), "sources.yaml", CONFIGURATION))
    mappings = sorted({f.mapping for spec in ENTITY_SPECS.values() for f in spec.fields
                       if f.mapping})
    missing = [name for name in mappings if f"`{name}`" not in body]
    assert not missing, (f"{CONFIGURATION} section 'sources.yaml' does not name the mappings "
                         f"{missing} that assets/step4_process/entities.py looks up")


def environment_variables() -> dict[str, str]:
    """Every environment variable the product code, Makefile or CI read or set -> where."""
    found: dict[str, str] = {}
    files = [p for d in _CODE_DIRS for p in sorted((ROOT / d).rglob("*.py"))]
    for path in files:
        source = path.read_text(encoding="utf-8")
        for name in _PY_ENV.findall(source) + _PY_PROJECT_VAR.findall(source):
            found.setdefault(name, str(path.relative_to(ROOT)))
    for shell in ("Makefile", ".ci/run"):
        path = ROOT / shell
        if path.exists():
            for name in _SHELL_EXPORT.findall(path.read_text(encoding="utf-8")):
                found.setdefault(name, shell)
    return found


def test_configuration_documents_every_environment_variable() -> None:
    found = environment_variables()
    assert "SEVENSTEP_DATA_DIR" in found, "the environment scan found nothing: fix the pattern"
    text = with_linked_pages(section(read(CONFIGURATION), "Environment variables",
                                     CONFIGURATION))
    missing = {name: where for name, where in sorted(found.items()) if f"`{name}`" not in text}
    assert not missing, (f"{CONFIGURATION} section 'Environment variables' (or a docs page it "
                         "links to) lacks "
                         + ", ".join(f"{n} (used in {w})" for n, w in missing.items()))


# ------------------------------------------------------------------ docs/architecture.md


def documented_key_patterns(text: str) -> list[re.Pattern[str]]:
    """Asset keys named in backticks; `<entity>` stands for an entity name and any other
    `<placeholder>` for one identifier, so keys that come from configuration (a source's name,
    a KPI id) are documented once as a pattern."""
    patterns = []
    for token in set(re.findall(r"`([a-z]+/[^`\s]+)`", text)):
        parts = re.split(r"(<[a-z_]+>)", token)
        regex = "".join(
            ("(?:" + "|".join(ENTITY_NAMES) + ")" if part == "<entity>" else "[a-z][a-z0-9_]*")
            if part.startswith("<") else re.escape(part)
            for part in parts
        )
        patterns.append(re.compile(regex))
    return patterns


def test_architecture_names_every_asset_group_and_check() -> None:
    from pipelines.definitions import defs

    text = read(ARCHITECTURE)
    graph = defs.resolve_asset_graph()
    keys = sorted(key.to_user_string() for key in graph.get_all_asset_keys())
    patterns = documented_key_patterns(text)
    undocumented = [key for key in keys if not any(p.fullmatch(key) for p in patterns)]
    names = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    names |= {check.name for check in graph.asset_check_keys}
    missing = sorted(name for name in names if f"`{name}`" not in text)
    assert not undocumented, f"{ARCHITECTURE} does not name the assets {undocumented}"
    assert not missing, f"{ARCHITECTURE} does not name these groups or checks: {missing}"


# ------------------------------------------------------------------ commands


def test_every_sevenstep_command_is_documented() -> None:
    from pipelines.cli import main

    text = all_docs_text()
    missing = sorted(name for name in main.commands if f"sevenstep {name}" not in text)
    assert not missing, f"README.md and docs/*.md do not document `sevenstep` {missing}"


def test_every_make_target_is_documented() -> None:
    targets = re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", read("Makefile"), re.MULTILINE)
    assert "demo" in targets and "test" in targets, f"Makefile targets not parsed: {targets}"
    text = all_docs_text()
    missing = [t for t in targets if not re.search(rf"\bmake {re.escape(t)}\b", text)]
    assert not missing, f"README.md and docs/*.md do not document the make targets {missing}"
