"""SuperOffice's BatchTask routes: ``/api/v1/BatchTask`` and the Batch agent's ``/api/v1/Agents/Batch/...``.

Bodies and responses use the wire names of SuperOffice's pages. Lists are streamed: the JSON array is
written as the store's pages are read, so a large state never sits in memory.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response, StreamingResponse

from .._enums import BatchTaskState, coerce_enum
from .._exceptions import InvalidTaskError, TaskNotFoundError
from .._model import BatchTaskInfo
from .._store import BatchStore
from . import _schemas as schemas
from ._body import json_body, members
from ._errors import RequestRefusedError
from ._timezone import ResponseZone, in_zone, response_zone

__all__ = ["dump", "superoffice_router", "task_wire"]

_CHUNK: Final = 64 * 1024  # bytes of JSON gathered before a streamed list hands them to the server
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1
_DATETIMES: Final = (("LastStarted", "last_started"), ("Created", "created"))

Select = Annotated[
    str | None,
    Query(
        alias="$select",
        description="Comma-separated field names to fill in; the others are null (Id always). Default: all fields.",
    ),
]
Zone = Annotated[ResponseZone, Depends(response_zone)]
Body = Annotated[Any, Depends(json_body)]


def dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(value: Any, status_code: int = 200) -> Response:
    return Response(dump(value), status_code=status_code, media_type="application/json")


def task_wire(task: BatchTaskInfo, zone: ResponseZone) -> dict[str, Any]:
    """A task's wire form, its date-times in ``zone`` (SO-TimeZone) when one is given."""
    wire = task.to_wire()
    if zone is not None:
        for name, attr in _DATETIMES:
            wire[name] = in_zone(getattr(task, attr), zone)
    return wire


def stream_array(items: Iterable[Any], convert: Callable[[Any], Any]) -> StreamingResponse:
    """A JSON array written as ``items`` advances, in chunks of about 64 KiB.

    The first item (so the query and its first page) is read and converted before the response starts:
    a refusal there is still an error answer, never a 200 cut short, and converting the rest cannot fail
    (every date-time fits every zone). Should the database fail between two later pages, the connection
    is cut before the closing bracket, so the client sees a broken response, never a complete-looking one.
    """
    iterator = iter(items)
    head = [dump(convert(item)) for item in itertools.islice(iterator, 1)]

    def chunks() -> Iterator[bytes]:
        buffer = bytearray(b"[")
        buffer += b"".join(head)
        for item in iterator:
            buffer += b","
            buffer += dump(convert(item))
            if len(buffer) >= _CHUNK:
                yield bytes(buffer)
                buffer.clear()
        buffer += b"]"
        yield bytes(buffer)

    return StreamingResponse(chunks(), media_type="application/json")


def _int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise RequestRefusedError(400, f"must be an integer, got {json.dumps(value)}", field=name)
    if not _INT32_MIN <= value <= _INT32_MAX:  # ids are int32; SQLite cannot bind a much larger number
        raise RequestRefusedError(400, f"{value} is outside {_INT32_MIN}..{_INT32_MAX}", field=name)
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise RequestRefusedError(400, f"must be a string, got {json.dumps(value)}", field=name)
    return value


def _ints(value: Any, name: str) -> list[int]:
    if not isinstance(value, list):
        raise RequestRefusedError(400, f"must be an array of integers, got {json.dumps(value)}", field=name)
    return [_int(v, name) for v in value]


def _state(value: Any) -> str | int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _str(value, "State")


