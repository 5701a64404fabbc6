"""``GET /metrics`` of a real server process, parsed as Prometheus parses it, on both engines.

The tasks are moved by this process (another process, for the server): transitions and run times come from
the change feed, so they count every writer, not only the server's own routes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Database
from server_process import require_server_packages, running_server

require_server_packages()
import httpx  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from batchstore import BatchTaskState  # noqa: E402


@pytest.fixture
def server(db: Database) -> Iterator[Any]:
    db.open().close()
    with running_server(db.target, token="s3cret") as live:  # type: ignore[arg-type]
        yield live


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_count_tasks_transitions_run_times_and_requests(db: Database, server: Any) -> None:
    auth = {"Authorization": "Bearer s3cret"}
    with db.open() as store, httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/metrics").status_code == 401  # the same token rule as every route
        done, failed, waiting = store.create_many([{"Name": "a"}, {"Name": "b"}, {"Name": "c"}])
        for task_id, finish in ((done, store.succeed), (failed, store.fail)):
            store.acquire(worker="w")
            store.start(task_id, worker="w")
            finish(task_id, worker="w")
        store.create({"Name": "old", "State": "Succeeded"})
        assert client.get("/api/v1/BatchTask/New", headers=auth).status_code == 200
        assert client.get("/batchstore/v1/tasks/99999", headers=auth).status_code == 404

        response = client.get("/metrics", headers=auth)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        found = samples(response.text)
        for state in ("New", "Aquired", "Started", "Succeeded", "Failed", "SucceededManualCleanup"):
            assert found[("batchstore_tasks", (("state", state),))] == store.count(state)
        assert found[("batchstore_tasks", (("state", "Succeeded"),))] == 2
        assert found[("batchstore_transitions_total", (("state", "New"),))] == 3
        assert found[("batchstore_transitions_total", (("state", "Aquired"),))] == 2
        assert found[("batchstore_transitions_total", (("state", "Started"),))] == 2
        assert found[("batchstore_transitions_total", (("state", "Failed"),))] == 1
        assert found[("batchstore_transitions_total", (("state", "Succeeded"),))] == 2  # one made Succeeded
        assert found[("batchstore_task_run_seconds_count", (("state", "Succeeded"),))] == 1
        assert found[("batchstore_task_run_seconds_count", (("state", "Failed"),))] == 1
        assert found[("batchstore_task_run_seconds_bucket", (("le", "+Inf"), ("state", "Failed")))] == 1
        requests = "batchstore_http_requests_total"
        by_route = {dict(labels)["route"]: value for (name, labels), value in found.items()
                    if name == requests and dict(labels)["status"] == "200"}
        assert [v for route, v in by_route.items() if route.startswith("/api/v1/BatchTask/{")] == [1]  # a template
        key = (("method", "GET"), ("route", "/batchstore/v1/tasks/{task_id}"), ("status", "404"))
        assert found[(requests, key)] == 1
        assert found[(requests, (("method", "GET"), ("route", "/metrics"), ("status", "401")))] == 1

        # The next scrape counts only what happened since the last one.
        store.acquire(worker="w")
        assert store.get(waiting).state is BatchTaskState.Aquired
        again = samples(client.get("/metrics", headers=auth).text)
        assert again[("batchstore_transitions_total", (("state", "Aquired"),))] == 3
        assert again[("batchstore_tasks", (("state", "Aquired"),))] == 1
        assert again[("batchstore_transitions_total", (("state", "New"),))] == 3
