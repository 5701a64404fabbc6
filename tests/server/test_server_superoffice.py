"""SuperOffice's BatchTask routes over HTTP, against a real server process, on SQLite and on PostgreSQL.

Every route of ``docs/superoffice-routes.md``: the seven REST routes (the OData list included) and the
fifteen Batch agent methods. A refused request must answer 4xx with a JSON body naming the field or
parameter, and leave every row of the database as it was.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ENGINES, SEED_CREATE_001, SEED_GET_002, WIRE_ORDER, snapshot
from server_process import LiveServer, postgres_schema, require_server_packages, running_server

require_server_packages()
import httpx  # noqa: E402

AGENT = "/api/v1/Agents/Batch/"
REST = "/api/v1/BatchTask"


@pytest.fixture(scope="module", params=ENGINES)
def live_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server process per engine for this module's tests: on a SQLite file, then on a PostgreSQL schema."""
    if request.param == "sqlite":
        with running_server(tmp_path_factory.mktemp("superoffice") / "tasks.db") as server:
            yield server
        return
    with postgres_schema("superoffice") as url, running_server(url) as server:
        yield server


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


def test_list_by_state_in_any_case_streams_every_page(db: Any) -> None:
    with running_server(db.target) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        from batchstore import BatchStore

        with BatchStore(str(server.db_path)) as store:  # a second connection, as another process would
            ids = store.create_many([{"Name": f"t{i}", "State": "Started" if i % 3 else "New"} for i in range(1300)])
        with client.stream("GET", "/api/v1/BatchTask/sTaRtEd") as response:
            assert response.status_code == 200
            assert "content-length" not in response.headers  # over a megabyte: streamed, not built in memory first
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

    # "user" where the page says user, "system" where it says system, both where it says neither.
    assert ids("GetBatchTaskInfosByNameAndState", {"Name": tag, "State": "Started"}) == [a]
    assert ids("GetBatchTaskInfosByNameAndState", {"Name": tag, "State": "All"}) == [a, b]
    assert ids("GetAllBatchTaskInfosByName", {"TaskName": tag}) == [a, b, c]
    assert ids("GetAllBatchTaskInfosByNameAndState", {"TaskName": tag, "State": "Started"}) == [a, c]
    assert ids("GetAllBatchTaskInfosByNameAndState", {"taskName": tag, "state": "All"}) == [a, b, c]
    assert ids("GetBatchTaskInfosByAssociatesAndState", {"AssociateIds": [901, 902], "State": "New"})[-1] != a
    assert a in ids("GetBatchTaskInfosByAssociatesAndState", {"AssociateIds": [901], "State": "started"})
    assert ids("GetBatchTaskInfosByNameAndAssociates", {"Name": tag, "AssociateIds": [901, 902]}) == [a, b]
    assert set(ids("GetBatchTaskInfosByAssociates", {"AssociateIds": [902]})) >= {b}
    assert ids("GetSystemBatchTaskInfosByName", {"TaskName": tag}) == [c]
    assert ids("GetSystemBatchTaskInfosByNameAndState", {"TaskName": tag, "State": "New"}) == []
    assert ids("GetSystemBatchTaskInfosByNameAndState", {"taskname": tag, "state": "Started"}) == [c]  # any case
    by_state = ids("GetBatchTaskInfosByState", {"State": "Started"})
    assert a in by_state and c not in by_state  # user tasks only
    assert b in ids("GetBatchTaskInfosByState", {"State": "New"})
    rest = [t["Id"] for t in client.get(REST + "/Started").json()]
    assert a in rest and c not in rest  # the REST twin: user tasks too
    # AssociateIds as the official client documents them: [] every task, 0 system tasks, -1 every user task.
    assert ids("GetBatchTaskInfosByNameAndAssociates", {"Name": tag, "AssociateIds": []}) == [a, b, c]
    assert ids("GetBatchTaskInfosByNameAndAssociates", {"Name": tag, "AssociateIds": [0]}) == [c]
    assert ids("GetBatchTaskInfosByNameAndAssociates", {"Name": tag, "AssociateIds": [-1]}) == [a, b]
    assert ids("GetBatchTaskInfosByNameAndAssociates", {"Name": tag, "AssociateIds": [902, 0]}) == [b, c]
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


