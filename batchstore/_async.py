"""AsyncBatchStore: BatchStore's verbs as coroutines, for asyncio apps.

One core, two fronts, as httpx does it: every rule lives in :class:`BatchStore`; this front runs its calls
on a worker thread of its own and awaits them, so the event loop never waits for the database, not even
while another process holds the write lock for seconds.

Why one worker thread per store, and not the loop's default executor or several threads:

- a store has one database connection behind one lock, so more threads would only queue on that lock;
- the loop's default executor is shared with the rest of the app (``getaddrinfo``, ``to_thread``): a
  write waiting out another process's lock there would hold back unrelated work;
- one thread runs the calls in the order they were made, so ``await``-ing two calls from two tasks gives
  the order a reader expects, and a call cancelled before its turn never runs at all;
- a list's generator is always resumed by the same thread.

Cancelling a coroutine whose call is already running does not interrupt it (a thread cannot be): the call
finishes, committing or rolling back as a whole, and its result is dropped. The database is consistent
either way: every write is one transaction.
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import contextlib
import functools
import itertools
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterable, Iterator
from types import TracebackType
from typing import Any, Concatenate, Final, ParamSpec, TypeVar

from ._api import DEFAULT_WRITABLE, BatchStore, change_waiter, wait_seconds
from ._api import task_id as task_id_of
from ._blob import DEFAULT_MAX_BLOB_BYTES
from ._enums import FINISHED
from ._exceptions import StoreClosedError, WaitTimeoutError
from ._feed import Change
from ._model import BatchTaskInfo
from ._retention import RetentionPolicy

__all__ = ["AsyncBatchStore", "close_now", "open_now"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

#: Items fetched per hop to the worker thread while iterating: the sync store's own page size.
_PAGE: Final = 500


def _twin(
    method: Callable[Concatenate[BatchStore, P], R],
) -> Callable[Concatenate[AsyncBatchStore, P], Coroutine[Any, Any, R]]:
    """The coroutine version of a BatchStore method: same name, same arguments, run on the store's thread."""

    async def twin(self: AsyncBatchStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self._call(method, *args, **kwargs)

    return _named(twin, method, f"Await :meth:`BatchStore.{method.__name__}` on the store's thread: same arguments, "
                                f"same result, same errors.")


def _iter_twin(
    method: Callable[Concatenate[BatchStore, P], Iterator[T]],
) -> Callable[Concatenate[AsyncBatchStore, P], AsyncIterator[T]]:
    """The ``async for`` version of a BatchStore query: pages are read on the store's thread, items yielded here."""

    def twin(self: AsyncBatchStore, /, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
        return self._iterate(method, args, kwargs)

    return _named(twin, method, f"``async for`` over :meth:`BatchStore.{method.__name__}`: same arguments, same "
                                f"order; pages of {_PAGE} are read on the store's thread. Bad arguments raise at "
                                f"the first step.")


def _named(twin: F, method: Callable[..., Any], doc: str) -> F:
    functools.update_wrapper(twin, method, assigned=("__name__",), updated=())  # __wrapped__: the signature
    twin.__qualname__ = f"AsyncBatchStore.{method.__name__}"
    twin.__doc__ = doc
    return twin


#: The longest a watch waits for a commit on its thread in one go: how soon a cancelled watch lets it go.
_WAIT: Final = 0.25


def _checked_watch(store: BatchStore, after: int | None, timeout: float | None) -> tuple[int | None, float | None]:
    """watch's arguments, checked by BatchStore.watch itself (which reads nothing until iterated)."""
    store.watch(after, timeout=timeout).close()
    return after, timeout


def _checked_wait(store: BatchStore, task_id: int, timeout: float | None) -> tuple[int, float | None]:
    """wait's arguments, checked by BatchStore's own rules (a wait of 0 s reads the task once)."""
    return task_id_of(task_id, "wait"), None if timeout is None else wait_seconds(timeout)


def _read_retention(store: BatchStore) -> RetentionPolicy | None:
    return store.retention


def _take(_: BatchStore, iterator: Iterator[T]) -> builtins.list[T]:
    return builtins.list(itertools.islice(iterator, _PAGE))


def open_now(store: AsyncBatchStore) -> None:
    """Wait, without an event loop, until the store's database is open; raise what kept it from opening.

    For a fixture that must open the store before its test starts (the pytest plugin's ``async_batchstore``);
    it closes the store (and waits for that) when the opening failed.
    """
    try:
        store._store()
    except BaseException:
        store._close().result()
        raise


def close_now(store: AsyncBatchStore) -> None:
    """Close the store and wait for it, without an event loop (a fixture's teardown, after its test's loop)."""
    store._close().result()


class AsyncBatchStore:
    """BatchStore for asyncio: the same verbs with the same arguments, as coroutines.

    ``AsyncBatchStore(...)`` takes BatchStore's arguments. The database is opened on the store's worker
    thread: ``async with`` waits for it (and raises there if it cannot be opened); without ``async with``,
    the first call does.

    >>> import asyncio
    >>> async def main() -> str:
    ...     async with AsyncBatchStore() as store:
    ...         task_id = await store.create({"Name": "ERPSync"})
    ...         await store.start((await store.acquire(worker="w1")).id, worker="w1")
    ...         return " ".join([t.state.name async for t in store.list()])
    >>> asyncio.run(main())
    'Started'
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
        # Spelt out, not forwarded with *args/**kwargs, so that type checkers see the parameters;
        # tests/async_store/test_async.py fails when BatchStore's constructor gains one this lacks.
        self._database = database
        self._closed = False
        self._closing: concurrent.futures.Future[None] | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="batchstore")
        # Submitted first, so it has run before any call: the calls read its result without waiting.
        self._opening = self._executor.submit(
            BatchStore, database, writable=writable, max_blob_bytes=max_blob_bytes,
            lease_seconds=lease_seconds, max_starts=max_starts, timeout=timeout, synchronous=synchronous,
            read_only=read_only, pool_size=pool_size,
        )

    # --- running calls on the worker thread ------------------------------------------------------

    def _store(self) -> BatchStore:
        return self._opening.result()  # raises the error that kept the store from opening

    def _submit(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> asyncio.Future[R]:
        if self._closed:
            raise StoreClosedError("the store is closed; open a new AsyncBatchStore")
        try:
            future = self._executor.submit(lambda: fn(self._store(), *args, **kwargs))
        except RuntimeError:  # shut down between the check and the submit
            raise StoreClosedError("the store is closed; open a new AsyncBatchStore") from None
        # Cancelling the awaited future cancels the call if it has not started yet.
        return asyncio.wrap_future(future)

    async def _call(self, method: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        return await self._submit(method, *args, **kwargs)

    async def _iterate(
        self, method: Callable[..., Iterator[T]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> AsyncIterator[T]:
        iterator = await self._submit(method, *args, **kwargs)
        while True:
            page = await self._submit(_take, iterator)
            for item in page:
                yield item
            if len(page) < _PAGE:
                return

    # --- the store itself ------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the database once the calls made before have finished; closing twice is harmless.

        Calls made afterwards raise StoreClosedError.
        """
        # Shielded: a cancelled close() must not cancel the close itself.
        await asyncio.shield(asyncio.wrap_future(self._close()))

    def _close(self) -> concurrent.futures.Future[None]:
        """Start closing (once) and return the future of the close; usable without an event loop."""
        if self._closing is None:
            self._closed = True

            def close_store() -> None:
                if self._opening.exception() is None:
                    self._opening.result().close()

            self._closing = self._executor.submit(close_store)
            self._executor.shutdown(wait=False)  # the calls already queued, then the close, still run
        return self._closing

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> AsyncBatchStore:
        try:
            # Shielded: cancelling the wait must not cancel the opening every later call relies on.
            await asyncio.shield(asyncio.wrap_future(self._opening))
        except BaseException:
            self._close()  # no store for the caller to close: let the worker thread go now
            raise
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.close()

    def __repr__(self) -> str:
        where = ":memory:" if self._database is None else os.fspath(self._database)
        return f"<AsyncBatchStore {where!r}{' closed' if self._closed else ''}>"

    # --- the verbs: one line each, made from BatchStore's own methods ----------------------------
    # tests/async_store/test_async.py checks that every public BatchStore method has its twin here, with its signature.

    create = _twin(BatchStore.create)
    create_many = _twin(BatchStore.create_many)
    get = _twin(BatchStore.get)
    update = _twin(BatchStore.update)
    patch = _twin(BatchStore.patch)
    delete = _twin(BatchStore.delete)
    delete_many = _twin(BatchStore.delete_many)
    prune = _twin(BatchStore.prune)
    set_retention = _twin(BatchStore.set_retention)
    apply_retention = _twin(BatchStore.apply_retention)
    history = _twin(BatchStore.history)
    histories = _twin(BatchStore.histories)
    progress_estimate = _twin(BatchStore.progress_estimate)
    count = _twin(BatchStore.count)

    acquire = _twin(BatchStore.acquire)
    start = _twin(BatchStore.start)
    report_progress = _twin(BatchStore.report_progress)
    succeed = _twin(BatchStore.succeed)
    fail = _twin(BatchStore.fail)
    stop = _twin(BatchStore.stop)
    stop_requested = _twin(BatchStore.stop_requested)
    recover_stale = _twin(BatchStore.recover_stale)
    requeue = _twin(BatchStore.requeue)

    list_by_name = _iter_twin(BatchStore.list_by_name)
    list_by_name_and_state = _iter_twin(BatchStore.list_by_name_and_state)
    list_by_associate = _iter_twin(BatchStore.list_by_associate)
    list_by_associates_and_state = _iter_twin(BatchStore.list_by_associates_and_state)
    list_system_tasks_by_name = _iter_twin(BatchStore.list_system_tasks_by_name)
    list = _iter_twin(BatchStore.list)  # last: from here on, ``list`` in this class body is this method

    changes = _twin(BatchStore.changes)
    last_cursor = _twin(BatchStore.last_cursor)

    @property
    def retention(self) -> Coroutine[Any, Any, RetentionPolicy | None]:
        """``await store.retention``: :attr:`BatchStore.retention`, read on the store's thread."""
        return self._call(_read_retention)

    # --- the change feed, as it happens ------------------------------------------------------------

    async def watch(
        self, after: int | None = None, *, timeout: float | None = None
    ) -> AsyncGenerator[Change, None]:
        """``async for`` over :meth:`BatchStore.watch`: changes as any process commits them.

        Reads run on the store's thread; the wait for a commit runs on a thread of its own, a short while
        at a time, so other calls of this store go on meanwhile and a cancelled watch stops at once.
        """
        after, timeout = await self._call(_checked_watch, after, timeout)  # BatchStore's own checks
        loop = asyncio.get_running_loop()
        # Armed before the first read; made off the store's thread (on PostgreSQL it connects and LISTENs).
        waiter = await loop.run_in_executor(None, change_waiter, self._store())
        waiting: asyncio.Future[None] | None = None
        try:
            cursor = await self._call(BatchStore.last_cursor) if after is None else after
            deadline = None if timeout is None else loop.time() + timeout
            while True:
                batch = await self._call(BatchStore.changes, after=cursor, limit=_PAGE)
                for change in batch:
                    yield change
                    cursor = change.cursor
                if batch:
                    deadline = None if timeout is None else loop.time() + timeout
                    continue
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return
                pause = _WAIT if remaining is None else min(remaining, _WAIT)
                waiting = loop.run_in_executor(None, waiter.wait, pause)
                await waiting
                waiting = None
        finally:
            if waiting is not None and not waiting.done():
                # Cancelled mid-wait: the waiting thread still uses the waiter; it is closed when that ends.
                waiting.add_done_callback(lambda _: waiter.close())
            else:
                waiter.close()

    async def wait(self, task_id: int, *, timeout: float | None = None) -> BatchTaskInfo:
        """``await`` :meth:`BatchStore.wait`: the task once it is finished; same arguments, same errors.

        The wait follows the change feed as :meth:`watch` does, off the store's thread: the store's other
        calls go on meanwhile, and cancelling the wait stops it at once.
        """
        task_id, timeout = await self._call(_checked_wait, task_id, timeout)
        loop = asyncio.get_running_loop()
        until = None if timeout is None else loop.time() + timeout
        cursor = await self._call(BatchStore.last_cursor)  # before the read: a finish in between is in the feed
        task = await self._call(BatchStore._waited, task_id)
        if task.state in FINISHED:
            return task
        try:
            async with asyncio.timeout_at(until), contextlib.aclosing(self.watch(after=cursor)) as changes:
                async for change in changes:
                    if change.task_id == task_id:
                        task = await self._call(BatchStore._waited, task_id)
                        if task.state in FINISHED:
                            return task
        except TimeoutError:
            assert timeout is not None
            raise WaitTimeoutError(task_id, timeout, task.state.name if task.state else None) from None
        raise AssertionError("a watch without a timeout never ends")  # pragma: no cover
