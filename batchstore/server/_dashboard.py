"""The dashboard: a page at ``/`` showing tasks by state, kept live by server-sent events.

The page and its CSS and JavaScript ship in ``batchstore/server/static/`` (hand-written, no build step,
nothing fetched from the internet). Its data comes from two routes:

- ``GET /batchstore/v1/events``: a ``text/event-stream``. The first event, ``snapshot``, holds every
  task's dashboard fields; then each ``change`` event holds the tasks that changed (``upsert``) and the
  Ids that went away (``remove``). A reconnecting client gets a fresh snapshot, so no event id is kept.
- ``GET /batchstore/v1/tasks/{id}/history`` (served by the app, not here) for the side panel.

Server-sent events rather than client polling: one open response per page, a change reaches the page
as soon as the store's change feed reports its commit, and an idle page costs nothing. The page reads the stream
with ``fetch`` instead of ``EventSource`` so it can send ``Authorization: Bearer`` (EventSource cannot
set headers, and a token in a query string would end up in logs).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from .._exceptions import BatchStoreError, StoreClosedError, TaskNotFoundError
from .._model import BatchTaskInfo
from .._store import BatchStore
from . import _schemas as schemas

__all__ = ["dashboard_router"]

#: The fields a task card shows; the snapshot reads only these.
FIELDS: Final = (
    "Id", "Name", "State", "ProgressPercent", "ProgressDescription", "Description",
    "Created", "LastStarted", "StartCount", "Result",
)
_SELECT: Final = ",".join(FIELDS)
#: How long one watch of the change feed lasts with nothing new before the next begins.
WATCH_SECONDS: Final = 5.0
#: How long the dashboard waits before watching again after the database failed it.
RETRY_SECONDS: Final = 1.0
#: A comment line this often keeps idle connections from being closed by proxies.
KEEPALIVE_SECONDS: Final = 15.0

_STATIC: Final = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_NO_STORE: Final = {"Cache-Control": "no-cache"}


def _content(media_types: dict[str, str], description: str) -> dict[str, Any]:
    return {"description": description, "content": {m: {"schema": {"type": "string"}} for m in media_types}}


_UNAUTHORIZED: Final[dict[int | str, dict[str, Any]]] = {
    401: schemas.json_content(schemas.ref("Error"), "No valid token"),
}


@dataclass(frozen=True, slots=True)
class Change:
    """What changed since the last event: tasks to show (added or updated) and Ids to drop."""

    upsert: list[dict[str, Any]] = field(default_factory=list)
    remove: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.upsert or self.remove)


def _card(task: BatchTaskInfo) -> dict[str, Any]:
    """The dashboard fields of a task, as the page shows them."""
    wire = task.to_wire()
    return {k: wire[k] for k in FIELDS}


def _read_tasks(store: BatchStore) -> dict[int, dict[str, Any]]:
    cards: Iterator[dict[str, Any]] = (_card(t) for t in store.list("All", select=_SELECT))
    return {card["Id"]: card for card in cards}


def _read_task(store: BatchStore, task_id: int) -> dict[str, Any] | None:
    try:
        return _card(store.get(task_id, select=_SELECT))
    except TaskNotFoundError:
        return None


def _follow(store: BatchStore, cursor: int, stop: threading.Event, push: Callable[[int], None]) -> None:
    """Push the id of every task the store's change feed reports after ``cursor``, until ``stop`` is set.

    Runs on a thread of its own: a watch sleeps until a commit. Each watch lasts WATCH_SECONDS with nothing
    new, so a stopped dashboard lets its thread go within that time.
    """
    while not stop.is_set():
        try:
            for change in store.watch(after=cursor, timeout=WATCH_SECONDS):
                push(change.task_id)
                cursor = change.cursor
                if stop.is_set():
                    return
        except StoreClosedError:
            return  # the server is shutting down
        except BatchStoreError:
            # The database went away for a moment (a restarted server, a dropped connection): watch again
            # from the last change seen, so the page misses nothing once it is back.
            stop.wait(RETRY_SECONDS)


async def task_changes(store: BatchStore) -> AsyncGenerator[Change, None]:
    """The source of the live updates: first every task (as an upsert), then each change as it commits.

    This is the one place that knows where changes come from: the store's change feed
    (:meth:`BatchStore.watch`), which wakes on commits from any process, so an idle dashboard reads
    nothing. The tasks a batch of changes names are read again (dashboard fields only); a task no longer
    there is removed.
    """
    loop = asyncio.get_running_loop()
    touched: asyncio.Queue[int] = asyncio.Queue()
    stop = threading.Event()
    cursor = await run_in_threadpool(store.last_cursor)  # before the snapshot: no change falls in between
    seen = await run_in_threadpool(_read_tasks, store)
    yield Change(upsert=list(seen.values()))
    def push(task_id: int) -> None:
        loop.call_soon_threadsafe(touched.put_nowait, task_id)

    follower = loop.run_in_executor(None, _follow, store, cursor, stop, push)
    try:
        while True:
            ids = {await touched.get()}
            while not touched.empty():
                ids.add(touched.get_nowait())
            upsert, remove = [], []
            for task_id in sorted(ids):
                task = await run_in_threadpool(_read_task, store, task_id)
                # Several changes read at once show the task as it is now: later ones then change nothing.
                if task is None and task_id in seen:
                    remove.append(task_id)
                    del seen[task_id]
                elif task is not None and seen.get(task_id) != task:
                    upsert.append(task)
                    seen[task_id] = task
            change = Change(upsert=upsert, remove=remove)
            if change:
                yield change
    finally:
        stop.set()
        follower.cancel()


def _event(name: str, data: object) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {text}\n\n"


class _Feed:
    """One reader of :func:`task_changes` shared by every open page, started by the first and stopped by the last.

    Each page has a bounded queue of ``(kind, change)``. A page that falls behind (its queue is full) has
    its queue replaced by one fresh snapshot, so a slow client costs bounded memory and never misses a
    change for good.
    """

    def __init__(self, store: BatchStore, queue_size: int = 64) -> None:
        self._store = store
        self._queue_size = queue_size
        self._queues: set[asyncio.Queue[tuple[str, Change]]] = set()
        self._tasks: dict[int, dict[str, Any]] = {}
        self._ready = False  # the source's first snapshot has come in
        self._runner: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async for change in task_changes(self._store):
            for task_id in change.remove:
                self._tasks.pop(task_id, None)
            self._tasks.update((task["Id"], task) for task in change.upsert)
            kind = "change" if self._ready else "snapshot"
            self._ready = True
            for queue in self._queues:
                self._put(queue, kind, change)

    def _snapshot(self) -> Change:
        return Change(upsert=list(self._tasks.values()))

    def _put(self, queue: asyncio.Queue[tuple[str, Change]], kind: str, change: Change) -> None:
        try:
            queue.put_nowait((kind, change))
        except asyncio.QueueFull:
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(("snapshot", self._snapshot()))

    async def subscribe(self) -> AsyncIterator[tuple[str, Change]]:
        """``("snapshot", every task)`` first, then ``("change", what changed)`` as changes come in."""
        queue: asyncio.Queue[tuple[str, Change]] = asyncio.Queue(self._queue_size)
        if self._ready:
            queue.put_nowait(("snapshot", self._snapshot()))
        self._queues.add(queue)
        if self._runner is None or self._runner.done():
            self._ready, self._tasks = False, {}
            self._runner = asyncio.create_task(self._run())
        runner = self._runner
        getter: asyncio.Future[tuple[str, Change]] | None = None
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, runner}, timeout=KEEPALIVE_SECONDS,
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield getter.result()
                    continue
                getter.cancel()  # else it would take the next item from the queue and drop it
                if runner in done:  # the source failed (the store was closed, say): end this stream
                    if not runner.cancelled():
                        runner.exception()  # retrieved, so asyncio does not log it as never retrieved
                    return
                yield ("keep-alive", Change())
        finally:
            if getter is not None:
                getter.cancel()
            self._queues.discard(queue)
            if not self._queues and self._runner is not None:
                self._runner.cancel()
                self._runner = None


async def _event_stream(feed: _Feed) -> AsyncIterator[str]:
    # The browser's EventSource waits this long before reconnecting; the page's own reader does the same.
    yield "retry: 2000\n\n"
    async for kind, change in feed.subscribe():
        if kind == "snapshot":
            yield _event("snapshot", {"tasks": change.upsert})
        elif kind == "change":
            yield _event("change", {"upsert": change.upsert, "remove": change.remove})
        else:  # a comment line keeps an idle connection open through proxies
            yield ": keep-alive\n\n"


def _static_text(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def dashboard_router(store: BatchStore, hub: object = None) -> APIRouter:
    """The dashboard's routes: the page at ``/``, its static files, and the event stream.

    >>> from batchstore import BatchStore
    >>> sorted(r.path for r in dashboard_router(BatchStore()).routes)  # doctest: +NORMALIZE_WHITESPACE
    ['/', '/batchstore/v1/events', '/dashboard/static/{name}']
    """
    router = APIRouter(tags=["dashboard"])
    feed = _Feed(store)

    @router.get(
        "/",
        response_class=HTMLResponse,
        summary="The dashboard page",
        responses={200: _content({"text/html": ""}, "The page"), **_UNAUTHORIZED},
    )
    def page() -> HTMLResponse:
        return HTMLResponse(_static_text("index.html"), headers=_NO_STORE)

    @router.get(
        "/dashboard/static/{name}",
        summary="The dashboard's CSS, JavaScript and icon",
        response_class=Response,
        responses={
            200: _content({m.split(";")[0]: "" for m in _STATIC.values()}, "The file"),
            404: schemas.json_content(schemas.ref("Error"), "No dashboard file has that name"),
            **_UNAUTHORIZED,
        },
    )
    def static(name: str) -> Response:
        media_type = _STATIC.get(name)
        if media_type is None:
            raise HTTPException(status_code=404, detail=f"name: no dashboard file {name!r}")
        return Response(_static_text(name), media_type=media_type, headers=_NO_STORE)

    @router.get(
        "/batchstore/v1/events",
        summary="Live task changes (server-sent events)",
        response_class=StreamingResponse,
        responses={200: _content({"text/event-stream": ""}, "A snapshot event, then change events"), **_UNAUTHORIZED},
    )
    def events() -> StreamingResponse:
        return StreamingResponse(
            _event_stream(feed),
            media_type="text/event-stream",
            # no-transform and X-Accel-Buffering: a proxy must pass each event on as it comes.
            headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"},
        )

    return router
