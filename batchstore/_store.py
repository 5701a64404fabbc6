"""BatchStore: create, read, list, update, patch and delete batch tasks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType, TracebackType
from typing import Any, Final

from ._blob import DEFAULT_MAX_BLOB_BYTES, MIME_TYPE, pack, unpack
from ._enums import BatchTaskState, CancellationBehaviour, coerce_enum
from ._exceptions import InvalidTaskError, ReadOnlyFieldError, StorageError, TaskNotFoundError
from ._fields import BY_ATTR, BY_WIRE, COLUMN_FIELDS, DATA_FIELDS, FIELDS, UTC, Field, coerce, resolve, resolve_select
from ._model import BatchTaskInfo
from ._patch import apply_patch, json_equal, parse_operations
from ._rows import (
    BINARY_OBJECT_TABLE,
    DELETE_BLOB,
    DELETE_TASK,
    INSERT_BLOB,
    INSERT_TASK,
    SELECT_BLOB_LINK,
    ReadPlan,
    read_plan,
    to_column,
    update_sql,
)
from ._sqlite import SQLiteDatabase

__all__ = ["DEFAULT_WRITABLE", "BatchStore"]

#: The fields SuperOffice's UpdateBatchTask may change.
DEFAULT_WRITABLE: Final = ("State", "Description", "Response", "Request")
# Never writable: the id, and the fields that tie a task to the blob batchstore owns for it.
_NEVER_WRITABLE: Final = frozenset({"id", "parameter_object", "details_table", "details_record"})
_CARRIER: Final = frozenset({"table_right", "field_properties"})
_FULL: Final = read_plan(None)
_PAGE_SIZE: Final = 500

Select = str | Iterable[str] | None


def _task_id(value: object, operation: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidTaskError(f"{operation} needs an integer task id, got {value!r}", field="Id")
    return value


def _sqlite_path(target: str) -> str:
    if "://" not in target:
        return target
    from sqlalchemy.engine import make_url  # only a URL needs SQLAlchemy's parser
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(target)
    except ArgumentError as exc:
        raise StorageError(f"open: {target!r} is not a database URL: {exc}") from exc
    if url.get_backend_name() != "sqlite":
        raise StorageError(f"open: the {url.get_backend_name()!r} backend is not supported yet; use a SQLite file")
    return url.database or ":memory:"


class BatchStore:
    """Batch tasks in a SQLite database: a private in-memory one, a file, or a ``sqlite://`` URL.

    One store may be shared by many threads; several processes may open the same file.

    >>> with BatchStore() as store:
    ...     task_id = store.create({"Name": "ERPSync", "ParameterObject": {"source": "SAP"}})
    ...     store.patch(task_id, [{"op": "replace", "path": "/State", "value": "Started"}]).state
    <BatchTaskState.Started: 3>

    ``writable`` names the fields update and patch may change (SuperOffice's four by default);
    ``max_blob_bytes`` caps a serialized ParameterObject; ``timeout`` is how long a writer waits for
    another connection's write lock, in seconds; ``synchronous`` is SQLite's PRAGMA.
    """

    def __init__(
        self,
        database: str | None = None,
        *,
        writable: Iterable[str] = DEFAULT_WRITABLE,
        max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES,
        timeout: float = 30.0,
        synchronous: str = "NORMAL",
    ) -> None:
        fields = [resolve(name, where="writable field") for name in writable]
        refused = [f.wire for f in fields if f.attr in _NEVER_WRITABLE or not f.column]
        if refused:
            raise InvalidTaskError(f"these fields can never be made writable: {', '.join(refused)}")
        self._writable = frozenset(f.attr for f in fields)
        self._writable_wire = tuple(f.wire for f in FIELDS if f.attr in self._writable)
        self._max_blob_bytes = max_blob_bytes
        self._rights = self._carrier_rights()
        path = ":memory:" if database is None else _sqlite_path(str(database))
        self._db = SQLiteDatabase(path, timeout=timeout, synchronous=synchronous)

    # --- lifecycle of the store itself ---------------------------------------------------------

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
    def writable(self) -> tuple[str, ...]:
        """Wire names of the fields update and patch may change."""
        return self._writable_wire

    def _carrier_rights(self) -> dict[str, Any]:
        # What SuperOffice returns as TableRight and FieldProperties, from this store's whitelist.
        # Read-only views: every result shares them.
        def field_info(field: Field) -> Mapping[str, Any]:
            mask = "Update" if field.attr in self._writable else "Read"
            return MappingProxyType({
                "FieldRight": MappingProxyType({"Mask": mask, "Reason": ""}),
                "FieldType": field.net_type,
                "FieldLength": field.max_length,
            })

        return {
            "table_right": MappingProxyType({"Mask": "Select, Insert, Update, Delete", "Reason": ""}),
            "field_properties": MappingProxyType({f.wire: field_info(f) for f in DATA_FIELDS}),
        }

    # --- create ----------------------------------------------------------------------------------

    def _as_task(self, task: BatchTaskInfo | Mapping[str, Any]) -> BatchTaskInfo:
        return task if isinstance(task, BatchTaskInfo) else BatchTaskInfo.from_wire(task)

    def _new_row(self, task: BatchTaskInfo | Mapping[str, Any]) -> tuple[list[Any], bytes | None]:
        """The column values (less id) and ParameterObject bytes of a new task, defaults filled in."""
        info = self._as_task(task)
        values = info.__dict__
        blob = None
        if values["parameter_object"] is not None:
            blob = pack(values["parameter_object"], max_bytes=self._max_blob_bytes)
        defaults = {
            "is_system_task": False,
            "is_internal_task": False,
            "created": dt.datetime.now(UTC),
            "start_count": 0,
            "state": BatchTaskState.New,
            "progress_percent": 0,
            "cancellation_behaviour": CancellationBehaviour.CanCancel,
        }
        row = []
        for field in COLUMN_FIELDS[1:]:
            value = values[field.attr]
            if value is None:
                value = defaults.get(field.attr)
            row.append(to_column(field, value))
        row.append(None)  # parameter_blob, set when the blob is written
        return row, blob

    def _insert(self, conn: Any, row: list[Any], blob: bytes | None) -> int:
        if blob is not None:
            blob_id = conn.execute(INSERT_BLOB, (MIME_TYPE, blob)).lastrowid
            # DetailsTable/DetailsRecord point at the blob, as in SuperOffice; the task owns it.
            row[2], row[3], row[-1] = BINARY_OBJECT_TABLE, blob_id, blob_id
        task_id: int = conn.execute(INSERT_TASK, row).lastrowid
        return task_id

    def create(self, task: BatchTaskInfo | Mapping[str, Any]) -> int:
        """Store a new task and return its id; the Id given, if any, is ignored.

        Created defaults to now (UTC), State to New, StartCount and ProgressPercent to 0,
        CancellationBehaviour to CanCancel.

        >>> with BatchStore() as store:
        ...     store.create({"Name": "ContactExport", "State": "New"})
        1
        """
        row, blob = self._new_row(task)
        with self._db.write("create") as conn:
            return self._insert(conn, row, blob)

    def create_many(self, tasks: Iterable[BatchTaskInfo | Mapping[str, Any]]) -> list[int]:
        """Store several tasks in one transaction, all or none, and return their ids in order.

        >>> with BatchStore() as store:
        ...     store.create_many([{"Name": "a"}, {"Name": "b"}])
        [1, 2]
        """
        prepared = []
        for index, task in enumerate(tasks):
            try:
                prepared.append(self._new_row(task))
            except InvalidTaskError as exc:
                raise InvalidTaskError(f"task {index}: {exc}", field=exc.field) from exc
        with self._db.write("create_many") as conn:
            return [self._insert(conn, row, blob) for row, blob in prepared]

    # --- read ------------------------------------------------------------------------------------

    def _read(self, conn: Any, task_id: int, plan: ReadPlan, operation: str) -> BatchTaskInfo:
        row = conn.execute(plan.by_id, (task_id,)).fetchone()
        if row is None:
            raise TaskNotFoundError(task_id, operation)
        return plan.build(row, self._rights)

    def get(self, task_id: int, *, select: Select = None) -> BatchTaskInfo:
        """The task with this id; with ``select``, only those fields (and Id) are read, the rest None.

        >>> with BatchStore() as store:
        ...     task_id = store.create({"Name": "ERPSync"})
        ...     store.get(task_id, select="name").name
        'ERPSync'
        """
        task_id = _task_id(task_id, "get")
        plan = read_plan(resolve_select(select))
        with self._db.read("get") as conn:
            return self._read(conn, task_id, plan, "get")

    def list(self, state: BatchTaskState | str | int = "All", *, select: Select = None) -> Iterator[BatchTaskInfo]:
        """The tasks in ``state`` (``"All"``: every task), ordered by Id, read a page at a time.

        Pages are read as the iterator advances, so a million tasks never sit in memory at once, and
        the store is free for writes (from this thread too) between pages.

        >>> with BatchStore() as store:
        ...     _ = store.create_many([{"Name": "a"}, {"Name": "b", "State": "Failed"}])
        ...     [t.name for t in store.list("failed")]
        ['b']
        """
        try:
            wanted = coerce_enum(BatchTaskState, state)
        except ValueError as exc:
            raise InvalidTaskError(str(exc), field="State") from None
        plan = read_plan(resolve_select(select))
        return self._pages(plan, None if wanted is BatchTaskState.All else int(wanted))

    def _pages(self, plan: ReadPlan, state: int | None) -> Iterator[BatchTaskInfo]:
        sql = plan.page(by_state=state is not None)
        prefix = () if state is None else (state,)
        last_id = 0
        while True:
            with self._db.read("list") as conn:
                rows = conn.execute(sql, (*prefix, last_id, _PAGE_SIZE)).fetchall()
            for row in rows:
                yield plan.build(row, self._rights)
            if len(rows) < _PAGE_SIZE:
                return
            last_id = rows[-1][0]

    # --- update and patch ------------------------------------------------------------------------

    def _check_unchanged(self, stored: BatchTaskInfo, given: Mapping[str, Any]) -> None:
        """ReadOnlyFieldError naming every non-writable field whose given value differs from the stored one."""
        changed = []
        for attr, value in given.items():
            if attr in self._writable or attr in _CARRIER or attr == "id":
                continue
            old = stored.__dict__[attr]
            if attr == "parameter_object" and value is not None:
                value = unpack(pack(value, max_bytes=self._max_blob_bytes))  # compare as it would be stored
            if old != value:
                changed.append(BY_ATTR[attr].wire)
        if changed:
            raise ReadOnlyFieldError(changed, writable=self._writable_wire)

    def _write_changes(self, conn: Any, task_id: int, changes: Mapping[str, Any]) -> None:
        if changes:
            attrs = tuple(changes)
            params = [to_column(BY_ATTR[a], changes[a]) for a in attrs]
            conn.execute(update_sql(attrs), (*params, task_id))

    def update(self, task: BatchTaskInfo | Mapping[str, Any], *, select: Select = None) -> BatchTaskInfo:
        """Change State, Description, Response and Request (the store's writable fields) of a task.

        Other fields may be given only with their stored values, so a task read with :meth:`get`,
        changed and passed back is accepted; anything else raises ReadOnlyFieldError and writes nothing.

        >>> with BatchStore() as store:
        ...     task = store.get(store.create({"Name": "ERPSync"}))
        ...     task.state = "Started"
        ...     store.update(task).state
        <BatchTaskState.Started: 3>
        """
        info = self._as_task(task)
        given = {a: info.__dict__[a] for a in info.fields_set}
        task_id = given.pop("id", None)
        if task_id is None:
            raise InvalidTaskError("update needs the Id of the task to change", field="Id")
        if "state" in given and given["state"] is None:
            raise InvalidTaskError("a task's State cannot be null", field="State")
        changes = {a: v for a, v in given.items() if a in self._writable}
        plan = read_plan(resolve_select(select))
        needs_check = any(a not in self._writable and a not in _CARRIER for a in given)
        with self._db.write("update") as conn:
            if needs_check:
                self._check_unchanged(self._read(conn, task_id, _FULL, "update"), given)
            self._write_changes(conn, task_id, changes)
            # Reading back also tells an unknown id: an UPDATE of no row is no error to SQLite.
            return self._read(conn, task_id, plan, "update")

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
        plan = read_plan(resolve_select(select))
        with self._db.write("patch") as conn:
            current = self._read(conn, task_id, _FULL, "patch")
            document = current.to_wire()
            patched = apply_patch(current.to_wire(), ops)
            changes = self._patched_changes(document, patched)
            self._write_changes(conn, task_id, changes)
        values = {**current.__dict__, **changes}
        return BatchTaskInfo._trusted(
            {a: (v if a in plan.fields_set else None) for a, v in values.items()}, plan.fields_set
        )

    def _patched_changes(self, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        unknown = [k for k in after if k not in BY_WIRE]
        if unknown:
            raise InvalidTaskError(f"the patch adds unknown field(s) {', '.join(map(repr, unknown))}")
        changes: dict[str, Any] = {}
        read_only = []
        for field in DATA_FIELDS:
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
            value = coerce(field, new)
            if value is None and field.attr == "state":
                raise InvalidTaskError("a task's State cannot be removed or set to null", field="State")
            changes[field.attr] = value
        if read_only:
            raise ReadOnlyFieldError(read_only, writable=self._writable_wire)
        return changes

    # --- delete ----------------------------------------------------------------------------------

    def delete(self, task_id: int) -> None:
        """Delete a task and the ParameterObject blob batchstore stored for it.

        A DetailsTable/DetailsRecord link the caller set is never followed: it may be another's row.
        """
        task_id = _task_id(task_id, "delete")
        with self._db.write("delete") as conn:
            row = conn.execute(SELECT_BLOB_LINK, (task_id,)).fetchone()
            if row is None:
                raise TaskNotFoundError(task_id, "delete")
            conn.execute(DELETE_TASK, (task_id,))
            if row[0] is not None:
                conn.execute(DELETE_BLOB, (row[0],))
