"""The shapes of bodies, for the OpenAPI document (``/openapi.json``) and nothing else.

Routes read bodies themselves (case-insensitive keys, batchstore's own messages) and write JSON
themselves (streamed lists), so these models describe the wire without sitting on the hot path.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, create_model

from .._enums import BatchTaskState, CancellationBehaviour
from .._fields import BY_WIRE, FIELDS, INT32_MAX, INT32_MIN
from .._fields import Field as FieldRule

__all__ = [
    "AGENT_BODIES",
    "COMPONENTS",
    "JSON_PATCH_BODY",
    "BatchTaskInfo",
    "HistoryEntry",
    "TaskStatus",
    "errors",
    "json_content",
    "request_body",
    "task_array",
]

_STATES: Final = [s.name for s in BatchTaskState]
_STORED_STATES: Final = [s.name for s in BatchTaskState if s is not BatchTaskState.All]
_BEHAVIOURS: Final = [c.name for c in CancellationBehaviour]
_INT32: Final[dict[str, Any]] = {"minimum": INT32_MIN, "maximum": INT32_MAX}


def _wire_field(field: FieldRule) -> tuple[Any, Any]:
    """The pydantic annotation and Field of one wire field, from the store's field table."""
    kind = field.kind
    if kind == "str":
        return str | None, Field(None, max_length=field.max_length)
    if kind == "int32":
        return int | None, Field(None, json_schema_extra=_INT32)
    if kind == "percent":
        return int | None, Field(None, ge=0, le=100)
    if kind == "state":
        return str | None, Field(None, json_schema_extra={"enum": [*_STORED_STATES, None]})
    if kind == "behaviour":
        return str | None, Field(None, json_schema_extra={"enum": [*_BEHAVIOURS, None]})
    if kind == "carrier":
        return dict[str, Any] | None, None
    return _KIND_TYPES[kind], None


_KIND_TYPES: Final[dict[str, Any]] = {"bool": bool | None, "datetime": dt.datetime | None, "object": Any}

#: One batch task (SuperOffice's BatchTaskInfo), generated from the field table (``_fields.FIELDS``) that
#: the store checks every value with: a field, a kind or a limit changed there changes the OpenAPI document.
BatchTaskInfo: Final[type[BaseModel]] = create_model(
    "BatchTaskInfo",
    __config__=ConfigDict(title="BatchTaskInfo", extra="forbid"),
    __doc__="One batch task (SuperOffice's BatchTaskInfo). With ``$select``, fields not selected are null.",
    **{f.wire: _wire_field(f) for f in FIELDS},  # type: ignore[call-overload]
)


class HistoryEntry(BaseModel):
    """One change to a task: when, which operation, which worker, and each field's ``[old, new]``."""

    model_config = ConfigDict(title="HistoryEntry")

    at: dt.datetime
    operation: str
    worker: str | None
    changes: dict[str, list[Any]]


class TaskStatus(BaseModel):
    """SailPoint's TaskStatus, as a view of one batchstore task."""

    model_config = ConfigDict(title="TaskStatus")

    id: str
    type: str = Field(json_schema_extra={"enum": ["QUARTZ", "QPOC", "QUEUED_TASK"]})
    uniqueName: str
    description: str
    parentName: str | None
    launcher: str
    created: dt.datetime
    modified: dt.datetime | None
    launched: dt.datetime | None
    completed: dt.datetime | None
    completionStatus: str | None = Field(
        json_schema_extra={"enum": ["SUCCESS", "WARNING", "ERROR", "TERMINATED", "TEMPERROR", None]}
    )
    messages: list[dict[str, Any]]
    returns: list[dict[str, Any]]
    attributes: dict[str, Any]
    progress: str | None
    percentComplete: int


