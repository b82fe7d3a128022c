"""Alembic environment: always online, on the connection resources.register.migrate hands over.

There is no alembic.ini: sevenstep upgrades the register itself whenever it opens it, so a user
never runs `alembic` by hand and an upgrade of sevenstep never loses the register.
"""

from alembic import context

from resources.register.models import SCHEMA, Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table_schema=SCHEMA,
    include_schemas=True,
)
with context.begin_transaction():
    context.run_migrations()
