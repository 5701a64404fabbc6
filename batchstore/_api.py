"""What the fronts (``server/``, ``cli/``, ``_async.py``, ``pytest_plugin.py``) may use of the layers below.

A front reaches the store through :class:`BatchStore`'s public API and, for what that API does not say,
through this module: which engine a store runs on, the file it reads, the change feed's waiter, a task
id's check, the database-level verbs (``migrate``, ``migration_sql``) and the test fixtures' scratch
schema, and :func:`at_once` (a call that runs only if it need not wait for a lock: the HTTP front's writes
on its event loop) and :func:`patch_dated` (a patch and the time it recorded, for the SailPoint PATCH's
answer). The fronts never import ``_engines``, ``_migrations``, ``_core`` or a driver themselves; the
import-linter contracts in ``pyproject.toml`` hold them to that (``.ci/run`` checks them).

>>> from batchstore._api import BatchStore, engine_name, sqlite_file
>>> with BatchStore() as store:
...     engine_name(store), sqlite_file(store)
('sqlite', None)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ._core import _task_id as task_id
from ._engines import (
    POSTGRES_SCHEMES,
    check_not_an_engine_word,
    migrate,
    migration_sql,
    postgres_driver_installed,
    redact,
    scratch_postgres_schema,
)
from ._engines.base import ChangeWaiter, WouldWaitError, at_once
from ._lifecycle import STOPPED, why_not_stopped
from ._model import BatchTaskInfo
from ._store import DEFAULT_WRITABLE, BatchStore, wait_seconds

__all__ = [
    "DEFAULT_WRITABLE",
    "POSTGRES_SCHEMES",
    "STOPPED",
    "BatchStore",
    "ChangeWaiter",
    "WouldWaitError",
    "at_once",
    "change_waiter",
    "check_not_an_engine_word",
    "engine_name",
    "migrate",
    "migration_sql",
    "patch_dated",
    "postgres_driver_installed",
    "redact",
    "retention_turn_due",
    "scratch_postgres_schema",
    "sqlite_file",
    "take_retention_turn",
    "task_for_wait",
    "task_id",
    "wait_seconds",
    "why_not_stopped",
]


def engine_name(store: BatchStore) -> str:
    """``"sqlite"`` or ``"postgresql"``: the engine the store runs on (the HTTP front sizes its threads by it)."""
    return store._engine.name


def sqlite_file(store: BatchStore) -> str | None:
    """The SQLite file the store has open, or None (in memory, or PostgreSQL): a second reader may open it."""
    engine = store._engine
    if engine.name != "sqlite" or getattr(engine, "in_memory", True):
        return None
    return str(getattr(engine, "path"))  # noqa: B009 (SQLiteEngine's attribute, not in the Engine protocol)


def change_waiter(store: BatchStore) -> ChangeWaiter:
    """A new waiter on the store's change feed, armed now: ``wait(seconds)`` returns when a commit may have
    added changes (the async twin's ``watch`` sleeps on it off the store's thread)."""
    return store._engine.change_waiter()


def patch_dated(store: BatchStore, task_id: int, operations: Any) -> tuple[BatchTaskInfo, dt.datetime]:
    """``store.patch(task_id, operations)`` and the time its change was recorded at (in the trace and the
    feed, if it changed anything): the SailPoint front's PATCH dates its answer by it rather than reading
    the task's trace back after the write."""
    return store._patch(task_id, operations, None)


def retention_turn_due(store: BatchStore) -> bool:
    """Whether the store's next look at retention is due: a write made :func:`at_once` leaves that turn to
    its caller (it may wait for locks), which runs :func:`take_retention_turn` where waiting costs nothing."""
    return store._retention.turn_due()


def take_retention_turn(store: BatchStore) -> None:
    """Retention's turn, if it is due (as a write of the store takes it); its failures are logged, not raised."""
    if not store.closed:
        store._retention.retain_if_due()


def task_for_wait(store: BatchStore, task_id: int) -> BatchTaskInfo:
    """The task as ``wait`` reads it between changes (TaskNotFoundError names ``wait``): the HTTP front's
    long poll waits on the feed itself, off the store's threads, and reads the task through this."""
    return store._waited(task_id)
