"""Every statement batchstore runs, by name, in engine-neutral SQL with ``?`` placeholders.

The engines (``_engines/``) turn placeholders into their driver's and append what differs between
databases: the row lock of a read-check-write (``FOR UPDATE OF t`` on PostgreSQL; nothing on SQLite, whose
``BEGIN IMMEDIATE`` holds the whole file) and the claim of a worker (``FOR UPDATE SKIP LOCKED``). The
statements generated from the field table (the columns of a ``$select``, the UPDATE of the changed
columns) are built in ``_rows.py``; the change feed's reads, which differ most, in each engine.
"""

from __future__ import annotations

from typing import Final

from ._enums import CLAIMED, BatchTaskState
from ._rows import INSERT_COLUMNS

__all__ = [
    "DELETE_BLOB",
    "DELETE_TASK",
    "INSERT_BLOB",
    "INSERT_CHANGE",
    "INSERT_TASK",
    "LOCK_TASK",
    "NEXT_NEW",
    "NEXT_NEW_BY_NAME",
    "PRUNE_CHANGES",
    "READ_SETTINGS",
    "READ_SETTINGS_LOCKED",
    "RECENT_TRACE",
    "SELECT_CLAIM",
    "STALE_CLAIMS",
    "TRIMMABLE_CHANGES",
    "TRIM_CHANGE",
    "UNTRACE",
    "WRITE_SETTING",
    "expired_by_id",
    "prunable",
    "select_traces",
]

INSERT_TASK: Final = (
    f"INSERT INTO batchtask ({', '.join(INSERT_COLUMNS)}) VALUES ({', '.join('?' * len(INSERT_COLUMNS))})"
)
INSERT_BLOB: Final = "INSERT INTO binaryobject (mime_type, data) VALUES (?, ?)"
#: One change, to the feed and, if ``traced``, to the task's history. The engine appends the transaction id
#: column's value (``xid``) and closes the VALUES list.
INSERT_CHANGE: Final = (
    "INSERT INTO batchtaskchange (task_id, at, operation, worker, changes, traced, xid) VALUES (?, ?, ?, ?, ?, ?, "
)

#: Within a write: the task's own blob link, with the row locked (the engine appends the lock).
LOCK_TASK: Final = "SELECT t.parameter_blob FROM batchtask t WHERE t.id = ?"
SELECT_CLAIM: Final = "SELECT worker, stop_requested FROM batchtask WHERE id = ?"
#: A task's newest trace rows, newest first (the progress reports of its current run are among them).
RECENT_TRACE: Final = (
    "SELECT at, operation, changes FROM batchtaskchange WHERE task_id = ? AND traced ORDER BY id DESC LIMIT ?"
)


def select_traces(count: int) -> str:
    """The traces of ``count`` tasks (their ids bound), oldest first, in one statement: a row per trace entry
    (the task's id, then the entry's id, task_id, at, operation, worker, changes), and one of NULLs after the
    task's id for a task without any; no row for an id of no task."""
    return (
        "SELECT t.id, c.id, c.task_id, c.at, c.operation, c.worker, c.changes FROM batchtask t "
        "LEFT JOIN batchtaskchange c ON c.task_id = t.id AND c.traced "
        f"WHERE t.id IN ({','.join('?' * count)}) ORDER BY t.id, c.id"
    )

#: Claims (the engine appends SKIP LOCKED where it has it): the oldest New task, by Id.
_NEW: Final = int(BatchTaskState.New)
_CLAIMED: Final = ", ".join(str(int(s)) for s in sorted(CLAIMED))
NEXT_NEW: Final = f"SELECT id FROM batchtask WHERE state = {_NEW} ORDER BY id LIMIT 1"
NEXT_NEW_BY_NAME: Final = f"SELECT id FROM batchtask WHERE name = ? AND state = {_NEW} ORDER BY id LIMIT 1"
#: Aquired or Started tasks whose worker's lease has run out.
STALE_CLAIMS: Final = f"SELECT id FROM batchtask WHERE state IN ({_CLAIMED}) AND lease_expires < ? ORDER BY id"


def prunable(states: int) -> str:
    """Finished tasks (``states`` of them in the IN list) whose State last changed before a time, a batch."""
    marks = ", ".join("?" * states)
    return f"SELECT id FROM batchtask WHERE state IN ({marks}) AND state_changed < ? ORDER BY id LIMIT ?"


def expired_by_id(states: int) -> str:
    """One task, if it is still finished (``states`` of them) since before a time: retention's check by Id."""
    marks = ", ".join("?" * states)
    return f"SELECT t.id FROM batchtask t WHERE t.id = ? AND t.state IN ({marks}) AND t.state_changed < ?"


DELETE_TASK: Final = "DELETE FROM batchtask WHERE id = ?"
DELETE_BLOB: Final = "DELETE FROM binaryobject WHERE id = ?"
#: A deleted task's history leaves it, and its rows stay in the feed until a prune finds them old enough.
UNTRACE: Final = "UPDATE batchtaskchange SET traced = FALSE WHERE task_id = ? AND traced"
#: Traced rows are the history of live tasks, kept as long as the task: the others go by age.
PRUNE_CHANGES: Final = "DELETE FROM batchtaskchange WHERE at < ? AND NOT traced"

#: The shared settings (schema version 4): two keys at a time; the locked form for a read-check-write.
READ_SETTINGS: Final = "SELECT key, value FROM batchstore_setting WHERE key IN (?, ?)"
READ_SETTINGS_LOCKED: Final = "SELECT t.key, t.value FROM batchstore_setting t WHERE t.key IN (?, ?)"
WRITE_SETTING: Final = (
    "INSERT INTO batchstore_setting (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
#: Retention trims the feed a batch at a time: untraced rows older than a time, oldest first.
TRIMMABLE_CHANGES: Final = "SELECT id FROM batchtaskchange WHERE NOT traced AND at < ? ORDER BY id LIMIT ?"
TRIM_CHANGE: Final = "DELETE FROM batchtaskchange WHERE id = ?"
