"""The trace: one row for each change to a task whose IsInternalTask is false."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Final

from ._exceptions import StorageError

__all__ = ["INSERT_TRACE", "TraceEntry", "dump_changes", "read_history", "write_trace"]

INSERT_TRACE: Final = "INSERT INTO batchtasktrace (task_id, at, operation, worker, changes) VALUES (?, ?, ?, ?, ?)"
_SELECT: Final = "SELECT id, task_id, at, operation, worker, changes FROM batchtasktrace WHERE task_id = ? ORDER BY id"


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One change to a task: when, which operation, which worker, and each changed field's old and new value.

    ``changes`` maps wire names to ``(old, new)`` wire values (State as its name, date-times as ISO 8601).

    >>> TraceEntry(1, 7, dt.datetime(2026, 1, 1), "start", "host:42", {"State": ("Aquired", "Started")}).operation
    'start'
    """

    id: int
    task_id: int
    at: dt.datetime
    operation: str
    worker: str | None
    changes: dict[str, tuple[Any, Any]]


def write_trace(
    conn: sqlite3.Connection,
    task_id: int,
    at: str,
    operation: str,
    worker: str | None,
    changes: dict[str, tuple[Any, Any]],
) -> None:
    conn.execute(INSERT_TRACE, (task_id, at, operation, worker, dump_changes(changes)))


def dump_changes(changes: dict[str, Any]) -> str:
    """The JSON text of a trace row's changes."""
    return json.dumps(changes, ensure_ascii=False, separators=(",", ":"))


def read_history(conn: sqlite3.Connection, task_id: int) -> list[TraceEntry]:
    """The trace rows of a task, oldest first; StorageError naming the task and row if one is damaged."""
    entries = []
    for id_, tid, at, op, worker, changes in conn.execute(_SELECT, (task_id,)):
        try:
            entries.append(TraceEntry(id_, tid, dt.datetime.fromisoformat(at), op, worker,
                                      {k: (v[0], v[1]) for k, v in json.loads(changes).items()}))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
            # Only a file changed behind batchstore's back gets here: say where, not just what.
            raise StorageError(
                f"history: trace row {id_} of task {task_id} cannot be read ({type(exc).__name__}: {exc}); "
                "its batchtasktrace row is damaged"
            ) from exc
    return entries
