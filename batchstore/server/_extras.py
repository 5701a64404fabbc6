"""batchstore's own routes, beyond the two APIs it follows: under ``/batchstore/v1/``.

A task here is its wire form plus ``Progress`` (``{"Percent", "Rate", "Eta"}``: see ``_progress.py``); the
SuperOffice and SailPoint routes keep the bodies their pages document.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from .._api import task_for_wait
from .._enums import FINISHED, CancellationBehaviour
from .._exceptions import WaitTimeoutError
from .._fields import INT32_MAX, INT32_MIN
from .._model import BatchTaskInfo
from .._store import BatchStore
from .._trace import TraceEntry
from . import _schemas as schemas
from ._body import json_body
from ._changes import ChangeHub
from ._errors import RequestRefusedError, error_response
from ._guard import JSON_TYPES
from ._superoffice import json_response, task_wire
from ._timezone import ResponseZone, in_zone, response_zone

__all__ = ["MAX_WAIT_SECONDS", "extras_router", "history_entry", "task_json"]

#: The longest long poll of ``/tasks/{id}/wait``: proxies and clients give up on a quiet request after a minute.
MAX_WAIT_SECONDS: Final = 60.0
_BY: Final = 254  # the longest "by" a requeue records (the trace's worker column)

#: A task on these routes: the wire form and its Progress (BatchTaskInfo's schema allows no other member).
_PROGRESS: Final[dict[str, Any]] = {"type": ["object", "null"], "properties": {
    "Percent": {"type": "integer", "description": "the percentage shown (100 for a Succeeded task)"},
    "Rate": {"type": ["number", "null"], "description": "percent per minute, over the recent reports"},
    "Eta": {"type": ["string", "null"], "format": "date-time", "description": "when it should reach 100 %"},
}}
TASK_SCHEMA: Final[dict[str, Any]] = copy.deepcopy(schemas.COMPONENTS["BatchTaskInfo"])
TASK_SCHEMA["properties"]["Progress"] = _PROGRESS
TASK_SCHEMA["description"] = "A BatchTaskInfo with its Progress: the rate and ETA read from its progress reports"
TaskId = Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX, description="The task's Id")]
Zone = Annotated[ResponseZone, Depends(response_zone)]


def history_entry(entry: TraceEntry, zone: ResponseZone) -> dict[str, Any]:
    """One trace row as JSON: ``{"at", "operation", "worker", "changes": {field: [old, new]}}``."""
    return {
        "at": in_zone(entry.at, zone),
        "operation": entry.operation,
        "worker": entry.worker,
        "changes": {name: list(change) for name, change in entry.changes.items()},
    }


def task_json(store: BatchStore, task: BatchTaskInfo, zone: ResponseZone) -> dict[str, Any]:
    """The task's wire form with ``Progress`` (percent shown, rate in percent per minute, ETA)."""
    wire = task_wire(task, zone)
    assert task.id is not None
    estimate = store.progress_estimate(task.id) if task.state is not None else None
    progress = estimate.to_json() if estimate is not None else None
    if progress is not None and estimate is not None and estimate.eta is not None:
        progress["Eta"] = in_zone(estimate.eta, zone)
    wire["Progress"] = progress
    return wire


def _requester(request: Request, body: Any) -> str:
    """Who a requeue is recorded as: the body's ``By``, else the client's address."""
    if isinstance(body, dict) and body.get("By") is not None:
        by = body["By"]
        if not isinstance(by, str) or not by.strip() or len(by) > _BY:
            raise RequestRefusedError(400, f"must be a name of 1 to {_BY} characters", field="By")
        return by
    client = request.client
    return f"http {client.host}" if client else "http"


def _json_only(request: Request) -> None:
    """A POST here must say ``Content-Type: application/json``, even without a body: a form on another site
    cannot send that type without the browser asking first (CORS, which this server never allows), so it
    cannot stop or requeue a task through a visitor's browser."""
    content_type = request.headers.get("content-type")
    if content_type is None or content_type.split(";", 1)[0].strip().lower() not in JSON_TYPES:
        shown = "none" if content_type is None else repr(content_type)
        raise RequestRefusedError(415, f"must be application/json (even with no body), not {shown}",
                                  field="Content-Type")


