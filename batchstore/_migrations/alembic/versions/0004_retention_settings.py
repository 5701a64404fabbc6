"""Schema version 4: ``batchstore_setting``, the settings every process of a database shares.

Its first use is the retention policy (``BatchStore.set_retention``): kept in the database, so that every
process applies the same one, with the time it is next due, so that one process at a time applies it.

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
    op.create_table(
        "batchstore_setting",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String, nullable=False),
    )
    if op.get_context().dialect.name == "sqlite":
        op.execute("PRAGMA user_version = 4")
