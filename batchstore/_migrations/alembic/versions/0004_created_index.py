"""Schema version 4: an index on Created, so that "newest first" lists read only the rows they return, and
``batchstore_setting``, the settings every process of a database shares.

The query model orders by any column; the fronts most often ask for the newest tasks (SailPoint's
``sorters=-created``, OData's ``$orderBy=created desc``, the dashboard). With this index a page of 50 of a
million tasks walks 50 index entries instead of sorting the table. Id follows Created in the index because
it is every order's last tie-break. Created never changes after a task is made, so only a create pays for it.

``batchstore_setting`` holds the retention policy (``BatchStore.set_retention``): kept in the database, so
that every process applies the same one, with the time it is next due, so that one process at a time does.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_batchtask_created", "batchtask", ["created", "id"])
    op.create_table(
        "batchstore_setting",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String, nullable=False),
    )
    if op.get_context().dialect.name == "sqlite":
        op.execute("PRAGMA user_version = 4")
