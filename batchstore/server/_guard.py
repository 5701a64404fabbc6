"""The checks every request passes before a route runs: the token, the media types, the body size.

A pure ASGI middleware, so a refused request is answered before its body is read: a 401 or a 413
writes nothing and costs nothing, whatever the client sends after its headers.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._errors import RequestRefusedError, error_response
from ._sailpoint_paths import TASK_STATUS_PREFIXES, TOKEN_PATH

__all__ = ["JSON_TYPES", "PATCH_TYPES", "Guard"]

#: Request bodies of SuperOffice's routes (its pages also list XML and forms, which batchstore does not speak).
JSON_TYPES: Final = frozenset({"application/json", "text/json"})
#: Request bodies of SailPoint's PATCH: a JSON Patch document (plain JSON is taken too).
PATCH_TYPES: Final = frozenset({"application/json-patch+json", "application/json"})
_ACCEPTED_RANGES: Final = frozenset({"*/*", "application/*", "text/*", "application/json", "text/json"})
_API_PREFIXES: Final = ("/api/", *TASK_STATUS_PREFIXES)
_BODY_PREFIXES: Final = ("/api/", *TASK_STATUS_PREFIXES, "/batchstore/")
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
#: The dashboard's page and files hold no data: any browser may load them, and the page asks for the token
#: and sends it with each request for data (in a header: no cookie or cached password to forge requests with).
_PUBLIC_PATHS: Final = frozenset({"/", "/dashboard/static/dashboard.css", "/dashboard/static/dashboard.js",
                                  "/dashboard/static/favicon.svg"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


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


class Guard:
    """ASGI middleware: bearer/basic token, Accept (406), Content-Type (415) and body size (413)."""

    def __init__(self, app: ASGIApp, *, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.token = token.encode("utf-8") if token is not None else None
        self.max_body_bytes = max_body_bytes

    def _authorized(self, scope: Scope) -> bool:
        assert self.token is not None
        given = _header(scope, b"authorization")
        if given is None:
            return False
        scheme, _, credentials = given.strip().partition(" ")
        secret: bytes
        if scheme.lower() == "bearer":
            secret = credentials.strip().encode("utf-8")
        elif scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True)
            except (binascii.Error, ValueError):
                return False
            secret = decoded.partition(b":")[2]  # the user name is free; the password is the token
        else:
            return False
        return hmac.compare_digest(secret, self.token)

    def _check(self, scope: Scope) -> None:
        path: str = scope["path"]
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
        if path.startswith(_API_PREFIXES):
            accept = _header(scope, b"accept")
            if accept and not _accepts_json(accept):
                raise RequestRefusedError(
                    406, f"responses are application/json or text/json, not {accept!r}", field="Accept"
                )
        if scope["method"] not in _BODY_METHODS or not path.startswith(_BODY_PREFIXES):
            return
        length = _header(scope, b"content-length")
        if (length is None or length.strip() == "0") and _header(scope, b"transfer-encoding") is None:
            return  # no body (POST /api/v1/BatchTask/{id}/Stop): no media type to check; a route that needs one says so
        allowed = PATCH_TYPES if scope["method"] == "PATCH" else JSON_TYPES
        content_type = _header(scope, b"content-type")
        if content_type is None or _media_type(content_type) not in allowed:
            shown = "none" if content_type is None else repr(content_type)
            raise RequestRefusedError(
                415, f"the body must be {' or '.join(sorted(allowed))}, not {shown}", field="Content-Type"
            )
        if length is not None and length.strip().isdigit() and int(length) > self.max_body_bytes:
            raise self._too_large()

    def _too_large(self) -> RequestRefusedError:
        return RequestRefusedError(413, f"the body is over the limit of {self.max_body_bytes} bytes", field="body")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check(scope)
        except RequestRefusedError as exc:
            fields: Iterable[str] = (exc.field,) if exc.field else ()
            response = error_response(
                scope["path"], exc.status, "RequestRefusedError", str(exc), tuple(fields), exc.headers
            )
            await response(scope, receive, send)
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
                    raise self._too_large()
            return message

        await self.app(scope, counted, send)
