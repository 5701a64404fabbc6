"""The fast path (``batchstore/server/_fast.py``) answers exactly as FastAPI's routes do, on a real server.

Every hot route is asked twice on one server process: as is (the fast path takes it) and with a query
parameter the fast path does not read (``fastpath=off``: FastAPI's route takes it, and ignores the
parameter). The two answers must be the same bytes, with the same status and headers, for successes and
for every kind of refusal (Host, token, Accept, Content-Type, body size, bad JSON, unknown members, unknown
tasks, a bad SO-TimeZone). Writes are asked through FastAPI first, so the fast path's answer is the one
of the same state.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_process import LiveServer, require_server_packages, running_server

require_server_packages()

import httpx  # noqa: E402

from batchstore import BatchStore  # noqa: E402

TOKEN = "fast-s3cret"
LIMIT = 4096
JSON = {"Content-Type": "application/json"}
PATCH = {"Content-Type": "application/json-patch+json"}
COMPARED_HEADERS = ("content-type", "content-length", "www-authenticate", "x-total-count", "allow")
GET_TASK = "/api/v1/Agents/Batch/GetBatchTaskInfo"
UPDATE_TASK = "/api/v1/Agents/Batch/UpdateBatchTask"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, list[int]]]:
    db = tmp_path_factory.mktemp("fast") / "tasks.db"
    with BatchStore(db) as store:
        ids = store.create_many([
            {"Name": "ERPSync", "State": "Started", "ParameterObject": {"when": "2026-01-01", "n": [1, 2.5, None]}},
            {"Name": "Export", "State": "Succeeded", "AssociateId": 7},
            {"Name": "Cleanup", "State": "New", "IsSystemTask": True},
            {"Name": "Report", "State": "Failed", "Result": "Stopped by request"},
        ])
    with running_server(db, token=TOKEN, max_body_bytes=LIMIT) as live:
        yield live, ids


@pytest.fixture
def client(server: tuple[LiveServer, list[int]]) -> Iterator[httpx.Client]:
    live, _ = server
    with httpx.Client(base_url=live.url, headers=live.headers, timeout=30) as opened:
        yield opened


def _slow(path: str) -> str:
    return path + ("&" if "?" in path else "?") + "fastpath=off"


def _same(client: httpx.Client, method: str, path: str, *, writes: bool = False, **options: Any) -> httpx.Response:
    """Ask FastAPI's route, then the fast path; both answers must be the same. The fast one is returned."""
    slow = client.request(method, _slow(path), **options)
    fast = client.request(method, path, **options)
    assert fast.status_code == slow.status_code, (fast.text, slow.text)
    assert fast.content == slow.content, (fast.text, slow.text)
    for name in COMPARED_HEADERS:
        assert fast.headers.get(name) == slow.headers.get(name), name
    if not writes:  # a read asked again through FastAPI answers the same too: nothing moved in between
        again = client.request(method, _slow(path), **options)
        assert again.content == fast.content
    return fast


def test_single_task_routes_answer_as_fastapi_does(client: httpx.Client, server: tuple[LiveServer, list[int]]) -> None:
    _, (started, succeeded, system, failed) = server
    answer = _same(client, "POST", GET_TASK, json={"Id": started})
    assert answer.status_code == 200 and answer.json()["Name"] == "ERPSync"
    assert _same(client, "POST", GET_TASK, json={"id": succeeded}).json()["AssociateId"] == 7  # any case
    assert _same(client, "POST", GET_TASK, json={"Id": 999_999}).content == b"null"
    oslo = _same(client, "POST", GET_TASK, json={"Id": started}, headers={"SO-TimeZone": "Europe/Oslo"})
    assert oslo.json()["Created"].endswith(("+01:00", "+02:00"))
    for task_id in (started, failed, system):
        assert _same(client, "GET", f"/api/v1/BatchTask/{task_id}").json()["Id"] == task_id
        status = _same(client, "GET", f"/task-status/v1/{task_id}").json()
        assert status["id"] == str(task_id)
        assert _same(client, "GET", f"/v2025/task-status/{task_id}").json() == status
        assert _same(client, "GET", f"/beta/task-status/{task_id}").json() == status
    assert _same(client, "GET", f"/task-status/v1/{failed}").json()["completionStatus"] == "TERMINATED"
    assert _same(client, "GET", f"/task-status/v1/{succeeded}").json()["launcher"] == "associate:7"


