"""How ``batchstore serve`` runs uvicorn: the one place its settings are written.

The benchmark's floor app (``benchmarks/server.py``) runs on these very settings, so the two differ
only by the app.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["uvicorn_settings"]


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