# --- the REST routes on /api/v1/BatchTask/{...} -----------------------------------------------------------


def test_get_by_id_and_by_state_share_one_path(client: httpx.Client, live_server: LiveServer) -> None:
    user = create(client, State="Failed")
    system = create(client, IsSystemTask=True, State="Failed")
    task = client.get(f"{REST}/{user}")
    assert task.status_code == 200 and task.json() == get(client, user)
    assert list(task.json()) == list(WIRE_ORDER)
    assert client.get(f"{REST}/{system}", params={"$select": "Name"}).json()["Name"] == "ERPSync"
    failed = client.get(f"{REST}/failed").json()  # a state name, in any case: the user tasks in it
    assert user in [t["Id"] for t in failed] and system not in [t["Id"] for t in failed]
    assert all(t["State"] == "Failed" and t["IsSystemTask"] is False for t in failed)
    refused(client, live_server, 404, "2000000000", method="GET", url=f"{REST}/2000000000")
    refused(client, live_server, 404, str(10**30), method="GET", url=f"{REST}/{10**30}")  # no task, not a 500
    body = refused(client, live_server, 400, "Running", method="GET", url=f"{REST}/Running")
    assert body["field"] == "state"


def test_put_changes_only_the_writable_fields(client: httpx.Client, live_server: LiveServer) -> None:
    task_id = create(client, Description="before")
    task = client.get(f"{REST}/{task_id}").json()
    task["State"], task["Description"] = "Started", "after"
    response = client.put(f"{REST}/{task_id}", json=task)
    assert response.status_code == 200, response.text
    assert (response.json()["State"], response.json()["Description"]) == ("Started", "after")
    without_id = client.put(f"{REST}/{task_id}", json={"Response": "done"}, params={"$select": "Response"})
    assert without_id.status_code == 200 and without_id.json()["Response"] == "done"
    assert without_id.json()["Description"] is None  # $select
    put = {"method": "PUT", "url": f"{REST}/{task_id}"}
    body = refused(client, live_server, 400, "Name", json={"Name": "renamed"}, **put)
    assert body["error"] == "ReadOnlyFieldError"
    refused(client, live_server, 400, "Id", json={"Id": task_id + 1, "State": "Failed"}, **put)
    refused(client, live_server, 400, "body", json=["State"], **put)
    refused(client, live_server, 400, "Id", method="PUT", url=f"{REST}/abc", json={"State": "Failed"})
    refused(client, live_server, 404, "2000000000", method="PUT", url=f"{REST}/2000000000", json={"State": "Failed"})
    assert get(client, task_id)["Description"] == "after"


