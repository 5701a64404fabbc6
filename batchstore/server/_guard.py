"""The checks every request passes before a route runs: the Host, the token, the media types, the body size.

A pure ASGI middleware, so a refused request is answered before its body is read: a 400, 401 or 413
writes nothing and costs nothing, whatever the client sends after its headers.

Order: the Host header first (DNS rebinding: a page whose name an attacker points at 127.0.0.1 is
same-origin with the server, so no CORS preflight stops it; its requests carry the attacker's name), then
the token. The media-type checks apply to a route that exists for the request's method: a wrong method
is the router's 405 (with ``Allow``) and an unknown path its 404, whatever the body. A write without a body
may carry no Content-Type or a JSON one, never a form's (CSRF: a cross-site form needs no preflight).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable
from typing import Any, Final

from starlette.routing import BaseRoute, Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._errors import RequestRefusedError, flat_routes, store_error_response
from ._sailpoint_paths import TASK_STATUS_PREFIXES, TOKEN_PATH
from ._setup import allowed_host_names, answers_to, host_name

__all__ = ["JSON_TYPES", "PATCH_TYPES", "Guard", "HeadAsGet", "header"]

#: Request bodies of SuperOffice's routes (its pages also list XML and forms, which batchstore does not speak).
JSON_TYPES: Final = frozenset({"application/json", "text/json"})
#: Request bodies of SailPoint's PATCH: a JSON Patch document (plain JSON is taken too).
PATCH_TYPES: Final = frozenset({"application/json-patch+json", "application/json"})
_ACCEPTED_RANGES: Final = frozenset({"*/*", "application/*", "text/*", "application/json", "text/json"})
_API_PREFIXES: Final = ("/api/", *TASK_STATUS_PREFIXES)
_BODY_PREFIXES: Final = ("/api/", *TASK_STATUS_PREFIXES, "/batchstore/")
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
#: The methods that write: even without a body, each is checked for a form's media type (CSRF).
_WRITE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: What a request without a body may say its (empty) body is: nothing a cross-site form can send.
_BODYLESS_TYPES: Final = JSON_TYPES | PATCH_TYPES
#: The dashboard's page and files hold no data: any browser may load them, and the page asks for the token
#: and sends it with each request for data (in a header: no cookie or cached password to forge requests with).
_PUBLIC_PATHS: Final = frozenset({"/", "/dashboard/static/dashboard.css", "/dashboard/static/dashboard.js",
                                  "/dashboard/static/favicon.svg"})


def _raw_header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def header(scope: Scope, name: bytes) -> str | None:
    value = _raw_header(scope, name)
    return None if value is None else value.decode("latin-1")


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _accepts_json(accept: str) -> bool:
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if any(p.replace(" ", "").lower() in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params):
            continue
        if media.lower() in _ACCEPTED_RANGES:
            return True
    return False


#: Header values remembered per guard: a client sends a few; whoever sends thousands gets them forgotten.
_REMEMBERED: Final = 256


def _remember(memo: dict[str, bool], key: str, value: bool) -> None:
    if len(memo) >= _REMEMBERED:
        memo.clear()
    memo[key] = value


def _answers_json(route: BaseRoute | None, path: str) -> bool:
    """Whether a route's answer is JSON (so an Accept without JSON is a 406): its documented 200 says so."""
    if path.startswith(_API_PREFIXES):
        return True
    responses: Any = getattr(route, "responses", None) or {}
    content = (responses.get(200) or responses.get("200") or {}).get("content", {})
    return "application/json" in content


