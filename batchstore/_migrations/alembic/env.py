"""Alembic's environment for batchstore's own tables: run by :mod:`batchstore._migrations`, never imported.

Online, the caller hands over a SQLAlchemy connection already inside the transaction (and lock) that the
upgrade runs in; offline (``batchstore migrate --sql``), the SQL is written out for a DBA to run.
"""

from __future__ import annotations

from alembic import context

from batchstore._migrations import VERSION_TABLE
from batchstore._schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        version_table=VERSION_TABLE,
        render_as_batch=True,
    )
else:
    # render_as_batch: SQLite alters a table by copying it (Alembic's batch mode); PostgreSQL alters in place.
    context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                      render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
