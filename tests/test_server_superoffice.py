"""SuperOffice's BatchTask routes over HTTP, against a real server process on a SQLite file."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import SEED_CREATE_001, SEED_GET_002, WIRE_ORDER, snapshot
from server_process import LiveServer, require_server_packages, running_server

require_server_packages()
import httpx  # noqa: E402

AGENT = "/api/v1/Agents/Batch/"


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as opened:
        yield opened


def seed_001() -> dict[str, Any]:
    body = copy.deepcopy(SEED_CREATE_001)
    del body["State"], body["ProgressPercent"]  # "All" and 762: the sample's invalid values
    return body


def create(client: httpx.Client, **fields: Any) -> int:
    response = client.post("/api/v1/BatchTask", json={"Name": "ERPSync", **fields})
    assert response.status_code == 200, response.text
    task_id = response.json()
    assert isinstance(task_id, int)
    return task_id


def get(client: httpx.Client, task_id: int, **params: str) -> Any:
    response = client.post(AGENT + "GetBatchTaskInfo", json={"Id": task_id}, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def refused(client: httpx.Client, server: LiveServer, status: int, *names: str, **request: Any) -> dict[str, Any]:
    """Send a request that must be refused with ``status``, a JSON body naming ``names``, and no write."""
    before = snapshot(server.db_path)
    response = client.request(**request)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    for name in names:
        assert name in body["message"], body
    assert snapshot(server.db_path) == before, "a refused request wrote to the database"
    return body


def test_create_the_seed_sample_and_read_it_back(client: httpx.Client) -> None:
    task_id = create(client, **seed_001())
    assert task_id != SEED_CREATE_001["Id"]  # the Id sent is not kept
    task = get(client, task_id)
    assert list(task) == list(WIRE_ORDER)
    assert task["Name"] == SEED_CREATE_001["Name"]
    assert task["ParameterObject"] == SEED_CREATE_001["ParameterObject"]
    assert task["Created"] == "2014-07-15T12:34:02.713222+00:00"  # 7 digits kept to the microsecond, in UTC
    assert task["State"] == "New" and task["IsSystemTask"] is True


def test_the_seed_sample_as_published_is_refused_naming_its_field(
    client: httpx.Client, live_server: LiveServer
) -> None:
    body = refused(client, live_server, 400, "State", method="POST", url="/api/v1/BatchTask", json=SEED_CREATE_001)
    assert body["field"] == "State" and body["fields"] == ["State"]
    progress = {**seed_001(), "ProgressPercent": 762}
    body = refused(client, live_server, 400, "ProgressPercent", method="POST", url="/api/v1/BatchTask", json=progress)
    assert body["field"] == "ProgressPercent"


def test_get_of_an_unknown_id_is_200_null(client: httpx.Client) -> None:
    response = client.post(AGENT + "GetBatchTaskInfo", json={"Id": 2_000_000_000})
    assert response.status_code == 200 and response.text == "null"


def test_select_nulls_the_other_fields(client: httpx.Client) -> None:
    task_id = create(client, Description="d")
    task = get(client, task_id, **{"$select": "name,State"})
    assert list(task) == list(WIRE_ORDER)
    assert (task["Id"], task["Name"], task["State"], task["Description"], task["Created"]) == (
        task_id,
        "ERPSync",
        "New",
        None,
        None,
    )
    listed = client.get("/api/v1/BatchTask/new", params={"$select": "Name"}).json()
    assert all(t["State"] is None and t["Name"] is not None for t in listed)
    updated = client.post(
        AGENT + "UpdateBatchTask",
        json={"BatchTaskInfo": {"Id": task_id, "State": "Aquired"}},
        params={"$select": "State"},
    ).json()
    assert (updated["State"], updated["Name"]) == ("Aquired", None)


def test_a_bad_select_is_a_400_naming_it(client: httpx.Client, live_server: LiveServer) -> None:
    task_id = create(client)
    refused(
        client,
        live_server,
        400,
        "Bogus",
        method="POST",
        url=AGENT + "GetBatchTaskInfo",
        params={"$select": "Name,Bogus"},
        json={"Id": task_id},
    )


def test_so_timezone_converts_response_date_times(client: httpx.Client, live_server: LiveServer) -> None:
    task_id = create(client, Created="2014-07-15T14:34:02.7132229+02:00", LastStarted="2024-01-10T12:00:00Z")
    oslo = client.post(AGENT + "GetBatchTaskInfo", json={"Id": task_id}, headers={"SO-TimeZone": "Europe/Oslo"}).json()
    assert oslo["Created"] == "2014-07-15T14:34:02.713222+02:00"  # summer time
    assert oslo["LastStarted"] == "2024-01-10T13:00:00+01:00"  # winter time
    york = client.get("/api/v1/BatchTask/All", headers={"SO-TimeZone": "America/New_York"}).json()
    mine = next(t for t in york if t["Id"] == task_id)
    assert mine["Created"] == "2014-07-15T08:34:02.713222-04:00"
    body = refused(
        client,
        live_server,
        400,
        "SO-TimeZone",
        method="GET",
        url="/api/v1/BatchTask/All",
        headers={"SO-TimeZone": "Mars/Olympus_Mons"},
    )
    assert body["field"] == "SO-TimeZone"


def test_list_by_state_in_any_case_streams_every_page(tmp_path: Any) -> None:
    with running_server(tmp_path / "many.db") as server, httpx.Client(base_url=server.url, timeout=60) as client:
        from batchstore import BatchStore

        with BatchStore(str(server.db_path)) as store:  # a second connection, as another process would
            ids = store.create_many([{"Name": f"t{i}", "State": "Started" if i % 3 else "New"} for i in range(1300)])
        with client.stream("GET", "/api/v1/BatchTask/sTaRtEd") as response:
            assert response.status_code == 200
            assert "content-length" not in response.headers  # streamed, not built in memory first
            body = b"".join(response.iter_bytes())
        started = json.loads(body)
        assert [t["Id"] for t in started] == [i for n, i in enumerate(ids) if n % 3]
        assert len(client.get("/api/v1/BatchTask/All").json()) == 1300
        assert client.get("/api/v1/BatchTask/Failed").json() == []


def test_update_changes_only_writable_fields(client: httpx.Client, live_server: LiveServer) -> None:
    task_id = create(client)
    task = get(client, task_id)
    task["State"], task["Description"] = "Started", "running"
    response = client.post(AGENT + "UpdateBatchTask", json={"BatchTaskInfo": task})
    assert response.status_code == 200, response.text
    assert (response.json()["State"], response.json()["Description"]) == ("Started", "running")
    body = refused(
        client,
        live_server,
        400,
        "Name",
        "FileName",
        method="POST",
        url=AGENT + "UpdateBatchTask",
        json={"BatchTaskInfo": {"Id": task_id, "Name": "other", "FileName": "x.log", "State": "Failed"}},
    )
    assert body["error"] == "ReadOnlyFieldError" and body["fields"] == ["Name", "FileName"]
    refused(
        client,
        live_server,
        400,
        "BatchTaskInfo",
        method="POST",
        url=AGENT + "UpdateBatchTask",
        json={"BatchTaskInfo": None},
    )
    refused(client, live_server, 400, "BatchTaskInfo", method="POST", url=AGENT + "UpdateBatchTask", json={"Task": {}})
    refused(
        client,
        live_server,
        404,
        "2000000000",
        method="POST",
        url=AGENT + "UpdateBatchTask",
        json={"BatchTaskInfo": {"Id": 2_000_000_000, "State": "Failed"}},
    )


def test_the_agent_queries(client: httpx.Client) -> None:
    tag = "Q-" + str(create(client))
    a = create(client, Name=tag, AssociateId=901, State="Started")
    b = create(client, Name=tag, AssociateId=902)
    c = create(client, Name=tag, AssociateId=0, IsSystemTask=True, State="Started")
    create(client, Name=tag + "-other", AssociateId=901)

    def ids(endpoint: str, body: dict[str, Any]) -> list[int]:
        response = client.post(AGENT + endpoint, json=body)
        assert response.status_code == 200, response.text
        return [t["Id"] for t in response.json()]

    assert ids("GetBatchTaskInfosByNameAndState", {"Name": tag, "State": "Started"}) == [a, c]
    assert ids("GetBatchTaskInfosByNameAndState", {"Name": tag, "State": "All"}) == [a, b, c]
    assert ids("GetBatchTaskInfosByAssociatesAndState", {"AssociateIds": [901, 902], "State": "New"})[-1] != a
    assert a in ids("GetBatchTaskInfosByAssociatesAndState", {"AssociateIds": [901], "State": "started"})
    assert ids("GetBatchTaskInfosByNameAndAssociates", {"Name": tag, "AssociateIds": [901, 902]}) == [a, b]
    assert set(ids("GetBatchTaskInfosByAssociates", {"AssociateIds": [902]})) >= {b}
    assert ids("GetSystemBatchTaskInfosByName", {"TaskName": tag}) == [c]
    assert ids("GetSystemBatchTaskInfosByNameAndState", {"TaskName": tag, "State": "New"}) == []
    assert ids("GetSystemBatchTaskInfosByNameAndState", {"taskname": tag, "state": "Started"}) == [c]  # any case
    assert b in ids("GetBatchTaskInfosByState", {"State": "New"})
    selected = client.post(
        AGENT + "GetBatchTaskInfosByNameAndAssociates",
        json={"Name": tag, "AssociateIds": [901]},
        params={"$select": "State"},
    ).json()
    assert [(t["Id"], t["Name"], t["State"]) for t in selected] == [(a, None, "Started")]


def test_agent_bodies_are_checked_member_by_member(client: httpx.Client, live_server: LiveServer) -> None:
    post = {"method": "POST"}
    refused(client, live_server, 400, "Id", url=AGENT + "GetBatchTaskInfo", json={"Id": "seven"}, **post)
    refused(client, live_server, 400, "Id", url=AGENT + "GetBatchTaskInfo", json={}, **post)
    refused(client, live_server, 400, "Extra", url=AGENT + "GetBatchTaskInfo", json={"Id": 1, "Extra": 2}, **post)
    refused(
        client,
        live_server,
        400,
        "State",
        url=AGENT + "GetBatchTaskInfosByNameAndState",
        json={"Name": "x", "State": "InProgress"},
        **post,
    )
    refused(
        client,
        live_server,
        400,
        "AssociateIds",
        url=AGENT + "GetBatchTaskInfosByAssociates",
        json={"AssociateIds": "901"},
        **post,
    )
    refused(client, live_server, 400, "body", url=AGENT + "GetBatchTaskInfo", json=[1], **post)
    for endpoint, member in (("GetBatchTaskInfo", "Id"), ("StopBatchJob", "Id"), ("DeleteBatchTask", "BatchTaskId")):
        # Beyond int32 (and beyond what SQLite can bind): a 400 naming the member, not a 500.
        body = refused(client, live_server, 400, member, url=AGENT + endpoint, json={member: 2**70}, **post)
        assert body["field"] == member


def test_stop_and_delete(client: httpx.Client, live_server: LiveServer) -> None:
    task_id = create(client)
    response = client.post(AGENT + "StopBatchJob", json={"Id": task_id})
    assert response.status_code == 200 and response.json() is True
    assert get(client, task_id)["State"] == "Failed"
    locked = create(client, CancellationBehaviour="CannotCancel")
    assert client.post(AGENT + "StopBatchJob", json={"Id": locked}).json() is False
    refused(
        client, live_server, 404, "2000000000", method="POST", url=AGENT + "StopBatchJob", json={"Id": 2_000_000_000}
    )
    response = client.post(AGENT + "DeleteBatchTask", json={"BatchTaskId": task_id})
    assert response.status_code == 204 and response.content == b""
    assert get(client, task_id) is None
    refused(
        client,
        live_server,
        404,
        str(task_id),
        method="POST",
        url=AGENT + "DeleteBatchTask",
        json={"BatchTaskId": task_id},
    )


def test_history(client: httpx.Client, live_server: LiveServer) -> None:
    task_id = create(client)
    client.post(AGENT + "UpdateBatchTask", json={"BatchTaskInfo": {"Id": task_id, "State": "Aquired"}})
    history = client.get(f"/batchstore/v1/tasks/{task_id}/history").json()
    assert [e["operation"] for e in history] == ["create", "update"]
    assert history[1]["changes"] == {"State": ["New", "Aquired"]}
    assert set(history[0]) == {"at", "operation", "worker", "changes"}
    refused(client, live_server, 404, "2000000000", method="GET", url="/batchstore/v1/tasks/2000000000/history")
    refused(client, live_server, 400, "task_id", method="GET", url="/batchstore/v1/tasks/abc/history")


def test_media_types(client: httpx.Client, live_server: LiveServer) -> None:
    text_json = client.post(
        "/api/v1/BatchTask", content=b'{"Name": "as text/json"}', headers={"Content-Type": "text/json; charset=utf-8"}
    )
    assert text_json.status_code == 200
    xml = b"<BatchTaskInfo><Name>x</Name></BatchTaskInfo>"
    body = refused(
        client,
        live_server,
        415,
        "Content-Type",
        "application/xml",
        method="POST",
        url="/api/v1/BatchTask",
        content=xml,
        headers={"Content-Type": "application/xml"},
    )
    assert body["field"] == "Content-Type"
    refused(
        client,
        live_server,
        415,
        "Content-Type",
        method="POST",
        url="/api/v1/BatchTask",
        content=b"Name=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    refused(
        client,
        live_server,
        406,
        "Accept",
        method="POST",
        url="/api/v1/BatchTask",
        json={"Name": "x"},
        headers={"Accept": "application/xml"},
    )
    assert client.get("/api/v1/BatchTask/All", headers={"Accept": "text/json"}).status_code == 200
    refused(
        client,
        live_server,
        400,
        "JSON",
        method="POST",
        url="/api/v1/BatchTask",
        content=b'{"Name": ',
        headers={"Content-Type": "application/json"},
    )
    refused(
        client,
        live_server,
        400,
        "body",
        method="POST",
        url="/api/v1/BatchTask",
        content=b"",
        headers={"Content-Type": "application/json"},
    )


def test_bodies_over_the_limit_are_413_before_being_read(tmp_path: Any) -> None:
    with (
        running_server(tmp_path / "small.db", max_body_bytes=2000) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        big = {"Name": "big", "ParameterObject": {"blob": "x" * 5000}}
        refused(client, server, 413, "2000", method="POST", url="/api/v1/BatchTask", json=big)

        def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"Name": "big", "ParameterObject": {"blob": "'
            for _ in range(10):
                yield b"x" * 500
            yield b'"}}'

        refused(
            client,
            server,
            413,
            "2000",
            method="POST",
            url="/api/v1/BatchTask",
            content=chunked(),
            headers={"Content-Type": "application/json"},
        )
        assert client.post("/api/v1/BatchTask", json={"Name": "small"}).status_code == 200


def test_seed_002_round_trips_through_update(client: httpx.Client) -> None:
    # The GetBatchTaskInfo sample (a valid task): create it, read it, send it back changed.
    body = {
        k: v
        for k, v in SEED_GET_002.items()
        if k not in ("Id", "TableRight", "FieldProperties", "DetailsTable", "DetailsRecord")
    }
    task_id = create(client, **body)
    task = get(client, task_id)
    task["Response"] = "exported again"
    updated = client.post(AGENT + "UpdateBatchTask", json={"BatchTaskInfo": task}).json()
    assert updated["Response"] == "exported again" and updated["State"] == "Succeeded"
