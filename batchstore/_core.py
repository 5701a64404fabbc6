"""The one path of every write, and the checks every verb shares (a task id, a worker name).

:class:`Writer` reads a task for a write (``values``, with its row locked), writes a change and what it
leaves behind (``change``: the columns and a change-feed row, traced unless the task is internal),
inserts new tasks (``insert``) and deletes them (``delete``). :class:`~batchstore.BatchStore`
(``_store.py``), its lifecycle steps (``_lifecycle.py``) and its retention (``_retention.py``) each hold
the store's one Writer, and none of them writes a task otherwise.
"""

from __future__ import annotations

import builtins
import datetime as dt
import os
import socket
from collections.abc import Mapping
from typing import Any, Final

from ._blob import MIME_TYPE, pack
from ._engines import Engine, Transaction
from ._enums import BatchTaskState, CancellationBehaviour, coerce_enum
from ._exceptions import InvalidTaskError, TaskNotFoundError
from ._fields import BY_ATTR, DATA_FIELDS, FIELDS, ID_MAX, ID_MIN, UTC, Field, FrozenMap, check_text, to_wire_value
from ._model import BatchTaskInfo, given_values
from ._queries import DELETE_BLOB, DELETE_TASK, INSERT_BLOB, INSERT_TASK, LOCK_TASK, UNTRACE
from ._rows import BINARY_OBJECT_TABLE, INSERT_COLUMNS, ReadPlan, read_plan, timestamp, to_column, update_sql
from ._trace import Row, dump_changes, record, record_many

__all__ = ["TaskLike", "Writer", "carrier_rights", "default_worker"]

TaskLike = BatchTaskInfo | Mapping[str, Any]
FULL: Final = read_plan(None)
NO_BLOB: Final = read_plan(frozenset(f.attr for f in FIELDS if f.attr != "parameter_object"))
_COLUMN_INDEX: Final = {name: i for i, name in enumerate(INSERT_COLUMNS)}
_CREATED, _STATE_CHANGED, _IS_INTERNAL = (_COLUMN_INDEX[n] for n in ("created", "state_changed", "is_internal_task"))
_DETAILS_TABLE, _DETAILS_RECORD, _PARAMETER_BLOB = (
    _COLUMN_INDEX[n] for n in ("details_table", "details_record", "parameter_blob")
)
# A new task's columns before the caller's values go in: the defaults of SuperOffice's API.
_ROW_TEMPLATE: Final[tuple[Any, ...]] = tuple(
    {
        "is_system_task": False,
        "is_internal_task": False,
        "start_count": 0,
        "state": int(BatchTaskState.New),
        "progress_percent": 0,
        "cancellation_behaviour": int(CancellationBehaviour.CanCancel),
        "stop_requested": False,
    }.get(name)
    for name in INSERT_COLUMNS
)
# How a creation trace shows each data column: enums by name (looked up: calling an Enum costs a
# microsecond), the rest as stored.
_ENUM_NAMES: Final = {kind: {int(m): m.name for m in enum} for kind, enum in
                      (("state", BatchTaskState), ("behaviour", CancellationBehaviour))}
_TRACED_COLUMNS: Final = tuple(
    (i, BY_ATTR[name].wire, _ENUM_NAMES.get(BY_ATTR[name].kind))
    for i, name in enumerate(INSERT_COLUMNS)
    if name in BY_ATTR
)




