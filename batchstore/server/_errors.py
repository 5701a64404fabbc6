"""Every refusal becomes one JSON body, in one place: :func:`install_error_handlers`.

The body names what was refused and why::

    {"status": 400, "error": "InvalidTaskError", "message": "ProgressPercent: ...",
     "field": "ProgressPercent", "fields": ["ProgressPercent"]}

SailPoint's routes get the same body plus the ``detailCode`` and ``messages`` of SailPoint's error
format, so clients written for either API find what they look for.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._exceptions import (
    BatchStoreError,
    ClaimLostError,
    InvalidTaskError,
    PatchConflictError,
    PatchError,
    ReadOnlyFieldError,
    StorageError,
    StoreClosedError,
    TaskNotFoundError,
)
from ._sailpoint_paths import is_sailpoint_path

__all__ = [
    "ERROR_SCHEMA",
    "InternalErrors",
    "RequestRefusedError",
    "allowed_methods",
    "error_response",
    "flat_routes",
    "install_error_handlers",
    "internal_error",
    "refusal",
    "store_error_response",
]

#: Where a failure of the server's own (a 500) is logged, with its traceback, under the id its answer gives.
LOG: Final = logging.getLogger("batchstore.server")

_DETAIL_CODES: Final = {
    400: "400.0 Bad Request",
    401: "401 Unauthorized",
    404: "404 Not found",
    405: "405 Method Not Allowed",
    406: "406 Not Acceptable",
    409: "409 Conflict",
    413: "413 Payload Too Large",
    415: "415 Unsupported Media Type",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}

#: The JSON schema of every error body, for the OpenAPI document.
ERROR_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["status", "error", "message"],
    "properties": {
        "status": {"type": "integer"},
        "error": {"type": "string", "description": "the kind of refusal (an error class name)"},
        "message": {"type": "string", "description": "what was refused and why"},
        "field": {"type": ["string", "null"], "description": "the field, parameter or header at fault"},
        "fields": {"type": "array", "items": {"type": "string"}},
        "errorId": {"type": "string", "description": "a 500 only: the id its traceback is logged under"},
        "detailCode": {"type": "string"},
        "messages": {"type": "array", "items": {"type": "object"}},
    },
}


class RequestRefusedError(BatchStoreError):
    """A request the server refuses before the store sees it: wrong content type, too large, bad JSON...

    ``status`` is the HTTP status to answer with; ``field`` names the member, parameter or header at fault.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.field = field
        self.headers = dict(headers or {})
        super().__init__(f"{field}: {message}" if field else message)


def error_response(
    path: str,
    status: int,
    error: str,
    message: str,
    fields: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
    *,
    error_id: str | None = None,
) -> JSONResponse:
    """The JSON response of one refusal (also used by the middleware, which runs outside FastAPI)."""
    body: dict[str, Any] = {
        "status": status,
        "error": error,
        "message": message,
        "field": fields[0] if len(fields) == 1 else None,
        "fields": list(fields),
    }
    if error_id is not None:
        body["errorId"] = error_id
    if is_sailpoint_path(path):
        body["detailCode"] = _DETAIL_CODES.get(status, str(status))
        body["messages"] = [{"locale": "en-US", "localeOrigin": "DEFAULT", "text": message}]
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def store_error_response(path: str, exc: BatchStoreError) -> JSONResponse:
    """The answer to one of batchstore's errors on ``path`` (the routes' handler, and the fast path's)."""
    headers = exc.headers if isinstance(exc, RequestRefusedError) else None
    kind = "PatchError" if type(exc) is PatchError else type(exc).__name__
    return error_response(path, _status_of(exc), kind, str(exc), _fields_of(exc), headers)


def _status_of(exc: BatchStoreError) -> int:
    if isinstance(exc, RequestRefusedError):
        return exc.status
    if isinstance(exc, TaskNotFoundError):
        return 404
    if isinstance(exc, (PatchConflictError, ClaimLostError)):
        return 409
    if isinstance(exc, (StorageError, StoreClosedError)):
        return 503
    return 400  # InvalidTaskError, ReadOnlyFieldError, PatchError and anything else the caller sent


def _fields_of(exc: BatchStoreError) -> tuple[str, ...]:
    if isinstance(exc, ReadOnlyFieldError):
        return exc.fields
    if isinstance(exc, (InvalidTaskError, RequestRefusedError)) and exc.field:
        return (exc.field,)
    return ()


def _location(loc: Iterable[Any]) -> str:
    # FastAPI says ("query", "limit"): the client knows the parameter by its name alone.
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def refusal(request: Request, exc: Exception) -> JSONResponse:
    """The one exception handler: batchstore's errors, FastAPI's parameter checks, Starlette's HTTP errors."""
    path = request.url.path
    if isinstance(exc, BatchStoreError):
        return store_error_response(path, exc)
    if isinstance(exc, RequestValidationError):
        errors = list(exc.errors())
        names = [_location(e.get("loc", ())) for e in errors]
        message = "; ".join(f"{name}: {e.get('msg', 'is refused')}" for name, e in zip(names, errors))
        return error_response(path, 400, "InvalidRequest", message or "the request is refused", names)
    if isinstance(exc, StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {path}"
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette's Allow names the methods of the first route at the path; every route's count.
            allowed = allowed_methods(request.app.router.routes, path)
            if allowed:
                headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not allowed on {path}; it takes {headers.get('Allow', 'other methods')}"
        return error_response(path, exc.status_code, "HTTPError", message, (), headers)
    raise exc  # not ours: InternalErrors answers 500 and logs it


def flat_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, those of included routers too (FastAPI may keep an included router as one entry)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if isinstance(inner, Router):
            yield from flat_routes(inner.routes)
        else:
            yield route


def allowed_methods(routes: Iterable[BaseRoute], path: str) -> list[str]:
    """The methods some route takes at ``path`` (HEAD wherever GET is: see HeadAsGet), sorted."""
    methods: set[str] = set()
    for route in flat_routes(routes):
        match, _ = route.matches({"type": "http", "path": path, "root_path": "", "method": "-"})
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """Route every refusal through :func:`refusal`."""
    for kind in (BatchStoreError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(kind, refusal)


class InternalErrors:
    """ASGI middleware, the outermost: a failure of the server's own becomes a JSON 500 with an error id.

    The traceback goes to the ``batchstore.server`` logger under that id, never to the client or stdout.
    If the response had already started (a streamed list whose database went away mid-way), nothing can
    be sent any more: the failure is logged and the response left unfinished, so the server closes the
    connection and the client sees a broken response, never a complete-looking one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            await internal_error(scope, receive, send, started=started)


async def internal_error(scope: Scope, receive: Receive, send: Send, *, started: bool) -> None:
    """Log the failure being handled (call it in an ``except``) and answer 500 unless the response began."""
    error_id = uuid.uuid4().hex[:16]
    where = f"{scope.get('method')} {scope.get('path')}"
    LOG.exception("error %s: %s failed%s", error_id, where, " after its response began" if started else "")
    if not started:
        message = f"the server failed on {where}; nothing more is known here (error id {error_id} in its log)"
        await error_response(scope["path"], 500, "InternalError", message, error_id=error_id)(scope, receive, send)