def superoffice_router(store: BatchStore) -> APIRouter:
    """The SuperOffice routes on ``store``."""
    router = APIRouter(tags=["SuperOffice BatchTask"])
    agent = "/api/v1/Agents/Batch/"

    def tasks(found: Iterable[BatchTaskInfo], zone: ResponseZone) -> StreamingResponse:
        return stream_array(found, lambda task: task_wire(task, zone))

    def body_of(name: str) -> dict[str, Any]:
        return schemas.request_body(schemas.AGENT_BODIES[name])

    @router.post(
        "/api/v1/BatchTask",
        summary="Create a batch task from a BatchTaskInfo; returns the new id",
        responses={200: schemas.json_content({"type": "integer"}, "The new task's Id"), **schemas.errors(413, 415)},
        openapi_extra=schemas.request_body(schemas.ref("BatchTaskInfo")),
    )
    def create(body: Body) -> Response:
        if not isinstance(body, dict):
            raise RequestRefusedError(400, "the body must be a BatchTaskInfo object", field="body")
        return json_response(store.create(body))

    @router.get(
        "/api/v1/BatchTask/{state}",
        summary="The tasks in one BatchTaskState (any case), or All",
        responses={200: schemas.task_array(), **schemas.errors()},
    )
    def by_state(
        state: Annotated[str, Path(description="A BatchTaskState name in any case, or All")],
        zone: Zone,
        select: Select = None,
    ) -> StreamingResponse:
        return tasks(store.list(state, select=select), zone)

    @router.post(
        agent + "GetBatchTaskInfo",
        summary="One task by Id; an unknown Id is 200 with null, as SuperOffice's agents answer",
        responses={
            200: schemas.json_content({"anyOf": [schemas.ref("BatchTaskInfo"), {"type": "null"}]}),
            **schemas.errors(413, 415),
        },
        openapi_extra=body_of("GetBatchTaskInfo"),
    )
    def get_task(body: Body, zone: Zone, select: Select = None) -> Response:
        task_id = _int(members(body, "Id")["Id"], "Id")
        try:
            return json_response(task_wire(store.get(task_id, select=select), zone))
        except TaskNotFoundError:
            return json_response(None)

    @router.post(
        agent + "UpdateBatchTask",
        summary="Update a task: only the store's writable fields (State, Description, Response, Request) may change",
        responses={200: schemas.json_content(schemas.ref("BatchTaskInfo")), **schemas.errors(404, 413, 415)},
        openapi_extra=body_of("UpdateBatchTask"),
    )
    def update_task(body: Body, zone: Zone, select: Select = None) -> Response:
        info = members(body, "BatchTaskInfo")["BatchTaskInfo"]
        if not isinstance(info, dict):
            raise RequestRefusedError(
                400, "must be a BatchTaskInfo object with the Id of the task", field="BatchTaskInfo"
            )
        return json_response(task_wire(store.update(info, select=select), zone))

    def list_route(
        name: str, summary: str, query: Callable[[dict[str, Any], str | None], Iterable[BatchTaskInfo]]
    ) -> None:
        required = list(schemas.AGENT_BODIES[name]["required"])

        def route(body: Body, zone: Zone, select: Select = None) -> StreamingResponse:
            return tasks(query(members(body, *required), select), zone)

        router.add_api_route(
            agent + name,
            route,
            methods=["POST"],
            name=name,
            summary=summary,
            responses={200: schemas.task_array(), **schemas.errors(413, 415)},
            openapi_extra=body_of(name),
        )

    list_route(
        "GetBatchTaskInfosByState",
        "The tasks in one BatchTaskState, or All",
        lambda b, sel: store.list(_state(b["State"]), select=sel),
    )
    list_route(
        "GetBatchTaskInfosByNameAndState",
        "The tasks with this Name in this State (All: any)",
        lambda b, sel: store.list_by_name_and_state(_str(b["Name"], "Name"), _state(b["State"]), select=sel),
    )
    list_route(
        "GetBatchTaskInfosByAssociates",
        "The tasks owned by any of these associates",
        lambda b, sel: store.list_by_associates_and_state(_ints(b["AssociateIds"], "AssociateIds"), "All", select=sel),
    )
    list_route(
        "GetBatchTaskInfosByAssociatesAndState",
        "The tasks owned by any of these associates, in this State (All: any)",
        lambda b, sel: store.list_by_associates_and_state(
            _ints(b["AssociateIds"], "AssociateIds"), _state(b["State"]), select=sel
        ),
    )
    list_route(
        "GetBatchTaskInfosByNameAndAssociates",
        "The tasks with this Name owned by any of these associates",
        lambda b, sel: _named(
            store.list_by_associates_and_state(
                _ints(b["AssociateIds"], "AssociateIds"), "All", select=_with(sel, "Name")
            ),
            _str(b["Name"], "Name"),
            sel,
        ),
    )
    list_route(
        "GetSystemBatchTaskInfosByName",
        "The system tasks (IsSystemTask true) with this name",
        lambda b, sel: store.list_system_tasks_by_name(_str(b["TaskName"], "TaskName"), select=sel),
    )
    list_route(
        "GetSystemBatchTaskInfosByNameAndState",
        "The system tasks with this name in this State (All: any)",
        lambda b, sel: _in_state(
            store.list_system_tasks_by_name(_str(b["TaskName"], "TaskName"), select=_with(sel, "State")),
            _wanted_state(_state(b["State"])),
            sel,
        ),
    )

    @router.post(
        agent + "StopBatchJob",
        summary="Stop a task as its CancellationBehaviour allows; true if it was stopped or asked to stop",
        responses={200: schemas.json_content({"type": "boolean"}), **schemas.errors(404, 413, 415)},
        openapi_extra=body_of("StopBatchJob"),
    )
    def stop_job(body: Body) -> Response:
        return json_response(store.stop(_int(members(body, "Id")["Id"], "Id")))

    @router.post(
        agent + "DeleteBatchTask",
        summary="Delete a task (and the ParameterObject batchstore stored for it)",
        status_code=204,
        responses={204: {"description": "Deleted"}, **schemas.errors(404, 413, 415)},
        openapi_extra=body_of("DeleteBatchTask"),
    )
    def delete_task(body: Body) -> Response:
        store.delete(_int(members(body, "BatchTaskId")["BatchTaskId"], "BatchTaskId"))
        return Response(status_code=204)

    return router


def _with(select: str | None, name: str) -> str | None:
    """A select that also reads ``name``, which a filter applied here needs."""
    return None if select is None else f"{select},{name}"


def _named(found: Iterable[BatchTaskInfo], name: str, select: str | None) -> Iterator[BatchTaskInfo]:
    for task in found:
        if task.name == name:
            yield _projected(task, select, "name")


def _wanted_state(value: str | int) -> BatchTaskState:
    """A State filter, read when the request arrives (not when the stream starts), so a bad one is a 400."""
    try:
        return coerce_enum(BatchTaskState, value)
    except ValueError as exc:
        raise InvalidTaskError(str(exc), field="State") from None


def _in_state(found: Iterable[BatchTaskInfo], wanted: BatchTaskState, select: str | None) -> Iterator[BatchTaskInfo]:
    for task in found:
        if wanted is BatchTaskState.All or task.state is wanted:
            yield _projected(task, select, "state")


def _projected(task: BatchTaskInfo, select: str | None, added: str) -> BatchTaskInfo:
    # The filter read one field the caller did not select: null it again, as $select promises.
    if select is None or added in {s.strip().replace("_", "").lower() for s in select.split(",")}:
        return task
    task.__dict__[added] = None
    return task
