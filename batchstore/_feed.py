"""The change feed: every committed change to any task, in commit order, from any process.

Each write adds one row to ``batchtaskchange`` in the same transaction as the change itself (see
``_trace.py``), internal tasks included, so a reader never sees a change that was rolled back and never
misses one that committed. Watchers do not poll the table: they sleep until the database says something
was committed (SQLite's ``PRAGMA data_version`` on a connection of their own, checked every few
milliseconds, and a signal from writers of the same process; PostgreSQL's LISTEN/NOTIFY), then read what
is new after their cursor.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from ._engines import Engine
from ._exceptions import StorageError

__all__ = ["Change", "read_changes", "watch_changes"]

#: How many changes one read of the feed returns at most.
PAGE: int = 500


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change to a task, as the change feed reports it.

    ``operation`` is the store call that made it (``create``, ``update``, ``patch``, ``acquire``, ``start``,
    ``report_progress``, ``succeed``, ``fail``, ``stop``, ``recover_stale``, ``delete``, ``delete_many``,
    ``prune``); ``changes`` maps wire names to ``(old, new)`` wire values, as a trace entry does (empty for a
    delete). ``cursor`` is where the feed stands after this change: pass it as ``after=`` to go on from here.
    Cursors are opaque: on PostgreSQL they follow commit order, not number order.

    >>> Change(7, 1, "start", {"State": ("Aquired", "Started")}, dt.datetime(2026, 1, 1), "w1").operation
    'start'
    """

    cursor: int
    task_id: int
    operation: str
    changes: dict[str, tuple[Any, Any]]
    at: dt.datetime
    worker: str | None


def _change(row: tuple[Any, ...], operation: str) -> Change:
    cursor, task_id, at, op, worker, changes = row[:6]
    try:
        when = at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(at)
        values = {k: (v[0], v[1]) for k, v in json.loads(changes).items()}
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        raise StorageError(
            f"{operation}: change-feed row {cursor} of task {task_id} cannot be read ({type(exc).__name__}: {exc})"
        ) from exc
    return Change(cursor, task_id, op, values, when, worker)


def read_changes(engine: Engine, after: int, limit: int, operation: str) -> list[Change]:
    """The committed changes after cursor ``after``, oldest first, at most ``limit``."""
    return [_change(row, operation) for row in engine.changes_after(after, limit, operation)]


def watch_changes(
    engine: Engine, after: int | None, timeout: float | None, *, until: float | None = None
) -> Generator[Change, None, None]:
    """Changes as they commit, after ``after`` (None: from now), until ``timeout`` seconds pass with none.

    ``until`` (a ``time.monotonic()`` reading) ends the watch then, however busy the feed is.
    """
    # Armed before the first read: a commit between that read and the first wait still wakes us.
    waiter = engine.change_waiter()
    try:
        cursor = engine.latest_cursor("watch") if after is None else after
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            batch = read_changes(engine, cursor, PAGE, "watch")
            for change in batch:
                yield change
                cursor = change.cursor
            if batch:
                if timeout is not None:
                    deadline = time.monotonic() + timeout
                if until is None or time.monotonic() < until:
                    continue
            if until is not None:
                deadline = until if deadline is None else min(deadline, until)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            waiter.wait(engine.recheck_after if remaining is None else min(remaining, engine.recheck_after))
    finally:
        waiter.close()
