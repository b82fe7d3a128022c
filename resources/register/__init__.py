"""The improvement (CSI) register: SQLAlchemy models, Alembic migrations and the repository.

It lives in the warehouse (DuckDB, through duckdb-engine) by default, or in any database
SQLAlchemy reaches (PostgreSQL tested) named by $SEVENSTEP_REGISTER_URL. Step 7's assets and
the `sevenstep actions` commands both go through `Register`.
"""

from resources.register.repository import (
    PIPELINE,
    ConflictError,
    Edit,
    Register,
    RegisterError,
    default_url,
)

__all__ = ["PIPELINE", "ConflictError", "Edit", "Register", "RegisterError", "default_url"]
