"""One follower of the store's change feed for the whole app, shared by everything that listens.

The dashboard's event streams and the long polls of ``/batchstore/v1/tasks/{id}/wait`` all need to hear
of commits. Each of them following the feed on its own would cost a thread (and, on PostgreSQL, a
LISTEN connection) per open page or waiting client; instead one thread follows the feed while anyone
listens, and hands each batch of changes to every listener's queue on the event loop.

At shutdown the app calls :meth:`ChangeHub.close`: every open stream and long poll ends at once instead of
holding the server's graceful shutdown up, and the follower is a daemon thread, so a watch under way never
holds up the process's exit either.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from typing import Final

from starlette.concurrency import run_in_threadpool

from .._exceptions import BatchStoreError, StoreClosedError
from .._feed import Change
from .._store import BatchStore

__all__ = ["ChangeHub", "Listener"]

#: How long one watch of the change feed lasts with nothing new before the next begins (and a stopped
#: follower lets its thread go).
WATCH_SECONDS: Final = 5.0
#: How long the follower waits before watching again after the database failed it.
RETRY_SECONDS: Final = 1.0

#: What a listener receives: a batch of changes, or None when the feed has ended (the store was closed).
Listener = asyncio.Queue[list[Change] | None]


def _follow(store: BatchStore, cursor: int, stop: threading.Event, push: Callable[[list[Change] | None], None]) -> None:
    """Push each change the store's feed reports after ``cursor`` as it comes, until ``stop`` is set.

    Listeners gather what came in while they were busy: a burst costs them one read, not one per change.
    """
    while not stop.is_set():
        try:
            for change in store.watch(after=cursor, timeout=WATCH_SECONDS):
                push([change])
                cursor = change.cursor
                if stop.is_set():
                    return
        except StoreClosedError:
            push(None)  # the server is shutting down: the listeners end
            return
        except BatchStoreError:
            # The database went away for a moment (a restarted server, a dropped connection): watch again
            # from the last change seen, so the listeners miss nothing once it is back.
            stop.wait(RETRY_SECONDS)


class ChangeHub:
    """Starts following the feed with the first listener and stops with the last.

    ``async with hub.listen() as queue:`` registers a queue that receives every change committed from
    then on (it may also get a few committed just before: listeners re-read what they show).
    """

    def __init__(self, store: BatchStore) -> None:
        self._store = store
        self._listeners: set[Listener] = set()
        self._stop: threading.Event | None = None
        self._starting: asyncio.Lock | None = None
        self._closed = False

    def close(self) -> None:
        """End every listener now, and any that starts later at once: the server is shutting down.

        Called on the event loop's thread (by the server's shutdown, or the app's lifespan); a second call
        does nothing.
        """
        if self._closed:
            return
        self._closed = True
        if self._stop is not None:
            self._stop.set()  # the follower delivers nothing more, and lets its thread go after its watch
            self._stop = None
        for queue in self._listeners:
            queue.put_nowait(None)

    def _deliver(self, batch: list[Change] | None) -> None:
        if self._closed:
            return  # each queue already ends with None
        for queue in self._listeners:
            queue.put_nowait(batch)

    def _start(self, cursor: int) -> None:
        loop = asyncio.get_running_loop()
        stop = self._stop = threading.Event()

        def push(batch: list[Change] | None) -> None:
            if not stop.is_set():
                try:
                    loop.call_soon_threadsafe(self._deliver, batch)
                except RuntimeError:  # the loop is closed: the server has stopped
                    stop.set()

        threading.Thread(target=_follow, args=(self._store, cursor, stop, push), daemon=True,
                         name="batchstore-feed").start()

    @contextlib.asynccontextmanager
    async def listen(self) -> AsyncIterator[Listener]:
        queue: Listener = asyncio.Queue()
        if self._closed:
            queue.put_nowait(None)  # the server is shutting down: this listener ends at its first read
            yield queue
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._stop is None and not self._closed:
                # The cursor is read before the caller reads anything: no commit falls in between.
                cursor = await run_in_threadpool(self._store.last_cursor)
                if not self._closed:  # (not closed while the cursor was read)
                    self._start(cursor)
            self._listeners.add(queue)
            if self._closed:  # closed while this waited: close() did not see this queue
                queue.put_nowait(None)
        try:
            yield queue
        finally:
            self._listeners.discard(queue)
            if not self._listeners and self._stop is not None:
                self._stop.set()  # the thread ends within WATCH_SECONDS; a new listener starts another
                self._stop = None
