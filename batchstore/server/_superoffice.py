"""SuperOffice's BatchTask routes: the seven of ``/api/v1/BatchTask`` and the Batch agent's fifteen methods.

Bodies and responses use the wire names of SuperOffice's pages (``docs/superoffice-routes.md`` lists every
route with its source page). Each list is one query of the store (:meth:`BatchStore.list` with a
:class:`~batchstore.Q`): no filtering, sorting, paging or projection happens here. A list over a megabyte
is streamed: the JSON is written as the store's pages are read, so a large answer never sits in memory.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Annotated, Any, Final, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from .._enums import BatchTaskState, coerce_enum
from .._exceptions import TaskNotFoundError
from .._fields import INT32_MAX, INT32_MIN
from .._model import BatchTaskInfo
from .._query import Q
from .._store import BatchStore
from . import _schemas as schemas
from ._body import json_body, members
from ._calls import StoreCalls
from ._encode import dumps, task_bytes
from ._errors import RequestRefusedError
from ._odata import Column, parse_filter, parse_order_by, parse_select
from ._timezone import ResponseZone, in_zone, response_zone

__all__ = [
    "array_response", "by_id_or_state_answer", "dump", "get_task_answer", "json_response", "superoffice_router",
    "task_response", "task_wire", "update_task_answer",
]  # fmt: skip

_T = TypeVar("_T")
#: An answer up to this size is sent whole, with its Content-Length; a longer one is streamed.
_WHOLE: Final = 1024 * 1024
_CHUNK: Final = 64 * 1024  # bytes of JSON gathered before a streamed list hands them to the server
_DATETIMES: Final = (("LastStarted", "last_started"), ("Created", "created"))
_DIGITS: Final = re.compile(r"[0-9]+")
#: The OData list's query parameters (matched in any case); those not listed in the route are ignored.
_ODATA_PARAMETERS: Final = ("$select", "$filter", "$orderBy", "$top", "$skip", "$format", "$mode", "$entities",
                            "$options", "$context", "$jsonSafe", "$output")
#: Who a list of SuperOffice's agent methods returns: user tasks, system tasks, or both (the page says neither).
USER: Final = Q(IsSystemTask=False)
SYSTEM: Final = Q(IsSystemTask=True)

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
    return dumps(value)


def json_response(value: Any, status_code: int = 200) -> Response:
    return Response(dumps(value), status_code=status_code, media_type="application/json")


def task_response(task: BatchTaskInfo, zone: ResponseZone) -> Response:
    """One task's wire form (see :func:`~batchstore.server._encode.task_bytes`)."""
    return Response(task_bytes(task, zone), media_type="application/json")


def task_wire(task: BatchTaskInfo, zone: ResponseZone) -> dict[str, Any]:
    """A task's wire form, its date-times in ``zone`` (SO-TimeZone) when one is given."""
    wire = task.to_wire()
    if zone is not None:
        for name, attr in _DATETIMES:
            wire[name] = in_zone(getattr(task, attr), zone)
    return wire


async def array_response(
    calls: StoreCalls,
    query: Callable[[BatchStore], Iterable[_T]],
    encode: Callable[[_T], bytes],
    *,
    prefix: bytes = b"[",
    suffix: bytes = b"]",
) -> Response:
    """A JSON array of what ``query(store)`` gives, each item written by ``encode``, inside ``prefix``/``suffix``.

    The query (so its first page) is run, and every item up to about a megabyte encoded, before the answer
    starts: a refusal there is still an error answer, never a 200 cut short, and encoding cannot fail
    (every date-time fits every zone). An answer that fits is sent whole; a longer one is streamed in
    chunks as the store's pages are read, so it never sits in memory. Should the database fail between
    two later pages, the connection is cut before the closing bracket, so the client sees a broken
    response, never a complete-looking one.
    """

    written = False

    def gather(items: Iterator[_T], buffer: bytearray, limit: int) -> bool:
        """Append items until the buffer holds ``limit`` bytes; whether the items ran out."""
        nonlocal written
        for item in items:
            if written:
                buffer += b","
            buffer += encode(item)
            written = True
            if len(buffer) >= limit:
                return False
        return True

    def first(store: BatchStore) -> tuple[Iterator[_T], bytearray, bool]:
        items = iter(query(store))
        buffer = bytearray(prefix)
        return items, buffer, gather(items, buffer, _WHOLE)

    items, buffer, ended = await calls.read(first)
    if ended:
        buffer += suffix
        return Response(bytes(buffer), media_type="application/json")

    async def chunks() -> AsyncIterator[bytes]:
        yield bytes(buffer)
        while True:
            more = bytearray(b"")
            done = await calls.read(functools.partial(_gather_chunk, gather, items, more))
            if done:
                more += suffix
                yield bytes(more)
                return
            yield bytes(more)

    return StreamingResponse(chunks(), media_type="application/json")


