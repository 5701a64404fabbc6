"""SailPoint's task-status routes, as its ``sailpoint`` SDKs call them, and its OAuth token route.

Where (``_sailpoint_paths.py``): ``/{version}/task-status...`` for ``beta``, ``v3``, ``v2024``, ``v2025``
and ``v2026`` (sailpoint 1.x: ``sailpoint.beta``, ``sailpoint.v2024``... ``TaskManagementApi``), and
``/task-status/v1...`` (sailpoint 2.x). The versioned routes are the same on every version:

- ``GET /{version}/task-status/{id}``, ``PATCH /{version}/task-status/{id}``,
- ``GET /{version}/task-status`` with ``limit`` (0..250), ``offset``, ``count`` (X-Total-Count), ``filters``
  and ``sorters``,
- ``GET`` and ``HEAD /{version}/task-status/pending-tasks``: the unfinished tasks, by Id, with ``limit``,
  ``offset`` and ``count`` (HEAD answers X-Total-Count always, and no body).

``X-SailPoint-Experimental`` (which the SDKs send to v2026) is accepted and ignored. ``filters`` takes
every field and operator SailPoint documents for the list in any version: ``id`` (eq, in), ``sourceId``
(eq, in), ``completionStatus`` (eq, in, isnull), ``type`` (eq, in) and ``launcher`` (eq, in);
``sorters`` takes ``created`` and ``-created``. Both become the store's query model, so a page of 10
reads about 10 rows however many tasks there are; the trace of each task on the page is read after.

A TaskStatus is a view of a batchstore task:

===================  ===============================================================
id                   the task's Id, as a string
type                 ``QUEUED_TASK``
uniqueName           Name ("" when none)
description          Description ("" when none)
parentName           null
launcher             ``system`` for a system task, else ``associate:<AssociateId>`` (or ``batchstore``)
created, launched    Created, LastStarted
modified             the time of the last trace row (else LastStarted or Created)
completed            when the task reached its finished State (from its trace), null while unfinished
completionStatus     Succeeded SUCCESS, SucceededManualCleanup WARNING, Failed ERROR, stopped TERMINATED
                     (Failed, with Result or Response "Stopped by request..."), unfinished null
messages, returns    []
attributes           the ParameterObject (an object; any other value under the key ``ParameterObject``)
progress             ProgressDescription
percentComplete      ProgressPercent
===================  ===============================================================

A filter on a field batchstore has no counterpart for selects what the view shows: ``sourceId``
matches no task (a task has no source), ``type`` matches every task for ``QUEUED_TASK`` and none for
any other type, ``completionStatus eq "TEMPERROR"`` none. Status names are matched in any case, as
SailPoint's own example (``completionStatus eq "Success"``) writes them.

PATCH follows SailPoint's page: "clear a pending task by updating the completionStatus and completed
attributes". Changes to ``/completionStatus`` and ``/completed`` move the task's State; ``test``
compares the TaskStatus document; any other change is a 400. The patch is evaluated on one reading of
the task and written only if the task still reads the same (a compare-and-set inside the store's patch).

``POST /oauth/token`` (``grant_type=client_credentials``, a form, urlencoded as the SDKs send it or
multipart; the client's id and secret in the form or as HTTP Basic) answers ``{"access_token",
"token_type": "bearer", "expires_in"}``. On a server with a token, the client secret must be that
token (any client id) and the access token is the server token itself, so it is accepted wherever the
token is; on a server without one, any credentials get a fresh random access token (nothing checks it).
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hmac
import re
import secrets
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response

from .._api import STOPPED, patch_dated
from .._enums import FINISHED, BatchTaskState
from .._exceptions import BatchStoreError, PatchConflictError, PatchError, TaskNotFoundError
from .._fields import INT32_MAX, to_json_value, wire_document
from .._model import BatchTaskInfo
from .._patch import apply_patch
from .._query import Q
from .._store import BatchStore
from .._trace import TraceEntry
from . import _schemas as schemas
from ._body import json_body
from ._calls import StoreCalls
from ._errors import RequestRefusedError
from ._filters import FilterField, parse_filters, parse_sorters
from ._sailpoint_paths import API_VERSIONS, TOKEN_PATH
from ._superoffice import json_response
from ._timezone import in_zone

__all__ = [
    "FILTERS", "SORTERS", "STOPPED", "completion_status", "operations", "page_answer", "patch_answer", "patched",
    "read_page", "sailpoint_router", "status_answer", "status_of", "task_id_of", "task_status",
]  # fmt: skip

_FINISHED_STATUS: Final = {
    BatchTaskState.Succeeded: "SUCCESS",
    BatchTaskState.SucceededManualCleanup: "WARNING",
}
_STATE_OF: Final = {
    "SUCCESS": BatchTaskState.Succeeded,
    "WARNING": BatchTaskState.SucceededManualCleanup,
    "ERROR": BatchTaskState.Failed,
    "TERMINATED": BatchTaskState.Failed,
}
_PATCHABLE: Final = ("/completionStatus", "/completed")
# The fields a TaskStatus is computed from: a write happens only if they still read as when the patch was evaluated.
_VIEWED: Final = (
    "Name", "Description", "AssociateId", "IsSystemTask", "ParameterObject", "LastStarted", "Created",
    "Result", "State", "Response", "ProgressDescription", "ProgressPercent",
)  # fmt: skip
_VIEWED_SET: Final = set(_VIEWED)
_ATTEMPTS: Final = 5


def completion_status(task: BatchTaskInfo) -> str | None:
    """SUCCESS, WARNING, ERROR, TERMINATED, or None for an unfinished task."""
    state = task.state
    if state is BatchTaskState.Failed:
        stopped = any((text or "").startswith(STOPPED) for text in (task.result, task.response))
        return "TERMINATED" if stopped else "ERROR"
    return _FINISHED_STATUS.get(state) if state is not None else None


def task_status(task: BatchTaskInfo, history: list[TraceEntry], *, to_encode: bool = False) -> dict[str, Any]:
    """The TaskStatus document of a task (read with every field) and its trace.

    ``to_encode``: the document only goes to :func:`~batchstore.server._encode.dumps`, which converts what
    JSON cannot hold as ``to_json_value`` does, so a ParameterObject that is a dict is left to it (walking
    it here first was most of what a list of 100 cost). Without it, the document is JSON values only (a
    PATCH evaluates its operations on it).
    """
    status = completion_status(task)
    fallback = task.last_started or task.created
    modified = history[-1].at if history else fallback
    completed = None
    if status is not None:
        changes = [e.at for e in history if "State" in e.changes]
        completed = changes[-1] if changes else fallback
    # Not task.to_wire(): that converts the store's FieldProperties too, 150 µs a task for one field here.
    parameters = task.parameter_object
    if not (to_encode and isinstance(parameters, dict)):
        parameters = to_json_value(parameters)
    if task.is_system_task:
        launcher = "system"
    elif task.associate_id is not None:
        launcher = f"associate:{task.associate_id}"
    else:
        launcher = "batchstore"
    return {
        "id": str(task.id),
        "type": "QUEUED_TASK",
        "uniqueName": task.name or "",
        "description": task.description or "",
        "parentName": None,
        "launcher": launcher,
        "created": in_zone(task.created, None),
        "modified": in_zone(modified, None),
        "launched": in_zone(task.last_started, None),
        "completed": in_zone(completed, None),
        "completionStatus": status,
        "messages": [],
        "returns": [],
        "attributes": parameters
        if isinstance(parameters, dict)
        else ({} if parameters is None else {"ParameterObject": parameters}),
        "progress": task.progress_description,
        "percentComplete": task.progress_percent or 0,
    }


def _int32(text: str) -> int | None:
    # SailPoint's ids are strings; batchstore's are int32. Any other string names no task.
    if len(text) <= 10 and text.isascii() and text.isdigit() and int(text) <= INT32_MAX:
        return int(text)
    return None


def task_id_of(text: str) -> int:
    task_id = _int32(text)
    if task_id is None:
        raise TaskNotFoundError(text, "task-status")  # type: ignore[arg-type]
    return task_id


# --- filters: the same rules as completion_status() and task_status(), as the store's query model ---------

_NO_TASK: Final = ~Q()
#: The States of an unfinished task: completionStatus null.
_UNFINISHED: Final = [s for s in BatchTaskState if s not in FINISHED and s is not BatchTaskState.All]
_ASSOCIATE: Final = re.compile(r"associate:(-?[0-9]{1,10})")


def _stopped() -> Q:
    return Q(Result__startswith=STOPPED) | Q(Response__startswith=STOPPED)


_STATUS_FILTERS: Final[dict[str, Callable[[], Q]]] = {
    "SUCCESS": lambda: Q(State=BatchTaskState.Succeeded),
    "WARNING": lambda: Q(State=BatchTaskState.SucceededManualCleanup),
    "ERROR": lambda: Q(State=BatchTaskState.Failed) & ~_stopped(),
    "TERMINATED": lambda: Q(State=BatchTaskState.Failed) & _stopped(),
    "TEMPERROR": lambda: _NO_TASK,  # SailPoint's temporary error: batchstore never reports one
}


def _pending() -> Q:
    return Q(State__in=_UNFINISHED)


def _any_of(queries: Sequence[Q]) -> Q:
    result = _NO_TASK
    for query in queries:
        result = result | query
    return result


def _by_status(values: Sequence[str]) -> Q:
    queries = []
    for value in values:
        status = _STATUS_FILTERS.get(value.upper())
        if status is None:
            known = ", ".join(_STATUS_FILTERS)
            raise RequestRefusedError(400, f"completionStatus is one of {known}, not {value!r}", field="filters")
        queries.append(status())
    return _any_of(queries)


def _by_id(values: Sequence[str]) -> Q:
    ids = [task_id for task_id in map(_int32, values) if task_id is not None]
    return Q(Id__in=ids) if ids else _NO_TASK


def _by_launcher(values: Sequence[str]) -> Q:
    queries = []
    for value in values:
        if value == "system":
            queries.append(Q(IsSystemTask=True))
        elif value == "batchstore":
            queries.append(Q(IsSystemTask=False, AssociateId=None))
        elif (found := _ASSOCIATE.fullmatch(value)) and -INT32_MAX - 1 <= int(found[1]) <= INT32_MAX:
            queries.append(Q(IsSystemTask=False, AssociateId=int(found[1])))
    return _any_of(queries)


_EQ_IN: Final = frozenset({"eq", "in"})
#: Every field and operator SailPoint documents for the task-status list in any version (v2026's is the
#: widest: launcher is new there; beta and v2024 leave out isnull), each as the tasks it selects.
FILTERS: Final = {
    "id": FilterField(_EQ_IN, _by_id),
    "sourceId": FilterField(_EQ_IN, lambda values: _NO_TASK),  # a task has no source
    "completionStatus": FilterField(_EQ_IN | {"isnull"}, _by_status, _pending),
    "type": FilterField(_EQ_IN, lambda values: Q() if "QUEUED_TASK" in values else _NO_TASK),
    "launcher": FilterField(_EQ_IN, _by_launcher),
}
SORTERS: Final = {"created": "Created"}


def operations(body: Any) -> list[dict[str, Any]]:
    """Checked copies of a SailPoint patch: test anywhere; add or replace only /completionStatus and /completed."""
    if not isinstance(body, list):
        raise RequestRefusedError(400, "a JSON Patch is an array of operations", field="body")
    checked = []
    for index, op in enumerate(body):
        if not isinstance(op, dict):
            raise RequestRefusedError(400, f"operation {index} is not an object", field="body")
        name, path = op.get("op"), op.get("path")
        if not isinstance(path, str) or (path and not path.startswith("/")):
            raise RequestRefusedError(
                400, f"operation {index}: a JSON Pointer starting with '/' is required", field="path"
            )
        if name == "test":
            if "value" not in op:
                raise RequestRefusedError(400, f"operation {index}: test needs a 'value'", field="value")
        elif name in ("add", "replace"):
            if path not in _PATCHABLE:
                raise RequestRefusedError(
                    400, f"operation {index}: only /completionStatus and /completed may change, not {path}", field=path
                )
            if "value" not in op:
                raise RequestRefusedError(400, f"operation {index}: {name} needs a 'value'", field="value")
        elif name in ("remove", "move", "copy"):
            raise RequestRefusedError(
                400,
                f"operation {index}: {name} is refused; only test, add and replace apply to a task status",
                field=path or "op",
            )
        else:
            raise RequestRefusedError(
                400, f"operation {index}: 'op' must be test, add or replace, got {name!r}", field="op"
            )
        checked.append({"op": name, "path": path, "value": copy.deepcopy(op["value"])})
    return checked


def _target(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any] | None:
    """The store patch the changed document asks for (State, and Response for TERMINATED), or None."""
    status, completed = after.get("completionStatus"), after.get("completed")
    if status is not None and (not isinstance(status, str) or status not in _STATE_OF):
        allowed = ", ".join(_STATE_OF)
        raise RequestRefusedError(400, f"must be one of {allowed} or null, got {status!r}", field="completionStatus")
    if completed is not None and not isinstance(completed, str):
        raise RequestRefusedError(400, "must be an ISO 8601 date-time string or null", field="completed")
    if (status is None) != (completed is None):
        raise RequestRefusedError(
            400, "completionStatus and completed are set together (both, or neither)", field="completionStatus"
        )
    if status == before["completionStatus"]:
        return None
    if status is None:
        raise RequestRefusedError(400, "a finished task cannot be made pending again", field="completionStatus")
    changes: dict[str, Any] = {"State": _STATE_OF[status].name}
    if status == "TERMINATED":
        changes["Response"] = STOPPED
    return changes


def _after_write(
    store: BatchStore, task: BatchTaskInfo, history: list[TraceEntry], written: BatchTaskInfo, now: dt.datetime
) -> dict[str, Any]:
    """The TaskStatus after a committed patch. It cannot fail: the write is done, so the answer is a success.

    The task is the one the patch returned; its trace is the one read before the write (``task`` and
    ``history``) and the entry the write added at ``now``, not read back: the compare-and-set let the write
    through only if no viewed field (State and Response among them) had changed since, so that entry is the
    newest and any other entry since changed no State, which is all ``modified`` and ``completed`` read of it.
    A write that recorded nothing (an internal task keeps no trace) leaves the trace as it was read. Only a
    write that changed neither State nor Response (none does today) has its trace read back; should that read
    fail (the task deleted meanwhile, the database gone), the change is dated now.
    """
    assert written.id is not None
    if written.is_internal_task:
        return task_status(written, history)
    changed = "State" if written.state != task.state else "Response" if written.response != task.response else None
    if changed is not None:
        return task_status(written, [*history, TraceEntry(0, written.id, now, "patch", None, {changed: ("", "")})])
    try:
        read_back = store.history(written.id)
    except BatchStoreError:  # TaskNotFoundError among them
        status = task_status(written, [])
        status["modified"] = status["completed"] = in_zone(dt.datetime.now(dt.UTC), None)
        return status
    return task_status(written, read_back)


def status_of(store: BatchStore, task_id: int) -> dict[str, Any]:
    """The TaskStatus of one task (``GET .../task-status/{id}``)."""
    task = store.get(task_id)  # an unknown task: its 404
    return task_status(task, store.history(task_id), to_encode=True)  # one statement; gone since: a 404 too


def read_page(
    store: BatchStore, where: Q, order_by: str | None, paging: tuple[int, int, bool]
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of TaskStatus documents, and the count of every match when asked.

    One query for the page (the store compiles filter, order, offset and limit to SQL), then the traces
    of the whole page in one read (not a read per task: that was most of a page's time), then the count
    when asked: never a read of the whole table.
    """
    limit, offset, count = paging
    tasks = list(store.list(where=where, order_by=order_by, offset=offset, limit=limit))
    page = []
    if tasks:
        # The traces of the page's tasks that still exist, in one read (from one snapshot).
        histories = store.histories(task.id for task in tasks if task.id is not None)
        for task in tasks:
            history = histories.get(task.id)  # type: ignore[arg-type]
            if history is not None:  # else deleted since the page was read
                page.append(task_status(task, history, to_encode=True))
    return page, (store.count(where=where) if count else None)


