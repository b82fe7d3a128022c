"""The register as a Dagster resource: where it lives is deployment configuration."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from resources.register.repository import URL_VARIABLE, Register, default_url


class RegisterStore(dg.ConfigurableResource):
    """Opens (and migrates) the register. Empty url: $SEVENSTEP_REGISTER_URL when set, else the
    warehouse file. A URL with a password belongs in the environment (dg.EnvVar), never here."""

    url: str | None = Field(
        default=None,
        description=f"SQLAlchemy URL of the register. Empty: ${URL_VARIABLE}, else the warehouse.",
    )

    def open(self, warehouse_path: Path) -> Register:
        return Register.open(self.url or default_url(warehouse_path))
