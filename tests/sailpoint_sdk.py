"""sailpoint 1.x, the SDK of SailPoint's versioned APIs, in a process of its own (``sailpoint_sdk_driver.py``).

The test extra installs sailpoint 2.x (``/task-status/v1``). sailpoint 1.x (``beta``, ``v2024``, ``v2025``,
``v2026``) is the same distribution name, so it is installed beside it into a folder of the virtual
environment, which only the driver process puts on its path::

    .venv/bin/pip install -q --no-deps --target .venv/sailpoint-1 "sailpoint>=1.4,<2"

(``.ci/run`` does this; without it the tests that need it skip, or fail under BATCHSTORE_REQUIRE_ALL.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from server_process import missing

#: Where sailpoint 1.x is installed: a folder of the virtual environment the tests run in.
SDK1_DIR = Path(sys.prefix) / "sailpoint-1"
SDK1_REQUIREMENT = "sailpoint>=1.4,<2"
#: The versions whose ``TaskManagementApi`` sailpoint 1.x has (its ``v3`` has no task-status).
SDK1_VERSIONS = ("beta", "v2024", "v2025", "v2026")
_DRIVER = Path(__file__).with_name("sailpoint_sdk_driver.py")


def require_sdk1() -> None:
    """Skip (or, with BATCHSTORE_REQUIRE_ALL set, fail) when sailpoint 1.x is not in ``SDK1_DIR``."""
    if not all((SDK1_DIR / "sailpoint" / version / "api" / "task_management_api.py").is_file()
               for version in SDK1_VERSIONS):
        missing(f"needs sailpoint 1.x in {SDK1_DIR}: "
                f"{sys.executable} -m pip install -q --no-deps --target {SDK1_DIR} '{SDK1_REQUIREMENT}'")


class SdkError(AssertionError):
    """The driver could not answer: the SDK refused a request before sending it, or the driver died."""


class SailPointSdk:
    """The driver process: ``api(base_url, version, credentials)`` gives a ``TaskManagementApi`` stand-in."""

    def __init__(self) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  # kept open as long as the driver runs
        self._home = tempfile.TemporaryDirectory(prefix="sailpoint-sdk-")
        environment = {**os.environ, "PYTHONPATH": str(SDK1_DIR)}
        environment.pop("SAIL_BASE_URL", None)  # the SDK would take a developer's own tenant from these
        self._process = subprocess.Popen(
            [sys.executable, str(_DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=environment,
            text=True,
            cwd=self._home.name,  # an empty folder: the SDK reads ./config.json when it finds one
        )

    def request(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            self._stderr.seek(0)
            raise SdkError(f"the SDK driver exited: {self._stderr.read().decode(errors='replace')[-4000:]}")
        reply: dict[str, Any] = json.loads(line)
        if "crash" in reply:
            raise SdkError(reply["crash"])
        return reply

    def api(self, base_url: str, version: str, **credentials: str) -> TaskManagementApi:
        """The SDK's TaskManagementApi of ``version``, logged in with ``access_token`` or client credentials."""
        return TaskManagementApi(self, {"base_url": base_url, "version": version, "credentials": credentials})

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._stderr.close()
        self._home.cleanup()


class TaskManagementApi:
    """Calls one SDK method per attribute: ``api.get_task_status_list(filters=...)`` gives the driver's answer,
    ``{"status", "headers", "data"}`` (data as JSON) or ``{"error", "status", "body"}``."""

    def __init__(self, sdk: SailPointSdk, target: dict[str, Any]) -> None:
        self._sdk = sdk
        self._target = target

    def got_token(self) -> bool:
        """Whether the SDK got an access token (from /oauth/token, when given client credentials)."""
        return bool(self._sdk.request({**self._target, "call": "token"})["access_token"])

    def __getattr__(self, call: str) -> Any:
        def send(*args: Any, **kwargs: Any) -> dict[str, Any]:
            if args:
                kwargs["id"], *rest = args
                if rest:
                    kwargs["json_patch_operation"] = rest[0]
            kwargs.setdefault("_request_timeout", 30.0)
            return self._sdk.request({**self._target, "call": call, "kwargs": kwargs})

        return send
