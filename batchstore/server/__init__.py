"""batchstore over HTTP: SuperOffice's BatchTask routes and SailPoint's task-status routes on a local store.

Needs the ``server`` extra (``pip install "batchstore[server]"``); without it, importing this package
raises :class:`ServerUnavailableError` saying so.

>>> from batchstore import BatchStore
>>> from batchstore.server import create_app
>>> app = create_app(BatchStore())          # an ASGI app: run it with uvicorn, or mount it
>>> [path for path in app.openapi()["paths"] if path.startswith("/task-status")]
['/task-status/v1', '/task-status/v1/{id}']
"""

from __future__ import annotations

from ._setup import (
    DEFAULT_MAX_BODY_BYTES,
    INSTALL_HINT,
    ServerConfigurationError,
    ServerUnavailableError,
    check_bind,
)

try:
    import fastapi  # noqa: F401
    import fastapi_offline  # noqa: F401
    import prometheus_client  # noqa: F401
    import python_multipart  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:
    raise ServerUnavailableError(f"batchstore's HTTP server needs {exc.name or 'FastAPI'}: {INSTALL_HINT}") from None

from ._app import create_app, serve

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "ServerConfigurationError",
    "ServerUnavailableError",
    "check_bind",
    "create_app",
    "serve",
]
