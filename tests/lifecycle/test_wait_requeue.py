"""Waiting for a task's result and requeueing a failed one: the store, its async twin, HTTP, the CLI; both engines.

A wait ends on the change feed: the finishing commit comes from another thread, another process, or an HTTP
client, and the waiter hears of it without a polling loop of its own.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_run import cli
from conftest import Database, Refuses

import batchstore
from batchstore import (
    AsyncBatchStore,
    BatchStore,
    BatchStoreError,
    BatchTaskState,
    ConfigurationError,
    InvalidTaskError,
    InvalidTransitionError,
    TaskNotFoundError,
    WaitTimeoutError,
)

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
    str(Path(batchstore.__file__).resolve().parent.parent), os.environ.get("PYTHONPATH"),
]))}  # fmt: skip


def run_task(store: BatchStore, task_id: int, *, fail: bool = False, worker: str = "w") -> None:
    claimed = store.acquire(worker=worker)
    assert claimed is not None and claimed.id == task_id
    store.start(task_id, worker=worker)
    if fail:
        store.fail(task_id, result="broke", worker=worker)
    else:
        store.succeed(task_id, result="done", worker=worker)


def later(delay: float, action: Any, *args: Any, **kwargs: Any) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        action(*args, **kwargs)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# --- wait ------------------------------------------------------------------------------------------


def test_wait_returns_a_finished_task_at_once(store: BatchStore) -> None:
    done = store.create({"Name": "a", "State": "Succeeded"})
    failed = store.create({"Name": "b", "State": "Failed", "Result": "no"})
    cleanup = store.create({"Name": "c", "State": "SucceededManualCleanup"})
    assert store.wait(done, timeout=0).state is BatchTaskState.Succeeded
    assert store.wait(failed).result == "no"
    assert store.wait(cleanup, timeout=0).state is BatchTaskState.SucceededManualCleanup


def test_wait_ends_when_another_thread_finishes_the_task(db: Database, store: BatchStore) -> None:
    task_id = store.create({"Name": "ERPSync"})
    with db.open() as other:
        thread = later(0.3, run_task, other, task_id)
        task = store.wait(task_id, timeout=30)
        thread.join()
    assert task.state is BatchTaskState.Succeeded and task.result == "done" and task.progress_percent == 100


def test_wait_ends_when_another_process_finishes_the_task(db: Database, store: BatchStore) -> None:
    task_id = store.create({"Name": "ERPSync"})
    script = (
        "import sys, time\nfrom batchstore import BatchStore\n"
        "with BatchStore(sys.argv[1]) as s:\n"
        "    time.sleep(0.5)\n"
        "    t = s.acquire(worker='proc')\n"
        "    s.start(t.id, worker='proc')\n"
        "    s.fail(t.id, result='from the other process', worker='proc')\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, db.url], env=ENV)
    try:
        task = store.wait(task_id, timeout=60)
    finally:
        assert child.wait(timeout=60) == 0
    assert task.state is BatchTaskState.Failed and task.result == "from the other process"


def test_a_stopped_task_ends_the_wait(store: BatchStore) -> None:
    task_id = store.create({"Name": "ERPSync"})
    later(0.2, store.stop, task_id)
    task = store.wait(task_id, timeout=30)
    assert task.state is BatchTaskState.Failed and task.result == "Stopped by request"


def test_a_wait_that_runs_out_raises_wait_timeout_error(store: BatchStore, refuses: Refuses) -> None:
    task_id = store.create({"Name": "ERPSync"})
    store.acquire(worker="w")
    with refuses(WaitTimeoutError, "wait", str(task_id), "Aquired") as caught:
        store.wait(task_id, timeout=0.2)
    error = caught.value
    assert isinstance(error, TimeoutError) and isinstance(error, BatchStoreError)
    assert isinstance(error, WaitTimeoutError)
    assert (error.task_id, error.timeout, error.state) == (task_id, 0.2, "Aquired")
    assert batchstore.WaitTimeoutError is WaitTimeoutError


def test_a_busy_feed_does_not_stretch_the_timeout(db: Database, store: BatchStore) -> None:
    """Changes to other tasks keep coming; the wait still ends when its own time is up."""
    task_id = store.create({"Name": "waited"})
    stop = threading.Event()

    def churn() -> None:
        with db.open() as other:
            deadline = time.monotonic() + 60
            while not stop.is_set() and time.monotonic() < deadline:
                other.create({"Name": "noise"})
                time.sleep(0.02)

    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    try:
        with pytest.raises(WaitTimeoutError):
            store.wait(task_id, timeout=0.5)
        assert thread.is_alive(), "the wait only ended once the other changes stopped"
    finally:
        stop.set()
        thread.join()


def test_wait_for_a_missing_or_deleted_task_raises_task_not_found(db: Database, store: BatchStore) -> None:
    with pytest.raises(TaskNotFoundError, match="wait: no batch task has Id 999"):
        store.wait(999, timeout=1)
    task_id = store.create({"Name": "doomed"})
    with db.open() as other:
        later(0.2, other.delete, task_id)
        with pytest.raises(TaskNotFoundError, match=f"wait: no batch task has Id {task_id}"):
            store.wait(task_id, timeout=30)


@pytest.mark.parametrize(("task_id", "timeout", "error", "named"), [
    ("1", None, InvalidTaskError, "Id"),
    (True, None, InvalidTaskError, "Id"),
    (1, -1, ConfigurationError, "timeout"),
    (1, float("nan"), ConfigurationError, "timeout"),
    (1, "5", ConfigurationError, "timeout"),
])  # fmt: skip
def test_wait_refuses_bad_arguments(
    store: BatchStore, refuses: Refuses, task_id: Any, timeout: Any, error: type[Exception], named: str
) -> None:
    store.create({"Name": "a"})
    with refuses(error, named):
        store.wait(task_id, timeout=timeout)


def test_async_wait_lets_other_calls_run_meanwhile(db: Database) -> None:
    async def main() -> None:
        async with AsyncBatchStore(db.url) as store:
            task_id = await store.create({"Name": "ERPSync"})
            waiting = asyncio.ensure_future(store.wait(task_id, timeout=30))
            await asyncio.sleep(0.1)
            # The store's thread is free: the steps that finish the task run while the wait is pending.
            assert not waiting.done()
            await store.acquire(worker="w")
            await store.start(task_id, worker="w")
            await store.succeed(task_id, worker="w")
            task = await waiting
            assert task.state is BatchTaskState.Succeeded
            other = await store.create({"Name": "slow"})
            with pytest.raises(WaitTimeoutError) as caught:
                await store.wait(other, timeout=0.2)
            assert caught.value.state == "New"
            with pytest.raises(TaskNotFoundError):
                await store.wait(12345, timeout=1)
            with pytest.raises(ConfigurationError):
                await store.wait(other, timeout=-1)
            # A cancelled wait stops at once and leaves the store usable.
            pending = asyncio.ensure_future(store.wait(other))
            await asyncio.sleep(0.1)
            pending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pending
            assert (await store.get(other)).state is BatchTaskState.New

    asyncio.run(main())


# --- requeue ---------------------------------------------------------------------------------------


def test_requeue_sends_a_failed_task_back_to_new_and_the_next_run_counts_on(store: BatchStore) -> None:
    task_id = store.create({"Name": "ERPSync"})
    run_task(store, task_id, fail=True)
    requeued = store.requeue(task_id, by="operator@desk")
    assert requeued.state is BatchTaskState.New and requeued.start_count == 1 and requeued.progress_percent == 0
    last = store.history(task_id)[-1]
    assert (last.operation, last.worker, last.changes["State"]) == ("requeue", "operator@desk", ("Failed", "New"))
    assert last.at >= store.history(task_id)[-2].at  # when: recorded at the requeue, after the failure
    claimed = store.acquire(worker="second")
    assert claimed is not None and claimed.id == task_id
    assert store.start(task_id, worker="second").start_count == 2
    assert store.succeed(task_id, worker="second").state is BatchTaskState.Succeeded


def test_requeue_records_host_and_pid_by_default(store: BatchStore) -> None:
    task_id = store.create({"Name": "a", "State": "Failed"})
    store.requeue(task_id)
    assert store.history(task_id)[-1].worker == batchstore._core.default_worker()


def test_a_stopped_task_is_requeued_without_its_stop_request(store: BatchStore) -> None:
    task_id = store.create({"Name": "ERPSync"})
    store.acquire(worker="w")
    store.start(task_id, worker="w")
    assert store.stop(task_id) and store.stop_requested(task_id)
    assert store.fail(task_id, worker="w").result == "Stopped by request"
    store.requeue(task_id)
    store.acquire(worker="w2")
    assert store.start(task_id, worker="w2").stop_requested is False
    assert not store.stop_requested(task_id)


@pytest.mark.parametrize("state", ["New", "Aquired", "Started", "Succeeded", "SucceededManualCleanup"])
def test_requeue_refuses_a_task_that_is_not_failed(store: BatchStore, refuses: Refuses, state: str) -> None:
    task_id = store.create({"Name": "a", "State": state})
    with refuses(InvalidTransitionError, "requeue", f"task {task_id}", state, "needs Failed") as caught:
        store.requeue(task_id)
    assert caught.value.field == "State"  # type: ignore[attr-defined]
    with refuses(TaskNotFoundError, "requeue"):
        store.requeue(task_id + 100)
    with refuses(InvalidTaskError, "worker"):
        store.requeue(task_id, by=7)  # type: ignore[arg-type]


def test_async_requeue(db: Database) -> None:
    async def main() -> None:
        async with AsyncBatchStore(db.url) as store:
            task_id = await store.create({"Name": "a", "State": "Failed"})
            assert (await store.requeue(task_id, by="me")).state is BatchTaskState.New

    asyncio.run(main())


# --- over HTTP ---------------------------------------------------------------------------------------


@pytest.fixture
def server(db: Database) -> Iterator[Any]:
    from server_process import running_server

    db.open().close()  # the schema exists before the server and this process open it
    with running_server(db.target) as live:  # type: ignore[arg-type]
        yield live


def test_http_wait_answers_when_another_process_finishes_the_task(db: Database, server: Any) -> None:
    import httpx

    with db.open() as store, httpx.Client(base_url=server.url, timeout=90) as client:
        task_id = store.create({"Name": "ERPSync"})
        thread = later(0.5, run_task, store, task_id)
        response = client.get(f"/batchstore/v1/tasks/{task_id}/wait", params={"timeout": 30})
        thread.join()
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["State"] == "Succeeded" and body["Progress"] == {"Percent": 100, "Rate": None, "Eta": None}

        other = store.create({"Name": "slow"})
        timed_out = client.get(f"/batchstore/v1/tasks/{other}/wait", params={"timeout": 0.3})
        assert timed_out.status_code == 408
        assert timed_out.json()["error"] == "WaitTimeoutError" and "did not finish" in timed_out.json()["message"]

        too_long = client.get(f"/batchstore/v1/tasks/{other}/wait", params={"timeout": 61})
        assert too_long.status_code == 400 and too_long.json()["field"] == "timeout"
        assert client.get("/batchstore/v1/tasks/99999/wait", params={"timeout": 1}).status_code == 404


def test_http_requeue_stop_and_delete(db: Database, server: Any) -> None:
    import httpx

    json_type = {"Content-Type": "application/json"}
    with db.open() as store, httpx.Client(base_url=server.url, timeout=30) as client:
        task_id = store.create({"Name": "ERPSync"})
        before = db.snapshot()
        refused = client.post(f"/batchstore/v1/tasks/{task_id}/requeue", headers=json_type)
        assert refused.status_code == 400 and "requeue needs Failed" in refused.json()["message"]
        assert refused.json()["field"] == "State" and db.snapshot() == before

        stopped = client.post(f"/batchstore/v1/tasks/{task_id}/stop", headers=json_type)
        assert stopped.status_code == 200 and stopped.json()["State"] == "Failed"
        again = client.post(f"/batchstore/v1/tasks/{task_id}/stop", headers=json_type)
        assert again.status_code == 409 and "its State is Failed (finished)" in again.json()["message"]

        requeued = client.post(f"/batchstore/v1/tasks/{task_id}/requeue", json={"By": "dashboard user"})
        assert requeued.status_code == 200 and requeued.json()["State"] == "New"
        assert store.history(task_id)[-1].worker == "dashboard user"
        store.stop(task_id)
        anonymous = client.post(f"/batchstore/v1/tasks/{task_id}/requeue", headers=json_type)
        assert anonymous.status_code == 200 and store.history(task_id)[-1].worker == "http 127.0.0.1"

        store.stop(task_id)
        before = db.snapshot()
        for path in ("requeue", "stop"):  # a form on another site cannot send JSON's type: no CSRF
            for headers in ({}, {"Content-Type": "application/x-www-form-urlencoded"}, {"Content-Type": "text/plain"}):
                response = client.post(f"/batchstore/v1/tasks/{task_id}/{path}", headers=headers)
                assert response.status_code == 415 and response.json()["field"] == "Content-Type", (path, headers)
        assert db.snapshot() == before
        bad = client.post(f"/batchstore/v1/tasks/{task_id}/requeue", json={"By": 5})  # the task is Failed
        assert bad.status_code == 400 and bad.json()["field"] == "By"

        assert client.delete(f"/batchstore/v1/tasks/{task_id}").status_code == 204
        assert client.delete(f"/batchstore/v1/tasks/{task_id}").status_code == 404
        assert client.get(f"/batchstore/v1/tasks/{task_id}").status_code == 404


# --- the command line ----------------------------------------------------------------------------------


def test_cli_wait_exit_statuses(db: Database) -> None:
    with db.open() as store:
        succeeded = store.create({"Name": "ok", "State": "Succeeded"})
        failed = store.create({"Name": "no", "State": "Failed"})
        running = store.create({"Name": "slow"})
    ok = cli("wait", str(succeeded), "--db", db.url)
    assert ok.returncode == 0 and '"State":"Succeeded"' in ok.stdout
    assert cli("wait", str(failed), "--db", db.url, "--timeout", "5").returncode == 1
    timed_out = cli("wait", str(running), "--db", db.url, "--timeout", "0.3")
    assert timed_out.returncode == 124 and "did not finish within 0.3 s" in timed_out.stderr and timed_out.stdout == ""
    missing = cli("wait", "4242", "--db", db.url, "--timeout", "1")
    assert missing.returncode == 1 and "no batch task has Id 4242" in missing.stderr


def test_cli_wait_follows_a_worker_to_the_end(db: Database) -> None:
    with db.open() as store:
        task_id = store.create({"Name": "ERPSync"})
        waiter = subprocess.Popen([sys.executable, "-m", "batchstore", "wait", str(task_id), "--db", db.url,
                                   "--timeout", "60"], stdout=subprocess.PIPE, text=True, env=ENV)
        time.sleep(1.0)
        run_task(store, task_id)
        out, _ = waiter.communicate(timeout=90)
    assert waiter.returncode == 0 and '"State":"Succeeded"' in out


def test_cli_requeue(db: Database) -> None:
    with db.open() as store:
        task_id = store.create({"Name": "ERPSync", "State": "Failed"})
        done = cli("requeue", str(task_id), "--by", "ops", "--db", db.url)
        assert done.returncode == 0 and '"State":"New"' in done.stdout
        assert store.history(task_id)[-1].worker == "ops"
        refused = cli("requeue", str(task_id), "--db", db.url)
        assert refused.returncode == 1 and "requeue needs Failed" in refused.stderr
