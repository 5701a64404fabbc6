"""BatchStore: create, read, list, update, patch and delete batch tasks, and run them through their lifecycle."""

from __future__ import annotations

import builtins
import copy
import datetime as dt
import math
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Final

from ._blob import DEFAULT_MAX_BLOB_BYTES, MIME_TYPE, pack
from ._enums import BatchTaskState, CancellationBehaviour, coerce_enum
from ._exceptions import (
    ClaimLostError,
    ConfigurationError,
    InvalidTaskError,
    ReadOnlyFieldError,
    StorageError,
    TaskNotFoundError,
)
from ._fields import (
    BY_ATTR,
    BY_WIRE,
    CARRIER_FIELDS,
    DATA_FIELDS,
    FIELDS,
    UTC,
    Field,
    FrozenMap,
    check_text,
    coerce,
    resolve,
    to_json_value,
    to_wire_value,
    wire_document,
)
from ._lifecycle import CLAIMED, FINISHED, check_transition
from ._model import BatchTaskInfo, given_values
from ._patch import apply_patch, json_equal, parse_operations, referenced_fields
from ._rows import (
    BINARY_OBJECT_TABLE,
    DELETE_BLOB,
    DELETE_TASK,
    DELETE_TRACE,
    INSERT_BLOB,
    INSERT_COLUMNS,
    INSERT_TASK,
    SELECT_BLOB_LINK,
    SELECT_CLAIM,
    ReadPlan,
    plan_for,
    read_plan,
    timestamp,
    to_column,
    update_sql,
)
from ._sqlite import SYNCHRONOUS, SQLiteDatabase
from ._trace import INSERT_TRACE, TraceEntry, dump_changes, read_history, write_trace

__all__ = ["DEFAULT_WRITABLE", "BatchStore"]

#: The fields SuperOffice's UpdateBatchTask may change.
DEFAULT_WRITABLE: Final = ("State", "Description", "Response", "Request")
# Never writable: the id, and the fields that tie a task to the blob batchstore owns for it.
_NEVER_WRITABLE: Final = frozenset({"id", "parameter_object", "details_table", "details_record"})
_CARRIER: Final = frozenset(f.attr for f in CARRIER_FIELDS)
_ALWAYS_READ: Final = ("id", "state", "is_internal_task")  # what _change needs of every task it writes
_NESTED: Final = ("ParameterObject", "TableRight", "FieldProperties")
_FULL: Final = read_plan(None)
_NO_BLOB: Final = read_plan(frozenset(f.attr for f in FIELDS if f.attr != "parameter_object"))
_PAGE_SIZE: Final = 500
_PRUNE_BATCH: Final = 500
_INSERT_CHUNK: Final = 1000
_STOPPED: Final = "Stopped by request"
_WARNED: Final = "Stopped by request; CancelWithWarning: a warning applied"
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
# How a creation trace shows each data column: enums by name, the rest as stored.
_TRACED_COLUMNS: Final = tuple(
    (i, BY_ATTR[name].wire, {"state": BatchTaskState, "behaviour": CancellationBehaviour}.get(BY_ATTR[name].kind))
    for i, name in enumerate(INSERT_COLUMNS)
    if name in BY_ATTR
)

Select = str | Iterable[str] | None
TaskLike = BatchTaskInfo | Mapping[str, Any]


#: Ids SQLite can hold: signed 64-bit. No task has an id outside them.
_ID_MIN: Final = -(2**63)
_ID_MAX: Final = 2**63 - 1


