"""SailPoint's versioned task-status routes and its token route, driven by SailPoint's official SDKs.

sailpoint 1.x calls ``/beta``, ``/v2024``, ``/v2025`` and ``/v2026`` (``sailpoint_sdk.py`` runs it in a
process of its own); sailpoint 2.x calls ``/task-status/v1``. Both log in as an SDK does, with client
credentials at ``/oauth/token``, against real server processes on each engine.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import ENGINES, FULL, snapshot
from sailpoint_sdk import SDK1_VERSIONS, SailPointSdk, TaskManagementApi, require_sdk1
from server_process import LiveServer, postgres_schema, require, require_server_packages, running_server

require_server_packages()
import httpx  # noqa: E402

from batchstore import BatchStore  # noqa: E402

#: The SDK versions the tests drive: all four in the full tier; in the fast one v2026 alone, since the driver
#: takes 5 to 13 s to import each of the others' generated packages (and v2026 half a second).
VERSIONS = SDK1_VERSIONS if FULL else ("v2026",)
TOKEN = "sp-s3cret-token"
AGENT = "/api/v1/Agents/Batch/"
FORM = "application/x-www-form-urlencoded"


def _server(request: pytest.FixtureRequest, factory: pytest.TempPathFactory, token: str | None) -> Iterator[LiveServer]:
    if request.param == "sqlite":
        with running_server(factory.mktemp("sailpoint") / "tasks.db", token=token) as server:
            yield server
    else:
        with postgres_schema() as url, running_server(url, token=token) as server:
            yield server


@pytest.fixture(scope="module", params=ENGINES)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server process that needs the token TOKEN, on each engine, shared by this module's tests."""
    yield from _server(request, tmp_path_factory, TOKEN)


@pytest.fixture(scope="module", params=ENGINES)
def open_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server process without a token, on each engine."""
    yield from _server(request, tmp_path_factory, None)


@pytest.fixture(scope="session")
def sdk() -> Iterator[SailPointSdk]:
    require_sdk1()
    driver = SailPointSdk()
    yield driver
    driver.close()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}) as opened:
        yield opened


@pytest.fixture(params=VERSIONS)
def api(request: pytest.FixtureRequest, sdk: SailPointSdk, server: LiveServer) -> TaskManagementApi:
    """The SDK's TaskManagementApi of each version, logged in as the SDK does: client credentials, then a token."""
    logged_in = sdk.api(server.url, request.param, client_id="batchstore-tests", client_secret=TOKEN)
    assert logged_in.got_token()
    return logged_in


def create(client: httpx.Client, **fields: Any) -> int:
    response = client.post("/api/v1/BatchTask", json={"Name": "ERPSync", **fields})
    assert response.status_code == 200, response.text
    return int(response.json())


def state_of(client: httpx.Client, task_id: int) -> str:
    return str(client.post(AGENT + "GetBatchTaskInfo", json={"Id": task_id}).json()["State"])


def ok(answer: dict[str, Any]) -> Any:
    assert answer.get("status") == 200 and "error" not in answer, answer
    return answer["data"]


def replace(path: str, value: Any) -> dict[str, Any]:
    return {"op": "replace", "path": path, "value": value}


# --- reading --------------------------------------------------------------------------------------


def test_the_sdk_reads_a_task_status(client: httpx.Client, api: TaskManagementApi) -> None:
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
    status = ok(api.get_task_status(str(task_id)))
    assert (status["id"], status["type"], status["uniqueName"]) == (str(task_id), "QUEUED_TASK", "ERPSync")
    assert (status["description"], status["launcher"], status["progress"]) == (
        "Sync customers",
        "associate:820",
        "450 of 650",
    )
    assert (status["percentComplete"], status["attributes"]) == (69, {"source": "SAP"})
    assert dt.datetime.fromisoformat(status["launched"]) == dt.datetime(2024, 11, 27, 13, 0, tzinfo=dt.UTC)
    assert status["completionStatus"] is None and status["completed"] is None
    assert status["messages"] == [] and status["returns"] == []


def test_the_sdk_gets_404_for_unknown_ids(api: TaskManagementApi) -> None:
    for unknown in ("2000000000", "00eebcf881994e419d72e757fd30dc0e", "pending-tasks-not"):
        answer = api.get_task_status(unknown)
        assert (answer.get("error"), answer.get("status")) == ("NotFoundException", 404), answer
        assert answer["body"]["messages"][0]["text"] == answer["body"]["message"]  # SailPoint's error format


# --- the list: every documented filter and sorter --------------------------------------------------


