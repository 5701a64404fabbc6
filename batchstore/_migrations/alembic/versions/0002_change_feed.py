"""Schema version 2: the change feed, one row for every committed change to any task.

The trace (``batchtasktrace``) keeps the history of tasks whose IsInternalTask is false; this table also
carries the changes of internal tasks, so that a window can watch every task move (``BatchStore.watch``).
Its id is the feed's cursor. ``xid`` is PostgreSQL's transaction id of the change: there ids are handed
out before commit, so the feed reads in transaction order and only past the oldest running transaction.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batchtaskchange",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("task_id", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("worker", sa.String(254)),
        sa.Column("changes", sa.String, nullable=False),
        sa.Column("xid", sa.BigInteger),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_batchtaskchange_xid", "batchtaskchange", ["xid", "id"], sqlite_where=sa.text("xid IS NOT NULL")
    )
    if op.get_context().dialect.name == "sqlite":
        op.execute("PRAGMA user_version = 2")
