"""What step 3 needs to know about each entity: which source columns decide a row's day
partition, which hold numbers (for decimal commas), and the source contract of its raw table.

The canonical entities take these from the step-4 field specs (so a source's `columns` map
moves the partition column too); the raw-only entities (`slas`, `history`) from their
pseudo-fields in resources/sources/presets.py.
"""

from __future__ import annotations

import dagster as dg

from assets.step4_process.entities import ENTITY_SPECS, raw_column, raw_contract
from quality.contracts import RawContract
from resources.config_models import SourceConfig
from resources.sources.presets import EXTRA_ENTITY_FIELDS

PARTITION_FIELDS: dict[str, tuple[str, ...]] = {
    "incidents": ("updated_at", "opened_at"),
    "changes": ("updated_at", "created_at"),
    "problems": ("updated_at", "opened_at"),
    "outages": ("updated_at", "start_at"),
    "surveys": ("responded_at", "sent_at"),
    "slas": ("updated_at", "created_at"),
    "history": ("updated_at",),
}
"""A row's partition is the day it was last updated at the source, else the day it was created
(or, for a survey, answered else sent)."""


def field_column(source: SourceConfig, entity: str, field: str) -> str:
    """The source column holding canonical (or pseudo-) field `field` of `entity`."""
    spec = ENTITY_SPECS.get(entity)
    if spec is not None:
        return raw_column(source, spec, next(f for f in spec.fields if f.name == field))
    return source.column(entity, field, EXTRA_ENTITY_FIELDS[entity][field])


def partition_columns(source: SourceConfig, entity: str) -> list[str]:
    return list(dict.fromkeys(field_column(source, entity, f) for f in PARTITION_FIELDS[entity]))


def numeric_columns(source: SourceConfig, entity: str) -> list[str]:
    spec = ENTITY_SPECS.get(entity)
    if spec is None:
        return []
    return [raw_column(source, spec, f) for f in spec.fields if f.kind in ("integer", "number")]


def contract(source: SourceConfig, entity: str) -> RawContract:
    if entity in ENTITY_SPECS:
        return raw_contract(source, entity)
    key = field_column(source, entity, "key")
    return RawContract(table=source.raw_table(entity), key=key, required=(key,))


def raw_key(source: SourceConfig, entity: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", source.raw_table(entity)])