def patched(store: BatchStore, task_id: int, operations: list[dict[str, Any]]) -> dict[str, Any]:
    """The TaskStatus after the patch: read, evaluated and written on one thread, retried if the task moved."""
    for _ in range(_ATTEMPTS):
        task = store.get(task_id)
        # The trace after the task: a write in between shows in the compare-and-set below.
        history = store.history(task_id)
        before = task_status(task, history)
        try:
            after = apply_patch(copy.deepcopy(before), operations)
        except PatchConflictError:
            raise
        except PatchError as exc:
            raise RequestRefusedError(400, str(exc), field="body") from None
        changes = _target(before, after)
        if changes is None:
            return before
        wire = wire_document(task.__dict__, _VIEWED_SET)  # the viewed fields only: not the rights' 2.5 KB
        guard = [{"op": "test", "path": f"/{name}", "value": wire[name]} for name in _VIEWED]
        writes = [{"op": "replace", "path": f"/{name}", "value": value} for name, value in changes.items()]
        try:
            written, now = patch_dated(store, task_id, guard + writes)
        except PatchConflictError:
            continue  # the task changed after it was read: evaluate the patch again on the new reading
        return _after_write(store, task, history, written, now)
    raise PatchConflictError(f"task {task_id} kept changing while the patch was applied; nothing was written")


