"""The dashboard's routes over real HTTP: the page and its files, and the event stream's protocol."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from http.client import HTTPResponse
from pathlib import Path
from typing import Any

import pytest
from server_process import LiveServer, require_server_packages

from batchstore import BatchStore

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
        assert body == (Path(__file__).parents[1] / "batchstore/server/static" / name).read_bytes()
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


def test_event_stream_sends_a_snapshot_then_changes(dashboard_server: LiveServer) -> None:
    url, db = dashboard_server.url, dashboard_server.db_path
    with BatchStore(db) as store:
        first = store.create({"Name": "ContactExport", "Description": "to CSV"})
        with _get(url + "/batchstore/v1/events") as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            name, body = _next_event(stream)
            assert name == "snapshot"
            assert [t["Id"] for t in body["tasks"]] == [first]
            task = body["tasks"][0]
            assert task["Name"] == "ContactExport" and task["State"] == "New" and task["ProgressPercent"] == 0
            assert set(task) >= {"Id", "Name", "State", "ProgressPercent", "ProgressDescription", "Description"}

            second = store.create({"Name": "ERPSync"})
            name, body = _next_event(stream)
            assert name == "change"
            assert [t["Id"] for t in body["upsert"]] == [second] and body["remove"] == []

            store.acquire(name="ERPSync", worker="w")
            store.start(second, worker="w")
            store.report_progress(second, 40, "260 of 650", worker="w")
            seen: dict[str, Any] = {}
            while seen.get("ProgressPercent") != 40:  # the three steps may arrive as one change or more
                name, body = _next_event(stream)
                assert name == "change" and [t["Id"] for t in body["upsert"]] == [second]
                seen = body["upsert"][0]
            assert seen["State"] == "Started" and seen["ProgressDescription"] == "260 of 650"

            store.delete(first)
            name, body = _next_event(stream)
            assert (name, body) == ("change", {"upsert": [], "remove": [first]})


def test_feed_is_shared_and_loses_no_change_across_keep_alives(
    store: BatchStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages share one reader; a late page starts from a snapshot; idle gaps drop nothing; the last out stops it."""
    from batchstore.server import _dashboard

    monkeypatch.setattr(_dashboard, "KEEPALIVE_SECONDS", 0.2)
    monkeypatch.setattr(_dashboard, "WATCH_SECONDS", 0.2)
    first = store.create({"Name": "a"})

    async def scenario() -> None:
        feed = _dashboard._Feed(store)
        early = feed.subscribe()
        kind, change = await anext(early)
        assert kind == "snapshot" and [t["Id"] for t in change.upsert] == [first]
        assert await anext(early) == ("keep-alive", _dashboard.Change())  # nothing happened for a while
        late = feed.subscribe()
        kind, change = await anext(late)
        assert kind == "snapshot" and [t["Id"] for t in change.upsert] == [first]
        second = await asyncio.to_thread(store.create, {"Name": "b"})
        for stream in (early, late):
            kind, change = await anext(stream)
            while kind == "keep-alive":
                kind, change = await anext(stream)
            assert kind == "change" and [t["Id"] for t in change.upsert] == [second]
        await early.aclose()
        assert feed._runner is not None
        await late.aclose()
        assert feed._runner is None

    asyncio.run(scenario())
