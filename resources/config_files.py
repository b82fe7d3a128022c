"""Loading the YAML configuration with errors a person can act on.

Configuration is code: a mistake must stop the pipeline at load time and say which file, which
line and which field is wrong, and what was expected — never surface later as a KeyError.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from resources.project import PROJECT_ROOT, config_dir

ModelT = TypeVar("ModelT", bound=BaseModel)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster


class ConfigError(ValueError):
    """A configuration file is invalid; the message names the file, line and field."""


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Walk the YAML node tree along a pydantic error location and return a 1-based line."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if str(k.value) == str(part)), None)
            if match is None:
                # The field is missing: the mapping that should hold it is the best hint.
                return line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(
            node.value
        ):
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def _describe(loc: tuple[int | str, ...], data: Any) -> str:
    """`kpis[3].direction (id mttr)`: the field path plus the id of the list item it sits in."""
    text = ""
    item_id = None
    cursor = data
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
        if isinstance(cursor, dict):
            cursor = cursor.get(part)
        elif isinstance(cursor, list) and isinstance(part, int) and part < len(cursor):
            cursor = cursor[part]
        else:
            cursor = None
        if isinstance(cursor, dict) and ("id" in cursor or "name" in cursor):
            item_id = cursor.get("id", cursor.get("name"))
    return f"{text} (id {item_id})" if item_id is not None else text


def load_model(path: Path, model: type[ModelT]) -> ModelT:
    """Parse `path` as YAML and validate it against `model`, raising ConfigError on any fault.

    After the shape is valid, a model may check its meaning too: a `config_problems()` method
    returns (field location, reason) pairs — cross-references, SQL expressions — which are
    reported with their line like any shape error."""
    shown = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{shown}: file not found") from exc
    try:
        root = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)  # a safe loader: plain data only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{shown}{where}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    try:
        loaded = model.model_validate(data, context={"file": shown})
    except ValidationError as exc:
        raise ConfigError(_message(shown, root, data, [
            (tuple(err["loc"]), err["msg"]) for err in exc.errors()])) from None
    problems = getattr(loaded, "config_problems", None)
    found = problems() if problems is not None else []
    if found:
        raise ConfigError(_message(shown, root, data, found))
    return loaded


def _message(shown: str, root: yaml.Node | None, data: Any,
             problems: list[tuple[tuple[int | str, ...], str]]) -> str:
    """'file:line: field (id x): reason', one line per problem."""
    lines = []
    for loc, reason in problems:
        line = _line_of(root, loc)
        field = _describe(loc, data) or "(top level)"
        lines.append(f"{shown}:{line or '?'}: {field}: {reason}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


@cache
def _cached(path: Path, stamp: tuple[int, int], model: type[BaseModel]) -> BaseModel:
    return load_model(path, model)


def load_config(name: str, model: type[ModelT]) -> ModelT:
    """Load config/<name> (cached until the file changes, so the UI's reloads see edits).

    The file's modification time and size both key the cache: two saves within the same
    clock tick keep the time but rarely the size."""
    path = config_dir() / name
    try:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except FileNotFoundError:
        stamp = (-1, -1)
    return _cached(path, stamp, model)  # type: ignore[return-value]
