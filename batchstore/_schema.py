"""The tables, defined with SQLModel: the one source of batchstore's schema.

Importing SQLModel and SQLAlchemy costs about half a second, so nothing on the hot path imports this
module: it is loaded to create the tables of a new database, and by the tests that check the SQL in
``_sql.py`` against these models.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, Integer, LargeBinary, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlmodel import Field, SQLModel

__all__ = ["BatchStoreSetting", "BatchTask", "BatchTaskChange", "BinaryObject", "ddl", "metadata", "sqlite_ddl"]

# SQLModel's global metadata would mix our tables with an application's own models.
metadata = SQLModel.metadata.__class__()


class _Base(SQLModel):
    metadata = metadata


class BinaryObject(_Base, table=True):
    """A ParameterObject as msgpack bytes (SuperOffice's BinaryObject table, table number 205)."""

    __tablename__ = "binaryobject"
    # AUTOINCREMENT: a deleted row's id is never handed out again, so a stale link never finds new data.
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    mime_type: str = Field(max_length=254)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class BatchTask(_Base, table=True):
    """One batch task (SuperOffice's batchtask table). Column order is the wire order."""

    __tablename__ = "batchtask"
    __table_args__ = (
        # Listing one state walks this index in Id order and touches no other state's rows.
        Index("ix_batchtask_state_id", "state", "id"),
        # The agent queries: by name, by associate (then filtered by state). These two leave State out
        # on purpose: a State change is the most common write, and every index holding State costs it
        # two more pages (measured: an update with the trace went from about 330 to 200 us).
        Index("ix_batchtask_name", "name"),
        Index("ix_batchtask_associate", "associate_id"),
        # "Newest first" (schema version 4): Created never changes, so only a create pays for this one.
        Index("ix_batchtask_created", "created", "id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str | None = Field(default=None, max_length=254)
    associate_id: int | None = None
    details_table: int | None = None
    details_record: int | None = None
    is_system_task: bool = False
    is_internal_task: bool = False
    last_started: dt.datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created: dt.datetime = Field(sa_type=DateTime(timezone=True))
    start_count: int = 0
    database_serial_number: str | None = Field(default=None, max_length=254)
    context: str | None = Field(default=None, max_length=254)
    result: str | None = Field(default=None, max_length=254)
    state: int = Field(default=1)
    description: str | None = Field(default=None, max_length=254)
    response: str | None = Field(default=None, max_length=254)
    request: str | None = Field(default=None, max_length=254)
    progress_description: str | None = Field(default=None, max_length=254)
    progress_percent: int = 0
    file_name: str | None = Field(default=None, max_length=260)
    cancellation_behaviour: int = 0
    # The binaryobject row batchstore wrote for this task's ParameterObject, and so owns and deletes.
    # DetailsTable/DetailsRecord are the caller's to set, and may point at a row another task owns.
    parameter_blob: int | None = Field(default=None, foreign_key="binaryobject.id")
    # The lifecycle's own columns, not part of the wire form: who holds the claim and until when,
    # whether a stop was asked of a running task, and when the State last changed (for pruning).
    worker: str | None = Field(default=None, max_length=254)
    lease_expires: dt.datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    stop_requested: bool = False
    state_changed: dt.datetime = Field(sa_type=DateTime(timezone=True))


class BatchTaskChange(_Base, table=True):
    """One committed change to any task: the change feed (``BatchStore.watch``) and, where ``traced``, the trace.

    Every change to any task, internal ones included, is a row here. The rows of tasks whose IsInternalTask
    is false are ``traced``: they are also the task's history (``BatchStore.history``), kept as long as the
    task, where the others go at the next ``prune``. One row serves both, so a change is written once.

    ``id`` is the feed's cursor. On PostgreSQL, ids are drawn before commit, so ``xid`` (the transaction's
    id) orders the feed and a reader stops short of transactions still running; on SQLite writers take
    turns, so id order is commit order and ``xid`` stays NULL (and out of its index). History kept from
    before schema version 3 has negative ids: older than any change, and never handed to a feed reader.
    """

    __tablename__ = "batchtaskchange"
    __table_args__ = (
        Index("ix_batchtaskchange_xid", "xid", "id", sqlite_where=text("xid IS NOT NULL")),
        # A task's history; internal tasks' changes stay out of it, so their writes never touch it.
        Index("ix_batchtaskchange_task", "task_id", "id", sqlite_where=text("traced"),
              postgresql_where=text("traced")),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    )
    task_id: int
    at: dt.datetime = Field(sa_type=DateTime(timezone=True))
    operation: str = Field(max_length=32)
    worker: str | None = Field(default=None, max_length=254)
    # {"State": ["New", "Aquired"], ...}: wire names, old and new wire values, as JSON text.
    changes: str
    xid: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    traced: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=text("FALSE")))


class BatchStoreSetting(_Base, table=True):
    """A setting every process using the database shares (schema version 4): a key and its JSON value.

    ``retention`` holds the retention policy (``BatchStore.set_retention``) and ``retention_due`` when
    the policy is next applied, so that every process applies one policy, and only one of them at a time.
    """

    __tablename__ = "batchstore_setting"

    key: str = Field(primary_key=True, max_length=64)
    value: str


_TABLES = (BinaryObject, BatchTask, BatchTaskChange, BatchStoreSetting)
_DIALECTS: dict[str, type[Dialect]] = {"sqlite": sqlite.dialect, "postgresql": postgresql.psycopg.dialect}


@lru_cache(maxsize=2)
def ddl(dialect_name: str) -> tuple[str, ...]:
    """CREATE statements of every table and index for ``"sqlite"`` or ``"postgresql"``, compiled from the models."""
    dialect = _DIALECTS[dialect_name]()
    tables = [model.__table__ for model in _TABLES]  # type: ignore[union-attr]
    statements = [str(CreateTable(t, if_not_exists=True).compile(dialect=dialect)).strip() for t in tables]
    for table in tables:
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            statements.append(str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect)).strip())
    return tuple(statements)


def sqlite_ddl() -> tuple[str, ...]:
    """CREATE statements for SQLite, compiled from the models above."""
    return ddl("sqlite")