# --- the answers of the routes the fast path (_fast.py) serves too: one implementation for both ----------


async def status_answer(calls: StoreCalls, id: str) -> Response:
    """``GET .../task-status/{id}``."""
    task_id = task_id_of(id)
    return json_response(await calls.read(lambda s: status_of(s, task_id)))


async def page_answer(calls: StoreCalls, where: Q, order_by: str | None, paging: tuple[int, int, bool]) -> Response:
    """A list of task statuses (``GET .../task-status``, ``.../pending-tasks``), X-Total-Count when counted."""
    page, total = await calls.read(lambda s: read_page(s, where, order_by, paging))
    response = json_response(page)
    if total is not None:
        response.headers["X-Total-Count"] = str(total)
    return response


async def patch_answer(calls: StoreCalls, id: str, body: Any) -> Response:
    """``PATCH .../task-status/{id}``: the TaskStatus after the patch."""
    task_id = task_id_of(id)
    checked = operations(body)
    return json_response(await calls.write(lambda s: patched(s, task_id, checked)))


_TOKEN_LIFETIME: Final = 3600
_FORM_TYPES: Final = ("application/x-www-form-urlencoded", "multipart/form-data")
_TOKEN_BODY: Final = schemas.request_body(
    {
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "client_id": {"type": "string", "description": "any"},
            "client_secret": {"type": "string", "description": "the server's token, when it has one"},
        },
    },
    _FORM_TYPES,
)
_TOKEN_ANSWER: Final = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"type": "string", "enum": ["bearer"]},
        "expires_in": {"type": "integer", "description": "seconds"},
    },
}


