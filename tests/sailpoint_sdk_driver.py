"""Drives sailpoint 1.x, SailPoint's official Python SDK of the versioned APIs, for the tests.

sailpoint 2.x (the test extra) calls only ``/task-status/v1``; sailpoint 1.x has ``sailpoint.beta``,
``sailpoint.v2024``, ``sailpoint.v2025`` and ``sailpoint.v2026``, each with its ``TaskManagementApi``.
Both are the distribution ``sailpoint``, so 1.x lives in a folder of its own and runs here, in a process
of its own with that folder first on ``sys.path`` (see ``sailpoint_sdk.py``, which starts this).

One JSON request a line on stdin, one JSON answer a line on stdout:

    {"base_url": ..., "version": "v2025", "credentials": {"access_token": ...} or {"client_id", "client_secret"},
     "call": "get_task_status_list", "kwargs": {...}}
    -> {"status": 200, "headers": {...}, "data": ...}                     (the call's ..._with_http_info)
    -> {"error": "NotFoundException", "status": 404, "body": {...}}       (the SDK raised)

``call`` ``"token"`` answers ``{"access_token": true|false}``: whether the SDK got an access token
from ``{base_url}/oauth/token`` with the client credentials. For ``update_task_status``, ``kwargs``
carries ``json_patch_operation`` as plain ``{"op", "path", "value"}`` objects. The SDK's own messages
(its failed token fetch prints) go to stderr, so stdout carries answers only.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from typing import Any

_ANSWERS = sys.stdout
sys.stdout = sys.stderr  # the SDK prints; answers alone go to the real stdout

from sailpoint.configuration import Configuration, ConfigurationParams  # noqa: E402

_CLIENTS: dict[str, Any] = {}


def _configuration(base_url: str, credentials: dict[str, str]) -> Any:
    params = ConfigurationParams()
    params.base_url = base_url
    params.access_token = credentials.get("access_token")
    params.client_id = credentials.get("client_id")
    params.client_secret = credentials.get("client_secret")
    configuration = Configuration(params)  # fetches the access token when only client credentials are given
    configuration.experimental = True  # v2026's task-status is experimental: the SDK refuses it otherwise
    configuration.suppress_experimental_warnings = True
    return configuration


def _api(request: dict[str, Any]) -> tuple[Any, Any]:
    version = request["version"]
    key = json.dumps([request["base_url"], version, request["credentials"]], sort_keys=True)
    if key not in _CLIENTS:
        configuration = _configuration(request["base_url"], request["credentials"])
        client = importlib.import_module(f"sailpoint.{version}.api_client").ApiClient(configuration)
        api = importlib.import_module(f"sailpoint.{version}.api.task_management_api").TaskManagementApi(client)
        _CLIENTS[key] = (configuration, api)
    return _CLIENTS[key]


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value.model_dump(mode="json", by_alias=True)


def answer(request: dict[str, Any]) -> dict[str, Any]:
    version = request["version"]
    configuration, api = _api(request)
    if request["call"] == "token":
        return {"access_token": bool(configuration.access_token)}
    kwargs = dict(request.get("kwargs", {}))
    if "json_patch_operation" in kwargs:
        operation = importlib.import_module(f"sailpoint.{version}.models.json_patch_operation").JsonPatchOperation
        kwargs["json_patch_operation"] = [operation.from_dict(op) for op in kwargs["json_patch_operation"]]
    exceptions = importlib.import_module(f"sailpoint.{version}.exceptions")
    try:
        response = getattr(api, request["call"] + "_with_http_info")(**kwargs)
    except exceptions.ApiException as exc:
        try:
            body = json.loads(exc.body) if exc.body else None
        except ValueError:
            body = exc.body
        return {"error": type(exc).__name__, "status": exc.status, "body": body}
    headers = {name.lower(): value for name, value in (response.headers or {}).items()}
    return {"status": response.status_code, "headers": headers, "data": _plain(response.data)}


def main() -> None:
    for line in sys.stdin:
        if line.strip():
            try:
                reply = answer(json.loads(line))
            except Exception:  # the SDK refused what it got: the test shows why
                reply = {"crash": traceback.format_exc()}
            _ANSWERS.write(json.dumps(reply) + "\n")
            _ANSWERS.flush()


if __name__ == "__main__":
    main()
