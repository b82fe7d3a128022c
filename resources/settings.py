"""Typed access to the four configuration files (validated, cached until they change)."""

from __future__ import annotations

from resources.config_files import load_config
from resources.config_models import CalendarConfig, KpiCatalogue, SourcesConfig, StrategyConfig


def strategy() -> StrategyConfig:
    return load_config("strategy.yaml", StrategyConfig)


def kpis() -> KpiCatalogue:
    return load_config("kpis.yaml", KpiCatalogue)


def sources() -> SourcesConfig:
    return load_config("sources.yaml", SourcesConfig)


def calendar() -> CalendarConfig:
    return load_config("calendar.yaml", CalendarConfig)