async def _version(
    version: Annotated[
        str, Path(description="SailPoint's API version", json_schema_extra={"enum": list(API_VERSIONS)})
    ],
    experimental: Annotated[
        str | None,
        Header(alias="X-SailPoint-Experimental", description="sent by the SDKs to experimental APIs; ignored"),
    ] = None,
) -> None:
    if version not in API_VERSIONS:
        raise RequestRefusedError(
            404, f"no SailPoint API {version!r}; task-status is under {', '.join(API_VERSIONS)}", field="version"
        )


#: A list's page: at most this many statuses, this many by default (the documented 0..250).
PAGE_MAX: Final = 250


async def _page_parameters(
    limit: Annotated[int, Query(ge=0, le=PAGE_MAX, description=f"At most this many (0..{PAGE_MAX})")] = PAGE_MAX,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX, description="Skip this many")] = 0,
    count: Annotated[bool, Query(description="Set X-Total-Count to the number of matches")] = False,
) -> tuple[int, int, bool]:
    return limit, offset, count


Paging = Annotated[tuple[int, int, bool], Depends(_page_parameters)]


async def _form(request: Request) -> dict[str, str]:
    """The fields of a form body (urlencoded or multipart); anything else is a 415, a file field a 400."""
    media_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media_type not in _FORM_TYPES:
        shown = repr(request.headers["content-type"]) if "content-type" in request.headers else "none"
        raise RequestRefusedError(
            415, f"the body must be {' or '.join(_FORM_TYPES)}, not {shown}", field="Content-Type"
        )
    try:
        form = await request.form(max_files=0, max_fields=100)
    except RequestRefusedError:
        raise
    except Exception as exc:  # python-multipart's and Starlette's parse errors: the client sent a broken form
        detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
        raise RequestRefusedError(400, f"is not a readable form: {detail}", field="body") from None
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if not isinstance(value, str):
            raise RequestRefusedError(400, "is a file; the token request takes text fields", field=name)
        if name in fields:
            raise RequestRefusedError(400, "is given twice", field=name)
        fields[name] = value
    return fields


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    # RFC 6749 2.3.1: a client may send its id and secret as HTTP Basic instead of in the form.
    scheme, _, encoded = (request.headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, colon, secret = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, ValueError):
        raise RequestRefusedError(400, "Basic credentials are not base64 of id:secret", field="Authorization") from None
    return (client_id, secret) if colon else None