def test_the_sdk_lists_with_every_documented_filter(client: httpx.Client, api: TaskManagementApi) -> None:
    done = create(client, State="Succeeded", AssociateId=7, Created="2020-01-02T00:00:00Z")
    failed = create(client, State="Failed", Created="2020-01-01T00:00:00Z")
    pending = create(client, IsSystemTask=True, Created="2020-01-03T00:00:00Z")
    stopped = create(client, Created="2020-01-05T00:00:00Z")
    assert client.post(AGENT + "StopBatchJob", json={"Id": stopped}).json() is True
    warned = create(client, State="SucceededManualCleanup", Created="2020-01-04T00:00:00Z")
    everyone = [done, failed, pending, stopped, warned]
    scope = "id in (" + ", ".join(f'"{i}"' for i in everyone) + ")"

    def listed(filters: str = "", **kwargs: Any) -> list[int]:
        found = ok(api.get_task_status_list(filters=f"{scope} and ({filters})" if filters else scope, **kwargs))
        return [int(status["id"]) for status in found]

    assert listed() == everyone  # by Id without sorters
    assert listed(sorters="created") == [failed, done, pending, warned, stopped]
    assert listed(sorters="-created") == [stopped, warned, pending, done, failed]
    assert listed('completionStatus eq "SUCCESS"') == [done]
    assert listed('completionStatus eq "Success"') == [done]  # SailPoint's own example writes it so
    assert listed('completionStatus eq "ERROR"') == [failed]
    assert listed('completionStatus eq "TERMINATED"') == [stopped]
    assert listed('completionStatus in ("WARNING", "TERMINATED")') == [stopped, warned]
    assert listed('completionStatus eq "TEMPERROR"') == []
    assert listed("completionStatus isnull") == [pending]
    assert listed('type eq "QUEUED_TASK"') == everyone
    assert listed('type in ("CLOUD_ACCOUNT_AGGREGATION", "IDENTITY_REFRESH")') == []
    assert listed('sourceId eq "2c9180835d2e5168015d32f890ca1581"') == []
    assert listed('launcher eq "system"') == [pending]
    assert listed('launcher in ("associate:7", "associate:8")') == [done]
    assert listed('launcher eq "batchstore"') == [failed, stopped, warned]
    assert listed(f'id eq "{failed}"') == [failed]
    assert listed(f'id in ("{failed}", "not-an-id", "99999999999")') == [failed]
    assert listed('not (completionStatus eq "SUCCESS" or completionStatus isnull)') == [failed, stopped, warned]
    assert listed('launcher eq "batchstore" and not completionStatus in ("ERROR")', sorters="-created") == [
        stopped,
        warned,
    ]
    assert listed(sorters="created", offset=1, limit=2) == [done, pending]
    assert listed(limit=0) == []
    counted = api.get_task_status_list(filters=scope, count=True, limit=2)
    assert counted["headers"]["x-total-count"] == "5" and len(ok(counted)) == 2
    # What the list filters on is what the view shows: each status is found by its own values.
    for status in ok(api.get_task_status_list(filters=scope)):
        completion = f'"{status["completionStatus"]}"' if status["completionStatus"] else None
        by_status = f"completionStatus eq {completion}" if completion else "completionStatus isnull"
        assert int(status["id"]) in listed(f'{by_status} and launcher eq "{status["launcher"]}"'), status


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"filters": 'name eq "x"'}, "filters"),
        ({"filters": 'completionStatus co "SUC"'}, "filters"),
        ({"filters": 'launcher isnull'}, "filters"),
        ({"filters": 'completionStatus eq "DONE"'}, "filters"),
        ({"filters": 'id in ("1", '}, "filters"),
        ({"filters": "completionStatus eq SUCCESS"}, "filters"),
        ({"filters": "not " * 40 + 'id eq "1"'}, "filters"),
        ({"sorters": "name"}, "sorters"),
        ({"sorters": "created,modified"}, "sorters"),
        ({"limit": "251"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"count": "maybe"}, "count"),
    ],
)
@pytest.mark.parametrize("version", ["beta", "v3", "v2024", "v2025", "v2026"])
def test_bad_collection_parameters_are_400_naming_them(
    client: httpx.Client, version: str, params: dict[str, str], named: str
) -> None:
    response = client.get(f"/{version}/task-status", params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert named in body["fields"], body
    assert body["messages"][0]["text"] == body["message"]


def test_versions_outside_the_sdks_and_their_headers(client: httpx.Client) -> None:
    task_id = create(client, State="Succeeded")
    experimental = {"X-SailPoint-Experimental": "true"}
    for version in ("v3", "v2025", "v2026"):  # v3: no SDK calls it, served alike
        got = client.get(f"/{version}/task-status/{task_id}", headers=experimental)
        assert got.status_code == 200 and got.json()["completionStatus"] == "SUCCESS"
        listed = client.get(f"/{version}/task-status", params={"filters": f'id eq "{task_id}"'}, headers=experimental)
        assert [s["id"] for s in listed.json()] == [str(task_id)]
    unknown = client.get(f"/v1999/task-status/{task_id}")
    assert unknown.status_code == 404 and unknown.json()["field"] == "version"
    assert client.get("/v2025/task-status", headers={"Accept": "text/html"}).status_code == 406
    refused = client.patch(
        f"/v2025/task-status/{task_id}", content=b"[]", headers={"Content-Type": "application/xml"}
    )
    assert refused.status_code == 415 and refused.json()["field"] == "Content-Type"


# --- pending tasks -------------------------------------------------------------------------------


def test_pending_tasks_get_and_head(client: httpx.Client, api: TaskManagementApi) -> None:
    head = api.get_pending_task_headers()
    assert head["status"] == 200 and head["data"] is None
    before = int(head["headers"]["x-total-count"])
    as_list = api.get_task_status_list(filters="completionStatus isnull", count=True, limit=0)
    assert as_list["headers"]["x-total-count"] == str(before)
    first = create(client)
    create(client, State="Failed")
    second = create(client, State="Started")
    assert int(api.get_pending_task_headers(count=True)["headers"]["x-total-count"]) == before + 2
    # By Id, so the new ones come after every older pending task.
    newest = ok(api.get_pending_tasks(offset=before))
    assert [int(s["id"]) for s in newest] == [first, second]
    assert all(s["completionStatus"] is None for s in newest)
    counted = api.get_pending_tasks(count=True, limit=1)
    assert counted["headers"]["x-total-count"] == str(before + 2) and len(ok(counted)) == 1
    assert "x-total-count" not in api.get_pending_tasks(limit=1)["headers"]
    assert ok(api.get_pending_tasks(offset=before + 2)) == []


# --- PATCH ---------------------------------------------------------------------------------------


def test_the_sdk_finishes_a_pending_task(client: httpx.Client, api: TaskManagementApi) -> None:
    expected = {"SUCCESS": "Succeeded", "WARNING": "SucceededManualCleanup", "TERMINATED": "Failed", "ERROR": "Failed"}
    for status, state in expected.items():
        task_id = create(client, State="Started")
        finished = ok(
            api.update_task_status(
                str(task_id), [replace("/completionStatus", status), replace("/completed", "2024-11-27T15:00:00Z")]
            )
        )
        assert finished["completionStatus"] == status and finished["completed"] is not None
        assert state_of(client, task_id) == state
        assert ok(api.get_task_status(str(task_id)))["completionStatus"] == status


def test_a_refused_patch_writes_nothing(client: httpx.Client, api: TaskManagementApi, server: LiveServer) -> None:
    task_id = create(client, State="Started")
    before = snapshot(server.db_path)
    refused = api.update_task_status(str(task_id), [replace("/description", "x")])
    assert (refused.get("error"), refused.get("status")) == ("BadRequestException", 400), refused
    assert "/description" in refused["body"]["message"]
    half = api.update_task_status(str(task_id), [replace("/completionStatus", "SUCCESS")])
    assert half.get("status") == 400 and "completed" in half["body"]["message"]
    missing = api.update_task_status("2000000000", [replace("/completionStatus", "SUCCESS")])
    assert missing.get("status") == 404
    assert snapshot(server.db_path) == before
    assert state_of(client, task_id) == "Started"


# --- the token route -----------------------------------------------------------------------------


def test_the_sdk_logs_in_only_with_the_token_as_client_secret(sdk: SailPointSdk, server: LiveServer) -> None:
    for version in VERSIONS:
        assert sdk.api(server.url, version, client_id="anyone", client_secret=TOKEN).got_token()
        assert not sdk.api(server.url, version, client_id="anyone", client_secret=TOKEN + "-not").got_token()


def test_without_a_server_token_any_credentials_log_in(sdk: SailPointSdk, open_server: LiveServer) -> None:
    with httpx.Client(base_url=open_server.url, timeout=30) as client:
        task_id = create(client, State="Succeeded")
    for version in VERSIONS:
        api = sdk.api(open_server.url, version, client_id="who", client_secret="ever")
        assert api.got_token()
        assert ok(api.get_task_status(str(task_id)))["completionStatus"] == "SUCCESS"


def test_the_token_route_by_hand(client: httpx.Client, server: LiveServer) -> None:
    before = snapshot(server.db_path)
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        credentials = {"grant_type": "client_credentials", "client_id": "x", "client_secret": TOKEN}
        as_form = anonymous.post("/oauth/token", data=credentials)
        assert as_form.status_code == 200, as_form.text
        answer = as_form.json()
        assert answer["token_type"] == "bearer" and answer["expires_in"] > 0
        assert as_form.headers["cache-control"] == "no-store"
        as_multipart = anonymous.post("/oauth/token", files={k: (None, v) for k, v in credentials.items()})
        assert as_multipart.status_code == 200 and as_multipart.json()["access_token"] == answer["access_token"]
        basic = base64.b64encode(f"x:{TOKEN}".encode()).decode()
        as_basic = anonymous.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
        )
        assert as_basic.status_code == 200, as_basic.text
        bearer = {"Authorization": f"Bearer {answer['access_token']}"}
        assert anonymous.get("/v2025/task-status", params={"limit": 1}, headers=bearer).status_code == 200
        assert anonymous.post(AGENT + "GetBatchTaskInfo", json={"Id": 1}, headers=bearer).status_code in (200, 404)
        refusals = [
            ({**credentials, "client_secret": "wrong"}, FORM, 401, "client_secret"),
            ({"grant_type": "client_credentials", "client_id": "x"}, FORM, 401, "client_secret"),
            ({**credentials, "grant_type": "password"}, FORM, 400, "grant_type"),
            ({"client_id": "x", "client_secret": TOKEN}, FORM, 400, "grant_type"),
            (credentials, "application/json", 415, "Content-Type"),
        ]
        for data, content_type, status, field in refusals:
            refused = anonymous.post("/oauth/token", content=urlencode(data), headers={"Content-Type": content_type})
            assert refused.status_code == status, (data, refused.text)
            assert refused.json()["field"] == field and refused.json()["messages"], refused.json()
        assert anonymous.get("/v2025/task-status").status_code == 401  # the token route opens nothing else
        assert anonymous.get("/oauth/token").status_code == 405
    assert snapshot(server.db_path) == before


