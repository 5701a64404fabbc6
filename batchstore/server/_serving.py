"""How ``batchstore serve`` runs uvicorn: the one place its settings are written, and ``--workers N``.

The benchmark's floor app (``benchmarks/server.py``) runs on these very settings, so the two differ
only by the app.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
from typing import Any, Final

__all__ = ["APP_FACTORY", "OPTIONS_VARIABLE", "app_from_environment", "serve_workers", "uvicorn_settings"]


def uvicorn_settings(*, host: str, port: int, workers: int = 1) -> dict[str, Any]:
    """uvicorn's keyword arguments for ``batchstore serve``: batchstore's loggers on stderr, no Server header.

    ``loop`` and ``http`` stay "auto": uvloop and httptools when installed, asyncio and h11 otherwise.

    >>> settings = uvicorn_settings(host="127.0.0.1", port=8000)
    >>> settings["server_header"], settings["loop"], settings["http"]
    (False, 'auto', 'auto')
    """
    import uvicorn

    log_config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    # A 500's traceback and the pool's warnings, under batchstore's logger, go where uvicorn's own lines go.
    log_config["loggers"]["batchstore"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return {
        "host": host,
        "port": port,
        "workers": workers,
        "loop": "auto",
        "http": "auto",
        "log_level": "info",
        "log_config": log_config,
        "server_header": False,
        # An open dashboard's event stream never ends by itself: Ctrl-C waits for it at most this long.
        "timeout_graceful_shutdown": 3,
    }


#: How the parent of ``serve --workers N`` hands its options to the worker processes, which uvicorn starts
#: afresh (spawned, not forked) and which build their app by importing :func:`app_from_environment`.
OPTIONS_VARIABLE: Final = "BATCHSTORE_SERVE_OPTIONS"
APP_FACTORY: Final = "batchstore.server._serving:app_from_environment"


def app_from_environment() -> Any:
    """The app of one worker process of ``serve --workers N``: its options are the parent's, read from
    :data:`OPTIONS_VARIABLE` (the environment the parent passes on, so the token never shows in a
    command line). Each worker opens its own store on the same database.
    """
    from ._app import create_app

    options = json.loads(os.environ[OPTIONS_VARIABLE])
    return create_app(options["db"], token=options["token"], max_body_bytes=options["max_body_bytes"],
                      allowed_hosts=options["allowed_hosts"])


def serve_workers(
    db: str, *, host: str, port: int, workers: int, token: str | None, max_body_bytes: int, allowed_hosts: list[str]
) -> None:
    """Serve ``db`` with ``workers`` processes on one listening socket until interrupted (KeyboardInterrupt).

    uvicorn's supervisor binds the socket, starts the workers, restarts one that dies, and on Ctrl-C
    (SIGINT, which a terminal sends to every process of the group) or SIGTERM stops them all and waits
    for them. The options were checked by the caller; the database was opened (created or upgraded) once
    by the caller too, so the workers do not race to create its tables.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        interrupted = False

        def handle_int(self) -> None:
            self.interrupted = True  # uvicorn returns normally after SIGINT; the command line exits 130
            super().handle_int()

    options = {"db": db, "token": token, "max_body_bytes": max_body_bytes, "allowed_hosts": allowed_hosts}
    previous = os.environ.get(OPTIONS_VARIABLE)
    os.environ[OPTIONS_VARIABLE] = json.dumps(options)
    try:
        config = uvicorn.Config(APP_FACTORY, factory=True, **uvicorn_settings(host=host, port=port, workers=workers))
        sock = config.bind_socket()
        # Older uvicorn releases also took the function each worker runs (its Server's run).
        older = "target" in inspect.signature(Multiprocess).parameters
        target = {"target": uvicorn.Server(config).run} if older else {}
        try:
            supervisor = Supervisor(config, sockets=[sock], **target)
            supervisor.run()
        finally:
            sock.close()
    finally:
        if previous is None:
            os.environ.pop(OPTIONS_VARIABLE, None)
        else:
            os.environ[OPTIONS_VARIABLE] = previous
    if supervisor.interrupted:
        raise KeyboardInterrupt
