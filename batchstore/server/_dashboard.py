"""The dashboard: a page at ``/`` showing tasks by state, kept live by server-sent events, with actions.

The page and its CSS and JavaScript ship in ``batchstore/server/static/`` (hand-written, no build step,
nothing fetched from the internet). They hold no data, so they are served without the token; the page
asks for the token once (when the server answers 401) and sends it as ``Authorization: Bearer`` on each
request for data, with ``credentials: "omit"``: no cookie and no cached password, so another site cannot
make the browser act with them (no CSRF surface). Its data comes from:

- ``GET /batchstore/v1/events?search=...``: a ``text/event-stream``. The first event, ``snapshot``, holds
  the counts per state (counted in SQL) and the newest :data:`PAGE` tasks of each state that match the
  search; each ``change`` event then holds the tasks that changed and still match (``upsert``), the Ids
  that left the search or the store (``remove``), and the counts again. A reconnecting client gets a fresh
  snapshot, so no event id is kept.
- ``GET /batchstore/v1/tasks?state=...&search=...&before=ID``: the next page of a state (fetch more).
- ``/batchstore/v1/tasks/{id}/history``, ``.../stop``, ``.../requeue`` and ``DELETE .../{id}`` (in
  ``_extras.py``) for the side panel and its buttons.

The search box's text is read by ``_search.py`` into the store's query model: the store filters, counts
and pages in SQL. A card carries the fields the page shows, with ``Percent`` (100 for a Succeeded task)
and, for a Started one, ``Rate`` and ``Eta`` from its progress reports (``_progress.py``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from .._enums import BatchTaskState, coerce_enum
from .._exceptions import InvalidTaskError
from .._fields import ID_MAX, ID_MIN
from .._model import BatchTaskInfo
from .._progress import estimate
from .._query import Q
from .._store import BatchStore
from . import _schemas as schemas
from ._changes import ChangeHub
from ._search import MAX_SEARCH, search_query
from ._superoffice import json_response

__all__ = ["dashboard_router"]

#: The fields a task card shows; pages read only these.
FIELDS: Final = (
    "Id", "Name", "State", "ProgressPercent", "ProgressDescription", "Description",
    "Created", "LastStarted", "StartCount", "Result", "AssociateId", "CancellationBehaviour",
)
_SELECT: Final = ",".join(FIELDS)
#: The tasks of a state the snapshot carries, and each fetch-more adds.
PAGE: Final = 50
#: The states of the board, in its order.
STATES: Final = (
    BatchTaskState.New, BatchTaskState.Aquired, BatchTaskState.Started,
    BatchTaskState.Succeeded, BatchTaskState.SucceededManualCleanup, BatchTaskState.Failed,
)
#: A comment line this often keeps idle connections from being closed by proxies.
KEEPALIVE_SECONDS: Final = 15.0
#: After a change event, changes gather this long before the next: a busy store costs a page a few reads
#: a second, not a read per commit.
SETTLE_SECONDS: Final = 0.25

_STATIC: Final = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_NO_STORE: Final = {"Cache-Control": "no-cache"}

Search = Annotated[str | None, Query(max_length=MAX_SEARCH, description="The search box: name:, state:, associate:")]


def _content(media_types: dict[str, str], description: str) -> dict[str, Any]:
    return {"description": description, "content": {m: {"schema": {"type": "string"}} for m in media_types}}


_UNAUTHORIZED: Final[dict[int | str, dict[str, Any]]] = {
    401: schemas.json_content(schemas.ref("Error"), "No valid token"),
}


def card(store: BatchStore, task: BatchTaskInfo) -> dict[str, Any]:
    """The dashboard fields of a task as the page shows them, with Percent, Rate and Eta."""
    wire = task.to_wire()
    shown = {k: wire[k] for k in FIELDS}
    assert task.id is not None
    # Only a Started task has a rate: the others cost no read of their history.
    if task.state is BatchTaskState.Started:
        progress = store.progress_estimate(task.id)
    else:
        progress = estimate(task.state, task.progress_percent, [])
    shown.update(progress.to_json())
    return shown


def _board(store: BatchStore, where: Q) -> dict[str, Any]:
    """The snapshot: counts per state and the newest page of each, for the search ``where``."""
    counts = {state.name: store.count(state, where=where) for state in STATES}
    pages = {
        state.name: [card(store, t) for t in store.list(state, where=where, order_by="-Id", limit=PAGE, select=_SELECT)]
        if counts[state.name] else []
        for state in STATES
    }
    return {"counts": counts, "pages": pages, "pageSize": PAGE, "database": store.database}


def _changed(store: BatchStore, where: Q, ids: set[int]) -> dict[str, Any]:
    """The tasks among ``ids`` that match the search now (upsert), those that do not (remove), and the counts."""
    found = [card(store, t) for t in store.list(where=where & Q(Id__in=sorted(ids)), select=_SELECT)]
    kept = {c["Id"] for c in found}
    counts = {state.name: store.count(state, where=where) for state in STATES}
    return {"upsert": found, "remove": sorted(ids - kept), "counts": counts}


def _page(store: BatchStore, state: BatchTaskState, where: Q, before: int | None, limit: int) -> dict[str, Any]:
    if before is not None:
        where = where & Q(Id__lt=before)
    tasks = [card(store, t) for t in store.list(state, where=where, order_by="-Id", limit=limit + 1, select=_SELECT)]
    return {"tasks": tasks[:limit], "more": len(tasks) > limit}


def _event(name: str, data: object) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {text}\n\n"


async def event_stream(store: BatchStore, hub: ChangeHub, where: Q) -> AsyncIterator[str]:
    """The page's live updates: a snapshot, then a change event each time tasks it may show change."""
    # The browser's EventSource waits this long before reconnecting; the page's own reader does the same.
    yield "retry: 2000\n\n"
    async with hub.listen() as queue:  # before the snapshot is read: no change falls in between
        yield _event("snapshot", await run_in_threadpool(_board, store, where))
        while True:
            try:
                batch = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ": keep-alive\n\n"  # a comment line keeps an idle connection open through proxies
                continue
            if batch is None:  # the server is shutting down, or the store closing: end the stream
                return
            await asyncio.sleep(SETTLE_SECONDS)
            ids = {change.task_id for change in batch}
            while not queue.empty():
                more = queue.get_nowait()
                if more is None:
                    return
                ids.update(change.task_id for change in more)
            yield _event("change", await run_in_threadpool(_changed, store, where, ids))