def token_router(token: str | None) -> APIRouter:
    """``POST /oauth/token``: OAuth 2.0 client credentials, as SailPoint's SDKs fetch their access token."""
    router = APIRouter(tags=["SailPoint OAuth"])
    expected = token.encode("utf-8") if token is not None else None

    @router.post(
        TOKEN_PATH,
        summary="An access token for client credentials (with a server token: client_secret must be it)",
        responses={200: schemas.json_content(_TOKEN_ANSWER), **schemas.errors(413, 415)},
        openapi_extra=_TOKEN_BODY,
    )
    async def issue_token(request: Request) -> Response:
        form = await _form(request)
        grant_type = form.get("grant_type")
        if grant_type != "client_credentials":
            raise RequestRefusedError(
                400, f"only client_credentials is granted, not {grant_type!r}", field="grant_type"
            )
        secret = form.get("client_secret")
        basic = _basic_credentials(request)
        if basic is not None:
            if secret is not None:
                raise RequestRefusedError(
                    400, "give the client secret in the form or as Basic, not both", field="client_secret"
                )
            secret = basic[1]
        if expected is not None:
            if secret is None or not hmac.compare_digest(secret.encode("utf-8"), expected):
                raise RequestRefusedError(401, "does not match this server's token", field="client_secret")
            access_token = token
        else:
            access_token = secrets.token_urlsafe(32)
        response = json_response({"access_token": access_token, "token_type": "bearer", "expires_in": _TOKEN_LIFETIME})
        response.headers["Cache-Control"] = "no-store"  # RFC 6749 5.1: a token is never cached
        response.headers["Pragma"] = "no-cache"
        return response

    return router


