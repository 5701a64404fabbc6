"""SailPoint's task-status routes, as its ``sailpoint`` SDK (``TaskManagementApi``) calls them.

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

PATCH follows SailPoint's page: "clear a pending task by updating the completionStatus and completed
attributes". Changes to ``/completionStatus`` and ``/completed`` move the task's State; ``test``
compares the TaskStatus document; any other change is a 400. The patch is evaluated on one reading of
the task and written only if the task still reads the same (a compare-and-set inside the store's patch).
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from .._enums import BatchTaskState
from .._exceptions import BatchStoreError, PatchConflictError, PatchError, TaskNotFoundError
from .._model import BatchTaskInfo
from .._patch import apply_patch
from .._store import BatchStore
from .._trace import TraceEntry
from . import _schemas as schemas
from ._body import json_body
from ._errors import RequestRefusedError
from ._filters import parse_filters, parse_sorters
from ._superoffice import json_response
from ._timezone import in_zone

__all__ = ["STOPPED", "sailpoint_router", "task_status"]

#: How a Failed task says it was stopped (batchstore's stop() writes it to Result; a TERMINATED patch to Response).
STOPPED: Final = "Stopped by request"
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
_ATTEMPTS: Final = 5
_INT32_MAX: Final = 2**31 - 1


def completion_status(task: BatchTaskInfo) -> str | None:
    """SUCCESS, WARNING, ERROR, TERMINATED, or None for an unfinished task."""
    state = task.state
    if state is BatchTaskState.Failed:
        stopped = any((text or "").startswith(STOPPED) for text in (task.result, task.response))
        return "TERMINATED" if stopped else "ERROR"
    return _FINISHED_STATUS.get(state) if state is not None else None


def task_status(task: BatchTaskInfo, history: list[TraceEntry]) -> dict[str, Any]:
    """The TaskStatus document of a task (read with every field) and its trace."""
    wire = task.to_wire()
    status = completion_status(task)
    fallback = task.last_started or task.created
    modified = history[-1].at if history else fallback
    completed = None
    if status is not None:
        changes = [e.at for e in history if "State" in e.changes]
        completed = changes[-1] if changes else fallback
    parameters = wire["ParameterObject"]
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


def _task_id(text: str) -> int:
    # SailPoint's ids are strings; batchstore's are int32. Any other string names no task.
    if len(text) <= 10 and text.isascii() and text.isdigit() and int(text) <= _INT32_MAX:
        return int(text)
    raise TaskNotFoundError(text, "task-status")  # type: ignore[arg-type]


def _operations(body: Any) -> list[dict[str, Any]]:
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


def _after_write(store: BatchStore, written: BatchTaskInfo) -> dict[str, Any]:
    """The TaskStatus after a committed patch. It cannot fail: the write is done, so the answer is a success.

    The task is the one the patch returned; its trace is read again for the time of the change. Should
    that read fail (the task deleted meanwhile, the database gone), the change is dated now.
    """
    assert written.id is not None
    try:
        history = store.history(written.id)
    except BatchStoreError:
        status = task_status(written, [])
        status["modified"] = status["completed"] = in_zone(dt.datetime.now(dt.UTC), None)
        return status
    return task_status(written, history)


def sailpoint_router(store: BatchStore) -> APIRouter:
    """The SailPoint task-status routes on ``store``."""
    router = APIRouter(prefix="/task-status/v1", tags=["SailPoint task status"])
    status_content = schemas.json_content(schemas.ref("TaskStatus"))

    def view(task_id: int) -> dict[str, Any]:
        return task_status(store.get(task_id), store.history(task_id))

    @router.get(
        "/{id}",
        summary="The status of one task",
        responses={200: status_content, **schemas.errors(404)},
    )
    def get_status(id: Annotated[str, Path(description="The task's Id")]) -> Response:
        return json_response(view(_task_id(id)))

    @router.get(
        "",
        summary="Task statuses, by creation; filters on completionStatus (eq, in, isnull) and id (eq, in)",
        responses={
            200: {
                **schemas.json_content({"type": "array", "items": schemas.ref("TaskStatus")}),
                "headers": {"X-Total-Count": {"schema": {"type": "integer"}, "description": "with count=true"}},
            },
            **schemas.errors(),
        },
    )
    def list_statuses(
        limit: Annotated[int, Query(ge=0, le=250, description="At most this many (0..250)")] = 250,
        offset: Annotated[int, Query(ge=0, le=_INT32_MAX, description="Skip this many")] = 0,
        count: Annotated[bool, Query(description="Set X-Total-Count to the number of matches")] = False,
        filters: Annotated[str | None, Query(description='e.g. completionStatus in ("SUCCESS","ERROR")')] = None,
        sorters: Annotated[str | None, Query(description="created or -created")] = None,
    ) -> Response:
        match = parse_filters(filters)
        descending = parse_sorters(sorters)
        found: list[tuple[Any, int]] = []
        for task in store.list("All", select="Id,State,Result,Response,Created"):
            row = {"id": str(task.id), "completionStatus": completion_status(task)}
            if match is None or match(row):
                assert task.id is not None
                found.append((task.created, task.id))
        if descending is not None:
            found.sort(key=lambda pair: (pair[0], pair[1]), reverse=descending)
        page = []
        for _, task_id in found[offset : offset + limit]:
            try:
                page.append(view(task_id))
            except TaskNotFoundError:
                continue  # deleted since it was listed
        headers = {"X-Total-Count": str(len(found))} if count else None
        response = json_response(page)
        if headers:
            response.headers.update(headers)
        return response

    @router.patch(
        "/{id}",
        summary="Finish a pending task: JSON Patch on /completionStatus and /completed (test: any path)",
        responses={200: status_content, **schemas.errors(404, 409, 413, 415)},
        openapi_extra=schemas.JSON_PATCH_BODY,
    )
    def patch_status(
        id: Annotated[str, Path(description="The task's Id")],
        body: Annotated[Any, Depends(json_body)],
    ) -> Response:
        task_id = _task_id(id)
        operations = _operations(body)
        for _ in range(_ATTEMPTS):
            task = store.get(task_id)
            before = task_status(task, store.history(task_id))
            try:
                after = apply_patch(copy.deepcopy(before), operations)
            except PatchConflictError:
                raise
            except PatchError as exc:
                raise RequestRefusedError(400, str(exc), field="body") from None
            changes = _target(before, after)
            if changes is None:
                return json_response(before)
            wire = task.to_wire()
            guard = [{"op": "test", "path": f"/{name}", "value": wire[name]} for name in _VIEWED]
            writes = [{"op": "replace", "path": f"/{name}", "value": value} for name, value in changes.items()]
            try:
                written = store.patch(task_id, guard + writes)
            except PatchConflictError:
                continue  # the task changed after it was read: evaluate the patch again on the new reading
            return json_response(_after_write(store, written))
        raise PatchConflictError(f"task {task_id} kept changing while the patch was applied; nothing was written")

    return router
