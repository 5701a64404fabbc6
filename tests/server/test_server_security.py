"""Tokens, the loopback default, no CORS, offline docs, /openapi.json, and the missing-extra message."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import snapshot
from server_process import LiveServer, free_port, require_server_packages

require_server_packages()
import httpx  # noqa: E402

from batchstore import BatchStore, BatchStoreError  # noqa: E402


@pytest.fixture
def client(token_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=token_server.url, timeout=30) as opened:
        yield opened


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


BAD_CREDENTIALS = [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": "Bearer s3cret-token-and-more"},
    {"Authorization": "bearer"},
    {"Authorization": "Token s3cret-token"},
    basic("s3cret-token", "wrong"),  # the token must be the password, not the user
    {"Authorization": "Basic !!notbase64"},
]


@pytest.mark.parametrize("headers", BAD_CREDENTIALS)
def test_without_the_token_every_route_is_401_and_writes_nothing(
    client: httpx.Client, token_server: LiveServer, headers: dict[str, str]
) -> None:
    before = snapshot(token_server.db_path)
    requests: list[tuple[str, str, Any]] = [
        ("POST", "/api/v1/BatchTask", {"Name": "intruder"}),
        ("POST", "/api/v1/Agents/Batch/DeleteBatchTask", {"BatchTaskId": 1}),
        ("GET", "/api/v1/BatchTask/All", None),
        ("GET", "/task-status/v1", None),
        ("GET", "/openapi.json", None),
        ("GET", "/docs", None),
        ("GET", "/batchstore/v1/tasks/1/history", None),
    ]
    for method, url, body in requests:
        response = client.request(method, url, json=body, headers=headers)
        assert response.status_code == 401, (method, url, response.text)
        assert response.json()["field"] == "Authorization"
        assert response.headers["www-authenticate"].startswith("Basic")
    patch = client.patch(
        "/task-status/v1/1", content=b"[]", headers={**headers, "Content-Type": "application/json-patch+json"}
    )
    assert patch.status_code == 401
    assert snapshot(token_server.db_path) == before


def test_bearer_or_basic_with_the_token_as_password(client: httpx.Client) -> None:
    bearer = {"Authorization": "Bearer s3cret-token"}
    response = client.post("/api/v1/BatchTask", json={"Name": "mine"}, headers=bearer)
    assert response.status_code == 200
    task_id = response.json()
    got = client.post(
        "/api/v1/Agents/Batch/GetBatchTaskInfo", json={"Id": task_id}, headers=basic("anyone", "s3cret-token")
    )
    assert got.status_code == 200 and got.json()["Name"] == "mine"
    assert client.get("/openapi.json", headers=bearer).status_code == 200


def test_a_public_address_needs_a_token(tmp_path: Any) -> None:
    from batchstore.server import ServerConfigurationError, check_bind, serve

    for host in ("0.0.0.0", "::", "192.168.1.10", "example.org"):
        with pytest.raises(ServerConfigurationError, match="token") as info:
            serve(str(tmp_path / "t.db"), host=host)
        assert isinstance(info.value, BatchStoreError) and info.value.option == "host"
    check_bind("0.0.0.0", "secret")
    check_bind("::1", None)
    with pytest.raises(ServerConfigurationError, match="empty"):
        check_bind("127.0.0.1", "")
    assert not (tmp_path / "t.db").exists()  # refused before anything opened
    port = free_port()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "batchstore.server",
            "--db",
            str(tmp_path / "t.db"),
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "token" in done.stderr


def test_no_cors(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as client:
        preflight = client.options(
            "/api/v1/BatchTask", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in preflight.headers
        simple = client.get("/api/v1/BatchTask/All", headers={"Origin": "http://evil.example"})
        assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers


def test_docs_work_offline(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as client:
        for page in ("/docs", "/redoc"):
            html = client.get(page)
            assert html.status_code == 200 and "text/html" in html.headers["content-type"]
            assert not re.search(r"(src|href)=[\"']?(https?:)?//", html.text), (
                "the docs page loads something from the network"
            )
            for asset in re.findall(r"(?:src|href)=[\"']([^\"']+)[\"']", html.text):
                assert client.get(asset).status_code == 200, asset
            assert "fonts.googleapis" not in html.text


def test_openapi_describes_every_route(live_server: LiveServer) -> None:
    from batchstore.server import create_app

    with httpx.Client(base_url=live_server.url) as client:
        document = client.get("/openapi.json").json()
    app = create_app(BatchStore())
    api_routes = {
        (route.path, method)
        for route in app.routes
        if getattr(route, "include_in_schema", False)
        and route.path.startswith(("/api/", "/task-status/", "/batchstore/"))
        for method in getattr(route, "methods", ())
    }
    described = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    assert api_routes <= described
    assert ("/api/v1/Agents/Batch/StopBatchJob", "POST") in described
    assert {"BatchTaskInfo", "TaskStatus", "HistoryEntry", "Error"} <= set(document["components"]["schemas"])
    patch = document["paths"]["/task-status/v1/{id}"]["patch"]
    assert list(patch["requestBody"]["content"]) == ["application/json-patch+json"]


def test_without_the_extra_the_import_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None\n"
        "from batchstore import BatchStoreError\n"
        "try:\n    import batchstore.server\n"
        "except BatchStoreError as exc:\n    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ServerUnavailableError") and 'pip install "batchstore[server]"' in done.stdout


def test_create_app_owns_a_store_it_opened(tmp_path: Any) -> None:
    import asyncio

    from batchstore.server import create_app

    async def start_and_stop(app: Any) -> None:
        async with app.router.lifespan_context(app):
            assert not app.state.store.closed

    app = create_app(str(tmp_path / "owned.db"))
    asyncio.run(start_and_stop(app))
    assert app.state.store.closed  # opened from a path: the app's shutdown closes it
    mine = BatchStore()
    asyncio.run(start_and_stop(create_app(mine)))
    assert not mine.closed  # a store the caller passed stays the caller's
    mine.close()
