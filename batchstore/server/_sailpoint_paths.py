"""Where SailPoint's routes live: the API versions its SDKs call task-status under, and the token route.

One place, because three modules need it: the routes (``_sailpoint.py``), the guard (which media types
a path takes, and which path is open without a token) and the error bodies (SailPoint's error format).

>>> is_sailpoint_path("/v2025/task-status/7"), is_sailpoint_path("/api/v1/BatchTask")
(True, False)
"""

from __future__ import annotations

from typing import Final

__all__ = ["API_VERSIONS", "TASK_STATUS_PREFIXES", "TOKEN_PATH", "is_sailpoint_path"]

#: The versions SailPoint's SDKs put in front of ``/task-status`` (``beta``, ``v2024``, ``v2025`` and
#: ``v2026`` in sailpoint 1.x; ``v3`` has no task-status in SailPoint's specs but is served the same).
#: sailpoint 2.x calls ``/task-status/v1`` instead, which is served too.
API_VERSIONS: Final = ("beta", "v3", "v2024", "v2025", "v2026")
#: Every path of a task-status route starts with one of these.
TASK_STATUS_PREFIXES: Final = ("/task-status/", *(f"/{version}/task-status" for version in API_VERSIONS))
#: OAuth 2.0 client credentials (``{base_url}/oauth/token`` in the SDKs): the one route open without a token.
TOKEN_PATH: Final = "/oauth/token"


def is_sailpoint_path(path: str) -> bool:
    """Whether ``path`` is one of SailPoint's routes (its errors then carry SailPoint's error format too)."""
    return path == TOKEN_PATH or path.startswith(TASK_STATUS_PREFIXES)
