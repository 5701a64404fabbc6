"""The dashboard: a page at ``/`` showing tasks by state, kept live by server-sent events.

The page and its CSS and JavaScript ship in ``batchstore/server/static/`` (hand-written, no build step,
nothing fetched from the internet). Its data comes from two routes:

- ``GET /batchstore/v1/events``: a ``text/event-stream``. The first event, ``snapshot``, holds every
  task's dashboard fields; then each ``change`` event holds the tasks that changed (``upsert``) and the
  Ids that went away (``remove``). A reconnecting client gets a fresh snapshot, so no event id is kept.
- ``GET /batchstore/v1/tasks/{id}/history`` (served by the app, not here) for the side panel.

Server-sent events rather than client polling: one open response per page, a change reaches the page
within one poll of the store, and an idle page costs the network nothing. The page reads the stream
with ``fetch`` instead of ``EventSource`` so it can send ``Authorization: Bearer`` (EventSource cannot
set headers, and a token in a query string would end up in logs).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from .._store import BatchStore

__all__ = ["dashboard_router"]

#: The fields a task card shows; the snapshot reads only these.
FIELDS: Final = (
    "Id", "Name", "State", "ProgressPercent", "ProgressDescription", "Description",
    "Created", "LastStarted", "StartCount", "Result",
)
_SELECT: Final = ",".join(FIELDS)
#: How often the store is read for changes while a page is open.
POLL_SECONDS: Final = 0.5
#: A comment line this often keeps idle connections from being closed by proxies.
KEEPALIVE_SECONDS: Final = 15.0

_STATIC: Final = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_NO_STORE: Final = {"Cache-Control": "no-cache"}


@dataclass(frozen=True, slots=True)
class Change:
    """What changed since the last event: tasks to show (added or updated) and Ids to drop."""

    upsert: list[dict[str, Any]] = field(default_factory=list)
    remove: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.upsert or self.remove)


def _read_tasks(store: BatchStore) -> dict[int, dict[str, Any]]:
    wire: Iterator[dict[str, Any]] = (t.to_wire() for t in store.list("All", select=_SELECT))
    return {w["Id"]: {k: w[k] for k in FIELDS} for w in wire}


def _diff(old: dict[int, dict[str, Any]], new: dict[int, dict[str, Any]]) -> Change:
    return Change(
        upsert=[task for task_id, task in new.items() if old.get(task_id) != task],
        remove=[task_id for task_id in old if task_id not in new],
    )


async def task_changes(store: BatchStore, interval: float = POLL_SECONDS) -> AsyncGenerator[Change, None]:
    """The source of the live updates: first every task (as an upsert), then each change as it is seen.

    This is the one place that knows where changes come from. Today it reads the dashboard fields of
    every task every ``interval`` seconds and yields the difference (nothing when nothing changed); a
    change feed from the store can replace the loop without touching the route or the page.
    """
    seen = await run_in_threadpool(_read_tasks, store)
    yield Change(upsert=list(seen.values()))
    while True:
        await asyncio.sleep(interval)
        now = await run_in_threadpool(_read_tasks, store)
        change = _diff(seen, now)
        seen = now
        if change:
            yield change


def _event(name: str, data: object) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {text}\n\n"


async def _event_stream(store: BatchStore) -> AsyncIterator[str]:
    # The browser's EventSource waits this long before reconnecting; the page's own reader does the same.
    yield "retry: 2000\n\n"
    changes = task_changes(store)
    first = True
    try:
        while True:
            try:
                change = await asyncio.wait_for(anext(changes), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if first:
                yield _event("snapshot", {"tasks": change.upsert})
                first = False
            else:
                yield _event("change", {"upsert": change.upsert, "remove": change.remove})
    finally:
        await changes.aclose()


def _static_text(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def dashboard_router(store: BatchStore) -> APIRouter:
    """The dashboard's routes: the page at ``/``, its static files, and the event stream.

    >>> from batchstore import BatchStore
    >>> sorted(r.path for r in dashboard_router(BatchStore()).routes)  # doctest: +NORMALIZE_WHITESPACE
    ['/', '/batchstore/v1/events', '/dashboard/static/{name}']
    """
    router = APIRouter(tags=["dashboard"])

    @router.get("/", response_class=HTMLResponse, summary="The dashboard page", include_in_schema=True)
    def page() -> HTMLResponse:
        return HTMLResponse(_static_text("index.html"), headers=_NO_STORE)

    @router.get("/dashboard/static/{name}", summary="The dashboard's CSS, JavaScript and icon")
    def static(name: str) -> Response:
        media_type = _STATIC.get(name)
        if media_type is None:
            raise HTTPException(status_code=404, detail=f"name: no dashboard file {name!r}")
        return Response(_static_text(name), media_type=media_type, headers=_NO_STORE)

    @router.get(
        "/batchstore/v1/events",
        summary="Live task changes (server-sent events)",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
    )
    def events() -> StreamingResponse:
        return StreamingResponse(
            _event_stream(store),
            media_type="text/event-stream",
            # no-transform and X-Accel-Buffering: a proxy must pass each event on as it comes.
            headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"},
        )

    return router
