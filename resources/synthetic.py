"""The synthetic ITSM source as a Dagster resource: the default source of config/sources.yaml.

Values left empty here come from the source's `options` in config/sources.yaml; tests and
benchmarks override them (volume, seed, extraction moment) without touching the file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import dagster as dg
import pandas as pd
from pydantic import Field

from resources.config_models import SourceConfig
from resources.settings import sources
from resources.synthetic_data import ALL_ENTITIES, ENTITIES, SyntheticParams, generate_day


class SyntheticSource(dg.ConfigurableResource):
    """Realistic, deterministic ITSM data with known injected events and ~1% dirty rows."""

    source_name: str = Field(default="synthetic", description="Source entry in sources.yaml.")
    as_of: str | None = Field(
        default=None,
        description="Extraction moment (ISO, UTC). Empty: today 00:00 UTC. Tickets resolved "
        "after it are still open.",
    )
    seed: int | None = Field(default=None, description="Random seed; empty: sources.yaml.")
    incidents_per_day: float | None = Field(default=None, description="Weekday incident volume.")
    dirty_share: float | None = Field(default=None, description="Share of dirty rows, 0..1.")
    duration_mismatch_share: float | None = Field(
        default=None, description="Share of resolved incidents whose business_duration is "
        "made to disagree with the calendar, 0..1 (the check source_durations finds them).")

    def config(self) -> SourceConfig:
        for source in sources().sources:
            if source.name == self.source_name:
                return source
        raise ValueError(f"config/sources.yaml has no source named {self.source_name!r}")

    def params(self) -> SyntheticParams:
        options = self.config().options
        as_of = (
            dt.datetime.fromisoformat(self.as_of)
            if self.as_of
            else dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time())
        )
        return SyntheticParams(
            seed=int(self.seed if self.seed is not None else options.get("seed", 7)),
            incidents_per_day=float(self.incidents_per_day or options.get("incidents_per_day",
                                                                          120)),
            as_of=as_of.replace(tzinfo=None),
            dirty_share=float(self.dirty_share if self.dirty_share is not None
                              else options.get("dirty_share", 0.01)),
            duration_mismatch_share=float(
                self.duration_mismatch_share if self.duration_mismatch_share is not None
                else options.get("duration_mismatch_share", 0.01)),
        )

    def describe(self) -> str:
        """What goes into the raw tables' `_query` lineage column."""
        p = self.params()
        return (f"synthetic seed={p.seed} incidents_per_day={p.incidents_per_day:g} "
                f"as_of={p.as_of:%Y-%m-%dT%H:%M} dirty_share={p.dirty_share:g}")

    def days(
        self, start: dt.date, end: dt.date
    ) -> Iterator[tuple[dt.date, dict[str, pd.DataFrame]]]:
        """Each day in [start, end) with its frames, one per entity the source delivers
        (the audit log `history` is generated only when config/sources.yaml lists it)."""
        params = self.params()
        entities = self.config().entities
        day = start
        while day < end:
            yield day, generate_day(params, day, entities)
            day += dt.timedelta(days=1)


__all__ = ["ALL_ENTITIES", "ENTITIES", "SyntheticSource"]