def extras_router(store: BatchStore, hub: ChangeHub | None = None) -> APIRouter:
    """batchstore's extra routes on ``store``: a task with its progress, its history, wait, requeue, stop, delete.

    ``hub`` follows the change feed for the long polls (one is made if none is given).
    """
    router = APIRouter(prefix="/batchstore/v1", tags=["batchstore"])
    changes = hub if hub is not None else ChangeHub(store)
    task_schema = schemas.json_content(TASK_SCHEMA, "The task, with Progress")

    @router.get(
        "/tasks/{task_id}",
        summary="One task, with its progress rate and ETA",
        responses={200: task_schema, **schemas.errors(404)},
    )
    def get_task(task_id: TaskId, zone: Zone) -> Response:
        return json_response(task_json(store, store.get(task_id), zone))

    @router.get(
        "/tasks/{task_id}/history",
        summary="Every change to a task, oldest first (empty for an internal task)",
        responses={
            200: schemas.json_content({"type": "array", "items": schemas.ref("HistoryEntry")}),
            **schemas.errors(404),
        },
    )
    def history(task_id: TaskId, zone: Zone) -> Response:
        return json_response([history_entry(e, zone) for e in store.history(task_id)])

    @router.get(
        "/tasks/{task_id}/wait",
        summary="Wait until a task is finished (long poll): 200 with the task, or 408 when the time runs out",
        responses={
            200: task_schema,
            408: schemas.json_content(schemas.ref("Error"), "The task was not finished within the timeout"),
            **schemas.errors(404),
        },
    )
    async def wait(
        request: Request,
        task_id: TaskId,
        zone: Zone,
        timeout: Annotated[
            float, Query(ge=0, le=MAX_WAIT_SECONDS, description=f"Seconds to wait, at most {MAX_WAIT_SECONDS:g}")
        ] = 30.0,
    ) -> Response:
        # Not store.wait on a worker thread: a long poll must not hold one of the server's threads for a
        # minute. The app's one follower of the feed wakes every waiter whose task changed.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with changes.listen() as queue:
            task = await run_in_threadpool(task_for_wait, store, task_id)
            while task.state not in FINISHED:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    state = task.state.name if task.state else None
                    refused = WaitTimeoutError(task_id, timeout, state)
                    return error_response(request.url.path, 408, "WaitTimeoutError", str(refused), ("timeout",))
                try:
                    batch = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    continue
                if batch is None:  # the feed ended: the store is closing
                    return error_response(request.url.path, 503, "StoreClosedError", "wait: the server is stopping")
                if any(change.task_id == task_id for change in batch):
                    task = await run_in_threadpool(task_for_wait, store, task_id)
        return json_response(await run_in_threadpool(task_json, store, task, zone))

    @router.post(
        "/tasks/{task_id}/requeue",
        summary="Send a Failed (or stopped) task back to New; its history records who and when",
        responses={200: task_schema, **schemas.errors(404, 413, 415)},
        openapi_extra={"requestBody": {"required": False, "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {"By": {"type": "string", "description": "Who requeues (default: the client's address)"}},
        }}}}},
    )
    async def requeue(request: Request, task_id: TaskId, zone: Zone) -> Response:
        _json_only(request)
        raw = await request.body()
        body = await json_body(request) if raw.strip() else None  # the body is optional
        by = _requester(request, body)
        task = await run_in_threadpool(store.requeue, task_id, by=by)
        return json_response(await run_in_threadpool(task_json, store, task, zone))

    @router.post(
        "/tasks/{task_id}/stop",
        summary="Stop a task (a New or Aquired one fails now, a Started one is asked to stop); 409 if it cannot be",
        responses={200: task_schema, **schemas.errors(404, 409, 413, 415)},
    )
    def stop(request: Request, task_id: TaskId, zone: Zone) -> Response:
        _json_only(request)
        if not store.stop(task_id):
            task = store.get(task_id, select="State,CancellationBehaviour")
            why = (
                "its CancellationBehaviour is CannotCancel"
                if task.cancellation_behaviour is CancellationBehaviour.CannotCancel
                else f"its State is {task.state.name if task.state else None} (finished)"
            )
            raise RequestRefusedError(409, f"stop: task {task_id} was not stopped: {why}")
        return json_response(task_json(store, store.get(task_id), zone))

    @router.delete(
        "/tasks/{task_id}",
        summary="Delete a task, its ParameterObject and its history",
        status_code=204,
        responses={204: {"description": "Deleted"}, **schemas.errors(404)},
    )
    def delete(task_id: TaskId) -> Response:
        store.delete(task_id)
        return Response(status_code=204)

    return router