def test_stop_and_delete_by_path(client: httpx.Client, live_server: LiveServer) -> None:
    task_id = create(client)
    stopped = client.post(f"{REST}/{task_id}/Stop")  # no body at all, as the page's route takes none
    assert stopped.status_code == 200 and stopped.json() is True
    assert get(client, task_id)["State"] == "Failed"
    locked = create(client, CancellationBehaviour="CannotCancel")
    assert client.post(f"{REST}/{locked}/Stop", json={}).json() is False
    refused(client, live_server, 404, "2000000000", method="POST", url=f"{REST}/2000000000/Stop")
    refused(client, live_server, 400, "id", method="POST", url=f"{REST}/x1/Stop")
    deleted = client.delete(f"{REST}/{task_id}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert get(client, task_id) is None
    refused(client, live_server, 404, str(task_id), method="DELETE", url=f"{REST}/{task_id}")
    refused(client, live_server, 400, "batchTaskId", method="DELETE", url=f"{REST}/-1")


# --- the agent methods batchstore added -------------------------------------------------------------------


def test_start_batch_job_creates_a_task(client: httpx.Client, live_server: LiveServer) -> None:
    response = client.post(
        AGENT + "StartBatchJob", json={"batchTaskInfo": {"Id": 7, "Name": "Started by agent", "Request": "go"}}
    )
    assert response.status_code == 200, response.text
    task = get(client, response.json())
    assert (task["Name"], task["Request"], task["State"]) == ("Started by agent", "go", "New")
    post = {"method": "POST", "url": AGENT + "StartBatchJob"}
    refused(client, live_server, 400, "BatchTaskInfo", json={"BatchTaskInfo": None}, **post)
    refused(client, live_server, 400, "BatchTaskInfo", json={}, **post)
    refused(client, live_server, 400, "State", json={"BatchTaskInfo": {"Name": "x", "State": "All"}}, **post)


def test_delete_batch_tasks_deletes_all_in_one_go(client: httpx.Client, live_server: LiveServer) -> None:
    first, second, kept = create(client), create(client), create(client)
    response = client.post(AGENT + "DeleteBatchTasks", json={"BatchTaskIds": [first, second, 2_000_000_000]})
    assert response.status_code == 204 and response.content == b""
    assert get(client, first) is None and get(client, second) is None and get(client, kept) is not None
    post = {"method": "POST", "url": AGENT + "DeleteBatchTasks"}
    refused(client, live_server, 400, "BatchTaskIds", json={"BatchTaskIds": [kept, "x"]}, **post)
    refused(client, live_server, 400, "BatchTaskIds", json={"BatchTaskIds": kept}, **post)
    refused(client, live_server, 400, "BatchTaskIds", json={"BatchTaskIds": [kept, 2**40]}, **post)
    assert get(client, kept) is not None


# --- the OData list: GET /api/v1/BatchTask -----------------------------------------------------------------


def odata(client: httpx.Client, **params: str) -> dict[str, Any]:
    response = client.get(REST, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_odata_rows_carry_primary_key_entity_name_and_the_selected_columns(
    client: httpx.Client, live_server: LiveServer
) -> None:
    tag = f"OData-{create(client)}"
    task_id = create(client, Name=tag, AssociateId=31, Description="d", DatabaseSerialNumber="db7")
    body = odata(client, **{"$filter": f"DefinitionName eq '{tag}'"})
    assert body["odata.metadata"] == f"{live_server.url}/api/v1/archive$metadata"
    assert "odata.nextLink" not in body
    [row] = body["value"]
    assert list(row) == [
        "PrimaryKey", "EntityName", "DefinitionName", "Description", "DbTag", "State", "DetailsTable",
        "DetailsRecord", "Request", "Response", "StartCount", "LastStarted", "ProgressPercent",
        "ProgressDescription", "registeredBy", "registeredDate",
    ]  # fmt: skip  # the BatchTasks archive's columns, in its page's order
    task = get(client, task_id)
    assert row["PrimaryKey"] == task_id and row["EntityName"] == "batchtask"
    assert (row["DefinitionName"], row["DbTag"], row["registeredBy"]) == (tag, "db7", 31)
    assert (row["State"], row["registeredDate"]) == ("New", task["Created"])
    body = odata(client, **{"$select": "name,registereddate,IsSystemTask,id", "$filter": f"Name eq '{tag}'"})
    assert body["value"] == [
        {
            "PrimaryKey": task_id,
            "EntityName": "batchtask",
            "Name": tag,
            "registeredDate": task["Created"],
            "IsSystemTask": False,
            "Id": task_id,
        }
    ]
    oslo = client.get(
        REST, params={"$select": "Created", "$filter": f"Name eq '{tag}'"}, headers={"SO-TimeZone": "Europe/Oslo"}
    ).json()
    assert oslo["value"][0]["Created"].endswith(("+01:00", "+02:00"))


def test_odata_pages_follow_next_links_to_the_end(client: httpx.Client) -> None:
    tag = f"Pages-{create(client)}"
    ids = [create(client, Name=tag, StartCount=n % 3) for n in range(7)]
    # StartCount descending, Id breaking ties in the same direction (the store's rule).
    expected = [i for n, i in sorted(zip([n % 3 for n in range(7)], ids), key=lambda p: (-p[0], -p[1]))]
    url: str | None = REST
    params: dict[str, str] | None = {"$filter": f"name eq '{tag}'", "$orderby": "StartCount desc", "$top": "3"}
    seen: list[int] = []
    pages = 0
    while url is not None:
        response = client.get(url, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["value"]) <= 3
        seen += [row["PrimaryKey"] for row in body["value"]]
        url, params, pages = body.get("odata.nextLink"), None, pages + 1
    assert seen == expected and pages == 3  # 3 + 3 + 1 rows; the last page has no nextLink
    skipped = odata(client, **{"$filter": f"Name eq '{tag}'", "$skip": "5", "$select": "Name"})
    assert [row["PrimaryKey"] for row in skipped["value"]] == ids[5:]
    exact = odata(client, **{"$filter": f"Name eq '{tag}'", "$top": "7"})
    assert len(exact["value"]) == 7 and "odata.nextLink" not in exact  # nothing remains: no nextLink
    assert odata(client, **{"$filter": f"Name eq '{tag}'", "$top": "0"})["value"] == []


def test_odata_filters_compile_to_the_stores_query(client: httpx.Client) -> None:
    tag = f"F{create(client)}-"
    a = create(client, Name=tag + "alpha", State="Started", LastStarted="2024-03-05T10:00:00Z", AssociateId=1)
    b = create(client, Name=tag + "Beta", State="Failed", LastStarted="2024-03-06T00:00:00Z", AssociateId=2)
    c = create(client, Name=tag + "gamma", IsSystemTask=True, AssociateId=3)

    def ids(expression: str) -> list[int]:
        rows = odata(client, **{"$filter": f"({expression}) and DefinitionName begins '{tag}'", "$select": "Name"})
        return [row["PrimaryKey"] for row in rows["value"]]

    assert ids("State eq 'Started' or State eq 5") == [a, b]  # a state by name or by number
    assert ids(f"DefinitionName begins '{tag.upper()}B'") == [b]  # SuperOffice's begins ignores case
    assert ids(f"startswith(Name, '{tag}B')") == [b]  # OData's startswith does not
    assert ids(f"startswith(Name, '{tag}b')") == []
    assert ids("Name contains 'AMM' and not IsSystemTask eq false") == [c]
    assert ids("registeredBy oneOf(1, 3)") == [a, c]
    assert ids("registeredBy notOneOf(1, 3)") == [b]
    assert ids("registeredBy between(2, 3)") == [b, c]
    assert ids("LastStarted before '2024-03-06'") == [a]
    assert ids("LastStarted after '2024-03-05'") == [b]
    assert ids("LastStarted date '2024-03-05'") == [a]
    assert ids("LastStarted ge 2024-03-05T12:00:00+01:00") == [b]
    assert ids("LastStarted eq null") == [c]
    assert ids("endswith(Name, 'ta') or substringof('lph', Name) eq true") == [a, b]


@pytest.mark.parametrize(
    ("params", "parameter", "word"),
    [
        ({"$filter": "Name eq"}, "$filter", "value"),
        ({"$filter": "Bogus eq 1"}, "$filter", "Bogus"),
        ({"$filter": "Name like 'x'"}, "$filter", "like"),
        ({"$filter": "LastStarted today"}, "$filter", "today"),
        ({"$filter": "StartCount eq 'many'"}, "$filter", "StartCount"),
        ({"$filter": "State eq 'Running'"}, "$filter", "State"),
        ({"$filter": "LastStarted gt '2024-01-01T00:00:00'"}, "$filter", "offset"),
        ({"$filter": "(Name eq 'x'"}, "$filter", ")"),
        ({"$filter": "not " * 100 + "Name eq 'x'"}, "$filter", "deeper"),
        ({"$filter": "DefinitionId eq 1"}, "$filter", "DefinitionId"),
        ({"$orderBy": "Name sideways"}, "$orderBy", "Name"),
        ({"$orderBy": "updatedDate"}, "$orderBy", "updatedDate"),
        ({"$select": "Name,ParameterObject"}, "$select", "ParameterObject"),
        ({"$top": "-1"}, "$top", "-1"),
        ({"$skip": "ten"}, "$skip", "ten"),
        ({"$top": str(2**31)}, "$top", "2147483648"),
        ({"$format": "XML"}, "$format", "XML"),
    ],
)
def test_a_bad_odata_parameter_is_a_400_naming_it(
    client: httpx.Client, live_server: LiveServer, params: dict[str, str], parameter: str, word: str
) -> None:
    body = refused(client, live_server, 400, parameter, word, method="GET", url=REST, params=params)
    assert body["field"] == parameter
