"""The fast path: the routes the official clients call most, answered before FastAPI's routing.

FastAPI's routing and per-route dependencies cost about 100 µs a request and the guard's route matching
(39 routes, for 404 and 405) about 40 more, where a task read from SQLite costs about 13. The fast path
answers the hot routes itself, matched exactly by method and path (the id taken from the path
by hand), and hands every other request to the FastAPI app untouched, so the OpenAPI document, the docs
and every other route are as they were:

- ``POST /api/v1/Agents/Batch/GetBatchTaskInfo`` and ``UpdateBatchTask``;
- ``GET /api/v1/BatchTask/{id_or_state}``;
- ``GET`` and ``PATCH /task-status/v1/{id}`` and ``/{version}/task-status/{id}``;
- ``GET /task-status/v1`` and ``/{version}/task-status`` (the list, with ``limit`` and ``offset``).

:class:`FastApp` asks the fast path first, so a hot request skips FastAPI's own middleware too (its
native telemetry, when OpenTelemetry is configured, sees only the other routes). Only the plain forms
are taken: a request with a query parameter the fast path does not parse (``$select``,
``filters``, ``count``...), a ``HEAD``, or an unknown API version goes to FastAPI, which answers it as
before. What a request goes through here is what it goes through there, once: the guard's checks (Host,
token, Accept, Content-Type, body size: :meth:`Guard.check_access` and :meth:`Guard.check_route`), the
body read and parsed as :func:`~batchstore.server._body.json_body` does, the SO-TimeZone header, the very
answer functions the FastAPI routes call, every refusal as the same JSON (:func:`store_error_response`),
the request counted in ``/metrics`` under its route template, and a failure of the server's own answered
with a JSON 500 as :class:`~batchstore.server._errors.InternalErrors` answers it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

from fastapi import FastAPI
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from .._exceptions import BatchStoreError
from .._fields import INT32_MAX
from . import _sailpoint as sailpoint
from . import _superoffice as superoffice
from ._body import parse_body
from ._calls import StoreCalls
from ._errors import internal_error, store_error_response
from ._filters import parse_filters, parse_sorters
from ._guard import Guard, header
from ._metrics import Metrics
from ._sailpoint_paths import API_VERSIONS
from ._timezone import zone_of

__all__ = ["FastApp", "FastPath"]

#: An answer: (the request's scope, its body or None, the path's parameter or None) -> the response.
_Answer = Callable[[Scope, bytes | None, str | None], Awaitable[Response]]

_GET_TASK: Final = "/api/v1/Agents/Batch/GetBatchTaskInfo"
_UPDATE_TASK: Final = "/api/v1/Agents/Batch/UpdateBatchTask"
_BATCH_TASK: Final = "/api/v1/BatchTask/"
_V1: Final = "/task-status/v1"
#: A list's query parameter as the FastAPI route's validation takes it without a doubt: a plain number.
_NUMBER: Final = re.compile(rb"0|[1-9][0-9]{0,9}")


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("the fast path's guard only checks; it passes nothing on")


def _paging(query: bytes) -> tuple[int, int, bool] | None:
    """``limit`` and ``offset`` of a list's query string, each at most once, plain numbers in range; else
    None (FastAPI takes the request, and refuses what it must)."""
    limit, offset = sailpoint.PAGE_MAX, 0  # the FastAPI route's defaults and bounds (_page_parameters)
    seen: set[bytes] = set()
    for part in query.split(b"&") if query else ():
        name, equals, value = part.partition(b"=")
        if not equals or name in seen or not _NUMBER.fullmatch(value):
            return None
        seen.add(name)
        number = int(value)
        if name == b"limit" and number <= sailpoint.PAGE_MAX:
            limit = number
        elif name == b"offset" and number <= INT32_MAX:
            offset = number
        else:
            return None
    return limit, offset, False


class FastPath:
    """The hot routes answered at once (see the module's text): :meth:`route` tells whether a request is one,
    :meth:`answer` answers it. The app (:class:`FastApp`) asks before FastAPI sees the request.

    ``calls`` and ``metrics`` are the app's; ``token``, ``max_body_bytes`` and ``allowed_hosts`` are the
    guard's settings (the same :class:`Guard` checks run here).
    """

    def __init__(
        self,
        *,
        calls: StoreCalls,
        metrics: Metrics,
        token: str | None,
        max_body_bytes: int,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        self.calls = calls
        self.metrics = metrics
        self.guard = Guard(_no_app, token=token, max_body_bytes=max_body_bytes, allowed_hosts=allowed_hosts)
        self.max_body_bytes = max_body_bytes
        # (method, path) -> (route template, answer): the routes without a path parameter.
        self.exact: dict[tuple[str, str], tuple[str, _Answer]] = {
            ("POST", _GET_TASK): (_GET_TASK, self._get_task),
            ("POST", _UPDATE_TASK): (_UPDATE_TASK, self._update_task),
            ("GET", _V1): (_V1, self._list_statuses),
        }
        # The first part of a path with an id after it -> method -> (route template, answer).
        self.prefixed: dict[str, dict[str, tuple[str, _Answer]]] = {
            _V1 + "/": {"GET": (_V1 + "/{id}", self._status), "PATCH": (_V1 + "/{id}", self._patch)},
            _BATCH_TASK: {"GET": ("/api/v1/BatchTask/{id_or_state}", self._by_id_or_state)},
        }
        for version in API_VERSIONS:
            self.exact["GET", f"/{version}/task-status"] = ("/{version}/task-status", self._list_statuses)
            self.prefixed[f"/{version}/task-status/"] = {
                "GET": ("/{version}/task-status/{id}", self._status),
                "PATCH": ("/{version}/task-status/{id}", self._patch),
            }

    def route(self, scope: Scope) -> tuple[str, _Answer, str | None] | None:
        """The fast route of an HTTP request (its template, its answer, the path's parameter), or None: FastAPI's.

        A query string is read by the list only (``limit``, ``offset``); anything else in it (``$select``...)
        leaves the request to FastAPI, as does a ``root_path`` (a mounted app).
        """
        if scope.get("root_path"):
            return None
        method: str = scope["method"]
        path: str = scope["path"]
        found = self.exact.get((method, path))
        parameter = None
        if found is None:
            cut = path.rfind("/") + 1
            routes = self.prefixed.get(path[:cut])
            if routes is None:
                return None
            found = routes.get(method)
            parameter = path[cut:]
            # "pending-tasks" is a route of its own under the versions; an empty id is Starlette's redirect.
            if found is None or not parameter or parameter == "pending-tasks":
                return None
        query = scope["query_string"]
        if query and (found[1] != self._list_statuses or _paging(query) is None):
            return None
        return found[0], found[1], parameter

    async def answer(self, scope: Scope, receive: Receive, send: Send, route: tuple[str, _Answer, str | None]) -> None:
        """Answer a request :meth:`route` took: the guard's checks, the body, the answer; counted in /metrics."""
        template, answer, parameter = route
        status = 500  # what the client gets if the answer fails
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            try:
                self.guard.check_access(scope)
                self.guard.check_route(scope, None)
                body = await self._body(receive) if scope["method"] != "GET" else None
                response = await answer(scope, body, parameter)
            except BatchStoreError as exc:
                response = store_error_response(scope["path"], exc)
            status = response.status_code
            await response(scope, receive, tracked)
        except Exception:
            # What InternalErrors does for the other routes: a JSON 500 with an error id, the traceback logged
            # (counted as the 500 it answers, unless an answer had begun: then as the status already sent).
            if not started:
                status = 500
            await internal_error(scope, receive, send, started=started)
        finally:
            self.metrics.count_request(scope["method"], template, status)

    async def _body(self, receive: Receive) -> bytes:
        """The whole body, 413 past the limit (a chunked one, as it arrives) before the rest is read."""
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self.guard.too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    # --- the answers: the inputs as FastAPI's routes take them, then the routes' own answer functions ---

    async def _get_task(self, scope: Scope, body: bytes | None, parameter: str | None) -> Response:
        value = parse_body(body or b"")
        return await superoffice.get_task_answer(self.calls, value, zone_of(header(scope, b"so-timezone")), None)

    async def _update_task(self, scope: Scope, body: bytes | None, parameter: str | None) -> Response:
        value = parse_body(body or b"")
        return await superoffice.update_task_answer(self.calls, value, zone_of(header(scope, b"so-timezone")), None)

    async def _by_id_or_state(self, scope: Scope, body: bytes | None, parameter: str | None) -> Response:
        assert parameter is not None
        zone = zone_of(header(scope, b"so-timezone"))
        return await superoffice.by_id_or_state_answer(self.calls, parameter, zone, None)

    async def _status(self, scope: Scope, body: bytes | None, parameter: str | None) -> Response:
        assert parameter is not None
        return await sailpoint.status_answer(self.calls, parameter)

    async def _patch(self, scope: Scope, body: bytes | None, parameter: str | None) -> Response:
        assert parameter is not None
        value = parse_body(body or b"")
        return await sailpoint.patch_answer(self.calls, parameter, value)

    async def _list_statuses(self, scope: Scope, body: bytes | None, parameter: str | None) -> Response:
        paging = _paging(scope["query_string"])
        assert paging is not None  # checked by route()
        where = parse_filters(None, sailpoint.FILTERS)
        return await sailpoint.page_answer(self.calls, where, parse_sorters(None, sailpoint.SORTERS), paging)


class FastApp(FastAPI):
    """The FastAPI app with the fast path in front: a request the fast path takes never reaches FastAPI's
    middleware or routing (which cost more than the store's read); every other one goes on as before.

    ``create_app`` sets :attr:`fast_path` (None: every request goes to FastAPI).
    """

    fast_path: FastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast_path
        if fast is not None and scope["type"] == "http":
            route = fast.route(scope)
            if route is not None:
                await fast.answer(scope, receive, send, route)
                return
        await super().__call__(scope, receive, send)