def _object(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_ID: Final = {"type": "integer", **_INT32}
_STATE: Final = {"type": "string", "enum": _STATES, "description": "a BatchTaskState name (any case), or All"}
_NAME: Final = {"type": "string", "maxLength": BY_WIRE["Name"].max_length}
_ASSOCIATES: Final = {"type": "array", "items": _ID}  # ids of associates, or of tasks

#: The request bodies of the Batch agent's endpoints, by endpoint name.
AGENT_BODIES: Final[dict[str, dict[str, Any]]] = {
    "GetBatchTaskInfo": _object(["Id"], Id=_ID),
    "UpdateBatchTask": _object(["BatchTaskInfo"], BatchTaskInfo={"$ref": "#/components/schemas/BatchTaskInfo"}),
    "GetBatchTaskInfosByState": _object(["State"], State=_STATE),
    "GetBatchTaskInfosByNameAndState": _object(["Name", "State"], Name=_NAME, State=_STATE),
    "GetBatchTaskInfosByAssociates": _object(["AssociateIds"], AssociateIds=_ASSOCIATES),
    "GetBatchTaskInfosByAssociatesAndState": _object(["AssociateIds", "State"], AssociateIds=_ASSOCIATES, State=_STATE),
    "GetBatchTaskInfosByNameAndAssociates": _object(["Name", "AssociateIds"], Name=_NAME, AssociateIds=_ASSOCIATES),
    "GetSystemBatchTaskInfosByName": _object(["TaskName"], TaskName=_NAME),
    "GetSystemBatchTaskInfosByNameAndState": _object(["TaskName", "State"], TaskName=_NAME, State=_STATE),
    "StopBatchJob": _object(["Id"], Id=_ID),
    "DeleteBatchTask": _object(["BatchTaskId"], BatchTaskId=_ID),
    "StartBatchJob": _object(["BatchTaskInfo"], BatchTaskInfo={"$ref": "#/components/schemas/BatchTaskInfo"}),
    "DeleteBatchTasks": _object(["BatchTaskIds"], BatchTaskIds=_ASSOCIATES),
    "GetAllBatchTaskInfosByName": _object(["TaskName"], TaskName=_NAME),
    "GetAllBatchTaskInfosByNameAndState": _object(["TaskName", "State"], TaskName=_NAME, State=_STATE),
}

_JSON_PATCH: Final[dict[str, Any]] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["op", "path"],
        "properties": {
            "op": {"type": "string", "enum": ["add", "remove", "replace", "move", "copy", "test"]},
            "path": {"type": "string"},
            "from": {"type": "string"},
            "value": {},
        },
    },
}


def request_body(
    schema: dict[str, Any], media_types: tuple[str, ...] = ("application/json", "text/json")
) -> dict[str, Any]:
    """An OpenAPI ``requestBody`` for ``openapi_extra``: required, one schema under each media type."""
    return {"requestBody": {"required": True, "content": {m: {"schema": schema} for m in media_types}}}


JSON_PATCH_BODY: Final = request_body(_JSON_PATCH, ("application/json-patch+json",))


def json_content(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def task_array() -> dict[str, Any]:
    return json_content({"type": "array", "items": ref("BatchTaskInfo")}, "The tasks, by Id (streamed)")


_ERROR_TEXT: Final = {
    400: "Refused: the body names the field and says why; nothing was written",
    401: "No valid token; nothing was written",
    404: "No task has that id",
    406: "The Accept header asks for something other than JSON",
    409: "A test operation failed or the task moved on; nothing was written",
    413: "The body is over the size limit",
    415: "The body is not JSON (Content-Type)",
    503: "The database is busy or closed",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error responses of a route: the given codes plus those every API route may answer."""
    every = {400, 401, 406, 503}
    return {code: json_content(ref("Error"), _ERROR_TEXT[code]) for code in sorted(every | set(codes))}


def _components() -> dict[str, Any]:
    from ._errors import ERROR_SCHEMA

    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for model in (BatchTaskInfo, HistoryEntry, TaskStatus):
        schemas[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return schemas


#: Schemas the routes refer to by ``#/components/schemas/NAME``; the app factory adds them to /openapi.json.
COMPONENTS: Final = _components()
