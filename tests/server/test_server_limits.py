"""Hostile requests a real server process must answer with a 4xx naming the part at fault, never a 500."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from conftest import snapshot
from server_process import LiveServer, require_server_packages

require_server_packages()

import httpx  # noqa: E402

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as opened:
        yield opened


@pytest.mark.parametrize("body", ["[" * 100_000, '{"Name": "a", "ParameterObject": ' + "[" * 5000 + "]" * 5000 + "}"])
def test_a_body_nested_too_deep_is_a_400_and_writes_nothing(
    client: httpx.Client, live_server: LiveServer, body: str
) -> None:
    before = snapshot(live_server.db_path)
    response = client.post("/api/v1/BatchTask", content=body, headers=JSON)
    assert response.status_code == 400, response.text
    assert response.json()["field"] in ("body", "ParameterObject")
    assert snapshot(live_server.db_path) == before


def test_a_sailpoint_id_of_thousands_of_digits_is_not_found(client: httpx.Client) -> None:
    response = client.get("/task-status/v1/" + "1" * 5000)
    assert response.status_code == 404, response.text


def test_filters_nested_too_deep_are_a_400_naming_filters(client: httpx.Client) -> None:
    response = client.get("/task-status/v1", params={"filters": "(" * 2000 + 'id eq "1"' + ")" * 2000})
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "filters"


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: object) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "batchstore", "serve", "--db", f"{tmp_path}/t.db", "--port", str(port)],
            capture_output=True, text=True, timeout=60, check=False,
        )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "port" in done.stderr, done.stderr
