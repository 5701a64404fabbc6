"""The application factory: one store, the routes of both APIs, the guard, the errors, offline docs.

FastAPI (on Starlette, run by uvicorn) because it writes ``/openapi.json`` from the routes' declared
parameters and bodies, which the docs page and schemathesis read, and its exception handlers give
one place to turn batchstore's errors into HTTP refusals. ``fastapi-offline`` ships the Swagger UI and
ReDoc assets inside the package, so the docs work without any network.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import importlib.util
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline

from .. import __version__
from .._store import BatchStore
from . import _schemas as schemas
from ._calls import StoreCalls
from ._changes import ChangeHub
from ._errors import InternalErrors, install_error_handlers
from ._extras import extras_router
from ._fast import FastApp, FastPath
from ._guard import Guard, HeadAsGet
from ._metrics import CONTENT_TYPE, Metrics, RequestCounter
from ._sailpoint import sailpoint_router
from ._serving import serve_workers
from ._setup import (
    DEFAULT_HOST,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_PORT,
    ServerConfigurationError,
    allowed_host_names,
    check_bind,
    check_listen,
    check_workers,
    is_loopback,
)
from ._superoffice import superoffice_router

__all__ = ["create_app", "serve"]

_DASHBOARD = "batchstore.server._dashboard"
_DESCRIPTION = """\
A local [batchstore](https://pypi.org/project/batchstore/) served over HTTP: SuperOffice's BatchTask
routes (`/api/v1/...`) and SailPoint's task-status routes (`/{version}/task-status/...`,
`/task-status/v1/...`) on one store, so apps written against either can be prototyped offline.
"""


def create_app(
    store_or_url: BatchStore | str | os.PathLike[str],
    *,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    allowed_hosts: Iterable[str] = (),
) -> FastAPI:
    """The ASGI app serving ``store_or_url``: a BatchStore (the caller keeps owning it) or a path/URL
    (the app opens the store and closes it when it shuts down).

    With ``token``, every route needs ``Authorization: Bearer <token>`` (or Basic with the token as
    password). Request bodies over ``max_body_bytes`` are refused with 413. The ``Host`` header must name
    this machine (``localhost``, ``127.0.0.1``, ``[::1]``, any port) or one of ``allowed_hosts``
    (``["*"]``: any), else the request is a 400: a web page cannot reach the store by re-pointing its
    own name at 127.0.0.1 (DNS rebinding).

    >>> from batchstore import BatchStore
    >>> app = create_app(BatchStore(), token="s3cret")
    >>> app.title
    'batchstore'
    """
    if token is not None and not token:
        raise ServerConfigurationError("an empty token would let anyone in; give a secret or none", option="token")
    if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes < 1:
        raise ServerConfigurationError(
            f"must be a positive number of bytes, got {max_body_bytes!r}", option="max_body_bytes"
        )
    allowed_hosts = tuple(allowed_hosts)  # read by the guard and the fast path: a generator would be spent
    allowed_host_names(allowed_hosts)  # checked here, before a store is opened
    owned = not isinstance(store_or_url, BatchStore)
    store = store_or_url if isinstance(store_or_url, BatchStore) else BatchStore(store_or_url)
    calls = StoreCalls(store)  # how the API routes reach the store: see _calls.py
    # What ends the open event streams when the server shuts down (see serve: it calls them first).
    closers: list[Callable[[], None]] = []

    def close_streams() -> None:
        for close in closers:
            close()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            close_streams()
            calls.close()
            if owned:
                store.close()

    app = FastAPIOffline(
        title="batchstore",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        static_url="/_docs-static",
    )
    app.state.store = store
    app.state.calls = calls
    app.state.close_streams = close_streams
    install_error_handlers(app)
    app.include_router(superoffice_router(calls))
    app.include_router(sailpoint_router(calls, token=token))
    hub = ChangeHub(store)  # one follower of the change feed for the long polls and the dashboard's pages
    closers.append(hub.close)  # at shutdown, every open event stream and long poll ends at once
    app.include_router(extras_router(store, hub))
    if importlib.util.find_spec(_DASHBOARD) is not None:
        # The dashboard at / lives in its own module with its static files; the app works without it.
        app.include_router(importlib.import_module(_DASHBOARD).dashboard_router(store, hub))
    metrics = Metrics(store)

    @app.get(
        "/metrics",
        tags=["batchstore"],
        summary="Prometheus metrics: tasks per state, transitions, acquire-to-finish times, HTTP requests",
        response_class=Response,
        responses={200: {"description": "Prometheus' text format",
                         "content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def metrics_route() -> Response:
        return Response(metrics.scrape(), media_type=CONTENT_TYPE)

    # Outermost last: InternalErrors, the RequestCounter (outside the guard, so its refusals
    # (401, 413...) are counted too, and inside InternalErrors, so a failure counts as the 500 it answers),
    # HeadAsGet, then the Guard (which sees the routes, for 404 and 405).
    app.add_middleware(Guard, token=token, max_body_bytes=max_body_bytes, router=app.router,
                       allowed_hosts=allowed_hosts)
    app.add_middleware(HeadAsGet, router=app.router)
    app.add_middleware(RequestCounter, metrics=metrics, routes=app.router.routes)
    app.add_middleware(InternalErrors)
    # In front of all of it, the hot routes (see _fast.py): the guard's and the counter's work done once, no
    # routing; FastAPIOffline makes a plain FastAPI, which becomes a FastApp (it only adds __call__).
    app.__class__ = FastApp
    assert isinstance(app, FastApp)
    app.fast_path = FastPath(calls=calls, metrics=metrics, token=token, max_body_bytes=max_body_bytes,
                             allowed_hosts=allowed_hosts)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            document.setdefault("components", {}).setdefault("schemas", {}).update(schemas.COMPONENTS)
            if token is not None:
                document["components"]["securitySchemes"] = {
                    "bearer": {"type": "http", "scheme": "bearer"},
                    "basic": {"type": "http", "scheme": "basic", "description": "any user name; the token as password"},
                }
                document["security"] = [{"bearer": []}, {"basic": []}]
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def serve(
    db: BatchStore | str | os.PathLike[str],
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    allowed_hosts: Iterable[str] = (),
    workers: int = 1,
) -> None:
    """Serve ``db`` (a path, URL or BatchStore) with uvicorn until interrupted; ``batchstore serve`` calls this.

    ``workers`` above 1 runs that many processes on the one port (a path or URL only: each opens its own
    store), so requests use as many cores; see :func:`~batchstore.server._serving.serve_workers`.

    Binding an address other machines can reach without a token raises ServerConfigurationError
    before anything starts. Requests must name a loopback host, the address bound, or one of
    ``allowed_hosts`` (see :func:`create_app`). Ctrl-C ends the open event streams at once and raises
    KeyboardInterrupt once the server has stopped (the command line exits 130).

    >>> serve("tasks.db", host="0.0.0.0")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    batchstore.server._setup.ServerConfigurationError: host: 0.0.0.0 is reachable from other machines; pass a token...
    """
    check_bind(host, token)
    allowed_host_names(allowed_hosts)
    check_workers(workers, db)
    check_listen(host, port)
    import uvicorn

    names = [*allowed_hosts]
    if host.strip() not in _ANY_ADDRESS and not is_loopback(host):
        names.append(host)  # bound to one address: clients name it
    if workers > 1:
        # Opened once here, so the schema is created or upgraded before the workers open it, and a
        # database that cannot be opened is refused in one line rather than by every worker.
        assert not isinstance(db, BatchStore)  # check_workers refused it
        with BatchStore(db) as opened:
            _announce(opened.database, host, port, token)
        serve_workers(os.fspath(db), host=host, port=port, workers=workers, token=token,
                      max_body_bytes=max_body_bytes, allowed_hosts=names)
        return
    app = create_app(db, token=token, max_body_bytes=max_body_bytes, allowed_hosts=names)
    _announce(app.state.store.database, host, port, token)
    config = uvicorn.Config(app, host=host, port=port, log_level="info", server_header=False,
                            timeout_graceful_shutdown=3, log_config=_log_config(uvicorn))
    server = _shutting_down_first(uvicorn.Server, app.state.close_streams)(config)
    # Not uvicorn.run: it swallows the KeyboardInterrupt, and the command line would exit 0 after Ctrl-C.
    server.run()


_ANY_ADDRESS = frozenset({"", "0.0.0.0", "::", "[::]"})


def _announce(database: str, host: str, port: int, token: str | None) -> None:
    """What a newcomer needs first: which database this is (its password hidden) and where the page is."""
    shown_host = f"[{host}]" if ":" in host else host
    print(f"batchstore serve: database {database}", file=sys.stderr, flush=True)
    print(f"batchstore serve: dashboard http://{shown_host}:{port}/ (API docs /docs, metrics /metrics"
          f"{', token needed' if token else ''})", file=sys.stderr, flush=True)


def _log_config(uvicorn: Any) -> dict[str, Any]:
    """uvicorn's logging, plus batchstore's own loggers (a 500's traceback, the pool's warnings) on stderr."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["batchstore"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def _shutting_down_first(server_class: Any, close_streams: Callable[[], None]) -> Any:
    """uvicorn's Server, which ends the app's event streams before it waits for open connections to finish."""

    class Server(server_class):  # type: ignore[misc]
        async def shutdown(self, sockets: Any = None) -> None:
            close_streams()  # an open dashboard would otherwise hold the shutdown for the whole grace period
            await super().shutdown(sockets)

    return Server