def _static_text(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def _board_state(value: str) -> BatchTaskState:
    try:
        state = coerce_enum(BatchTaskState, value)
    except ValueError as exc:
        raise InvalidTaskError(str(exc), field="state") from None
    if state not in STATES:
        raise InvalidTaskError(f"the board has no column {state.name}", field="state")
    return state


def dashboard_router(
    store: BatchStore, hub: ChangeHub | None = None, *, closers: list[Callable[[], None]] | None = None
) -> APIRouter:
    """The dashboard's routes: the page at ``/``, its static files, the event stream and a state's next page.

    ``hub`` follows the change feed (one is made if none is given). ``closers`` gets the function that ends
    every open event stream, for the app to call at shutdown (the app registers its shared hub's itself).

    >>> from batchstore import BatchStore
    >>> sorted(r.path for r in dashboard_router(BatchStore()).routes)  # doctest: +NORMALIZE_WHITESPACE
    ['/', '/batchstore/v1/events', '/batchstore/v1/tasks', '/dashboard/static/{name}']
    """
    router = APIRouter(tags=["dashboard"])
    changes = hub if hub is not None else ChangeHub(store)
    if closers is not None:
        closers.append(changes.close)

    @router.get(
        "/",
        response_class=HTMLResponse,
        summary="The dashboard page (no data in it: it asks for the token when the server needs one)",
        responses={200: _content({"text/html": ""}, "The page")},
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
        },
    )
    def static(name: str) -> Response:
        media_type = _STATIC.get(name)
        if media_type is None:
            raise HTTPException(status_code=404, detail=f"name: no dashboard file {name!r}")
        return Response(_static_text(name), media_type=media_type, headers=_NO_STORE)

    @router.get(
        "/batchstore/v1/events",
        summary="Live task changes for the dashboard (server-sent events): counts and pages per state",
        response_class=StreamingResponse,
        responses={200: _content({"text/event-stream": ""}, "A snapshot event, then change events"),
                   **schemas.errors()},
    )
    def events(search: Search = None) -> StreamingResponse:
        where = search_query(search)  # a malformed search is a 400 before the stream starts
        return StreamingResponse(
            event_stream(store, changes, where),
            media_type="text/event-stream",
            # no-transform and X-Accel-Buffering: a proxy must pass each event on as it comes.
            headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"},
        )

    @router.get(
        "/batchstore/v1/tasks",
        summary="The dashboard's cards of one state, newest first, that match a search: a page at a time",
        responses={200: schemas.json_content({"type": "object"}, "{tasks: [...], more: bool}"), **schemas.errors()},
    )
    def tasks(
        state: Annotated[str, Query(description="A BatchTaskState name or number")],
        search: Search = None,
        before: Annotated[int | None, Query(ge=ID_MIN, le=ID_MAX, description="Only Ids below this")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = PAGE,
    ) -> Response:
        return json_response(_page(store, _board_state(state), search_query(search), before, limit))

    return router
