"""What a change to a task leaves behind: one row of the change feed, which is also the trace of a traced task.

The change feed (``BatchStore.changes``/``watch``) carries every committed change, internal tasks included,
so that a window sees every task move. The rows of a task whose IsInternalTask is false are ``traced``:
they are its history (``BatchStore.history``), kept as long as the task; the others go at the next
``prune`` past their age. One row serves both, so a change costs one insert (schema version 3).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ._engines.base import Transaction
from ._exceptions import StorageError
from ._queries import select_traces

__all__ = [
    "IDS_PER_READ", "TraceEntry", "dump_changes", "entries", "read_histories", "record", "record_many",
]  # fmt: skip


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


#: A change as it is written: task id, time stamp, operation, worker, changes as JSON text, traced.
Row = tuple[int, str, str, str | None, str, bool]


def record(
    tx: Transaction,
    insert_change: str,
    task_id: int,
    at: str,
    operation: str,
    worker: str | None,
    changes: dict[str, Any],
    *,
    traced: bool,
) -> None:
    """Write one change to the change feed; ``traced`` (the task is not internal) makes it part of its history."""
    tx.run(insert_change, (task_id, at, operation, worker, dump_changes(changes), traced))


def record_many(tx: Transaction, insert_change: str, rows: Sequence[Row]) -> None:
    """Write many changes at once."""
    if len(rows) == 1:  # a single create: executemany costs more than execute for one row
        tx.run(insert_change, rows[0])
    else:
        tx.run_many(insert_change, rows)


def _not_json(value: object) -> object:
    raise TypeError(f"a change holds {type(value).__name__}, which JSON cannot hold")


def _encoder() -> Callable[[dict[str, Any]], str]:
    # Every write encodes its changes, so the encoder is made once: json.dumps with options builds one per
    # call, and JSONEncoder.encode its C scanner per call, each about a microsecond and a half of a write.
    # Changes hold only JSON values that batchstore made: no cycle check is needed, and a value JSON cannot
    # hold would be batchstore's own bug (_not_json says which type).
    scanner = getattr(json.encoder, "c_make_encoder", None)
    if scanner is None:  # a Python without the C accelerator
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    encode = scanner(None, _not_json, json.encoder.encode_basestring, None, ":", ",", False, False, True)
    return lambda changes: "".join(encode(changes, 0))


_ENCODE: Final = _encoder()


def dump_changes(changes: dict[str, Any]) -> str:
    """The JSON text of a trace row's changes.

    >>> dump_changes({"State": ("New", "Started"), "Description": (None, "é")})
    '{"State":["New","Started"],"Description":[null,"é"]}'
    """
    return _ENCODE(changes)


#: Ids per statement of read_histories: under every engine's limit on bound parameters.
IDS_PER_READ: Final = 500


def read_histories(
    fetch: Callable[[str, Sequence[Any]], Sequence[Any]], task_ids: Sequence[int]
) -> dict[int, list[TraceEntry]]:
    """The traces of many tasks (a page of a list) in one statement per 500 ids, each read by ``fetch(sql,
    params)``: task id -> entries, oldest first, for every id that names a task (an internal task's list is
    empty); an id of no task is absent. StorageError naming the task and row if a trace row is damaged.

    One statement for a page of 100 tasks, where a read per task costs 100 (measured: a SailPoint list of
    100 spent most of its time there); one statement for one task, where a transaction with an existence
    check took four.
    """
    found: dict[int, list[TraceEntry]] = {}
    ids = list(dict.fromkeys(task_ids))
    for first in range(0, len(ids), IDS_PER_READ):
        chunk = ids[first:first + IDS_PER_READ]
        rows = fetch(select_traces(len(chunk)), chunk)
        for task_id, *_ in rows:
            found.setdefault(task_id, [])
        for entry in entries([row[1:] for row in rows if row[1] is not None]):
            found[entry.task_id].append(entry)
    return found


def entries(rows: Sequence[Any]) -> list[TraceEntry]:
    """The TraceEntry of each trace row (id, task_id, at, operation, worker, changes); StorageError for a
    damaged one."""
    entries = []
    for id_, tid, at, op, worker, changes in rows:
        try:
            when = at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(at)
            entries.append(TraceEntry(id_, tid, when, op, worker,
                                      {k: (v[0], v[1]) for k, v in json.loads(changes).items()}))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
            # Only a file changed behind batchstore's back gets here: say where, not just what.
            raise StorageError(
                f"history: trace row {id_} of task {tid} cannot be read ({type(exc).__name__}: {exc}); "
                "its batchtaskchange row is damaged"
            ) from exc
    return entries