def test_the_v1_sdk_logs_in_with_client_credentials(client: httpx.Client, server: LiveServer) -> None:
    """sailpoint 2.x (``/task-status/v1``) fetches its token from /oauth/token the same way."""
    require("sailpoint")
    from sailpoint import ApiClient
    from sailpoint.configuration import Configuration, ConfigurationParams
    from sailpoint.task_management import TaskManagementApi as V1Api

    task_id = create(client, State="Failed")
    params = ConfigurationParams()
    params.base_url = server.url
    params.client_id, params.client_secret = "batchstore-tests", TOKEN
    configuration = Configuration(params)
    assert configuration.access_token == TOKEN
    statuses = V1Api(ApiClient(configuration)).get_task_status_list_v1(filters=f'id eq "{task_id}"')
    assert [(s.id, s.completion_status) for s in statuses] == [(str(task_id), "ERROR")]


# --- in SQL, a page at a time ----------------------------------------------------------------------


@pytest.mark.sqlite_only("sqlite3's trace hook shows the statements the route runs")
def test_a_list_page_reads_its_page_and_counts_in_sql(store: BatchStore, sql_trace: list[str]) -> None:
    """The route reads one page (LIMIT/OFFSET in SQL), the trace of the tasks on it, and a count: never every task."""
    import asyncio

    from batchstore.server import create_app

    ids = store.create_many([{"Name": f"task {i}", "State": "Succeeded" if i % 3 == 0 else "New"} for i in range(60)])
    pending = [task_id for i, task_id in enumerate(ids) if i % 3]
    params = {"limit": "2", "offset": "3", "count": "true", "filters": "completionStatus isnull", "sorters": "created"}

    app = create_app(store)
    reader = app.state.calls.reader  # reads run on a read-only connection of the app's own: traced too
    reader._engine._conn.set_trace_callback(sql_trace.append)

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            sql_trace.clear()
            return await client.get("/v2025/task-status", params=params)

    response = asyncio.run(ask())
    assert response.status_code == 200, response.text
    page = [int(s["id"]) for s in response.json()]
    assert page == pending[3:5] and response.headers["x-total-count"] == str(len(pending))
    task_reads = [s for s in sql_trace if "FROM batchtask t" in s and "batchtaskchange" not in s]
    assert len(task_reads) == 2, task_reads  # the page and the count
    listing, counting = task_reads
    assert listing.rstrip().endswith("LIMIT 2 OFFSET 3") and "t.state IN (0, 1, 2, 3)" in listing, listing
    assert counting.startswith("SELECT count(*)"), counting
    trace_reads = [s for s in sql_trace if "JOIN batchtaskchange" in s]
    assert len(trace_reads) == 1, trace_reads  # the traces of the whole page in one statement
    traced = sorted(int(i) for i in trace_reads[0].split("t.id IN (", 1)[1].split(")", 1)[0].split(","))
    assert traced == page  # the trace of the page's tasks only
    app.state.calls.close()
