"""How the routes call the store: reads on the event loop where they cannot wait, the rest on threads.

A thread hop (Starlette's threadpool, or ``run_in_executor``) costs 70 to 120 µs of a request's time, where a
task read from SQLite costs about 13 µs: the hop was most of a request. But a call on the event loop holds
every other request until it returns, so only what cannot wait is called there:

- **Reads of a SQLite file** go to a second, read-only connection to it that only the event loop's thread
  uses, so it never waits for the store's own connection (a write may hold that one while it waits for
  SQLite's write lock behind another process). In WAL mode a read never waits for a writer either.
- **Writes to SQLite** run on the event loop when they can start at once: the store's connection is free
  (no executor thread is using it) and SQLite's write lock is free (no other process is writing). A
  SQLite write then costs 110-180 µs, where the hop to a thread alone cost 80 or more. Otherwise the engine
  refuses before anything is written (:func:`~batchstore._api.at_once`) and the call runs on the
  executor as below, waiting there, with the store's timeout, while the loop serves other requests.
  Once the call's write has committed, a later wait of the call is not refused (it could no longer
  leave the database as it was); retention's turn, which may wait and delete for a quarter of a second,
  is not taken on the loop at all but handed to the executor after the answer. A write on the loop holds it
  for the write's time: about 110-180 µs for one task, a few milliseconds when its commit is the one
  that checkpoints SQLite's WAL (every 1,000 pages); a write of many tasks (``delete_many``) goes to the
  executor anyway (:meth:`StoreCalls.on_thread`).
- **Writes to PostgreSQL** (and reads of PostgreSQL, an in-memory store, or a file the reader could not
  open; and SQLite writes that would wait) run on a thread of this app's own executor: one thread for
  SQLite, where writes take turns on one connection anyway, a thread per pooled connection for
  PostgreSQL, whose every statement waits on the network.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
from collections.abc import Callable
from typing import TypeVar

from .._api import (
    BatchStore,
    WouldWaitError,
    at_once,
    engine_name,
    retention_turn_due,
    sqlite_file,
    take_retention_turn,
)
from .._exceptions import BatchStoreError

__all__ = ["StoreCalls"]

_T = TypeVar("_T")
_POSTGRES_THREADS = 10  # the store's default pool: more threads would only queue for a connection


class StoreCalls:
    """The store, as the routes reach it: ``await calls.read(lambda s: s.get(7))``, ``await calls.write(...)``.

    >>> calls = StoreCalls(BatchStore())
    >>> task_id = asyncio.run(calls.write(lambda s: s.create({"Name": "ERPSync"})))
    >>> asyncio.run(calls.read(lambda s: s.get(task_id).name))
    'ERPSync'
    >>> calls.close()
    """

    def __init__(self, store: BatchStore) -> None:
        self.store = store
        self.reader = _reader(store)
        sqlite = engine_name(store) == "sqlite"
        #: Whether writes are tried on the event loop first (SQLite; see the module's text).
        self.writes_at_once = sqlite
        threads = 1 if sqlite else _POSTGRES_THREADS
        self._executor = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="batchstore-http")

    @property
    def reads_inline(self) -> bool:
        """Whether reads run on the event loop (a SQLite file) rather than on a thread."""
        return self.reader is not None

    async def read(self, call: Callable[[BatchStore], _T]) -> _T:
        """``call(store)`` for a call that only reads: on the event loop where it cannot wait, else on a thread."""
        if self.reader is not None:
            if self.store.closed:  # the caller closed its store: the reader must not outlive it
                self.reader.close()
                self.reader = None
            else:
                return call(self.reader)
        # On a thread, never at once: a read's call may not be safe to run twice (a streamed list advances
        # its generator), and what it waits for is a connection another thread holds.
        return await self.on_thread(call)

    async def write(self, call: Callable[[BatchStore], _T]) -> _T:
        """``call(store)``: on the event loop if it can start at once (SQLite), else on a thread of the app's
        executor, where it may wait for the database's locks. ``call`` must be safe to run again from the
        start: a refusal (nothing written) runs it once more on the executor."""
        if self.writes_at_once:
            try:
                with at_once():
                    result = call(self.store)
            except WouldWaitError:
                pass  # nothing was written: the same call again, on the executor, where it may wait
            else:
                if retention_turn_due(self.store):
                    # The write left retention's turn (it may wait, and deletes for up to a quarter of a
                    # second): the executor takes it, and this answer does not wait for it.
                    self._executor.submit(take_retention_turn, self.store)
                return result
        return await self.on_thread(call)

    async def on_thread(self, call: Callable[[BatchStore], _T]) -> _T:
        """``call(store)`` on a thread of the app's executor, always (a call that may wait long)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(call, self.store))

    def close(self) -> None:
        """Close the reader and let the executor's threads end (the store itself is the caller's)."""
        self._executor.shutdown(wait=False)
        if self.reader is not None:
            self.reader.close()


def _reader(store: BatchStore) -> BatchStore | None:
    """A read-only store on the same SQLite file, or None (PostgreSQL, in-memory, or the open failed)."""
    path = sqlite_file(store)
    if path is None:
        return None
    with contextlib.suppress(BatchStoreError):
        # The same writable fields: a task's FieldProperties say which ones are.
        return BatchStore(path, writable=store.writable, read_only=True)
    return None