class Guard:
    """ASGI middleware: Host (400), bearer/basic token (401), Accept (406), Content-Type (415), body size (413).

    ``router`` is the app's, to tell a request for a route that exists from a wrong method (405) or an
    unknown path (404), which the router answers. ``allowed_hosts``: the names the Host header may give
    besides loopback ones (``localhost``, ``127.0.0.1``, ``[::1]``, with any port); ``"*"`` lets any through.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        max_body_bytes: int,
        router: Router | None = None,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.token = token.encode("utf-8") if token is not None else None
        self.max_body_bytes = max_body_bytes
        self.router = router
        self._routes: tuple[BaseRoute, ...] | None = None
        self.allowed_hosts = allowed_host_names(allowed_hosts)
        # Host and Accept headers seen before -> whether they pass: a client sends the same ones with every
        # request, and telling a loopback name (an IP address parse) costs more than the store's read.
        self._hosts: dict[str, bool] = {}
        self._accepts: dict[str, bool] = {}

    def _authorized(self, scope: Scope) -> bool:
        # Bytes against bytes: the header as sent (a browser or curl sends a non-ASCII token as UTF-8)
        # against the token's UTF-8, so no decoding step can make a right token wrong.
        assert self.token is not None
        given = _raw_header(scope, b"authorization")
        if given is None:
            return False
        scheme, _, credentials = given.strip().partition(b" ")
        secret: bytes
        if scheme.lower() == b"bearer":
            secret = credentials.strip()
        elif scheme.lower() == b"basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True)
            except (binascii.Error, ValueError):
                return False
            secret = decoded.partition(b":")[2]  # the user name is free; the password is the token
        else:
            return False
        return hmac.compare_digest(secret, self.token)

    def _check_host(self, scope: Scope) -> None:
        host = header(scope, b"host")
        if host is None:
            return  # HTTP/1.0 without Host: no browser sends that, so no rebinding can either
        known = self._hosts.get(host)
        if known is None:
            known = answers_to(host_name(host), self.allowed_hosts)
            _remember(self._hosts, host, known)
        if not known:
            raise RequestRefusedError(
                400,
                f"{host!r} is not a name this server answers to; it answers to loopback names (localhost, "
                f"127.0.0.1, [::1]) and those given with --allowed-host",
                field="Host",
            )

    def _route(self, scope: Scope) -> tuple[Match, BaseRoute | None]:
        """The route the router will pick for this request, and how it matches (FULL, PARTIAL: wrong method)."""
        if self._routes is None:  # read at the first request: every route has been added by then
            self._routes = tuple(flat_routes(self.router.routes)) if self.router is not None else ()
        # Matched on a copy: a route may note what it matched in the scope it is given.
        probe = {"type": "http", "path": scope["path"], "root_path": scope.get("root_path", ""),
                 "method": scope["method"]}
        partial: BaseRoute | None = None
        for route in self._routes:
            match, _ = route.matches(probe)
            if match is Match.FULL:
                return match, route
            if match is Match.PARTIAL and partial is None:
                partial = route
        return (Match.PARTIAL, partial) if partial is not None else (Match.NONE, None)

    def _check(self, scope: Scope) -> None:
        self.check_access(scope)
        match, route = self._route(scope) if self.router is not None else (Match.FULL, None)
        if match is not Match.FULL:
            return  # the router answers: 405 with Allow for a wrong method, 404 for an unknown path
        self.check_route(scope, route)

    def check_access(self, scope: Scope) -> None:
        """The checks before routing: the Host header (400), then the token (401)."""
        path: str = scope["path"]
        self._check_host(scope)
        # The token route is how a SailPoint client that holds the token as its client secret gets in; the
        # dashboard's page and files hold no data.
        public = path == TOKEN_PATH or (scope["method"] in ("GET", "HEAD") and path in _PUBLIC_PATHS)
        if self.token is not None and not public and not self._authorized(scope):
            raise RequestRefusedError(
                401,
                "this server needs 'Authorization: Bearer <token>' (or Basic with the token as password)",
                field="Authorization",
                headers={"WWW-Authenticate": 'Basic realm="batchstore"'},  # browsers prompt for Basic
            )

    def check_route(self, scope: Scope, route: BaseRoute | None) -> None:
        """The checks of a request whose route is known to match it: Accept, Content-Type, Content-Length.

        The fast path (``_fast.py``) calls this with the route it matched itself, after :meth:`check_access`.
        """
        path: str = scope["path"]
        if _answers_json(route, path):
            accept = header(scope, b"accept")
            if accept and not self._json_accepted(accept):
                raise RequestRefusedError(
                    406, f"responses are application/json or text/json, not {accept!r}", field="Accept"
                )
        method: str = scope["method"]
        if method not in _WRITE_METHODS or path == TOKEN_PATH:
            return  # the token route takes a form by design (OAuth's client credentials)
        length = header(scope, b"content-length")
        content_type = header(scope, b"content-type")
        if (length is None or length.strip() == "0") and header(scope, b"transfer-encoding") is None:
            # No body (SuperOffice's POST /api/v1/BatchTask/{id}/Stop): no type, or a JSON one, is fine. A form's
            # type is refused: a form on another site can post an empty body to a server without a token
            # (no CORS preflight for it), which must not stop or requeue a task.
            if content_type is not None and _media_type(content_type) not in _BODYLESS_TYPES:
                raise RequestRefusedError(
                    415,
                    f"a request without a body takes no Content-Type or a JSON one, not {content_type!r}",
                    field="Content-Type",
                )
            return
        if method not in _BODY_METHODS or not path.startswith(_BODY_PREFIXES):
            return
        allowed = PATCH_TYPES if method == "PATCH" else JSON_TYPES
        if content_type is None or _media_type(content_type) not in allowed:
            shown = "none" if content_type is None else repr(content_type)
            raise RequestRefusedError(
                415, f"the body must be {' or '.join(sorted(allowed))}, not {shown}", field="Content-Type"
            )
        if length is not None and length.strip().isdigit() and int(length) > self.max_body_bytes:
            raise self.too_large()

    def _json_accepted(self, accept: str) -> bool:
        known = self._accepts.get(accept)
        if known is None:
            known = _accepts_json(accept)
            _remember(self._accepts, accept, known)
        return known

    def too_large(self) -> RequestRefusedError:
        """The 413 of a body over the limit."""
        return RequestRefusedError(413, f"the body is over the limit of {self.max_body_bytes} bytes", field="body")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check(scope)
        except RequestRefusedError as exc:
            await store_error_response(scope["path"], exc)(scope, receive, send)
            return
        if scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        received = 0
        limit = self.max_body_bytes

        async def counted() -> Message:
            # A chunked body (no Content-Length) is counted as it arrives; past the limit the route's
            # read fails with 413 before the rest is read, and nothing has been written.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise self.too_large()
            return message

        await self.app(scope, counted, send)


class HeadAsGet:
    """ASGI middleware: ``HEAD`` on a GET route answers as GET would (status, headers), without a body.

    The app sees a GET; the body is not passed on, and the answer ends with its headers, so a HEAD on
    an endless stream (the dashboard's events) ends at once too. A route of the app's own for HEAD
    (``router``'s, such as SailPoint's pending-tasks count) answers it instead.
    """

    def __init__(self, app: ASGIApp, *, router: Router | None = None) -> None:
        self.app = app
        self.router = router
        self._own_head: tuple[BaseRoute, ...] | None = None

    def _has_own_head(self, scope: Scope) -> bool:
        if self.router is None:
            return False
        if self._own_head is None:  # read at the first HEAD: every route has been added by then
            routes = flat_routes(self.router.routes)
            self._own_head = tuple(r for r in routes if "HEAD" in (getattr(r, "methods", None) or ()))
        probe = {"type": "http", "path": scope["path"], "root_path": scope.get("root_path", ""), "method": "HEAD"}
        return any(route.matches(probe)[0] is Match.FULL for route in self._own_head)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or self._has_own_head(scope):
            await self.app(scope, receive, send)
            return
        ended = False

        async def headers_only(message: Message) -> None:
            nonlocal ended
            if ended:
                return
            if message["type"] == "http.response.start":
                await send(message)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                ended = True
            elif message["type"] == "http.response.body":
                return
            else:
                await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)