def _task_id(value: object, operation: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidTaskError(f"{operation} needs an integer task id, got {value!r}", field="Id")
    if not _ID_MIN <= value <= _ID_MAX:
        # SQLite would raise OverflowError binding it; no such task can exist.
        raise TaskNotFoundError(value, operation)
    return value


def _worker(value: str | None, operation: str) -> str | None:
    """The worker name a lifecycle step was given, once it is known to be text SQLite can store."""
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


INT32_MAX: Final = 2**31 - 1  # the API's System.Int32 fields
#: The longest lease: about 31 years. Longer ones overflow a datetime (a lease ends at now + its length)
#: long before they mean anything.
MAX_LEASE_SECONDS: Final = 1e9
#: The longest busy timeout: SQLite keeps it in milliseconds in a 32-bit int (about 24 days).
MAX_TIMEOUT_SECONDS: Final = INT32_MAX // 1000


def _seconds(value: object, option: str, *, low: float, high: float, zero: bool) -> float:
    """A number of seconds within bounds, or ConfigurationError naming the option."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"must be a number of seconds, got {value!r}", option=option)
    number = float(value)
    if not math.isfinite(number) or number < low or (number == 0 and not zero) or number > high:
        least = "0 or more" if zero else "more than 0"
        raise ConfigurationError(f"must be {least} and at most {high:g} seconds, got {value!r}", option=option)
    return number


def _count(value: object, option: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(f"must be a whole number from {low} to {high}, got {value!r}", option=option)
    return value


def _sqlite_path(target: str) -> str:
    if "://" not in target:
        return target
    from sqlalchemy.engine import make_url  # only a URL needs SQLAlchemy's parser
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(target)
    except (ArgumentError, ValueError) as exc:  # a bad port is a plain ValueError
        raise ConfigurationError(f"{target!r} is not a database URL: {exc}", option="database") from exc
    if url.get_backend_name() != "sqlite":
        raise StorageError(f"open: the {url.get_backend_name()!r} backend is not supported yet; use a SQLite file")
    return url.database or ":memory:"


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


def default_worker() -> str:
    """The worker name acquire uses when given none: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class BatchStore:
    """Batch tasks in a SQLite database: a private in-memory one, a file, or a ``sqlite://`` URL.

    One store may be shared by many threads; several processes may open the same file.

    >>> with BatchStore() as store:
    ...     task_id = store.create({"Name": "ERPSync", "ParameterObject": {"source": "SAP"}})
    ...     store.patch(task_id, [{"op": "replace", "path": "/State", "value": "Started"}]).state
    <BatchTaskState.Started: 3>

    Options: ``writable`` names the fields update and patch may change (SuperOffice's four by default);
    ``max_blob_bytes`` caps a serialized ParameterObject (1 or more bytes); ``lease_seconds`` is how long
    a worker's claim lasts without a start or progress report (more than 0, at most 1e9); ``max_starts``
    is how many starts a task gets before an expired claim fails it (1 or more); ``timeout`` is how long
    a writer, or an open, waits for another connection's lock, in seconds (0 or more, at most about 24
    days); ``synchronous`` is SQLite's PRAGMA of that name (OFF, NORMAL, FULL or EXTRA). An option
    refused raises ConfigurationError naming it.

    ``read_only=True`` opens an existing batchstore file with SQLite's read-only mode and never writes
    to it: no tables are created, no pragma is written, the journal mode is left alone, and the file may
    be read-only (mode 0o444). Reads work as usual; every write method raises StorageError saying the
    store is read-only. A missing file, or one that is not a batchstore database, raises StorageError.
    Without ``read_only`` a missing or empty file becomes a new batchstore database, and another
    application's SQLite file (or a newer schema) is refused without a byte of it changed.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tasks.db")
    >>> BatchStore(path).close()
    >>> with BatchStore(path, read_only=True) as reader:
    ...     reader.create({"Name": "x"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    batchstore._exceptions.StorageError: create: the store is read-only ...
    """

    def __init__(
        self,
        database: str | os.PathLike[str] | None = None,
        *,
        writable: Iterable[str] = DEFAULT_WRITABLE,
        max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES,
        lease_seconds: float = 300.0,
        max_starts: int = 3,
        timeout: float = 30.0,
        synchronous: str = "NORMAL",
        read_only: bool = False,
    ) -> None:
        # Every option is checked before anything is opened: a refused one leaves no file behind.
        max_blob_bytes = _count(max_blob_bytes, "max_blob_bytes", low=1, high=2**62)
        lease = _seconds(lease_seconds, "lease_seconds", low=0, high=MAX_LEASE_SECONDS, zero=False)
        max_starts = _count(max_starts, "max_starts", low=1, high=INT32_MAX)
        timeout = _seconds(timeout, "timeout", low=0, high=MAX_TIMEOUT_SECONDS, zero=True)
        if not isinstance(synchronous, str) or synchronous.upper() not in SYNCHRONOUS:
            raise ConfigurationError(f"must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}",
                                     option="synchronous")
        if not isinstance(read_only, bool):
            raise ConfigurationError(f"must be True or False, not {read_only!r}", option="read_only")
        if database is not None and not isinstance(database, (str, os.PathLike)):
            raise ConfigurationError(f"must be a path or a sqlite:// URL, not {database!r}", option="database")
        fields = [resolve(name, where="writable field") for name in writable]
        refused = [f.wire for f in fields if f.attr in _NEVER_WRITABLE or not f.column]
        if refused:
            raise InvalidTaskError(f"these fields can never be made writable: {', '.join(refused)}")
        self._writable = frozenset(f.attr for f in fields)
        self._writable_wire = tuple(f.wire for f in FIELDS if f.attr in self._writable)
        self._max_blob_bytes = max_blob_bytes
        self._lease_length = dt.timedelta(seconds=lease)
        self._max_starts = max_starts
        self._rights = self._carrier_rights()
        self._rights_wire = {f.wire: to_json_value(self._rights[f.attr]) for f in CARRIER_FIELDS}
        path = ":memory:" if database is None else _sqlite_path(os.fspath(database))
        self._db = SQLiteDatabase(path, timeout=timeout, synchronous=synchronous, read_only=read_only)

    # --- the store itself ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database; using the store afterwards raises StoreClosedError."""
        self._db.close()

    @property
    def closed(self) -> bool:
        return self._db.closed

    def __enter__(self) -> BatchStore:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<BatchStore {self._db.path!r}{' closed' if self.closed else ''}>"

    @property
    def read_only(self) -> bool:
        """Whether the store was opened with ``read_only=True`` (its writes raise StorageError)."""
        return self._db.read_only

    @property
    def writable(self) -> tuple[str, ...]:
        """Wire names of the fields update and patch may change."""
        return self._writable_wire

    def _carrier_rights(self) -> dict[str, Any]:
        # What SuperOffice returns as TableRight and FieldProperties, from this store's whitelist.
        # Read-only (and picklable) dicts: every result shares them.
        def field_info(field: Field) -> Mapping[str, Any]:
            mask = "Update" if field.attr in self._writable else "Read"
            return FrozenMap({
                "FieldRight": FrozenMap({"Mask": mask, "Reason": ""}),
                "FieldType": field.net_type,
                "FieldLength": field.max_length,
            })

        return {
            "table_right": FrozenMap({"Mask": "Select, Insert, Update, Delete", "Reason": ""}),
            "field_properties": FrozenMap({f.wire: field_info(f) for f in DATA_FIELDS}),
        }

    # --- writing, in one place -------------------------------------------------------------------

    def _new_row(self, task: TaskLike, stamp: str) -> tuple[list[Any], bytes | None]:
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
        blob = None if parameters is None else pack(parameters, max_bytes=self._max_blob_bytes)
        return row, blob

    def _insert(self, conn: sqlite3.Connection, prepared: builtins.list[tuple[builtins.list[Any], bytes | None]]) -> (
        builtins.list[int]
    ):
        """Insert prepared rows with their blobs and create traces; the new ids, in order.

        AUTOINCREMENT gives rows inserted one after another, by the one connection holding the write
        lock, consecutive ids: one larger than the largest ever used. So ids are counted, not queried.
        """
        blobs = [(MIME_TYPE, blob) for _, blob in prepared if blob is not None]
        if blobs:
            blob_id = _insert_rows(conn, INSERT_BLOB, blobs)
            for row, blob in prepared:
                if blob is not None:
                    # DetailsTable/DetailsRecord point at the blob, as in SuperOffice; the task owns it.
                    row[_DETAILS_TABLE] = BINARY_OBJECT_TABLE
                    row[_DETAILS_RECORD] = row[_PARAMETER_BLOB] = blob_id
                    blob_id += 1
        first = _insert_rows(conn, INSERT_TASK, [row for row, _ in prepared])
        ids = builtins.list(range(first, first + len(prepared)))
        traces = [
            (task_id, row[_STATE_CHANGED], "create", None, _creation_trace(row))
            for task_id, (row, _) in zip(ids, prepared)
            if not row[_IS_INTERNAL]
        ]
        if traces:
            conn.executemany(INSERT_TRACE, traces)
        return ids

    def _change(
        self,
        conn: sqlite3.Connection,
        current: dict[str, Any],
        changes: Mapping[str, Any],
        operation: str,
        *,
        worker: str | None = None,
        internal: Mapping[str, Any] | None = None,
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """Write ``changes`` (attribute: checked value) to the task in ``current``; trace them; return new values.

        ``internal`` sets batchstore's own columns (worker, lease_expires, stop_requested).
        Every write to an existing task goes through here, so none escapes the trace.
        """
        effective = {a: v for a, v in changes.items() if current[a] != v}
        columns = {a: to_column(BY_ATTR[a], v) for a, v in effective.items()}
        if internal:
            columns.update(internal)
        stop_asked = internal is not None and "stop_requested" in internal
        traced = not current["is_internal_task"] and (effective or stop_asked)
        stamp = timestamp(now or _now()) if traced or "state" in effective else ""
        if "state" in effective:
            columns["state_changed"] = stamp
        if columns:
            conn.execute(update_sql(tuple(columns)), (*columns.values(), current["id"]))
        if traced:
            # A lease renewed with nothing else changed is no change to the task: no trace row.
            shown = {BY_ATTR[a].wire: (_wire(a, current[a]), _wire(a, v)) for a, v in effective.items()}
            if stop_asked:
                shown["StopRequested"] = (False, True)
            write_trace(conn, current["id"], stamp, operation, worker, shown)
        return {**current, **effective}

    # --- create ----------------------------------------------------------------------------------

    def create(self, task: TaskLike) -> int:
        """Store a new task and return its id; the Id given, if any, is ignored.

        Created defaults to now (UTC), State to New, StartCount and ProgressPercent to 0,
        CancellationBehaviour to CanCancel.

        >>> with BatchStore() as store:
        ...     store.create({"Name": "ContactExport", "State": "New"})
        1
        """
        prepared = [self._new_row(task, timestamp(_now()))]
        with self._db.write("create") as conn:
            return self._insert(conn, prepared)[0]

    def create_many(self, tasks: Iterable[TaskLike]) -> builtins.list[int]:
        """Store several tasks in one transaction, all or none, and return their ids in order.

        ``tasks`` may be any iterable, a generator that reads this same store included
        (``store.create_many({"Name": t.name} for t in store.list("Failed"))``): it is read and every
        task checked before the write lock is taken, so the caller's code never runs while the store
        waits for it, and other writers are kept waiting only for the inserts. The price is memory:
        every task of the call is held, converted, at once (about a kilobyte per task with a small
        ParameterObject); split a load of millions into several calls if that matters more than
        all-or-nothing.

        >>> with BatchStore() as store:
        ...     store.create_many([{"Name": "a"}, {"Name": "b"}])
        [1, 2]
        """
        stamp = timestamp(_now())
        prepared = []
        for index, task in enumerate(tasks):
            try:
                prepared.append(self._new_row(task, stamp))
            except InvalidTaskError as exc:
                raise InvalidTaskError(f"task {index}: {exc}", field=exc.field) from exc
        ids: builtins.list[int] = []
        if not prepared:
            return ids
        with self._db.write("create_many") as conn:
            for first in range(0, len(prepared), _INSERT_CHUNK):
                ids += self._insert(conn, prepared[first:first + _INSERT_CHUNK])
        return ids

    # --- read ------------------------------------------------------------------------------------

    def _values(self, conn: sqlite3.Connection, task_id: int, plan: ReadPlan, operation: str) -> dict[str, Any]:
        row = conn.execute(plan.by_id, (task_id,)).fetchone()
        if row is None:
            raise TaskNotFoundError(task_id, operation)
        return plan.values(row, self._rights, operation)

    def get(self, task_id: int, *, select: Select = None) -> BatchTaskInfo:
        """The task with this id; with ``select``, only those fields (and Id) are read, the rest None.

        >>> with BatchStore() as store:
        ...     task_id = store.create({"Name": "ERPSync"})
        ...     store.get(task_id, select="name").name
        'ERPSync'
        """
        if task_id.__class__ is not int or not _ID_MIN <= task_id <= _ID_MAX:
            task_id = _task_id(task_id, "get")
        plan = plan_for(select)
        row = self._db.fetchone(plan.by_id, (task_id,), "get")
        if row is None:
            raise TaskNotFoundError(task_id, "get")
        return plan.build(row, self._rights, "get")

    def list(self, state: BatchTaskState | str | int = "All", *, select: Select = None) -> Iterator[BatchTaskInfo]:
        """The tasks in ``state`` (``"All"``: every task), ordered by Id, read a page at a time.

        Pages are read as the iterator advances, so a million tasks never sit in memory at once, and
        the store is free for writes (from this thread too) between pages.

        >>> with BatchStore() as store:
        ...     _ = store.create_many([{"Name": "a"}, {"Name": "b", "State": "Failed"}])
        ...     [t.name for t in store.list("failed")]
        ['b']
        """
        return self._query("1 = 1", (), select, state)

    def list_by_name(self, name: str, *, select: Select = None) -> Iterator[BatchTaskInfo]:
        """The tasks with this Name, by Id (SuperOffice's GetBatchTaskInfosByName)."""
        return self._query("t.name = ?", (coerce(BY_WIRE["Name"], name),), select)

    def list_by_name_and_state(
        self, name: str, state: BatchTaskState | str | int, *, select: Select = None
    ) -> Iterator[BatchTaskInfo]:
        """The tasks with this Name in this State (``"All"``: any), by Id."""
        return self._query("t.name = ?", (coerce(BY_WIRE["Name"], name),), select, state)

    def list_by_associate(self, associate_id: int, *, select: Select = None) -> Iterator[BatchTaskInfo]:
        """The tasks owned by this associate, by Id."""
        return self._query("t.associate_id = ?", (coerce(BY_WIRE["AssociateId"], associate_id),), select)

    def list_by_associates_and_state(
        self, associate_ids: Iterable[int], state: BatchTaskState | str | int, *, select: Select = None
    ) -> Iterator[BatchTaskInfo]:
        """The tasks owned by any of these associates, in this State (``"All"``: any), by Id."""
        ids = tuple(sorted({coerce(BY_WIRE["AssociateId"], i) for i in associate_ids}))
        where = f"t.associate_id IN ({', '.join('?' * len(ids))})" if ids else "0 = 1"
        return self._query(where, ids, select, state)

    def list_system_tasks_by_name(self, name: str, *, select: Select = None) -> Iterator[BatchTaskInfo]:
        """The system tasks (IsSystemTask true) with this Name, by Id."""
        return self._query("t.name = ? AND t.is_system_task = 1", (coerce(BY_WIRE["Name"], name),), select)

    def _query(
        self, where: str, params: tuple[Any, ...], select: Select, state: BatchTaskState | str | int = "All"
    ) -> Iterator[BatchTaskInfo]:
        # Checked now, so a bad state or select fails at the call, not at the first next().
        wanted = _state_filter(state)
        if wanted is not BatchTaskState.All:
            where, params = f"{where} AND t.state = ?", (*params, int(wanted))
        plan = plan_for(select)
        return self._pages(plan.page(where), params, plan)

    def _pages(self, sql: str, params: tuple[Any, ...], plan: ReadPlan) -> Iterator[BatchTaskInfo]:
        # Keyset pages: each is one short read, so no lock or snapshot is held between them.
        last_id = 0
        while True:
            rows = self._db.fetchall(sql, (*params, last_id, _PAGE_SIZE), "list")
            for row in rows:
                yield plan.build(row, self._rights, "list")
            if len(rows) < _PAGE_SIZE:
                return
            last_id = rows[-1][0]

    def history(self, task_id: int) -> builtins.list[TraceEntry]:
        """The trace of a task, oldest first; empty for an internal task (IsInternalTask true).

        >>> with BatchStore() as store:
        ...     [e.operation for e in store.history(store.create({"Name": "ERPSync"}))]
        ['create']
        """
        task_id = _task_id(task_id, "history")
        with self._db.read("history") as conn:
            if conn.execute(SELECT_BLOB_LINK, (task_id,)).fetchone() is None:
                raise TaskNotFoundError(task_id, "history")
            return read_history(conn, task_id)

    # --- update and patch ------------------------------------------------------------------------

    def _check_unchanged(self, stored: dict[str, Any], given: Mapping[str, Any]) -> None:
        """ReadOnlyFieldError naming every non-writable field whose given value differs from the stored one."""
        changed = []
        for attr, value in given.items():
            if attr in self._writable or attr in _CARRIER:
                continue
            old = stored[attr]
            if old == value:
                continue
            # A ParameterObject sent back in its wire form (ISO date-times, base64 bytes, string keys)
            # is unchanged if its JSON form is the stored one's.
            if attr == "parameter_object" and json_equal(to_json_value(old), to_json_value(value)):
                continue
            changed.append(BY_ATTR[attr].wire)
        if changed:
            raise ReadOnlyFieldError(changed, writable=self._writable_wire)

    def update(self, task: TaskLike, *, select: Select = None) -> BatchTaskInfo:
        """Change State, Description, Response and Request (the store's writable fields) of a task.

        Other fields may be given only with their stored values, so a task read with :meth:`get`,
        changed and passed back is accepted; anything else raises ReadOnlyFieldError and writes nothing.

        >>> with BatchStore() as store:
        ...     task = store.get(store.create({"Name": "ERPSync"}))
        ...     task.state = "Started"
        ...     store.update(task).state
        <BatchTaskState.Started: 3>
        """
        given = given_values(task)
        task_id = given.pop("id", None)
        if task_id is None:
            raise InvalidTaskError("update needs the Id of the task to change", field="Id")
        changes = {a: v for a, v in given.items() if a in self._writable}
        _refuse_nulls(changes, "set to null")
        plan = plan_for(select)
        # Read what the check, the trace and the result need: the blob only when one of them does.
        needed = plan if plan is _FULL else read_plan(frozenset({*plan.fields_set, *given, *_ALWAYS_READ}))
        with self._db.write("update") as conn:
            current = self._values(conn, task_id, needed, "update")
            self._check_unchanged(current, given)
            values = self._change(conn, current, changes, "update")
        return plan.project(values, self._rights)

    def patch(self, task_id: int, operations: Any, *, select: Select = None) -> BatchTaskInfo:
        """Apply an RFC 6902 JSON Patch to a task's wire document, atomically.

        ``test`` compares by JSON value and type; a failed test raises PatchConflictError and
        writes nothing. Only the store's writable fields may differ after the patch.

        >>> with BatchStore() as store:
        ...     task_id = store.create({"Name": "ERPSync"})
        ...     store.patch(task_id, [
        ...         {"op": "test", "path": "/State", "value": "New"},
        ...         {"op": "replace", "path": "/State", "value": "Aquired"},
        ...     ]).state
        <BatchTaskState.Aquired: 2>
        """
        task_id = _task_id(task_id, "patch")
        ops = parse_operations(operations)
        # The document holds the members the operations name: no other can be read or changed.
        named, touched = referenced_fields(ops)
        plan = plan_for(select)
        reads_blob = plan.with_blob or named is None or "ParameterObject" in named
        with self._db.write("patch") as conn:
            current = self._values(conn, task_id, _FULL if reads_blob else _NO_BLOB, "patch")
            document = wire_document(current, named)
            for wire, value in self._rights_wire.items():
                if named is None or wire in named:
                    document[wire] = value
            # Deep copies of the nested members the patch may change keep `document` as it was.
            patched = dict(document)
            for name in _NESTED:
                if name in document and (touched is None or name in touched):
                    patched[name] = copy.deepcopy(document[name])
            patched = apply_patch(patched, ops)
            changes = self._patched_changes(document, patched, touched)
            values = self._change(conn, current, changes, "patch")
        return plan.project(values, self._rights)

    def _patched_changes(
        self, before: dict[str, Any], after: dict[str, Any], touched: set[str] | None
    ) -> dict[str, Any]:
        """The checked changes a patch made, given the fields its operations touched (None: any)."""
        unknown = [k for k in after if k not in BY_WIRE]
        if unknown:
            raise InvalidTaskError(f"the patch adds unknown field(s) {', '.join(map(repr, unknown))}")
        changes: dict[str, Any] = {}
        read_only = []
        for field in DATA_FIELDS:
            if touched is not None and field.wire not in touched:
                continue
            old, new = before[field.wire], after.get(field.wire)
            if json_equal(old, new):
                continue
            if field.attr not in self._writable:
                # The same value in another spelling (an offset, a state number) is no change.
                try:
                    same = coerce(field, new) == coerce(field, old)
                except InvalidTaskError:
                    same = False
                if not same:
                    read_only.append(field.wire)
                continue
            changes[field.attr] = coerce(field, new)
        for field in CARRIER_FIELDS:
            if (touched is None or field.wire in touched) and not json_equal(before[field.wire], after.get(field.wire)):
                read_only.append(field.wire)
        if read_only:
            raise ReadOnlyFieldError(read_only, writable=self._writable_wire)
        _refuse_nulls(changes, "removed or set to null")
        return changes

    # --- delete ----------------------------------------------------------------------------------

    def _delete(self, conn: sqlite3.Connection, task_id: int) -> bool:
        row = conn.execute(SELECT_BLOB_LINK, (task_id,)).fetchone()
        if row is None:
            return False
        conn.execute(DELETE_TASK, (task_id,))
        conn.execute(DELETE_TRACE, (task_id,))
        if row[0] is not None:
            conn.execute(DELETE_BLOB, (row[0],))
        return True

    def delete(self, task_id: int) -> None:
        """Delete a task, its trace, and the ParameterObject blob batchstore stored for it.

        A DetailsTable/DetailsRecord link the caller set is never followed: it may be another's row.
        """
        task_id = _task_id(task_id, "delete")
        with self._db.write("delete") as conn:
            if not self._delete(conn, task_id):
                raise TaskNotFoundError(task_id, "delete")

    def delete_many(self, task_ids: Iterable[int]) -> int:
        """Delete these tasks in one transaction; returns how many existed. Unknown ids are skipped."""
        ids = []
        for value in task_ids:
            try:
                ids.append(_task_id(value, "delete_many"))
            except TaskNotFoundError:
                continue  # an id no task can have: unknown, so skipped like any other
        with self._db.write("delete_many") as conn:
            return sum(self._delete(conn, i) for i in ids)

    def prune(
        self,
        older_than: dt.timedelta,
        states: Iterable[BatchTaskState | str | int] = tuple(FINISHED),
    ) -> int:
        """Delete finished tasks whose State last changed more than ``older_than`` ago; returns how many.

        Works in batches of a few hundred tasks, each its own short transaction, so other writers are
        never kept waiting long.
        """
        if not isinstance(older_than, dt.timedelta):
            raise ConfigurationError(f"prune needs a datetime.timedelta, got {type(older_than).__name__}",
                                     option="older_than")
        if older_than < dt.timedelta(0):
            raise ConfigurationError(f"must not be negative, got {older_than!r}", option="older_than")
        wanted = sorted({int(_state_filter(s)) for s in states})
        unfinished = [BatchTaskState(s).name for s in wanted if s not in FINISHED]
        if unfinished or not wanted:
            raise InvalidTaskError(f"prune removes finished tasks only, not {', '.join(unfinished) or 'none'}",
                                   field="State")
        try:
            cutoff = timestamp(_now() - older_than)
        except OverflowError:
            raise ConfigurationError(f"{older_than!r} reaches back before the year 1", option="older_than") from None
        marks = ", ".join("?" * len(wanted))
        sql = f"SELECT id FROM batchtask WHERE state IN ({marks}) AND state_changed < ? ORDER BY id LIMIT ?"
        removed = 0
        while True:
            with self._db.write("prune") as conn:
                ids = [r[0] for r in conn.execute(sql, (*wanted, cutoff, _PRUNE_BATCH))]
                for task_id in ids:
                    self._delete(conn, task_id)
            removed += len(ids)
            if len(ids) < _PRUNE_BATCH:
                return removed

    # --- lifecycle -------------------------------------------------------------------------------

    def _claimed(
        self, conn: sqlite3.Connection, task_id: int, step: str, worker: str | None
    ) -> tuple[dict[str, Any], bool]:
        """The task's values and stop flag, once the worker's claim and the step's transition are checked."""
        current = self._values(conn, task_id, _FULL, step)
        holder, stop = conn.execute(SELECT_CLAIM, (task_id,)).fetchone()
        # A claim is lost when another worker holds the task, or recovery took it back (no holder). The
        # holder's own step on a task it finished is a step the State does not allow: a transition error.
        if worker is not None and holder != worker:
            by = f"held by {holder!r}" if holder is not None else "its claim was recovered or never made"
            raise ClaimLostError(
                f"{step} of task {task_id}: worker {worker!r} no longer holds it "
                f"(State {current['state'].name}, {by}); nothing was changed"
            )
        check_transition(step, task_id, current["state"])
        return current, bool(stop)

    def _lease_until(self, now: dt.datetime) -> str:
        return timestamp(now + self._lease_length)

    def _result(self, values: dict[str, Any], stop: bool | None = None) -> BatchTaskInfo:
        task = _FULL.project(values, self._rights)
        object.__setattr__(task, "_stop_requested", stop)
        return task

    def recover_stale(self) -> builtins.list[int]:
        """Return tasks whose worker's lease expired to New (Failed after ``max_starts`` starts); their ids.

        acquire runs this first, so a worker killed mid-task never leaves its task stuck.
        """
        with self._db.write("recover_stale") as conn:
            return self._recover(conn, _now())

    def _recover(self, conn: sqlite3.Connection, now: dt.datetime) -> builtins.list[int]:
        stale = [r[0] for r in conn.execute(
            "SELECT id FROM batchtask WHERE state IN (2, 3) AND lease_expires < ? ORDER BY id", (timestamp(now),)
        )]
        for task_id in stale:
            current = self._values(conn, task_id, _FULL, "recover_stale")
            clear = {"worker": None, "lease_expires": None}
            _, stop = conn.execute(SELECT_CLAIM, (task_id,)).fetchone()
            if stop:
                # Someone asked the task to stop and its worker died first: the request is honoured, as
                # stop() does for a task not yet started, rather than handed to the next worker.
                warned = current["cancellation_behaviour"] is CancellationBehaviour.CancelWithWarning
                changes = {"state": BatchTaskState.Failed, "result": _WARNED if warned else _STOPPED}
            elif current["start_count"] >= self._max_starts:
                result = f"Failed: its worker's lease expired after {current['start_count']} starts"
                changes = {"state": BatchTaskState.Failed, "result": coerce(BY_WIRE["Result"], result[:254])}
            else:
                changes = {"state": BatchTaskState.New}
            self._change(conn, current, changes, "recover_stale", internal=clear, now=now)
        return stale

    def acquire(self, *, name: str | None = None, worker: str | None = None) -> BatchTaskInfo | None:
        """Claim the oldest New task (with this Name, if given) for ``worker``; None when there is none.

        The task becomes Aquired and belongs to the worker (``host:pid`` by default) until its lease
        ends; exactly one caller gets each task, across threads and processes.

        >>> with BatchStore() as store:
        ...     _ = store.create({"Name": "ERPSync"})
        ...     store.acquire(worker="w1").state, store.acquire(worker="w2")
        (<BatchTaskState.Aquired: 2>, None)
        """
        worker = default_worker() if worker is None else check_text(str(worker), "worker")
        where: str = "state = 1"
        params: tuple[Any, ...] = ()
        if name is not None:
            where, params = "name = ? AND state = 1", (coerce(BY_WIRE["Name"], name),)
        now = _now()
        with self._db.write("acquire") as conn:
            self._recover(conn, now)
            row = conn.execute(f"SELECT id FROM batchtask WHERE {where} ORDER BY id LIMIT 1", params).fetchone()
            if row is None:
                return None
            current = self._values(conn, row[0], _FULL, "acquire")
            _, stop = conn.execute(SELECT_CLAIM, (row[0],)).fetchone()
            values = self._change(
                conn, current, {"state": BatchTaskState.Aquired}, "acquire",
                worker=worker, internal={"worker": worker, "lease_expires": self._lease_until(now)}, now=now,
            )
        return self._result(values, bool(stop))

    def start(self, task_id: int, *, worker: str | None = None) -> BatchTaskInfo:
        """Aquired -> Started: StartCount + 1, LastStarted now, the lease renewed, ProgressPercent 0.

        A start begins a new run: progress is never lower than the last report of the same run, but
        a run after a recovery starts again from 0. StartCount never passes 2**31 - 1 (the API's Int32).
        """
        task_id = _task_id(task_id, "start")
        worker = _worker(worker, "start")
        now = _now()
        with self._db.write("start") as conn:
            current, stop = self._claimed(conn, task_id, "start", worker)
            if current["start_count"] >= INT32_MAX:
                raise InvalidTaskError(
                    f"start of task {task_id}: StartCount is {current['start_count']}, the largest an Int32 "
                    "holds; nothing was changed",
                    field="StartCount",
                )
            changes = {"state": BatchTaskState.Started, "start_count": current["start_count"] + 1,
                       "last_started": now, "progress_percent": 0}
            values = self._change(conn, current, changes, "start", worker=worker,
                                  internal={"lease_expires": self._lease_until(now)}, now=now)
        return self._result(values, stop)

    def report_progress(
        self, task_id: int, percent: int, description: str | None = None, *, worker: str | None = None
    ) -> BatchTaskInfo:
        """Record progress of a Started task (never lower than the last report of this run) and renew the lease.

        The result's ``stop_requested`` tells the worker whether someone asked the task to stop.
        """
        task_id = _task_id(task_id, "report_progress")
        worker = _worker(worker, "report_progress")
        percent = coerce(BY_WIRE["ProgressPercent"], percent)
        if percent is None:
            raise InvalidTaskError("report_progress needs a percentage", field="ProgressPercent")
        changes: dict[str, Any] = {"progress_percent": percent}
        if description is not None:
            changes["progress_description"] = coerce(BY_WIRE["ProgressDescription"], description)
        now = _now()
        with self._db.write("report_progress") as conn:
            current, stop = self._claimed(conn, task_id, "report_progress", worker)
            if percent < (current["progress_percent"] or 0):
                raise InvalidTaskError(
                    f"progress never goes back: the last report was {current['progress_percent']}, not {percent}",
                    field="ProgressPercent",
                )
            values = self._change(conn, current, changes, "report_progress", worker=worker,
                                  internal={"lease_expires": self._lease_until(now)}, now=now)
        return self._result(values, stop)

    def succeed(
        self,
        task_id: int,
        *,
        result: str | None = None,
        response: str | None = None,
        file_name: str | None = None,
        cleanup: bool = False,
        worker: str | None = None,
    ) -> BatchTaskInfo:
        """Started -> Succeeded (SucceededManualCleanup with ``cleanup=True``); ProgressPercent becomes 100."""
        task_id = _task_id(task_id, "succeed")
        worker = _worker(worker, "succeed")
        state = BatchTaskState.SucceededManualCleanup if cleanup else BatchTaskState.Succeeded
        changes = self._outcome(state, result=result, response=response, file_name=file_name)
        changes["progress_percent"] = 100
        with self._db.write("succeed") as conn:
            current, stop = self._claimed(conn, task_id, "succeed", worker)
            values = self._change(conn, current, changes, "succeed", worker=worker,
                                  internal={"lease_expires": None})
        return self._result(values, stop)

    def fail(
        self, task_id: int, *, result: str | None = None, response: str | None = None, worker: str | None = None
    ) -> BatchTaskInfo:
        """Aquired or Started -> Failed. A task asked to stop gets a Result saying so unless one is given."""
        task_id = _task_id(task_id, "fail")
        worker = _worker(worker, "fail")
        changes = self._outcome(BatchTaskState.Failed, result=result, response=response)
        with self._db.write("fail") as conn:
            current, stop = self._claimed(conn, task_id, "fail", worker)
            if stop and result is None:
                warned = current["cancellation_behaviour"] is CancellationBehaviour.CancelWithWarning
                changes["result"] = _WARNED if warned else _STOPPED
            values = self._change(conn, current, changes, "fail", worker=worker, internal={"lease_expires": None})
        return self._result(values, stop)

    @staticmethod
    def _outcome(state: BatchTaskState, **fields: str | None) -> dict[str, Any]:
        changes: dict[str, Any] = {"state": state}
        for attr, value in fields.items():
            if value is not None:
                changes[attr] = coerce(BY_ATTR[attr], value)
        return changes

    def stop(self, task_id: int) -> bool:
        """Ask a task to stop, as its CancellationBehaviour allows (SuperOffice's StopBatchJob).

        A New or Aquired task fails at once, with a Result saying it was stopped (and that a warning
        applied, for CancelWithWarning). A Started task is asked to stop: its worker sees
        :meth:`stop_requested` (or ``stop_requested`` on the result of report_progress) and acts.
        Returns False, changing nothing, for CannotCancel and for finished tasks.
        """
        task_id = _task_id(task_id, "stop")
        with self._db.write("stop") as conn:
            current = self._values(conn, task_id, _FULL, "stop")
            behaviour, state = current["cancellation_behaviour"], current["state"]
            if behaviour is CancellationBehaviour.CannotCancel or state not in (
                BatchTaskState.New, *CLAIMED
            ):
                return False
            if state is BatchTaskState.Started:
                _, already = conn.execute(SELECT_CLAIM, (task_id,)).fetchone()
                if not already:
                    self._change(conn, current, {}, "stop", internal={"stop_requested": True})
                return True
            warned = behaviour is CancellationBehaviour.CancelWithWarning
            changes = {"state": BatchTaskState.Failed, "result": _WARNED if warned else _STOPPED}
            self._change(conn, current, changes, "stop", internal={"lease_expires": None})
            return True

    def stop_requested(self, task_id: int) -> bool:
        """Whether someone asked this (Started) task to stop."""
        task_id = _task_id(task_id, "stop_requested")
        row = self._db.fetchone(SELECT_CLAIM, (task_id,), "stop_requested")
        if row is None:
            raise TaskNotFoundError(task_id, "stop_requested")
        return bool(row[1])


def _refuse_nulls(changes: Mapping[str, Any], how: str) -> None:
    for attr, value in changes.items():
        if value is None and not BY_ATTR[attr].nullable:
            raise InvalidTaskError(f"cannot be {how}: every task has one", field=BY_ATTR[attr].wire)


def _wire(attr: str, value: Any) -> Any:
    return to_wire_value(BY_ATTR[attr], value)


def _insert_rows(conn: sqlite3.Connection, sql: str, rows: list[Any]) -> int:
    """Insert rows into an AUTOINCREMENT table; the first new id (the others follow it, one by one)."""
    if len(rows) == 1:  # the common create: lastrowid saves a statement
        first = conn.execute(sql, rows[0]).lastrowid
        assert first is not None
        return first
    conn.executemany(sql, rows)
    (last,) = conn.execute("SELECT last_insert_rowid()").fetchone()
    return int(last) - len(rows) + 1


def _creation_trace(row: list[Any]) -> str:
    """The changes of a create: every value the new task starts with, from nothing."""
    changes = {}
    for index, wire, enum in _TRACED_COLUMNS:
        value = row[index]
        if value is not None:
            changes[wire] = (None, value if enum is None else enum(value).name)
    return dump_changes(changes)