def _gather_chunk(
    gather: Callable[[Iterator[_T], bytearray, int], bool], items: Iterator[_T], buffer: bytearray, store: BatchStore
) -> bool:
    return gather(items, buffer, _CHUNK)  # the iterator reads its own store: the one given is not needed


def _int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise RequestRefusedError(400, f"must be an integer, got {json.dumps(value)}", field=name)
    if not INT32_MIN <= value <= INT32_MAX:  # ids are int32; SQLite cannot bind a much larger number
        raise RequestRefusedError(400, f"{value} is outside {INT32_MIN}..{INT32_MAX}", field=name)
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


def _path_id(text: str, name: str) -> int:
    """A task id in a path: digits only (a larger number than any id is simply no task: 404)."""
    if not _DIGITS.fullmatch(text):
        raise RequestRefusedError(400, f"must be a task id (digits), got {text!r}", field=name)
    return int(text)


def _task_object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestRefusedError(400, "must be a BatchTaskInfo object", field=name)
    return value


def owned_by(associate_ids: list[int]) -> Q:
    """The tasks of these associates, read as the official client documents its AssociateIds.

    "empty array = all tasks, 0 = system tasks, -1 = all user tasks" (``@superoffice/webapi``,
    ``BatchAgent.getBatchTaskInfosByAssociatesAsync``); any other id is an owner (AssociateId).

    >>> owned_by([]) == Q(), owned_by([7, -1]) == Q(AssociateId__in=[7]) | Q(IsSystemTask=False)
    (True, True)
    """
    if not associate_ids:
        return Q()
    where = Q(AssociateId__in=[i for i in associate_ids if i != -1])
    if 0 in associate_ids:
        where |= SYSTEM
    if -1 in associate_ids:
        where |= USER
    return where


def _odata_parameters(request: Request) -> dict[str, str]:
    """The OData list's ``$`` parameters by their documented spelling, given in any case, each at most once."""
    by_lower = {name.lower(): name for name in _ODATA_PARAMETERS}
    found: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        name = by_lower.get(key.lower())
        if name is None:
            continue
        if name in found:
            raise RequestRefusedError(400, "given twice", field=name)
        found[name] = value
    return found


