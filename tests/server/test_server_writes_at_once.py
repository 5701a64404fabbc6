"""The HTTP front's SQLite writes on the event loop when they can start at once, on a thread when not.

A write whose locks are free (the store's connection, SQLite's write lock) runs on the event loop's
thread; one that would wait is refused by the engine before anything is written (``at_once``) and runs
on the app's executor, where it waits as it always did, while the loop answers other requests. Observed
on real SQLite files: which thread ran a statement (sqlite3's trace hook), what the file holds, and a
real server process answering while another connection holds the write lock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_process import require_server_packages, running_server

require_server_packages()

import httpx  # noqa: E402

from batchstore import BatchStore  # noqa: E402
from batchstore._api import WouldWaitError, at_once  # noqa: E402
from batchstore._exceptions import StorageError  # noqa: E402
from batchstore.server import create_app  # noqa: E402

JSON = {"Content-Type": "application/json"}
UPDATE_TASK = "/api/v1/Agents/Batch/UpdateBatchTask"
GET_TASK = "/api/v1/Agents/Batch/GetBatchTaskInfo"


def update_body(task_id: int, state: str) -> dict[str, object]:
    return {"BatchTaskInfo": {"Id": task_id, "State": state}}


@contextlib.contextmanager
def write_lock_held(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection to the file holding SQLite's write lock (BEGIN IMMEDIATE) until the block ends."""
    # check_same_thread=False: a test may let the lock go from a timer thread.
    with contextlib.closing(sqlite3.connect(path, isolation_level=None, check_same_thread=False)) as other:
        other.execute("BEGIN IMMEDIATE")
        try:
            yield other
        finally:
            if other.in_transaction:
                other.execute("ROLLBACK")


def threads_of_updates(store: BatchStore) -> list[int]:
    """The ids of the threads that run each UPDATE of a task on the store's connection, from now on."""
    seen: list[int] = []

    def traced(statement: str) -> None:
        if statement.startswith("UPDATE batchtask"):
            seen.append(threading.get_ident())

    store._engine._conn.set_trace_callback(traced)  # type: ignore[attr-defined]  # sqlite3's own hook
    return seen