def sailpoint_router(store: BatchStore | StoreCalls, *, token: str | None = None) -> APIRouter:
    """The SailPoint task-status routes on ``store`` (or the app's :class:`StoreCalls` for it), every version,
    and the OAuth token route (``token``)."""
    router = APIRouter(tags=["SailPoint task status"])
    calls = store if isinstance(store, StoreCalls) else StoreCalls(store)
    status_content = schemas.json_content(schemas.ref("TaskStatus"))
    total_header = {"X-Total-Count": {"schema": {"type": "integer"}, "description": "with count=true"}}
    list_content = {
        **schemas.json_content({"type": "array", "items": schemas.ref("TaskStatus")}),
        "headers": total_header,
    }
    versioned = [Depends(_version)]
    v1, vn = "/task-status/v1", "/{version}/task-status"

    async def get_status(id: Annotated[str, Path(description="The task's Id")]) -> Response:
        return await status_answer(calls, id)

    async def list_statuses(
        paging: Paging,
        filters: Annotated[
            str | None,
            Query(
                description="SailPoint's filter syntax on id, sourceId, completionStatus, type, launcher, e.g. "
                'completionStatus in ("SUCCESS","ERROR") or completionStatus isnull'
            ),
        ] = None,
        sorters: Annotated[str | None, Query(description="created or -created (by Id without)")] = None,
    ) -> Response:
        return await page_answer(calls, parse_filters(filters, FILTERS), parse_sorters(sorters, SORTERS), paging)

    async def pending_tasks(paging: Paging) -> Response:
        return await page_answer(calls, _pending(), None, paging)

    async def pending_count() -> Response:
        total = await calls.read(lambda s: s.count(where=_pending()))
        return Response(status_code=200, headers={"X-Total-Count": str(total)})

    async def patch_status(
        id: Annotated[str, Path(description="The task's Id")],
        body: Annotated[Any, Depends(json_body)],
    ) -> Response:
        return await patch_answer(calls, id, body)

    list_summary = "Task statuses: filters on id, sourceId, completionStatus, type, launcher; sorters on created"
    pending_summary = "The statuses of unfinished tasks, by Id"
    patch_summary = "Finish a pending task: JSON Patch on /completionStatus and /completed (test: any path)"
    patch_errors = schemas.errors(404, 409, 413, 415)
    # The versioned routes first: pending-tasks before {id}, which would read it as an id.
    router.add_api_route(
        f"{vn}/pending-tasks",
        pending_tasks,
        methods=["GET"],
        summary=pending_summary,
        responses={200: list_content, **schemas.errors(404)},
        dependencies=versioned,
    )
    router.add_api_route(
        f"{vn}/pending-tasks",
        pending_count,
        methods=["HEAD"],
        response_class=Response,  # headers only: no media type to document
        summary="How many tasks are unfinished: X-Total-Count, no body",
        responses={
            200: {
                "description": "OK",
                "headers": {"X-Total-Count": {**total_header["X-Total-Count"], "description": "always"}},
            },
            **schemas.errors(404),
        },
        dependencies=versioned,
    )
    router.add_api_route(
        vn,
        list_statuses,
        methods=["GET"],
        summary=list_summary,
        responses={200: list_content, **schemas.errors(404)},
        dependencies=versioned,
    )
    router.add_api_route(
        f"{vn}/{{id}}",
        get_status,
        methods=["GET"],
        summary="The status of one task",
        responses={200: status_content, **schemas.errors(404)},
        dependencies=versioned,
    )
    router.add_api_route(
        f"{vn}/{{id}}",
        patch_status,
        methods=["PATCH"],
        summary=patch_summary,
        responses={200: status_content, **patch_errors},
        openapi_extra=schemas.JSON_PATCH_BODY,
        dependencies=versioned,
    )
    # sailpoint 2.x: the same list, status and patch under /task-status/v1.
    router.add_api_route(
        v1, list_statuses, methods=["GET"], summary=list_summary, responses={200: list_content, **schemas.errors()}
    )
    router.add_api_route(
        f"{v1}/{{id}}",
        get_status,
        methods=["GET"],
        summary="The status of one task",
        responses={200: status_content, **schemas.errors(404)},
    )
    router.add_api_route(
        f"{v1}/{{id}}",
        patch_status,
        methods=["PATCH"],
        summary=patch_summary,
        responses={200: status_content, **patch_errors},
        openapi_extra=schemas.JSON_PATCH_BODY,
    )
    router.include_router(token_router(token))
    return router