def _count_parameter(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if not _DIGITS.fullmatch(value.strip()) or int(value) > INT32_MAX:
        raise RequestRefusedError(400, f"must be a whole number from 0 to {INT32_MAX}, got {value!r}", field=name)
    return int(value)


def _odata_row(task: BatchTaskInfo, columns: tuple[Column, ...], zone: ResponseZone) -> dict[str, Any]:
    wire = task_wire(task, zone)
    row: dict[str, Any] = {"PrimaryKey": task.id, "EntityName": "batchtask"}
    for column in columns:
        row[column.name] = wire[column.field.wire]
    return row



# --- the answers of the routes the fast path (_fast.py) serves too: one implementation for both ----------


async def by_id_or_state_answer(
    calls: StoreCalls, id_or_state: str, zone: ResponseZone, select: str | None
) -> Response:
    """``GET /api/v1/BatchTask/{id_or_state}``: the task with that Id, or the user tasks in that state."""
    if _DIGITS.fullmatch(id_or_state):
        task_id = int(id_or_state)
        return task_response(await calls.read(lambda s: s.get(task_id, select=select)), zone)
    try:
        state = coerce_enum(BatchTaskState, id_or_state)
    except ValueError as exc:
        raise RequestRefusedError(400, f"is neither a task id nor a state: {exc}", field="state") from None
    return await array_response(calls, lambda s: s.list(state, where=USER, select=select),
                                lambda task: task_bytes(task, zone))


async def get_task_answer(calls: StoreCalls, body: Any, zone: ResponseZone, select: str | None) -> Response:
    """``POST Agents/Batch/GetBatchTaskInfo``: the task, or null for an unknown Id."""
    task_id = _int(members(body, "Id")["Id"], "Id")
    try:
        return task_response(await calls.read(lambda s: s.get(task_id, select=select)), zone)
    except TaskNotFoundError:
        return json_response(None)


async def update_task_answer(calls: StoreCalls, body: Any, zone: ResponseZone, select: str | None) -> Response:
    """``POST Agents/Batch/UpdateBatchTask``: the task as written."""
    info = members(body, "BatchTaskInfo")["BatchTaskInfo"]
    if not isinstance(info, dict):
        raise RequestRefusedError(
            400, "must be a BatchTaskInfo object with the Id of the task", field="BatchTaskInfo"
        )
    return task_response(await calls.write(lambda s: s.update(info, select=select)), zone)


def superoffice_router(store: BatchStore | StoreCalls) -> APIRouter:
    """The SuperOffice routes on ``store`` (or on the app's :class:`StoreCalls` for it)."""
    router = APIRouter(tags=["SuperOffice BatchTask"])
    calls = store if isinstance(store, StoreCalls) else StoreCalls(store)
    rest = "/api/v1/BatchTask"
    agent = "/api/v1/Agents/Batch/"

    async def tasks(query: Callable[[BatchStore], Iterable[BatchTaskInfo]], zone: ResponseZone) -> Response:
        return await array_response(calls, query, lambda task: task_bytes(task, zone))

    def body_of(name: str) -> dict[str, Any]:
        return schemas.request_body(schemas.AGENT_BODIES[name])

    # --- REST: /api/v1/BatchTask ------------------------------------------------------------------

    @router.get(
        rest,
        summary="The OData list of the BatchTasks archive: $select, $filter, $orderBy, $top, $skip",
        responses={
            200: schemas.json_content(
                {
                    "type": "object",
                    "required": ["odata.metadata", "value"],
                    "properties": {
                        "odata.metadata": {"type": "string"},
                        "odata.nextLink": {"type": "string", "description": "present while more rows remain"},
                        "value": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "Rows with PrimaryKey (the task id), EntityName, then the selected columns (streamed)",
            ),
            **schemas.errors(),
        },
        openapi_extra={
            "parameters": [
                {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                for name in _ODATA_PARAMETERS
            ]
        },
    )
    async def odata_list(request: Request, zone: Zone) -> Response:
        given = _odata_parameters(request)
        if given.get("$format", "JSON").strip().upper() != "JSON":
            raise RequestRefusedError(400, f"batchstore answers JSON only, not {given['$format']!r}", field="$format")
        columns = parse_select(given.get("$select"))
        where = parse_filter(given.get("$filter"))
        order_by = parse_order_by(given.get("$orderBy"))
        top = _count_parameter(given.get("$top"), "$top")
        skip = _count_parameter(given.get("$skip"), "$skip") or 0
        select = ",".join(c.field.wire for c in columns)
        head: dict[str, str] = {"odata.metadata": f"{request.base_url}api/v1/archive$metadata"}
        if top is not None and await calls.read(
            lambda s: any(s.list(where=where, order_by=order_by, offset=skip + top, limit=1, select="Id"))
        ):
            skips = [key for key in request.query_params if key.lower() == "$skip"]
            head["odata.nextLink"] = str(request.url.remove_query_params(skips).include_query_params(
                **{"$skip": skip + top}))
        prefix = dump(head)[:-1] + b',"value":['
        return await array_response(
            calls,
            lambda s: s.list(where=where, order_by=order_by, offset=skip, limit=top, select=select),
            lambda task: dumps(_odata_row(task, columns, zone)),
            prefix=prefix,
            suffix=b"]}",
        )

    @router.get(
        rest + "/{id_or_state}",
        summary="All digits: the task with that Id (404 if none). A BatchTaskState name (any case) or All: "
        "the user tasks in that state",
        responses={
            200: schemas.json_content(
                {"anyOf": [schemas.ref("BatchTaskInfo"), {"type": "array", "items": schemas.ref("BatchTaskInfo")}]},
                "A task by Id, or the user tasks in a state, by Id (streamed)",
            ),
            **schemas.errors(404),
        },
    )
    async def by_id_or_state(
        id_or_state: Annotated[str, Path(description="A task Id (digits), or a BatchTaskState name in any case")],
        zone: Zone,
        select: Select = None,
    ) -> Response:
        return await by_id_or_state_answer(calls, id_or_state, zone, select)

    @router.post(
        rest,
        summary="Create a batch task from a BatchTaskInfo; returns the new id",
        responses={200: schemas.json_content({"type": "integer"}, "The new task's Id"), **schemas.errors(413, 415)},
        openapi_extra=schemas.request_body(schemas.ref("BatchTaskInfo")),
    )
    async def create(body: Body) -> Response:
        if not isinstance(body, dict):
            raise RequestRefusedError(400, "the body must be a BatchTaskInfo object", field="body")
        return json_response(await calls.write(lambda s: s.create(body)))

    @router.put(
        rest + "/{Id}",
        summary="Update a task: only the store's writable fields (State, Description, Response, Request) may change",
        responses={200: schemas.json_content(schemas.ref("BatchTaskInfo")), **schemas.errors(404, 413, 415)},
        openapi_extra=schemas.request_body(schemas.ref("BatchTaskInfo")),
    )
    async def put_task(
        Id: Annotated[str, Path(description="The task's Id")],  # the page's name for it, so its OpenAPI name
        body: Body,
        zone: Zone,
        select: Select = None,
    ) -> Response:
        task_id = _path_id(Id, "Id")
        info = dict(_task_object(body, "body"))
        for key in [k for k in info if str(k).lower() == "id"]:
            if info.pop(key) not in (None, task_id):
                raise RequestRefusedError(400, f"the body's Id must be the path's, {task_id}", field="Id")
        return task_response(await calls.write(lambda s: s.update({**info, "Id": task_id}, select=select)), zone)

    @router.post(
        rest + "/{id}/Stop",
        summary="Stop a task as its CancellationBehaviour allows; true if it was stopped or asked to stop",
        responses={200: schemas.json_content({"type": "boolean"}), **schemas.errors(404)},
    )
    async def stop_by_path(id: Annotated[str, Path(description="The task's Id")]) -> Response:
        task_id = _path_id(id, "id")
        return json_response(await calls.write(lambda s: s.stop(task_id)))

    @router.delete(
        rest + "/{batchTaskId}",
        summary="Delete a task (and the ParameterObject batchstore stored for it)",
        status_code=204,
        responses={204: {"description": "Deleted"}, **schemas.errors(404)},
    )
    async def delete_by_path(
        batchTaskId: Annotated[str, Path(description="The task's Id")],
    ) -> Response:
        task_id = _path_id(batchTaskId, "batchTaskId")
        await calls.write(lambda s: s.delete(task_id))
        return Response(status_code=204)

    # --- the Batch agent: /api/v1/Agents/Batch/... -------------------------------------------------

    @router.post(
        agent + "GetBatchTaskInfo",
        summary="One task by Id; an unknown Id is 200 with null, as SuperOffice's agents answer",
        responses={
            200: schemas.json_content({"anyOf": [schemas.ref("BatchTaskInfo"), {"type": "null"}]}),
            **schemas.errors(413, 415),
        },
        openapi_extra=body_of("GetBatchTaskInfo"),
    )
    async def get_task(body: Body, zone: Zone, select: Select = None) -> Response:
        return await get_task_answer(calls, body, zone, select)

    @router.post(
        agent + "StartBatchJob",
        summary="Create a batch task from the BatchTaskInfo member; returns the new id",
        responses={200: schemas.json_content({"type": "integer"}, "The new task's Id"), **schemas.errors(413, 415)},
        openapi_extra=body_of("StartBatchJob"),
    )
    async def start_job(body: Body) -> Response:
        info = _task_object(members(body, "BatchTaskInfo")["BatchTaskInfo"], "BatchTaskInfo")
        return json_response(await calls.write(lambda s: s.create(info)))

    @router.post(
        agent + "UpdateBatchTask",
        summary="Update a task: only the store's writable fields (State, Description, Response, Request) may change",
        responses={200: schemas.json_content(schemas.ref("BatchTaskInfo")), **schemas.errors(404, 413, 415)},
        openapi_extra=body_of("UpdateBatchTask"),
    )
    async def update_task(body: Body, zone: Zone, select: Select = None) -> Response:
        return await update_task_answer(calls, body, zone, select)

    def list_route(
        name: str,
        summary: str,
        query: Callable[[BatchStore, dict[str, Any], str | None], Iterable[BatchTaskInfo]],
    ) -> None:
        required = list(schemas.AGENT_BODIES[name]["required"])

        async def route(body: Body, zone: Zone, select: Select = None) -> Response:
            given = members(body, *required)
            return await tasks(lambda s: query(s, given, select), zone)

        router.add_api_route(
            agent + name,
            route,
            methods=["POST"],
            name=name,
            summary=summary,
            responses={200: schemas.task_array(), **schemas.errors(413, 415)},
            openapi_extra=body_of(name),
        )

    def name_of(body: dict[str, Any], member: str) -> Q:
        return Q(Name=_str(body[member], member))

    list_route(
        "GetBatchTaskInfosByState",
        "The user tasks (IsSystemTask false) in one BatchTaskState, or All",
        lambda s, b, sel: s.list(_state(b["State"]), where=USER, select=sel),
    )
    list_route(
        "GetBatchTaskInfosByNameAndState",
        "The user tasks with this Name in this State (All: any)",
        lambda s, b, sel: s.list(_state(b["State"]), where=name_of(b, "Name") & USER, select=sel),
    )
    list_route(
        "GetBatchTaskInfosByAssociates",
        "The tasks of these associates (empty: every task; 0: system tasks; -1: every user task)",
        lambda s, b, sel: s.list(where=owned_by(_ints(b["AssociateIds"], "AssociateIds")), select=sel),
    )
    list_route(
        "GetBatchTaskInfosByAssociatesAndState",
        "The tasks of these associates (as GetBatchTaskInfosByAssociates) in this State (All: any)",
        lambda s, b, sel: s.list(
            _state(b["State"]), where=owned_by(_ints(b["AssociateIds"], "AssociateIds")), select=sel
        ),
    )
    list_route(
        "GetBatchTaskInfosByNameAndAssociates",
        "The tasks with this Name of these associates (as GetBatchTaskInfosByAssociates)",
        lambda s, b, sel: s.list(
            where=name_of(b, "Name") & owned_by(_ints(b["AssociateIds"], "AssociateIds")), select=sel
        ),
    )
    list_route(
        "GetAllBatchTaskInfosByName",
        "The system and user tasks with this name",
        lambda s, b, sel: s.list(where=name_of(b, "TaskName"), select=sel),
    )
    list_route(
        "GetAllBatchTaskInfosByNameAndState",
        "The system and user tasks with this name in this State (All: any)",
        lambda s, b, sel: s.list(_state(b["State"]), where=name_of(b, "TaskName"), select=sel),
    )
    list_route(
        "GetSystemBatchTaskInfosByName",
        "The system tasks (IsSystemTask true) with this name",
        lambda s, b, sel: s.list(where=name_of(b, "TaskName") & SYSTEM, select=sel),
    )
    list_route(
        "GetSystemBatchTaskInfosByNameAndState",
        "The system tasks with this name in this State (All: any)",
        lambda s, b, sel: s.list(_state(b["State"]), where=name_of(b, "TaskName") & SYSTEM, select=sel),
    )

    @router.post(
        agent + "StopBatchJob",
        summary="Stop a task as its CancellationBehaviour allows; true if it was stopped or asked to stop",
        responses={200: schemas.json_content({"type": "boolean"}), **schemas.errors(404, 413, 415)},
        openapi_extra=body_of("StopBatchJob"),
    )
    async def stop_job(body: Body) -> Response:
        task_id = _int(members(body, "Id")["Id"], "Id")
        return json_response(await calls.write(lambda s: s.stop(task_id)))

    @router.post(
        agent + "DeleteBatchTask",
        summary="Delete a task (and the ParameterObject batchstore stored for it)",
        status_code=204,
        responses={204: {"description": "Deleted"}, **schemas.errors(404, 413, 415)},
        openapi_extra=body_of("DeleteBatchTask"),
    )
    async def delete_task(body: Body) -> Response:
        task_id = _int(members(body, "BatchTaskId")["BatchTaskId"], "BatchTaskId")
        await calls.write(lambda s: s.delete(task_id))
        return Response(status_code=204)

    @router.post(
        agent + "DeleteBatchTasks",
        summary="Delete these tasks in one transaction; ids of no task are skipped",
        status_code=204,
        responses={204: {"description": "Deleted"}, **schemas.errors(413, 415)},
        openapi_extra=body_of("DeleteBatchTasks"),
    )
    async def delete_tasks(body: Body) -> Response:
        task_ids = _ints(members(body, "BatchTaskIds")["BatchTaskIds"], "BatchTaskIds")
        # On a thread even when the lock is free: a delete of many tasks may take long enough to hold the loop.
        await calls.on_thread(lambda s: s.delete_many(task_ids))
        return Response(status_code=204)

    return router
