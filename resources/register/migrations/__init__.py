"""Alembic migrations of the improvement register (run by resources.register.migrate)."""
