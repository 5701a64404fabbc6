"""BatchStore: create, read, list, update, patch and delete batch tasks, and run them through their lifecycle."""

from __future__ import annotations

import builtins
import copy
import datetime as dt
import math
import os
import time
from collections.abc import Generator, Iterable, Iterator, Mapping
from functools import lru_cache
from types import TracebackType
from typing import Any, Final, Self

from ._blob import DEFAULT_MAX_BLOB_BYTES
from ._core import FULL, NO_BLOB, TaskLike, Writer, _now, _state_filter, _task_id, carrier_rights
from ._engines import check_synchronous, open_engine
from ._enums import FINISHED, BatchTaskState
from ._exceptions import (
    ConfigurationError,
    InvalidTaskError,
    ReadOnlyFieldError,
    TaskNotFoundError,
    UnknownCursorError,
    WaitTimeoutError,
)
from ._feed import Change, read_changes, watch_changes
from ._fields import (
    BY_ATTR,
    BY_WIRE,
    CARRIER_FIELDS,
    DATA_FIELDS,
    FIELDS,
    ID_MAX,
    ID_MIN,
    INT32_MAX,
    check_text,
    coerce,
    resolve,
    same_value,
    to_json_value,
    wire_document,
    wire_values,
)
from ._lifecycle import Lifecycle
from ._model import BatchTaskInfo, given_values
from ._patch import apply_patch, apply_simple, json_equal, parse_operations, referenced_fields, simple_operations
from ._progress import RECENT_REPORTS, ProgressEstimate, estimate, reports_of
from ._queries import PRUNE_CHANGES, RECENT_TRACE, prunable
from ._query import Ordering, Q, compile_where, parse_order, to_q
from ._retention import Retention, RetentionPolicy, before_now
from ._rows import ReadPlan, plan_for, read_plan, timestamp
from ._trace import IDS_PER_READ, TraceEntry, read_histories

__all__ = ["DEFAULT_WRITABLE", "BatchStore"]

#: The fields SuperOffice's UpdateBatchTask may change: those the field table marks writable.
DEFAULT_WRITABLE: Final = tuple(f.wire for f in FIELDS if f.writable)
# Never writable: the id, and the fields that tie a task to the blob batchstore owns for it.
_NEVER_WRITABLE: Final = frozenset({"id", "parameter_object", "details_table", "details_record"})
_CARRIER: Final = frozenset(f.attr for f in CARRIER_FIELDS)
_DATA_INDEX: Final = {f.wire: i for i, f in enumerate(DATA_FIELDS)}
_ALWAYS_READ: Final = ("id", "state", "is_internal_task")  # what _change needs of every task it writes
_NESTED: Final = ("ParameterObject", "TableRight", "FieldProperties")
_PAGE_SIZE: Final = 500
_PRUNE_BATCH: Final = 500
_INSERT_CHUNK: Final = 1000
_ESTIMATED: Final = plan_for("State,ProgressPercent")
Select = str | Iterable[str] | None
Where = Q | Mapping[str, Any] | None


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


def _ids_of_tasks(task_ids: Iterable[int], operation: str) -> builtins.list[int]:
    """The checked ids of a many-task call; an id no task can have (beyond int64) is left out, as unknown."""
    ids = []
    for value in _iterable(task_ids, operation, "Id"):
        try:
            ids.append(_task_id(value, operation))
        except TaskNotFoundError:
            continue  # an id no task can have: unknown, so skipped like any other
    return ids


def wait_seconds(value: object) -> float:
    """The ``timeout`` of a wait: 0 or more seconds (0: look once), at most about 24 days."""
    return _seconds(value, "timeout", low=0, high=MAX_TIMEOUT_SECONDS, zero=True)


def _iterable(value: Any, operation: str, field: str) -> Iterable[Any]:
    """``value`` if it is a collection of items (not a string or mapping, which would iterate by accident)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise InvalidTaskError(f"{operation} needs a list (or another iterable) of items, got {type(value).__name__}",
                               field=field)
    return value


def _cursor(value: object, operation: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= ID_MAX:
        raise InvalidTaskError(f"{operation} needs a cursor from a Change (an integer 0 or more), got {value!r}",
                               field="after")
    return value


def _whole(value: object, low: int, high: int) -> int:
    """``value`` if it is a whole number from ``low`` to ``high``, else ValueError: one rule, one message."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"must be a whole number from {low} to {high}, got {value!r}")
    return value


