"""SailPoint's task-status routes, called by the real ``sailpoint`` SDK (TaskManagementApi) and by httpx."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import snapshot
from server_process import LiveServer, require, require_server_packages

require_server_packages()
import httpx  # noqa: E402

AGENT = "/api/v1/Agents/Batch/"


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as opened:
        yield opened


@pytest.fixture
def api(live_server: LiveServer) -> Any:
    require("sailpoint")
    from sailpoint import ApiClient
    from sailpoint.configuration import Configuration, ConfigurationParams
    from sailpoint.task_management import TaskManagementApi

    params = ConfigurationParams()
    params.base_url = live_server.url
    params.access_token = "local-token"  # with a token the SDK makes no OAuth call
    return TaskManagementApi(ApiClient(Configuration(params)))


def create(client: httpx.Client, **fields: Any) -> int:
    response = client.post("/api/v1/BatchTask", json={"Name": "ERPSync", **fields})
    assert response.status_code == 200, response.text
    return int(response.json())


def op(name: str, path: str, value: Any) -> Any:
    from sailpoint.task_management.models import JsonPatchOperation, JsonPatchOperationValue

    return JsonPatchOperation(op=name, path=path, value=JsonPatchOperationValue(value))


def test_the_sdk_reads_a_task_status(client: httpx.Client, api: Any) -> None:
    task_id = create(
        client,
        Description="Sync customers",
        ProgressDescription="450 of 650",
        ParameterObject={"source": "SAP"},
        AssociateId=820,
        State="Started",
        ProgressPercent=69,
        LastStarted="2024-11-27T14:00:00+01:00",
    )
    status = api.get_task_status_v1(str(task_id))
    assert status.id == str(task_id) and status.type == "QUEUED_TASK"
    assert (status.unique_name, status.description, status.launcher) == ("ERPSync", "Sync customers", "associate:820")
    assert (status.progress, status.percent_complete, status.attributes) == ("450 of 650", 69, {"source": "SAP"})
    assert status.launched == dt.datetime(2024, 11, 27, 13, 0, tzinfo=dt.UTC)
    assert status.completion_status is None and status.completed is None
    assert status.messages == [] and status.returns == []


def test_the_sdk_gets_404_for_unknown_ids(api: Any) -> None:
    from sailpoint.exceptions import NotFoundException

    for unknown in ("2000000000", "00eebcf881994e419d72e757fd30dc0e", "99999999999999999999"):
        with pytest.raises(NotFoundException):
            api.get_task_status_v1(unknown)


def test_completion_status_follows_state(client: httpx.Client) -> None:
    expected = {
        "Succeeded": "SUCCESS",
        "SucceededManualCleanup": "WARNING",
        "Failed": "ERROR",
        "New": None,
        "Started": None,
    }
    for state, status in expected.items():
        task_id = create(client, State=state)
        assert client.get(f"/task-status/v1/{task_id}").json()["completionStatus"] == status
    stopped = create(client)
    assert client.post(AGENT + "StopBatchJob", json={"Id": stopped}).json() is True
    document = client.get(f"/task-status/v1/{stopped}").json()
    assert document["completionStatus"] == "TERMINATED" and document["completed"] is not None


def test_the_sdk_lists_with_filters_count_and_sorters(client: httpx.Client, api: Any) -> None:
    tag = "L-" + str(create(client))
    done = create(client, Name=tag, State="Succeeded", Created="2020-01-02T00:00:00Z")
    failed = create(client, Name=tag, State="Failed", Created="2020-01-01T00:00:00Z")
    pending = create(client, Name=tag, Created="2020-01-03T00:00:00Z")
    mine = {str(done), str(failed), str(pending)}
    ids_filter = f'id in ("{done}", "{failed}", "{pending}")'

    def listed(**kwargs: Any) -> list[str]:
        return [s.id for s in api.get_task_status_list_v1(**kwargs)]

    assert listed(filters=ids_filter) == [str(done), str(failed), str(pending)]  # creation order
    assert listed(filters=ids_filter, sorters="created") == [str(failed), str(done), str(pending)]
    assert listed(filters=ids_filter, sorters="-created") == [str(pending), str(done), str(failed)]
    assert listed(filters=f"{ids_filter} and completionStatus isnull") == [str(pending)]
    assert listed(filters=f'{ids_filter} and completionStatus in ("SUCCESS", "ERROR")') == [str(done), str(failed)]
    assert listed(filters=f'{ids_filter} and not (completionStatus eq "SUCCESS" or completionStatus isnull)') == [
        str(failed)
    ]
    assert listed(filters=f'id eq "{failed}"') == [str(failed)]
    assert listed(filters=ids_filter, limit=1, offset=1) == [str(done), str(failed), str(pending)][1:2]
    assert listed(filters=ids_filter, limit=0) == []
    response = api.get_task_status_list_v1_with_http_info(filters=ids_filter, count=True, limit=1)
    headers = {name.lower(): value for name, value in (response.headers or {}).items()}
    assert headers["x-total-count"] == "3" and len(response.data) == 1
    assert set(listed(filters="completionStatus isnull")) & mine == {str(pending)}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"filters": 'name eq "x"'}, "filters"),
        ({"filters": 'completionStatus co "SUC"'}, "filters"),
        ({"filters": 'id in ("1", '}, "filters"),
        ({"filters": "completionStatus eq SUCCESS"}, "filters"),
        ({"filters": 'id eq "1" id eq "2"'}, "filters"),
        ({"sorters": "name"}, "sorters"),
        ({"limit": "251"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"count": "maybe"}, "count"),
    ],
)
def test_bad_collection_parameters_are_400(client: httpx.Client, params: dict[str, str], named: str) -> None:
    response = client.get("/task-status/v1", params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert named in body["fields"], body
    assert body["messages"][0]["text"] == body["message"]  # SailPoint's error shape too


def test_the_sdk_clears_a_pending_task(client: httpx.Client, api: Any) -> None:
    task_id = create(client, State="Started")
    updated = api.update_task_status_v1(
        str(task_id),
        [
            op("test", "/uniqueName", "ERPSync"),
            op("replace", "/completionStatus", "SUCCESS"),
            op("replace", "/completed", "2024-11-27T15:00:00Z"),
        ],
    )
    assert updated.completion_status == "SUCCESS" and updated.completed is not None
    task = client.post(AGENT + "GetBatchTaskInfo", json={"Id": task_id}).json()
    assert task["State"] == "Succeeded"
    terminated = create(client, State="Started")
    result = api.update_task_status_v1(
        str(terminated),
        [
            op("replace", "/completionStatus", "TERMINATED"),
            op("replace", "/completed", "2024-11-27T15:00:00Z"),
        ],
    )
    assert result.completion_status == "TERMINATED"
    warned = create(client, State="Started")
    assert (
        api.update_task_status_v1(
            str(warned),
            [
                op("add", "/completionStatus", "WARNING"),
                op("add", "/completed", "2024-11-27T15:00:00Z"),
            ],
        ).completion_status
        == "WARNING"
    )
    assert client.post(AGENT + "GetBatchTaskInfo", json={"Id": warned}).json()["State"] == "SucceededManualCleanup"


def patch_refused(
    client: httpx.Client, server: LiveServer, task_id: int, operations: Any, status: int, named: str
) -> None:
    before = snapshot(server.db_path)
    response = client.patch(
        f"/task-status/v1/{task_id}", json=operations, headers={"Content-Type": "application/json-patch+json"}
    )
    assert response.status_code == status, response.text
    assert named in response.json()["message"], response.json()
    assert snapshot(server.db_path) == before, "a refused patch wrote to the database"


def test_refused_patches_write_nothing(client: httpx.Client, live_server: LiveServer) -> None:
    task_id = create(client, State="Started", Description="before")
    finish = [
        {"op": "replace", "path": "/completionStatus", "value": "SUCCESS"},
        {"op": "replace", "path": "/completed", "value": "2024-11-27T15:00:00Z"},
    ]
    patch_refused(
        client,
        live_server,
        task_id,
        [*finish, {"op": "replace", "path": "/description", "value": "x"}],
        400,
        "/description",
    )
    patch_refused(
        client,
        live_server,
        task_id,
        [{"op": "test", "path": "/percentComplete", "value": 50}, *finish],
        409,
        "percentComplete",
    )
    patch_refused(
        client,
        live_server,
        task_id,
        [{"op": "test", "path": "/percentComplete", "value": False}, *finish],
        409,
        "percentComplete",
    )  # false is not 0
    patch_refused(client, live_server, task_id, finish[:1], 400, "completed")
    patch_refused(
        client,
        live_server,
        task_id,
        [{"op": "replace", "path": "/completionStatus", "value": "DONE"}, finish[1]],
        400,
        "completionStatus",
    )
    patch_refused(client, live_server, task_id, [{"op": "remove", "path": "/completionStatus"}], 400, "remove")
    patch_refused(
        client, live_server, task_id, [{"op": "move", "from": "/completed", "path": "/completionStatus"}], 400, "move"
    )
    patch_refused(client, live_server, task_id, {"op": "test"}, 400, "array")
    patch_refused(client, live_server, task_id, [{"op": "test", "path": "/nope/deeper", "value": 1}], 400, "nope")
    patch_refused(client, live_server, 2_000_000_000, finish, 404, "2000000000")
    before = snapshot(live_server.db_path)
    response = client.patch(f"/task-status/v1/{task_id}", json=finish, headers={"Content-Type": "application/xml"})
    assert response.status_code == 415 and snapshot(live_server.db_path) == before
    ok = client.patch(
        f"/task-status/v1/{task_id}",
        json=[{"op": "test", "path": "/percentComplete", "value": 0}, *finish],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert ok.status_code == 200 and ok.json()["completionStatus"] == "SUCCESS"
    again = client.patch(
        f"/task-status/v1/{task_id}",
        json=[
            {"op": "replace", "path": "/completionStatus", "value": None},
            {"op": "replace", "path": "/completed", "value": None},
        ],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert again.status_code == 400 and "pending again" in again.json()["message"]