def _task_id(value: object, operation: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidTaskError(f"{operation} needs an integer task id, got {value!r}", field="Id")
    if not ID_MIN <= value <= ID_MAX:
        # A driver would refuse to bind it (OverflowError); no such task can exist.
        raise TaskNotFoundError(value, operation)
    return value


def _worker(value: str | None, operation: str) -> str | None:
    """The worker name a lifecycle step was given, once it is known to be text every engine can store."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidTaskError(f"{operation} needs a worker name as a string, got {type(value).__name__}",
                               field="worker")
    return check_text(value, "worker")


def _state_filter(value: object) -> BatchTaskState:
    """The state a query asks for: any state, or All."""
    try:
        return coerce_enum(BatchTaskState, value)
    except ValueError as exc:
        raise InvalidTaskError(str(exc), field="State") from None


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


def default_worker() -> str:
    """The worker name acquire uses when given none: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def carrier_rights(writable: frozenset[str]) -> dict[str, Any]:
    """What SuperOffice returns as TableRight and FieldProperties, from a store's whitelist (attributes).

    Read-only (and picklable) dicts: every result shares them.
    """
    def field_info(field: Field) -> Mapping[str, Any]:
        mask = "Update" if field.attr in writable else "Read"
        return FrozenMap({
            "FieldRight": FrozenMap({"Mask": mask, "Reason": ""}),
            "FieldType": field.net_type,
            "FieldLength": field.max_length,
        })

    return {
        "table_right": FrozenMap({"Mask": "Select, Insert, Update, Delete", "Reason": ""}),
        "field_properties": FrozenMap({f.wire: field_info(f) for f in DATA_FIELDS}),
    }


class Writer:
    """The one path of every write to a task, inside a transaction the caller opened with ``engine.write``.

    A store holds one, and so do its lifecycle steps and its retention: ``values``/``claimed_values`` read
    a task with its row locked, ``change`` writes changed columns and what the change leaves behind (a
    feed row, traced unless the task is internal), ``insert`` adds new tasks with their blobs and feed
    rows, ``delete`` removes a task with its blob. Nothing else writes to a task.
    """

    __slots__ = ("engine", "max_blob_bytes", "rights")

    def __init__(self, engine: Engine, rights: dict[str, Any], max_blob_bytes: int) -> None:
        self.engine = engine
        self.rights = rights
        self.max_blob_bytes = max_blob_bytes

    def new_row(self, task: TaskLike, stamp: str) -> tuple[list[Any], bytes | None]:
        """The column values (less id) and ParameterObject bytes of a new task, defaults filled in."""
        given = given_values(task)
        row = list(_ROW_TEMPLATE)
        for attr, value in given.items():
            index = _COLUMN_INDEX.get(attr)
            if index is not None and value is not None:  # the id is not a column here; None takes the default
                row[index] = to_column(BY_ATTR[attr], value)
        if row[_CREATED] is None:
            row[_CREATED] = stamp
        row[_STATE_CHANGED] = stamp
        parameters = given.get("parameter_object")
        blob = None if parameters is None else pack(parameters, max_bytes=self.max_blob_bytes)
        return row, blob

    def insert(self, tx: Transaction, prepared: builtins.list[tuple[builtins.list[Any], bytes | None]]) -> (
        builtins.list[int]
    ):
        """Insert prepared rows with their blobs, their creation traces and feed rows; the new ids, in order."""
        blobs = [(MIME_TYPE, blob) for _, blob in prepared if blob is not None]
        if blobs:
            blob_ids = iter(tx.insert(INSERT_BLOB, blobs))
            for row, blob in prepared:
                if blob is not None:
                    # DetailsTable/DetailsRecord point at the blob, as in SuperOffice; the task owns it.
                    row[_DETAILS_TABLE] = BINARY_OBJECT_TABLE
                    row[_DETAILS_RECORD] = row[_PARAMETER_BLOB] = next(blob_ids)
        ids = tx.insert(INSERT_TASK, [row for row, _ in prepared])
        changes: builtins.list[Row] = [
            (task_id, row[_STATE_CHANGED], "create", None, _creation_changes(row), not row[_IS_INTERNAL])
            for task_id, (row, _) in zip(ids, prepared)
        ]
        record_many(tx, self.engine.insert_change, changes)
        return ids

    def change(
        self,
        tx: Transaction,
        current: dict[str, Any],
        changes: Mapping[str, Any],
        operation: str,
        *,
        worker: str | None = None,
        internal: Mapping[str, Any] | None = None,
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """Write ``changes`` (attribute: checked value) to the task in ``current``; record them; return new values.

        ``internal`` sets batchstore's own columns (worker, lease_expires, stop_requested).
        Every write to an existing task goes through here, so none escapes the trace or the change feed.
        """
        effective: dict[str, Any] = {}
        columns: dict[str, Any] = {}
        shown: dict[str, Any] = {}  # what the feed row says: wire names, old and new wire values
        for attr, value in changes.items():
            old = current[attr]
            if old != value:
                field = BY_ATTR[attr]
                effective[attr] = value
                columns[attr] = to_column(field, value)
                shown[field.wire] = (to_wire_value(field, old), to_wire_value(field, value))
        if internal:
            columns.update(internal)
        stop_asked = internal is not None and internal.get("stop_requested") is True
        # A lease renewed with nothing else changed is no change to the task: nothing is recorded.
        recorded = bool(effective) or stop_asked
        stamp = timestamp(now or _now()) if recorded else ""
        if "state" in effective:
            columns["state_changed"] = stamp
        if columns:
            tx.run(update_sql(tuple(columns)), (*columns.values(), current["id"]))
        if recorded:
            if stop_asked:
                shown["StopRequested"] = (False, True)
            record(tx, self.engine.insert_change, current["id"], stamp, operation, worker, shown,
                   traced=not current["is_internal_task"])
        return {**current, **effective}

    def values(self, tx: Transaction, task_id: int, plan: ReadPlan, operation: str) -> dict[str, Any]:
        """The task's values for a write, its row locked until the write ends (TaskNotFoundError if none)."""
        row = tx.one(plan.by_id + self.engine.lock, (task_id,))
        if row is None:
            raise TaskNotFoundError(task_id, operation)
        return plan.values(row, self.rights, operation)

    def claimed_values(self, tx: Transaction, task_id: int, operation: str) -> tuple[dict[str, Any], str | None, bool]:
        """Every value of the task, its worker and its stop flag, in one read, the row locked (see values)."""
        row = tx.one(FULL.by_id_with_claim + self.engine.lock, (task_id,))
        if row is None:
            raise TaskNotFoundError(task_id, operation)
        return FULL.values(row[:-2], self.rights, operation), row[-2], bool(row[-1])

    def delete(self, tx: Transaction, task_id: int, operation: str) -> bool:
        """Delete a task, its history and its own blob; the feed keeps its changes and gets a "delete" row.

        False if there was no such task.
        """
        row = tx.one(LOCK_TASK + self.engine.lock, (task_id,))
        if row is None:
            return False
        tx.run(DELETE_TASK, (task_id,))
        tx.run(UNTRACE, (task_id,))
        if row[0] is not None:
            tx.run(DELETE_BLOB, (row[0],))
        record(tx, self.engine.insert_change, task_id, timestamp(_now()), operation, None, {}, traced=False)
        return True


def _creation_changes(row: list[Any]) -> str:
    """The changes of a create, as JSON text: every value the new task starts with, from nothing."""
    changes = {}
    for index, wire, names in _TRACED_COLUMNS:
        value = row[index]
        if value is not None:
            changes[wire] = (None, value if names is None else names[value])
    return dump_changes(changes)
