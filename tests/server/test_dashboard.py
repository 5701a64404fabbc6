"""The dashboard's routes over real HTTP: the page and its files, and the event stream's protocol."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.client import HTTPResponse
from pathlib import Path
from typing import Any

import pytest
from conftest import Database
from server_process import LiveServer, require_server_packages, running_server

from batchstore._engines.postgres import redact

require_server_packages()


def _get(url: str) -> HTTPResponse:
    response: HTTPResponse = urllib.request.urlopen(url, timeout=10)
    return response


def _next_event(stream: HTTPResponse) -> tuple[str, Any]:
    """The next named event of a text/event-stream, skipping comments and the retry hint."""
    name, data = None, []
    while True:
        line = stream.readline().decode("utf-8")
        assert line, "the event stream ended"
        line = line.rstrip("\r\n")
        if line == "":
            if data:
                return name or "message", json.loads("\n".join(data))
            name = None
        elif line.startswith("event:"):
            name = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            data.append(line.partition(":")[2].lstrip())


def test_page_and_its_files_come_from_the_package(dashboard_server: LiveServer) -> None:
    url = dashboard_server.url
    with _get(url + "/") as response:
        html = response.read().decode()
        assert response.headers["Content-Type"].startswith("text/html")
    assert '<main id="board"' in html
    for name, media in [("dashboard.css", "text/css"), ("dashboard.js", "text/javascript"),
                        ("favicon.svg", "image/svg+xml")]:
        assert f"/dashboard/static/{name}" in html
        with _get(f"{url}/dashboard/static/{name}") as response:
            assert response.headers["Content-Type"].startswith(media)
            body = response.read()
        assert body == (Path(__file__).resolve().parents[2] / "batchstore/server/static" / name).read_bytes()
    # Nothing is loaded from another host: every src and href is a path on this server.
    assert "//" not in html


def test_unknown_static_file_is_a_404_naming_it(dashboard_server: LiveServer) -> None:
    url = dashboard_server.url
    with pytest.raises(urllib.error.HTTPError) as caught:
        _get(url + "/dashboard/static/_dashboard.py")
    assert caught.value.code == 404
    assert "_dashboard.py" in caught.value.read().decode()
    caught.value.close()
    with pytest.raises(urllib.error.HTTPError) as caught:
        _get(url + "/dashboard/static/..%2F_dashboard.py")  # no way out of the folder
    assert caught.value.code == 404
    caught.value.close()


@pytest.fixture
def board(db: Database) -> Iterator[LiveServer]:
    """A server process on the test's database, on each engine."""
    db.open().close()
    with running_server(db.target) as server:  # type: ignore[arg-type]
        yield server


def test_event_stream_sends_counts_and_pages_then_changes(board: LiveServer, db: Database) -> None:
    url = board.url
    with db.open() as store:
        first = store.create({"Name": "ContactExport", "Description": "to CSV"})
        done = store.create({"Name": "Finished by an update", "State": "New"})
        store.update({"Id": done, "State": "Succeeded"})  # as UpdateBatchTask would: ProgressPercent stays 0
        with _get(url + "/batchstore/v1/events") as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            name, body = _next_event(stream)
            assert name == "snapshot"
            assert body["counts"] == {"New": 1, "Aquired": 0, "Started": 0, "Succeeded": 1,
                                      "SucceededManualCleanup": 0, "Failed": 0}
            assert [t["Id"] for t in body["pages"]["New"]] == [first] and body["pageSize"] == 50
            assert body["database"] == redact(db.url) and (not db.is_postgres or ":pw@" not in body["database"])
            task = body["pages"]["New"][0]
            assert task["Name"] == "ContactExport" and task["State"] == "New" and task["ProgressPercent"] == 0
            assert set(task) >= {"Id", "Name", "State", "ProgressPercent", "ProgressDescription", "Description",
                                 "Percent", "Rate", "Eta"}
            finished = body["pages"]["Succeeded"][0]
            assert (finished["ProgressPercent"], finished["Percent"]) == (0, 100)  # the bar shows it done

            second = store.create({"Name": "ERPSync"})
            name, body = _next_event(stream)
            assert name == "change"
            assert [t["Id"] for t in body["upsert"]] == [second] and body["remove"] == []
            assert body["counts"]["New"] == 2

            store.acquire(name="ERPSync", worker="w")
            store.start(second, worker="w")
            store.report_progress(second, 40, "260 of 650", worker="w")
            seen: dict[str, Any] = {}
            while seen.get("ProgressPercent") != 40:  # the three steps may arrive as one change or more
                name, body = _next_event(stream)
                assert name == "change" and [t["Id"] for t in body["upsert"]] == [second]
                seen = body["upsert"][0]
            assert seen["State"] == "Started" and seen["ProgressDescription"] == "260 of 650"
            assert seen["Rate"] is not None and seen["Rate"] > 0 and seen["Eta"] is not None
            assert body["counts"]["Started"] == 1 and body["counts"]["New"] == 1

            store.delete(first)
            name, body = _next_event(stream)
            assert name == "change" and body["upsert"] == [] and body["remove"] == [first]
            assert body["counts"]["New"] == 0


def test_a_search_filters_counts_pages_and_changes_in_the_server(board: LiveServer, db: Database) -> None:
    url = board.url
    with db.open() as store:
        erp = store.create_many([{"Name": f"ERPSync {i}", "AssociateId": 7} for i in range(60)])
        store.create_many([{"Name": "Mailing", "AssociateId": 8}, {"Name": "ERP failed", "State": "Failed"}])
        query = urllib.parse.urlencode({"search": "erp associate:7"})
        with _get(f"{url}/batchstore/v1/events?{query}") as stream:
            name, body = _next_event(stream)
            assert name == "snapshot" and body["counts"]["New"] == 60 and body["counts"]["Failed"] == 0
            assert [t["Id"] for t in body["pages"]["New"]] == sorted(erp, reverse=True)[:50]
            # A change to a task outside the search is a removal (it is not on this page), never an upsert.
            other = store.create({"Name": "Unrelated"})
            name, body = _next_event(stream)
            assert name == "change" and body["upsert"] == [] and body["remove"] == [other]
            store.stop(erp[0])
            name, body = _next_event(stream)
            assert [t["Id"] for t in body["upsert"]] == [erp[0]] and body["counts"]["Failed"] == 1

        # The next page of a state: below the oldest shown, newest first, with whether more remain.
        with _get(f"{url}/batchstore/v1/tasks?state=New&{query}&before={sorted(erp)[10]}") as response:
            page = json.loads(response.read())
        assert [t["Id"] for t in page["tasks"]] == sorted(erp[1:10], reverse=True) and page["more"] is False
        with _get(f"{url}/batchstore/v1/events?{urllib.parse.urlencode({'search': 'state:acquired'})}") as stream:
            name, body = _next_event(stream)
            assert sum(body["counts"].values()) == 0
        for bad in ("state:Bogus", "associate:x", 'name:"open'):
            with pytest.raises(urllib.error.HTTPError) as caught:
                _get(f"{url}/batchstore/v1/events?{urllib.parse.urlencode({'search': bad})}")
            assert caught.value.code == 400 and json.loads(caught.value.read())["field"] == "search"
            caught.value.close()