def _bound(value: object, name: str, low: int, high: int) -> int:
    """A whole number of tasks (an offset, a limit) within bounds, or InvalidTaskError naming it."""
    try:
        return _whole(value, low, high)
    except ValueError as exc:
        raise InvalidTaskError(str(exc), field=name) from None


def _count(value: object, option: str, *, low: int, high: int) -> int:
    """A whole number an option takes, within bounds, or ConfigurationError naming the option."""
    try:
        return _whole(value, low, high)
    except ValueError as exc:
        raise ConfigurationError(str(exc), option=option) from None


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
    one call may wait, in all, for what others hold (the store's connection or a pooled one, then the
    database's locks), in seconds (0 or more, at most about 24 days): one deadline per call, not one per
    wait; ``synchronous`` is SQLite's PRAGMA of that name (OFF, NORMAL, FULL or EXTRA). An option
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
        pool_size: int = 10,
    ) -> None:
        # Every option is checked before anything is opened: a refused one leaves no file behind.
        max_blob_bytes = _count(max_blob_bytes, "max_blob_bytes", low=1, high=2**62)
        lease = _seconds(lease_seconds, "lease_seconds", low=0, high=MAX_LEASE_SECONDS, zero=False)
        max_starts = _count(max_starts, "max_starts", low=1, high=INT32_MAX)
        timeout = _seconds(timeout, "timeout", low=0, high=MAX_TIMEOUT_SECONDS, zero=True)
        synchronous = check_synchronous(synchronous)
        pool_size = _count(pool_size, "pool_size", low=1, high=1000)
        if not isinstance(read_only, bool):
            raise ConfigurationError(f"must be True or False, not {read_only!r}", option="read_only")
        if database is not None and not isinstance(database, (str, os.PathLike)):
            raise ConfigurationError(f"must be a path, a sqlite:// or a postgresql:// URL, not {database!r}",
                                     option="database")
        if database is not None:
            try:
                check_text(os.fspath(database), "database")  # no NUL, no lone surrogate: no driver takes them
            except (InvalidTaskError, TypeError) as exc:
                raise ConfigurationError(str(exc).removeprefix("database: "), option="database") from None
        fields = [resolve(name, where="writable field") for name in writable]
        refused = [f.wire for f in fields if f.attr in _NEVER_WRITABLE or not f.column]
        if refused:
            raise InvalidTaskError(f"these fields can never be made writable: {', '.join(refused)}")
        self._writable = frozenset(f.attr for f in fields)
        self._writable_wire = tuple(f.wire for f in FIELDS if f.attr in self._writable)
        self._rights = carrier_rights(self._writable)
        self._rights_wire = {f.wire: to_json_value(self._rights[f.attr]) for f in CARRIER_FIELDS}
        target = None if database is None else os.fspath(database)
        self._engine = open_engine(target, timeout=timeout, synchronous=synchronous, read_only=read_only,
                                   pool_size=pool_size)
        # The concerns, each a class of its own on the one write path (see ARCHITECTURE.md):
        self._writer = Writer(self._engine, self._rights, max_blob_bytes)
        self._lifecycle = Lifecycle(self._writer, dt.timedelta(seconds=lease), max_starts)
        self._retention = Retention(self._writer)

    # --- the store itself ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database; using the store afterwards raises StoreClosedError."""
        self._engine.close()

    @property
    def closed(self) -> bool:
        return self._engine.closed

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<BatchStore {self._engine.description!r}{' closed' if self.closed else ''}>"

    @property
    def database(self) -> str:
        """The database, as people may see it: the SQLite file's full path, or the URL with its password hidden.

        >>> from batchstore import BatchStore
        >>> BatchStore().database
        ':memory:'
        """
        where = self._engine.description
        if self._engine.name == "sqlite" and where not in ("", ":memory:") and not where.startswith("file:"):
            return os.path.abspath(where)
        return where

    @property
    def read_only(self) -> bool:
        """Whether the store was opened with ``read_only=True`` (its writes raise StorageError)."""
        return self._engine.read_only

    @property
    def writable(self) -> tuple[str, ...]:
        """Wire names of the fields update and patch may change."""
        return self._writable_wire

    # --- create ----------------------------------------------------------------------------------

    def create(self, task: TaskLike) -> int:
        """Store a new task and return its id; the Id given, if any, is ignored.

        Created defaults to now (UTC), State to New, StartCount and ProgressPercent to 0,
        CancellationBehaviour to CanCancel.

        >>> with BatchStore() as store:
        ...     store.create({"Name": "ContactExport", "State": "New"})
        1
        """
        prepared = [self._writer.new_row(task, timestamp(_now()))]
        with self._engine.write("create") as tx:
            task_id = self._writer.insert(tx, prepared)[0]
        self._retention.retain_if_due()
        return task_id

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
        for index, task in enumerate(_iterable(tasks, "create_many", "tasks")):
            try:
                prepared.append(self._writer.new_row(task, stamp))
            except InvalidTaskError as exc:
                raise InvalidTaskError(f"task {index}: {exc}", field=exc.field) from exc
        ids: builtins.list[int] = []
        if not prepared:
            return ids
        with self._engine.write("create_many") as tx:
            for first in range(0, len(prepared), _INSERT_CHUNK):
                ids += self._writer.insert(tx, prepared[first:first + _INSERT_CHUNK])
        self._retention.retain_if_due()
        return ids

    # --- read ----------------------------------------------------------------------------------

    def get(self, task_id: int, *, select: Select = None) -> BatchTaskInfo:
        """The task with this id; with ``select``, only those fields (and Id) are read, the rest None.

        >>> with BatchStore() as store:
        ...     task_id = store.create({"Name": "ERPSync"})
        ...     store.get(task_id, select="name").name
        'ERPSync'
        """
        if task_id.__class__ is not int or not ID_MIN <= task_id <= ID_MAX:
            task_id = _task_id(task_id, "get")
        plan = plan_for(select)
        row = self._engine.fetchone(plan.by_id, (task_id,), "get")
        if row is None:
            raise TaskNotFoundError(task_id, "get")
        return plan.build(row, self._rights, "get")

    def list(
        self,
        state: BatchTaskState | str | int = "All",
        *,
        where: Where = None,
        order_by: str | Iterable[str] | None = None,
        offset: int = 0,
        limit: int | None = None,
        select: Select = None,
    ) -> Iterator[BatchTaskInfo]:
        """The tasks in ``state`` (``"All"``: any) that match ``where``, in ``order_by`` order (Id by default).

        ``where`` is a :class:`~batchstore.Q` or a mapping of its lookups (``{"Name__startswith": "ERP"}``);
        ``order_by`` names fields, each ``-Field`` or ``Field desc`` for descending (``"-Created,Name"``),
        with Id the last tie-break (in the direction of the key before it) and NULL after every value;
        ``offset`` skips that many, ``limit`` (None: no limit) stops after that many. Everything is done in
        SQL, and pages are read as the iterator advances, so a million tasks never sit in memory at once and
        the store is free for writes (from this thread too) between pages. Each page starts after the last
        row of the one before, so a task written meanwhile is seen at most once.

        >>> with BatchStore() as store:
        ...     _ = store.create_many([{"Name": "a"}, {"Name": "b", "State": "Failed"}, {"Name": "c"}])
        ...     [t.name for t in store.list("failed")], [t.name for t in store.list(order_by="-Name", limit=2)]
        (['b'], ['c', 'b'])
        """
        condition, params = self._condition(state, where)
        ordering = parse_order(order_by)
        offset = _bound(offset, "offset", 0, ID_MAX)
        if limit is not None:
            limit = _bound(limit, "limit", 0, ID_MAX)
        return self._pages(plan_for(select), condition, params, ordering, offset, limit)

    def count(self, state: BatchTaskState | str | int = "All", *, where: Where = None) -> int:
        """How many tasks :meth:`list` would give for ``state`` and ``where``, counted in SQL.

        >>> with BatchStore() as store:
        ...     _ = store.create_many([{"Name": "ERPSync"}, {"Name": "ERPLoad"}, {"Name": "Mail"}])
        ...     store.count(where=Q(Name__startswith="ERP")), store.count("Failed")
        (2, 0)
        """
        condition, params = self._condition(state, where)
        row = self._engine.fetchone(f"SELECT count(*) FROM batchtask t WHERE {condition}", params, "count")
        return int(row[0])

    def list_by_name(self, name: str, *, select: Select = None) -> Iterator[BatchTaskInfo]:
        """The tasks with this Name, by Id (SuperOffice's GetBatchTaskInfosByName)."""
        return self.list(where=Q(Name=name), select=select)

    def list_by_name_and_state(
        self, name: str, state: BatchTaskState | str | int, *, select: Select = None
    ) -> Iterator[BatchTaskInfo]:
        """The tasks with this Name in this State (``"All"``: any), by Id."""
        return self.list(state, where=Q(Name=name), select=select)

    def list_by_associate(self, associate_id: int, *, select: Select = None) -> Iterator[BatchTaskInfo]:
        """The tasks owned by this associate, by Id."""
        return self.list(where=Q(AssociateId=associate_id), select=select)

    def list_by_associates_and_state(
        self, associate_ids: Iterable[int], state: BatchTaskState | str | int, *, select: Select = None
    ) -> Iterator[BatchTaskInfo]:
        """The tasks owned by any of these associates, in this State (``"All"``: any), by Id."""
        ids = _iterable(associate_ids, "list_by_associates_and_state", "AssociateId")
        return self.list(state, where=Q(AssociateId__in=ids), select=select)

    def list_system_tasks_by_name(self, name: str, *, select: Select = None) -> Iterator[BatchTaskInfo]:
        """The system tasks (IsSystemTask true) with this Name, by Id."""
        return self.list(where=Q(Name=name, IsSystemTask=True), select=select)

    def _condition(self, state: BatchTaskState | str | int, where: Where) -> tuple[str, builtins.list[Any]]:
        # Checked now, so a bad state or filter fails at the call, not at the first next().
        wanted = _state_filter(state)
        if where is None:  # a plain list of one state: its SQL is made once
            sql, params = _state_condition(wanted, self._engine.name)
            return sql, builtins.list(params)
        query = to_q(where)
        if wanted is not BatchTaskState.All:
            query = Q(State=wanted) & query
        return compile_where(query, self._engine.name)

    def _pages(
        self,
        plan: ReadPlan,
        condition: str,
        params: builtins.list[Any],
        ordering: Ordering,
        offset: int,
        limit: int | None,
    ) -> Iterator[BatchTaskInfo]:
        # Keyset pages: each is one short read that starts after the last row of the one before, so no lock
        # or snapshot is held between them, and a page deep into a large table costs what the first did.
        order, keys, width = ordering.sql(self._engine.name), ordering.columns(), len(ordering.keys)
        sql = plan.page(condition, order, keys)
        after: tuple[str, builtins.list[Any]] | None = None
        remaining = limit
        while remaining is None or remaining > 0:
            size = _PAGE_SIZE if remaining is None else min(_PAGE_SIZE, remaining)
            if after is None:
                rows = self._engine.fetchall(sql, (*params, size, offset), "list")
            else:
                seek, seek_params = after
                rows = self._engine.fetchall(plan.page(f"{condition} AND {seek}", order, keys),
                                             (*params, *seek_params, size, 0), "list")
            for row in rows:
                yield plan.build(row, self._rights, "list")
            if remaining is not None:
                remaining -= len(rows)
            if len(rows) < size or remaining == 0:
                return
            after = ordering.after(rows[-1][-width:])

    def history(self, task_id: int) -> builtins.list[TraceEntry]:
        """The trace of a task, oldest first; empty for an internal task (IsInternalTask true).

        >>> with BatchStore() as store:
        ...     [e.operation for e in store.history(store.create({"Name": "ERPSync"}))]
        ['create']
        """
        task_id = _task_id(task_id, "history")
        # One statement, which also says whether the task exists (it read the two in a transaction).
        trace = self._traces([task_id], "history").get(task_id)
        if trace is None:
            raise TaskNotFoundError(task_id, "history")
        return trace

    def histories(self, task_ids: Iterable[int]) -> dict[int, builtins.list[TraceEntry]]:
        """The traces of many tasks at once (a page of a list), in one statement per 500 ids: task id ->
        entries, oldest first. Every id that names a task is a key (an internal task's trace is empty); an id
        of no task is absent, not an error. All of it is read from one snapshot.

        >>> with BatchStore() as store:
        ...     first = store.create({"Name": "ERPSync"})
        ...     {i: [e.operation for e in h] for i, h in store.histories([first, 404]).items()}
        {1: ['create']}
        """
        return self._traces(_ids_of_tasks(task_ids, "histories"), "histories")

    def _traces(self, ids: builtins.list[int], operation: str) -> dict[int, builtins.list[TraceEntry]]:
        if len(ids) <= IDS_PER_READ:  # one statement sees one snapshot by itself
            return read_histories(lambda sql, params: self._engine.fetchall(sql, params, operation), ids)
        with self._engine.read(operation) as tx:
            return read_histories(tx.all, ids)

    def progress_estimate(self, task_id: int) -> ProgressEstimate:
        """How fast a Started task advances (percent per minute) and when it should reach 100 %.

        Read from the progress reports of its current run in its history (see ``_progress.py``: the reports
        of the last ten minutes before the newest one). Rate and ETA are None for a task that is not
        Started, has reported no progress yet, or is internal (it keeps no history).

        >>> with BatchStore() as store:
        ...     task_id = store.create({"Name": "ERPSync"})
        ...     store.progress_estimate(task_id)
        ProgressEstimate(percent=0, rate=None, eta=None)
        """
        task_id = _task_id(task_id, "progress_estimate")
        with self._engine.read("progress_estimate") as tx:
            task = self._read_one(tx, task_id, _ESTIMATED, "progress_estimate")
            rows = tx.all(RECENT_TRACE, (task_id, RECENT_REPORTS)) if task.state is BatchTaskState.Started else []
        return estimate(task.state, task.progress_percent, reports_of(rows))

    def _read_one(self, tx: Any, task_id: int, plan: ReadPlan, operation: str) -> BatchTaskInfo:
        row = tx.one(plan.by_id, (task_id,))
        if row is None:
            raise TaskNotFoundError(task_id, operation)
        return plan.build(row, self._rights, operation)

    # --- the change feed -------------------------------------------------------------------------

    def changes(self, after: int = 0, *, limit: int = 1000) -> builtins.list[Change]:
        """The changes committed after the cursor ``after`` (0: the oldest kept), oldest first, at most ``limit``.

        Every change to every task is there, internal tasks included (they add no trace, but a window
        must see them move), from this process and any other. Go on from ``changes[-1].cursor``. A cursor
        past any this database handed out (from another database, or from before a restore) raises
        UnknownCursorError rather than skip every change until the feed catches up with it.

        >>> with BatchStore() as store:
        ...     task_id = store.create({"Name": "ERPSync"})
        ...     _ = store.patch(task_id, [{"op": "replace", "path": "/State", "value": "Started"}])
        ...     [(c.operation, c.changes.get("State")) for c in store.changes()]
        [('create', (None, 'New')), ('patch', ('New', 'Started'))]
        """
        after = _cursor(after, "changes")
        limit = _count(limit, "limit", low=1, high=100_000)
        found = read_changes(self._engine, after, limit, "changes")
        if not found and after:
            self._check_issued(after, "changes")  # only when nothing came back: a cursor behind the end is fine
        return found

    def _check_issued(self, cursor: int, operation: str) -> None:
        """UnknownCursorError if this database never handed out ``cursor`` (see docs/guide/errors.md)."""
        issued = self._engine.issued_cursor(operation)
        if cursor > issued:
            raise UnknownCursorError(cursor, issued)

    def last_cursor(self) -> int:
        """The cursor of the newest committed change (0: none yet): take it, read the tasks, then ``watch(after=it)``.

        A window that shows tasks and follows them this way misses no change made while it read them.

        >>> with BatchStore() as store:
        ...     before = store.last_cursor()
        ...     _ = store.create({"Name": "ERPSync"})
        ...     [c.operation for c in store.changes(after=before)]
        ['create']
        """
        return self._engine.latest_cursor("last_cursor")

    def watch(self, after: int | None = None, *, timeout: float | None = None) -> Generator[Change, None, None]:
        """The changes as they are committed, by any process, after ``after`` (None: from now on).

        Ends when ``timeout`` seconds pass with nothing new (None: never; break out of the loop, or
        close the iterator, to stop). Watchers sleep until the database reports a commit (SQLite's
        data_version, PostgreSQL's LISTEN/NOTIFY); they never scan the table. A cursor this database never
        handed out raises UnknownCursorError at the call, as for :meth:`changes`.

        >>> with BatchStore() as store:
        ...     task_id = store.create({"Name": "ERPSync"})
        ...     [c.operation for c in store.watch(after=0, timeout=0.05)]
        ['create']
        """
        if after is not None:
            after = _cursor(after, "watch")
        if timeout is not None:
            timeout = _seconds(timeout, "timeout", low=0, high=MAX_TIMEOUT_SECONDS, zero=True)
        if after is None:  # "now" is the call, not the first next(): nothing committed in between is skipped
            after = self._engine.latest_cursor("watch")
        elif after:
            self._check_issued(after, "watch")  # at the call, so the error is the call's
        return watch_changes(self._engine, after, timeout)

    def wait(self, task_id: int, *, timeout: float | None = None) -> BatchTaskInfo:
        """The task, once it is finished: Succeeded, SucceededManualCleanup or Failed (a stopped task fails).

        Waits on the change feed, so a task finished by any process (or thread) ends the wait as soon as
        that commit is seen; nothing is polled but the feed's own signal. ``timeout`` (seconds; None:
        no limit) raises WaitTimeoutError when it runs out first; TaskNotFoundError when the task does
        not exist, or is deleted meanwhile.

        >>> with BatchStore() as store:
        ...     task_id = store.create({"Name": "ERPSync", "State": "Failed"})
        ...     store.wait(task_id, timeout=1).state
        <BatchTaskState.Failed: 5>
        """
        task_id = _task_id(task_id, "wait")
        if timeout is not None:
            timeout = wait_seconds(timeout)
        until = None if timeout is None else time.monotonic() + timeout
        cursor = self._engine.latest_cursor("wait")  # before the read: a finish in between is in the feed
        task = self._waited(task_id)
        if task.state in FINISHED:
            return task
        for change in watch_changes(self._engine, cursor, None, until=until):
            if change.task_id == task_id:
                task = self._waited(task_id)
                if task.state in FINISHED:
                    return task
        assert timeout is not None  # without one, the watch never ends
        raise WaitTimeoutError(task_id, timeout, task.state.name if task.state else None)

    def _waited(self, task_id: int) -> BatchTaskInfo:
        try:
            return self.get(task_id)
        except TaskNotFoundError:
            raise TaskNotFoundError(task_id, "wait") from None

    # --- update and patch ------------------------------------------------------------------------

    def _check_unchanged(self, stored: dict[str, Any], given: Mapping[str, Any]) -> None:
        """ReadOnlyFieldError naming every non-writable field whose given value differs from the stored one."""
        changed = []
        for attr, value in given.items():
            if attr in self._writable or attr in _CARRIER:
                continue
            old = stored[attr]
            if same_value(BY_ATTR[attr], old, value):  # a date-time at the client's precision included
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
        needed = plan if plan is FULL else read_plan(frozenset({*plan.fields_set, *given, *_ALWAYS_READ}))
        with self._engine.write("update") as tx:
            current = self._writer.values(tx, task_id, needed, "update")
            self._check_unchanged(current, given)
            values = self._writer.change(tx, current, changes, "update")
        self._retention.retain_if_due()
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
        return self._patch(task_id, operations, select)[0]

    def _patch(self, task_id: int, operations: Any, select: Select) -> tuple[BatchTaskInfo, dt.datetime]:
        """:meth:`patch`, and the time its change is recorded at (if it records one); see ``_api.patch_dated``."""
        task_id = _task_id(task_id, "patch")
        simple = simple_operations(operations)
        if simple is not None:
            return self._patch_simple(task_id, simple, plan_for(select))
        ops = parse_operations(operations)
        # The document holds the members the operations name: no other can be read or changed.
        named, touched = referenced_fields(ops)
        plan = plan_for(select)
        reads_blob = plan.with_blob or named is None or "ParameterObject" in named
        with self._engine.write("patch") as tx:
            current = self._writer.values(tx, task_id, FULL if reads_blob else NO_BLOB, "patch")
            # Taken once the task is locked (PostgreSQL locks its row in the read above), as every write's time is.
            now = _now()
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
            values = self._writer.change(tx, current, changes, "patch", now=now)
        self._retention.retain_if_due()
        return plan.project(values, self._rights), now

    def _patch_simple(
        self, task_id: int, simple: builtins.list[tuple[bool, str, Any]], plan: ReadPlan
    ) -> tuple[BatchTaskInfo, dt.datetime]:
        """:meth:`_patch` for tests and replaces of top-level scalar fields: no wire document, no copies.

        The same checks on the same values: the wire form of the fields named, the patch applied with
        the same semantics, the result through :meth:`_patched_changes`.
        """
        named = {wire for _, wire, _ in simple}
        changed = {wire for test, wire, _ in simple if not test}
        with self._engine.write("patch") as tx:
            current = self._writer.values(tx, task_id, FULL if plan.with_blob else NO_BLOB, "patch")
            now = _now()
            document = wire_values(current, named)
            changes = self._patched_changes(document, apply_simple(document, simple), changed)
            values = self._writer.change(tx, current, changes, "patch", now=now)
        self._retention.retain_if_due()
        return plan.project(values, self._rights), now

    def _patched_changes(
        self, before: dict[str, Any], after: dict[str, Any], touched: set[str] | None
    ) -> dict[str, Any]:
        """The checked changes a patch made, given the fields its operations touched (None: any)."""
        unknown = [k for k in after if k not in BY_WIRE]
        if unknown:
            raise InvalidTaskError(f"the patch adds unknown field(s) {', '.join(map(repr, unknown))}")
        changes: dict[str, Any] = {}
        read_only = []
        # In DATA_FIELDS' order, so a ReadOnlyFieldError names the fields in it whatever the patch's order.
        fields = DATA_FIELDS if touched is None else [DATA_FIELDS[i] for i in sorted(
            _DATA_INDEX[w] for w in touched if w in _DATA_INDEX)]
        for field in fields:
            old, new = before[field.wire], after.get(field.wire)
            if json_equal(old, new):
                continue
            if field.attr not in self._writable:
                # The same value in another spelling (an offset, a state number) is no change.
                try:
                    same = same_value(field, coerce(field, old), coerce(field, new))
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

    def delete(self, task_id: int) -> None:
        """Delete a task, its trace, and the ParameterObject blob batchstore stored for it.

        A DetailsTable/DetailsRecord link the caller set is never followed: it may be another's row.
        """
        task_id = _task_id(task_id, "delete")
        with self._engine.write("delete") as tx:
            if not self._writer.delete(tx, task_id, "delete"):
                raise TaskNotFoundError(task_id, "delete")

    def delete_many(self, task_ids: Iterable[int]) -> int:
        """Delete these tasks in one transaction; returns how many existed. Unknown ids are skipped."""
        ids = _ids_of_tasks(task_ids, "delete_many")
        with self._engine.write("delete_many") as tx:
            # In Id order: two calls locking rows of the same tasks never wait on each other in a circle.
            return sum(self._writer.delete(tx, i, "delete_many") for i in sorted(set(ids)))

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
        wanted = sorted({int(_state_filter(s)) for s in _iterable(states, "prune", "State")})
        unfinished = [BatchTaskState(s).name for s in wanted if s not in FINISHED]
        if unfinished or not wanted:
            raise InvalidTaskError(f"prune removes finished tasks only, not {', '.join(unfinished) or 'none'}",
                                   field="State")
        cutoff = timestamp(before_now(older_than, "older_than"))
        # SKIP LOCKED where the engine has it: a task a worker is writing right now waits for the next prune.
        sql = prunable(len(wanted)) + self._engine.claim
        removed = 0
        while True:
            with self._engine.write("prune") as tx:
                ids = [r[0] for r in tx.all(sql, (*wanted, cutoff, _PRUNE_BATCH))]
                for task_id in ids:
                    self._writer.delete(tx, task_id, "prune")
                if len(ids) < _PRUNE_BATCH:
                    # The change feed is kept as long as the tasks: its rows as old go too.
                    tx.run(PRUNE_CHANGES, (cutoff,))
            removed += len(ids)
            if len(ids) < _PRUNE_BATCH:
                return removed


    # --- the lifecycle: each step's work is in _lifecycle.py, on the same write path ------------------

    def recover_stale(self) -> builtins.list[int]:
        """Return tasks whose worker's lease expired to New (Failed after ``max_starts`` starts); their ids.

        acquire runs this too (at most every tenth of a lease, and every second at most), so a worker killed
        mid-task never leaves its task stuck.
        """
        return self._lifecycle.recover_stale()

    def acquire(self, *, name: str | None = None, worker: str | None = None) -> BatchTaskInfo | None:
        """Claim the oldest New task (with this Name, if given) for ``worker``; None when there is none.

        The task becomes Aquired and belongs to the worker (``host:pid`` by default) until its lease
        ends; exactly one caller gets each task, across threads and processes.

        >>> from batchstore import BatchStore
        >>> with BatchStore() as store:
        ...     _ = store.create({"Name": "ERPSync"})
        ...     store.acquire(worker="w1").state, store.acquire(worker="w2")
        (<BatchTaskState.Aquired: 2>, None)
        """
        task = self._lifecycle.acquire(name=name, worker=worker)
        self._retention.retain_if_due()  # a write that makes or finishes tasks: retention's turn
        return task

    def start(self, task_id: int, *, worker: str | None = None) -> BatchTaskInfo:
        """Aquired -> Started: StartCount + 1, LastStarted now, the lease renewed, ProgressPercent 0.

        A start begins a new run: progress is never lower than the last report of the same run, but
        a run after a recovery starts again from 0. StartCount never passes 2**31 - 1 (the API's Int32).
        """
        return self._lifecycle.start(task_id, worker=worker)

    def report_progress(
        self, task_id: int, percent: int, description: str | None = None, *, worker: str | None = None
    ) -> BatchTaskInfo:
        """Record progress of a Started task (never lower than the last report of this run) and renew the lease.

        The result's ``stop_requested`` tells the worker whether someone asked the task to stop.
        """
        return self._lifecycle.report_progress(task_id, percent, description, worker=worker)

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
        task = self._lifecycle.succeed(task_id, result=result, response=response, file_name=file_name,
                                       cleanup=cleanup, worker=worker)
        self._retention.retain_if_due()  # a write that makes or finishes tasks: retention's turn
        return task

    def fail(
        self, task_id: int, *, result: str | None = None, response: str | None = None, worker: str | None = None
    ) -> BatchTaskInfo:
        """Aquired or Started -> Failed. A task asked to stop gets a Result saying so unless one is given."""
        task = self._lifecycle.fail(task_id, result=result, response=response, worker=worker)
        self._retention.retain_if_due()  # a write that makes or finishes tasks: retention's turn
        return task

    def stop(self, task_id: int) -> bool:
        """Ask a task to stop, as its CancellationBehaviour allows (SuperOffice's StopBatchJob).

        A New or Aquired task fails at once, with a Result saying it was stopped (and that a warning
        applied, for CancelWithWarning). A Started task is asked to stop: its worker sees
        :meth:`stop_requested` (or ``stop_requested`` on the result of report_progress) and acts.
        Returns False, changing nothing, for CannotCancel and for finished tasks.
        """
        return self._lifecycle.stop(task_id)

    def requeue(self, task_id: int, *, by: str | None = None) -> BatchTaskInfo:
        """Failed (or stopped: a stopped task fails) -> New, so that a worker can acquire it again.

        The task's history records the requeue, by ``by`` (``host:pid`` by default) and when; StartCount
        keeps counting across runs, so ``max_starts`` still bounds a task that keeps failing its workers.
        ProgressPercent goes back to 0 and a stop asked of the last run is forgotten. A task that is not
        Failed raises InvalidTransitionError and nothing is written.

        >>> from batchstore import BatchStore
        >>> with BatchStore() as store:
        ...     task_id = store.create({"Name": "ERPSync"})
        ...     _ = store.stop(task_id)
        ...     store.requeue(task_id, by="operator").state
        <BatchTaskState.New: 1>
        """
        task = self._lifecycle.requeue(task_id, by=by)
        self._retention.retain_if_due()  # a write that makes or finishes tasks: retention's turn
        return task

    def stop_requested(self, task_id: int) -> bool:
        """Whether someone asked this (Started) task to stop."""
        return self._lifecycle.stop_requested(task_id)

    # --- retention: the policy and its turns are in _retention.py ----------------------------------

    def set_retention(
        self, finished_older_than: dt.timedelta | None, *, keep_failed_for: dt.timedelta | None = None
    ) -> RetentionPolicy | None:
        """Keep finished tasks ``finished_older_than`` after their last State change, then remove them.

        Failed tasks are kept ``keep_failed_for`` instead when it is given. ``None`` turns retention off.
        The policy is stored in the database, for every process that uses it; the store applies it by
        itself from then on (no call to ``prune`` needed), removing the tasks with their history and
        ParameterObject, and the change feed's rows as old. Returns the policy now in force.

        >>> import datetime as dt
        >>> from batchstore import BatchStore
        >>> with BatchStore() as store:
        ...     store.set_retention(dt.timedelta(days=30), keep_failed_for=dt.timedelta(days=90))
        ...     store.retention.failed_older_than.days
        RetentionPolicy(finished_older_than=datetime.timedelta(days=30), keep_failed_for=datetime.timedelta(days=90))
        90
        """
        return self._retention.set_policy(finished_older_than, keep_failed_for=keep_failed_for)

    @property

    def retention(self) -> RetentionPolicy | None:
        """The retention policy stored in the database, or None when retention is off (the default)."""
        return self._retention.policy()

    def apply_retention(self) -> int:
        """Apply the retention policy now, to the end, whether it is due or not; returns how many tasks went.

        The store does this by itself (see ``set_retention``); this is for a deployment that wants it done
        at a time of its choosing. 0 when retention is off.
        """
        return self._retention.apply()


@lru_cache(maxsize=64)
def _state_condition(state: BatchTaskState, dialect: str) -> tuple[str, tuple[Any, ...]]:
    sql, params = compile_where(Q() if state is BatchTaskState.All else Q(State=state), dialect)
    return sql, tuple(params)


def _refuse_nulls(changes: Mapping[str, Any], how: str) -> None:
    for attr, value in changes.items():
        if value is None and not BY_ATTR[attr].nullable:
            raise InvalidTaskError(f"cannot be {how}: every task has one", field=BY_ATTR[attr].wire)


