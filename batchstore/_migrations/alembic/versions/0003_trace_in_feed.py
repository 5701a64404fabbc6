"""Schema version 3: the trace is the change feed's rows of traced tasks, written once.

Until version 2 a change to a task whose IsInternalTask is false was written twice, to ``batchtasktrace``
and to ``batchtaskchange``: the same values, two tables, and a third page for the trace's index. Now the
feed row says whether it is ``traced``, a partial index over those rows serves ``history``, and the trace
table goes.

History kept from before moves over. A trace row that has its twin in the feed (written since version 2)
marks that twin traced; one without (written before version 2, or whose feed row was pruned) is copied in
with a negative id, in its old order: older than any change, and below every cursor a feed reader can
hold, so watchers never see it as new.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_FEED = "id, task_id, at, operation, worker, changes, xid"
_TWIN = "c.task_id = t.task_id AND c.at = t.at AND c.operation = t.operation AND c.changes = t.changes"


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        # ADD COLUMN would append to the table's CREATE text after its constraints; a copy keeps the file's
        # schema exactly a new file's. The AUTOINCREMENT high-water mark is carried over: ids never repeat.
        op.drop_index("ix_batchtaskchange_xid", table_name="batchtaskchange")
        op.rename_table("batchtaskchange", "batchtaskchange_v2")
        op.create_table(
            "batchtaskchange",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("task_id", sa.Integer, nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("operation", sa.String(32), nullable=False),
            sa.Column("worker", sa.String(254)),
            sa.Column("changes", sa.String, nullable=False),
            sa.Column("xid", sa.BigInteger),
            sa.Column("traced", sa.Boolean, nullable=False, server_default=sa.text("FALSE")),
            sqlite_autoincrement=True,
        )
        op.execute(f"INSERT INTO batchtaskchange ({_FEED}) SELECT {_FEED} FROM batchtaskchange_v2 ORDER BY id")
        op.execute(
            "INSERT INTO sqlite_sequence (name, seq) SELECT 'batchtaskchange', seq FROM sqlite_sequence "
            "WHERE name = 'batchtaskchange_v2' AND NOT EXISTS "
            "(SELECT 1 FROM sqlite_sequence WHERE name = 'batchtaskchange')"
        )
        op.execute(
            "UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'batchtaskchange_v2') "
            "WHERE name = 'batchtaskchange' "
            "AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'batchtaskchange_v2')"
        )
        op.drop_table("batchtaskchange_v2")
        op.create_index(
            "ix_batchtaskchange_xid", "batchtaskchange", ["xid", "id"], sqlite_where=sa.text("xid IS NOT NULL")
        )
    else:
        op.add_column(
            "batchtaskchange", sa.Column("traced", sa.Boolean, nullable=False, server_default=sa.text("FALSE"))
        )
    op.execute(
        f"UPDATE batchtaskchange SET traced = TRUE WHERE EXISTS (SELECT 1 FROM batchtasktrace t WHERE "
        f"{_TWIN.replace('c.', 'batchtaskchange.')})"
    )
    op.create_index(
        "ix_batchtaskchange_task", "batchtaskchange", ["task_id", "id"],
        sqlite_where=sa.text("traced"), postgresql_where=sa.text("traced"),
    )  # fmt: skip
    op.execute(
        "INSERT INTO batchtaskchange (id, task_id, at, operation, worker, changes, xid, traced) "
        "SELECT t.id - (SELECT MAX(id) FROM batchtasktrace) - 1, t.task_id, t.at, t.operation, t.worker, t.changes, "
        "NULL, TRUE FROM batchtasktrace t "
        f"WHERE NOT EXISTS (SELECT 1 FROM batchtaskchange c WHERE c.traced AND {_TWIN}) ORDER BY t.id"
    )
    op.drop_index("ix_batchtasktrace_task", table_name="batchtasktrace")
    op.drop_table("batchtasktrace")
    if op.get_context().dialect.name == "sqlite":
        op.execute("PRAGMA user_version = 3")
