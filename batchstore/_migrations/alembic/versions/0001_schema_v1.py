"""Schema version 1, as batchstore 0.1.0 created it: tasks, their ParameterObject blobs, the trace.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "binaryobject",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("mime_type", sa.String(254), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "batchtask",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(254)),
        sa.Column("associate_id", sa.Integer),
        sa.Column("details_table", sa.Integer),
        sa.Column("details_record", sa.Integer),
        sa.Column("is_system_task", sa.Boolean, nullable=False),
        sa.Column("is_internal_task", sa.Boolean, nullable=False),
        sa.Column("last_started", sa.DateTime(timezone=True)),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("start_count", sa.Integer, nullable=False),
        sa.Column("database_serial_number", sa.String(254)),
        sa.Column("context", sa.String(254)),
        sa.Column("result", sa.String(254)),
        sa.Column("state", sa.Integer, nullable=False),
        sa.Column("description", sa.String(254)),
        sa.Column("response", sa.String(254)),
        sa.Column("request", sa.String(254)),
        sa.Column("progress_description", sa.String(254)),
        sa.Column("progress_percent", sa.Integer, nullable=False),
        sa.Column("file_name", sa.String(260)),
        sa.Column("cancellation_behaviour", sa.Integer, nullable=False),
        sa.Column("parameter_blob", sa.Integer, sa.ForeignKey("binaryobject.id")),
        sa.Column("worker", sa.String(254)),
        sa.Column("lease_expires", sa.DateTime(timezone=True)),
        sa.Column("stop_requested", sa.Boolean, nullable=False),
        sa.Column("state_changed", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_batchtask_associate", "batchtask", ["associate_id"])
    op.create_index("ix_batchtask_name", "batchtask", ["name"])
    op.create_index("ix_batchtask_state_id", "batchtask", ["state", "id"])
    op.create_table(
        "batchtasktrace",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("task_id", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("worker", sa.String(254)),
        sa.Column("changes", sa.String, nullable=False),
    )
    op.create_index("ix_batchtasktrace_task", "batchtasktrace", ["task_id", "id"])
    if op.get_context().dialect.name == "sqlite":
        op.execute("PRAGMA user_version = 1")