def test_lists_answer_as_fastapi_does(client: httpx.Client, server: tuple[LiveServer, list[int]]) -> None:
    _, (started, *_) = server
    assert [t["Id"] for t in _same(client, "GET", "/api/v1/BatchTask/Started").json()] == [started]
    assert _same(client, "GET", "/api/v1/BatchTask/started").json()[0]["Id"] == started  # any case
    assert len(_same(client, "GET", "/api/v1/BatchTask/All", headers={"SO-TimeZone": "Asia/Tokyo"}).json()) == 3
    everything = _same(client, "GET", "/task-status/v1").json()
    assert len(everything) == 4 and everything[0]["attributes"] == {"when": "2026-01-01", "n": [1, 2.5, None]}
    assert _same(client, "GET", "/task-status/v1?limit=2&offset=1").json() == everything[1:3]
    assert _same(client, "GET", "/v2024/task-status?offset=3").json() == everything[3:]
    assert _same(client, "GET", "/v2026/task-status?limit=0").json() == []


@pytest.mark.parametrize(
    ("method", "path", "options", "status"),
    [
        ("POST", GET_TASK, {"json": {"Idx": 1}}, 400),
        ("POST", GET_TASK, {"json": {"Id": "7"}}, 400),
        ("POST", GET_TASK, {"json": {"Id": 2**40}}, 400),
        ("POST", GET_TASK, {"json": [1]}, 400),
        ("POST", GET_TASK, {"content": b"{", "headers": JSON}, 400),
        ("POST", GET_TASK, {"content": b"", "headers": JSON}, 400),
        ("POST", GET_TASK, {"content": b"[" * 3000, "headers": JSON}, 400),
        ("POST", GET_TASK, {"content": b'{"Id": 1}'}, 415),
        ("POST", GET_TASK, {"content": b'{"Id": 1}', "headers": {"Content-Type": "text/plain"}}, 415),
        ("POST", GET_TASK, {"content": b"", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415),
        ("POST", GET_TASK, {"json": {"Id": 1}, "headers": {"Accept": "application/xml"}}, 406),
        ("POST", GET_TASK, {"json": {"Id": 1}, "headers": {"SO-TimeZone": "Nowhere/Zone"}}, 400),
        ("POST", GET_TASK, {"json": {"Id": 1}, "headers": {"Host": "evil.example"}}, 400),
        ("POST", GET_TASK, {"content": b'{"Id": 1' + b" " * LIMIT + b"}", "headers": JSON}, 413),
        ("POST", UPDATE_TASK, {"json": {"BatchTaskInfo": {"Id": 999_999, "Description": "x"}}}, 404),
        ("POST", UPDATE_TASK, {"json": {"BatchTaskInfo": 7}}, 400),
        ("POST", UPDATE_TASK, {"json": {"Task": {}}}, 400),
        ("GET", "/api/v1/BatchTask/Nope", {}, 400),
        ("GET", "/api/v1/BatchTask/999999", {}, 404),
        ("GET", "/task-status/v1/999999", {}, 404),
        ("GET", "/v2025/task-status/abc", {}, 404),
        ("GET", "/task-status/v1/" + "1" * 500, {}, 404),
        ("GET", "/task-status/v1/1", {"headers": {"Accept": "text/html"}}, 406),
        ("PATCH", "/task-status/v1/999999", {"content": b"[]", "headers": PATCH}, 404),
        ("PATCH", "/task-status/v1/1", {"content": b"[]", "headers": {"Content-Type": "text/plain"}}, 415),
        ("PATCH", "/task-status/v1/1", {"content": b'[{"op": "remove", "path": "/id"}]', "headers": PATCH}, 400),
        ("PATCH", "/task-status/v1/1", {"content": b'{"op": "test"}', "headers": PATCH}, 400),
        ("PATCH", "/task-status/v1/1",
         {"content": b'[{"op": "test", "path": "/uniqueName", "value": "other"}]', "headers": PATCH}, 409),
    ],
)
def test_refusals_are_the_same(
    client: httpx.Client, method: str, path: str, options: dict[str, Any], status: int
) -> None:
    answer = _same(client, method, path, **options)
    assert answer.status_code == status, answer.text
    assert answer.json()["status"] == status


def test_a_chunked_body_over_the_limit_is_a_413_either_way(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"Id": 1'
        for _ in range(8):
            yield b" " * 1024
        yield b"}"

    answers = [client.post(path, content=chunks(), headers=JSON) for path in (GET_TASK, _slow(GET_TASK))]
    assert [a.status_code for a in answers] == [413, 413]
    assert answers[0].content == answers[1].content


def test_the_token_is_checked_the_same(server: tuple[LiveServer, list[int]]) -> None:
    live, (started, *_) = server
    basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
    with httpx.Client(base_url=live.url, timeout=30) as client:
        for headers, status in [({}, 401), ({"Authorization": "Bearer wrong"}, 401),
                                ({"Authorization": f"Basic {basic}"}, 200)]:
            for method, path, options in [("POST", GET_TASK, {"json": {"Id": started}}),
                                          ("GET", f"/task-status/v1/{started}", {}),
                                          ("GET", "/task-status/v1?limit=1", {})]:
                answer = _same(client, method, path, headers=headers, **options)
                assert answer.status_code == status, answer.text


def test_writes_answer_as_fastapi_does(client: httpx.Client, server: tuple[LiveServer, list[int]]) -> None:
    live, (started, succeeded, *_) = server
    update = {"json": {"BatchTaskInfo": {"Id": started, "Description": "written twice"}}}
    # FastAPI's route writes; the fast path then writes the same value: the same task comes back.
    assert _same(client, "POST", UPDATE_TASK, writes=True, **update).json()["Description"] == "written twice"
    refused = _same(client, "POST", UPDATE_TASK, writes=True, json={"BatchTaskInfo": {"Id": started, "Name": "x"}})
    assert refused.status_code == 400  # Name is not writable
    finish = b'[{"op": "replace", "path": "/completionStatus", "value": "ERROR"}, ' \
             b'{"op": "replace", "path": "/completed", "value": "2025-01-01T00:00:00Z"}]'
    patched = _same(client, "PATCH", f"/task-status/v1/{succeeded}", writes=True, content=finish, headers=PATCH)
    assert patched.json()["completionStatus"] == "ERROR"
    with BatchStore(Path(live.db_path)) as store:
        assert store.get(succeeded).state.name == "Failed"
        assert store.get(started).description == "written twice"


def test_metrics_count_the_fast_routes_by_template(client: httpx.Client, server: tuple[LiveServer, list[int]]) -> None:
    live, (started, *_) = server

    def counted(method: str, route: str, status: int) -> float:
        text = client.get("/metrics").text
        found = re.search(rf'batchstore_http_requests_total{{method="{method}",route="{re.escape(route)}",'
                          rf'status="{status}"}} ([0-9.]+)', text)
        return float(found[1]) if found else 0.0

    before = counted("GET", "/{version}/task-status/{id}", 200), counted("POST", GET_TASK, 401)
    assert client.get(f"/v2025/task-status/{started}").status_code == 200
    with httpx.Client(base_url=live.url, timeout=30) as anonymous:
        assert anonymous.post(GET_TASK, json={"Id": started}).status_code == 401
    after = counted("GET", "/{version}/task-status/{id}", 200), counted("POST", GET_TASK, 401)
    assert after == (before[0] + 1, before[1] + 1)


def test_the_fast_path_takes_only_the_plain_forms(tmp_path: Path) -> None:
    """Which requests it takes (the rest go to FastAPI): checked on the app itself, no request is answered."""
    from batchstore.server import create_app

    with BatchStore(tmp_path / "tasks.db") as store:
        fast = create_app(store).fast_path  # type: ignore[attr-defined]

        def taken(method: str, path: str, query: bytes = b"", root_path: str = "") -> str | None:
            scope = {"type": "http", "method": method, "path": path, "query_string": query, "root_path": root_path}
            found = fast.route(scope)
            return None if found is None else found[0]

        assert taken("POST", GET_TASK) == GET_TASK
        assert taken("GET", "/api/v1/BatchTask/Started") == "/api/v1/BatchTask/{id_or_state}"
        assert taken("PATCH", "/v2026/task-status/7") == "/{version}/task-status/{id}"
        assert taken("GET", "/task-status/v1", b"limit=250&offset=3") == "/task-status/v1"
        for method, path, query, root in [
            ("POST", GET_TASK, b"$select=Name", ""),  # $select: FastAPI reads it
            ("HEAD", "/task-status/v1/7", b"", ""),
            ("GET", "/v2025/task-status/pending-tasks", b"", ""),
            ("GET", "/v9/task-status/7", b"", ""),  # no such version: FastAPI's 404
            ("GET", "/task-status/v1/", b"", ""),
            ("GET", "/task-status/v1", b"limit=251", ""),  # FastAPI's 400
            ("GET", "/task-status/v1", b"limit=01", ""),
            ("GET", "/task-status/v1", b"limit=1&limit=2", ""),
            ("GET", "/task-status/v1", b"count=true", ""),
            ("GET", "/api/v1/BatchTask/7/Stop", b"", ""),
            ("PUT", "/api/v1/BatchTask/7", b"", ""),
            ("POST", GET_TASK, b"", "/mounted"),
        ]:
            assert taken(method, path, query, root) is None, (method, path, query, root)