def update_on_the_loop(app: Any, task_id: int, state: str) -> tuple[httpx.Response, int]:
    """UpdateBatchTask through the app on an event loop of this thread: the answer, and the loop's thread id."""

    async def update() -> tuple[httpx.Response, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            response = await client.post(UPDATE_TASK, json=update_body(task_id, state), headers=JSON)
            return response, threading.get_ident()

    return asyncio.run(update())


def updates_of(store: BatchStore, task_id: int) -> list[str]:
    return [entry.operation for entry in store.history(task_id) if entry.operation == "update"]


def test_a_write_with_its_locks_free_runs_on_the_event_loop(tmp_path: Path) -> None:
    with BatchStore(tmp_path / "tasks.db") as store:
        task_id = store.create({"Name": "ERPSync"})
        app = create_app(store)
        threads = threads_of_updates(store)

        response, loop_thread = update_on_the_loop(app, task_id, "Started")
        assert response.status_code == 200, response.text
        assert response.json()["State"] == "Started"
        assert threads == [loop_thread]  # written by the event loop's thread, not the executor's
        assert store.get(task_id).state.name == "Started"
        app.state.calls.close()


def test_a_write_behind_another_connections_lock_waits_on_a_thread_while_the_loop_answers(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with BatchStore(path) as store:
        task_id = store.create({"Name": "ERPSync"})
        app = create_app(store)
        threads = threads_of_updates(store)

        async def run() -> tuple[httpx.Response, httpx.Response, bool, int]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                with write_lock_held(path) as other:
                    update = asyncio.ensure_future(
                        client.post(UPDATE_TASK, json=update_body(task_id, "Started"), headers=JSON))
                    await asyncio.sleep(0.2)  # the update has reached the database and is waiting
                    # The loop is free: another request is answered while the update waits.
                    read = await client.post(GET_TASK, json={"Id": task_id}, headers=JSON)
                    waiting = not update.done()
                    other.execute("COMMIT")  # the lock is let go: the waiting update goes on
                return await update, read, waiting, threading.get_ident()

        written, read, waiting, loop_thread = asyncio.run(run())
        assert waiting  # it waited for the lock (and did not fail at once)
        assert read.status_code == 200 and read.json()["State"] == "New"  # answered while the update waited
        assert written.status_code == 200, written.text
        assert written.json()["State"] == "Started"
        assert len(threads) == 1 and threads[0] != loop_thread  # written once, by the executor's thread
        assert updates_of(store, task_id) == ["update"]  # the refused try wrote nothing
        app.state.calls.close()


def test_a_refused_write_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with BatchStore(path) as store:
        task_id = store.create({"Name": "ERPSync"})
        with write_lock_held(path), at_once(), pytest.raises(WouldWaitError) as refused:
            store.update({"Id": task_id, "State": "Started"})
        assert isinstance(refused.value, StorageError)  # batchstore's tree
        assert "update" in str(refused.value) and "nothing was written" in str(refused.value)
        assert store.get(task_id).state.name == "New"
        assert updates_of(store, task_id) == []
        store.update({"Id": task_id, "State": "Started"})  # the store goes on as before
        assert updates_of(store, task_id) == ["update"]


def test_a_refused_write_when_another_thread_holds_the_stores_connection(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with BatchStore(path) as store:
        task_id = store.create({"Name": "ERPSync"})
        inside, leave = threading.Event(), threading.Event()

        def slow_write() -> None:  # a write of another thread, on the store's one connection
            with store._engine.write("slow") as tx:  # type: ignore[attr-defined]
                inside.set()
                leave.wait(10)
                tx.run("UPDATE batchtask SET description = 'held' WHERE id = ?", (task_id,))

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            held = pool.submit(slow_write)
            assert inside.wait(10)
            started = time.monotonic()
            with at_once(), pytest.raises(WouldWaitError):
                store.update({"Id": task_id, "State": "Started"})
            assert time.monotonic() - started < 1.0  # refused at once, not after the store's timeout
            leave.set()
            held.result()
        assert store.get(task_id).state.name == "New"
        assert updates_of(store, task_id) == []


def test_after_a_write_committed_at_once_the_block_waits_as_usual(tmp_path: Path) -> None:
    """A refusal after a commit could not leave the database as it was: the block's later waits wait."""
    path = tmp_path / "tasks.db"
    with BatchStore(path) as store:
        first, second = store.create({"Name": "one"}), store.create({"Name": "two"})
        with at_once():
            store.update({"Id": first, "State": "Started"})
            with write_lock_held(path) as other:
                threading.Timer(0.2, other.execute, ("COMMIT",)).start()
                store.update({"Id": second, "State": "Started"})  # waited for the lock, not refused
        assert [store.get(i).state.name for i in (first, second)] == ["Started", "Started"]


def test_outside_at_once_a_write_waits_for_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with BatchStore(path) as store:
        task_id = store.create({"Name": "ERPSync"})
        with write_lock_held(path) as other:
            threading.Timer(0.2, other.execute, ("COMMIT",)).start()
            assert store.update({"Id": task_id, "State": "Started"}).state.name == "Started"


def test_a_real_server_answers_while_a_write_waits_for_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with BatchStore(path) as store:
        task_id = store.create({"Name": "ERPSync"})
    with running_server(path) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.post(UPDATE_TASK, json=update_body(task_id, "Aquired"), headers=JSON).status_code == 200
        with write_lock_held(path) as other, concurrent.futures.ThreadPoolExecutor(1) as pool:
            update = pool.submit(httpx.post, server.url + UPDATE_TASK, json=update_body(task_id, "Started"),
                                 headers=JSON, timeout=30)
            time.sleep(0.3)
            read = client.post(GET_TASK, json={"Id": task_id}, headers=JSON)
            waiting = not update.done()
            other.execute("COMMIT")
            written = update.result(timeout=30)
        assert read.status_code == 200 and read.json()["State"] == "Aquired"
        assert waiting
        assert written.status_code == 200 and written.json()["State"] == "Started"
    with BatchStore(path) as store:
        assert updates_of(store, task_id) == ["update", "update"]


@pytest.mark.sqlite_only("sqlite3's trace hook shows the statements the route runs")
def test_a_sailpoint_patch_reads_the_task_and_its_trace_once_then_writes(
    store: BatchStore, sql_trace: list[str]
) -> None:
    task_id = store.create({"Name": "ERPSync", "State": "Succeeded"})
    app = create_app(store)
    body = [{"op": "replace", "path": "/completionStatus", "value": "ERROR"},
            {"op": "replace", "path": "/completed", "value": "2026-01-01T00:00:00Z"}]

    async def patch() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            sql_trace.clear()
            return await client.patch(f"/task-status/v1/{task_id}", json=body,
                                      headers={"Content-Type": "application/json-patch+json"})

    response = asyncio.run(patch())
    assert response.status_code == 200, response.text
    assert response.json()["completionStatus"] == "ERROR"
    # the task, its trace, the write (BEGIN, the task, UPDATE, the trace row, COMMIT); the answer's time is
    # the write's own, not read back
    assert len(sql_trace) == 7, sql_trace
    assert sql_trace[-1] == "COMMIT"
    assert sum(s.startswith("BEGIN") for s in sql_trace) == 1  # the write's: no read transactions
    assert response.json()["modified"] == app_status_modified(store, task_id)
    app.state.calls.close()


def app_status_modified(store: BatchStore, task_id: int) -> str:
    """The time of the task's newest trace entry, as a TaskStatus writes it (a GET reads the same)."""
    app = create_app(store)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return await client.get(f"/task-status/v1/{task_id}")

    try:
        modified: str = asyncio.run(get()).json()["modified"]
        return modified
    finally:
        app.state.calls.close()


@pytest.mark.parametrize("statuses", [("ERROR",), ("SUCCESS", "ERROR"), ("ERROR", "TERMINATED")])
def test_a_sailpoint_patch_answers_the_status_a_later_read_finds(store: BatchStore, statuses: tuple[str, ...]) -> None:
    """The answer is dated by the write itself, not read back: it must still be what a GET reads next, for a
    change of State and for a change of Response alone (ERROR -> TERMINATED keeps the task Failed)."""
    task_id = store.create({"Name": "ERPSync", "State": "Started"})
    app = create_app(store)

    async def run() -> list[tuple[dict[str, object], dict[str, object]]]:
        transport = httpx.ASGITransport(app=app)
        pairs = []
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            for status in statuses:
                body = [{"op": "replace", "path": "/completionStatus", "value": status},
                        {"op": "replace", "path": "/completed", "value": "2026-01-01T00:00:00Z"}]
                patched = await client.patch(f"/task-status/v1/{task_id}", json=body,
                                             headers={"Content-Type": "application/json-patch+json"})
                assert patched.status_code == 200, patched.text
                read = await client.get(f"/task-status/v1/{task_id}")
                pairs.append((patched.json(), read.json()))
        return pairs

    try:
        for answered, read in asyncio.run(run()):
            assert answered == read
    finally:
        app.state.calls.close()
    history = store.history(task_id)
    assert [e.operation for e in history].count("patch") == len(statuses)
    # the last write changed State, or (TERMINATED after ERROR) only Response: both ways of dating the answer
    assert set(history[-1].changes) == ({"Response"} if statuses[-1] == "TERMINATED" else {"State"})


def test_retention_is_left_off_the_event_loop_and_taken_by_the_executor_after_the_answer(tmp_path: Path) -> None:
    """A write made at once does not take retention's turn on the loop (it may wait for locks and delete for a
    quarter of a second): the executor takes it after the answer, and the expired task does go."""
    path = tmp_path / "tasks.db"
    with BatchStore(path) as store:
        expired = store.create({"Name": "old", "State": "Succeeded"})
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as raw:
            raw.execute("UPDATE batchtask SET state_changed = '2000-01-01T00:00:00+00:00' WHERE id = ?", (expired,))
        task_id = store.create({"Name": "ERPSync"})
        store.set_retention(dt.timedelta(days=1))  # due at the next write
        app = create_app(store)
        deleting: list[int] = []

        def traced(statement: str) -> None:
            if statement.startswith("DELETE FROM batchtask"):
                deleting.append(threading.get_ident())

        store._engine._conn.set_trace_callback(traced)  # type: ignore[attr-defined]  # sqlite3's own hook

        response, loop_thread = update_on_the_loop(app, task_id, "Started")
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + 10
        while not deleting and time.monotonic() < deadline:
            time.sleep(0.02)
        app.state.calls.close()
        time.sleep(0.1)  # the executor's turn commits before the store is read
        assert deleting and loop_thread not in deleting  # deleted, and not by the event loop's thread
        assert [t.id for t in store.list()] == [task_id]



@pytest.mark.parametrize("tasks", [600, 3_000], ids=["sent whole", "streamed"])
def test_a_list_of_an_in_memory_store_waits_for_a_busy_connection_between_pages_and_comes_back_whole(
    tasks: int,
) -> None:
    """Reads without a reader of their own (an in-memory store) run on the executor and wait: never at once,
    where a refusal between two pages would run the list's next step again on a half-built answer."""
    from batchstore.server._calls import StoreCalls
    from batchstore.server._encode import task_bytes
    from batchstore.server._superoffice import array_response

    with BatchStore() as store:
        store.create_many([{"Name": f"task {i:04}", "Description": "x" * 250} for i in range(tasks)])
        calls = StoreCalls(store)
        held, release = threading.Event(), threading.Event()

        def hold_the_connection() -> None:
            with store._engine._lock:  # type: ignore[attr-defined]  # what another thread's call holds
                held.set()
                release.wait(5)

        def query(s: BatchStore) -> Iterator[object]:
            for n, task in enumerate(s.list()):
                if n == 10 and not held.is_set():  # inside the first page: the next page's read finds it held
                    threading.Thread(target=hold_the_connection).start()
                    held.wait(5)
                    threading.Timer(0.2, release.set).start()
                yield task

        async def answer() -> bytes:
            response = await array_response(calls, query, lambda task: task_bytes(task, None))  # type: ignore[arg-type]
            if hasattr(response, "body_iterator"):
                return b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[misc]
            return bytes(response.body)

        body = asyncio.run(answer())
        calls.close()
        assert held.is_set()
        assert [task["Name"] for task in json.loads(body)] == [f"task {i:04}" for i in range(tasks)]
