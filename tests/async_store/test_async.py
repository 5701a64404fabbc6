"""AsyncBatchStore: every verb as a coroutine, ``async for`` over the queries, and an event loop that keeps
running while the database makes a call wait (here: another process holding the write lock).

Each test is a plain function running its coroutine with ``asyncio.run``: on each engine (the ``db`` fixture of
tests/conftest.py), except those about SQLite's own locking and trace hook, which run on a real SQLite file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import multiprocessing
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from batchstore import (
    AsyncBatchStore,
    BatchStore,
    BatchTaskInfo,
    BatchTaskState,
    InvalidTaskError,
    StorageError,
    StoreClosedError,
    TaskNotFoundError,
)
from tests.conftest import Database, snapshot

T = TypeVar("T")


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(main())


def open_async(db: Database, **options: Any) -> AsyncBatchStore:
    """An AsyncBatchStore on the test's database; on SQLite without fsyncs, as ``db.open()`` does."""
    if not db.is_postgres:
        options.setdefault("synchronous", "OFF")
    return AsyncBatchStore(db.url, **options)


# A second process that takes the write lock with plain sqlite3, says so, holds it, then commits.
_HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
conn.close()
"""


def hold_write_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Start a process holding the database's write lock for ``seconds``; returns once it holds it."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


def finish(holder: subprocess.Popen[str]) -> None:
    assert holder.wait(timeout=30) == 0
    assert holder.stdout is not None
    holder.stdout.close()


def worker_threads(settle_at: int | None = None) -> int:
    """How many store worker threads run; with ``settle_at``, after waiting (up to 10 s) for that many."""
    for _ in range(1000):
        count = sum(t.name.startswith("batchstore") for t in threading.enumerate())
        if settle_at is None or count <= settle_at:
            return count
        time.sleep(0.01)
    return count


# --- the surface ---------------------------------------------------------------------------------


def public_methods(cls: type) -> dict[str, Any]:
    """Public methods, inherited ones too (BatchStore gets the lifecycle steps from a base class)."""
    return {n: v for n, v in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")}


def test_every_public_batchstore_method_has_an_async_twin_with_its_signature() -> None:
    sync = public_methods(BatchStore)
    assert {"get", "list", "acquire", "prune", "history", "create_many"} <= set(sync)
    for name, method in sync.items():
        twin = getattr(AsyncBatchStore, name, None)
        assert twin is not None, f"AsyncBatchStore has no {name}"
        if name == "close":
            assert inspect.iscoroutinefunction(twin)
            continue
        if name == "watch":  # an async generator of its own: it waits off the store's thread
            assert inspect.isasyncgenfunction(twin)
            assert inspect.signature(twin).parameters == inspect.signature(method).parameters
            continue
        if name == "wait":  # a coroutine of its own: it follows the feed off the store's thread, as watch does
            assert inspect.iscoroutinefunction(twin)
            assert inspect.signature(twin) == inspect.signature(method), name
            continue
        assert twin.__wrapped__ is method, name  # made from this very method: same parameters, by construction
        assert inspect.signature(twin) == inspect.signature(method), name
        iterates = inspect.signature(method).return_annotation.startswith("Iterator[")
        assert inspect.iscoroutinefunction(twin) is not iterates, name
    assert set(public_methods(AsyncBatchStore)) <= set(sync), "an async verb BatchStore does not have"


def test_the_constructor_takes_batchstores_arguments() -> None:
    assert inspect.signature(AsyncBatchStore.__init__) == inspect.signature(BatchStore.__init__).replace(
        return_annotation=inspect.signature(AsyncBatchStore.__init__).return_annotation
    )


# --- every verb ----------------------------------------------------------------------------------


def test_crud_verbs(db: Database) -> None:
    async def main() -> None:
        async with open_async(db) as store:
            task_id = await store.create({"Name": "ERPSync", "ParameterObject": {"source": "SAP"}})
            assert (await store.get(task_id)).parameter_object == {"source": "SAP"}
            assert (await store.get(task_id, select="Name")).state is None

            task = await store.get(task_id)
            task.state = "Started"
            assert (await store.update(task)).state is BatchTaskState.Started
            patched = await store.patch(task_id, [
                {"op": "test", "path": "/State", "value": "Started"},
                {"op": "replace", "path": "/State", "value": "Succeeded"},
            ], select="State")
            assert patched.state is BatchTaskState.Succeeded
            assert [e.operation for e in await store.history(task_id)] == ["create", "update", "patch"]

            ids = await store.create_many([{"Name": "a"}, {"Name": "b"}, {"Name": "c"}])
            assert ids == [task_id + 1, task_id + 2, task_id + 3]
            await store.delete(ids[0])
            assert await store.delete_many([ids[1], ids[2], 999]) == 2
            with pytest.raises(TaskNotFoundError, match="get"):
                await store.get(ids[0])
            assert await store.prune(dt.timedelta(0)) == 1  # the Succeeded task
            assert [t async for t in store.list()] == []

    run(main)


def test_lifecycle_verbs(db: Database) -> None:
    async def main() -> None:
        async with open_async(db, lease_seconds=0.05) as store:
            first, second, third = await store.create_many([{"Name": "job"}] * 3)
            task = await store.acquire(name="job", worker="w1")
            assert task is not None and task.id == first and task.state is BatchTaskState.Aquired
            await store.start(first, worker="w1")
            assert (await store.report_progress(first, 40, "4 of 10", worker="w1")).progress_percent == 40
            assert await store.stop(first) is True
            assert await store.stop_requested(first) is True
            assert (await store.fail(first, worker="w1")).result == "Stopped by request"

            assert (await store.acquire(worker="w2")).id == second  # type: ignore[union-attr]
            await store.start(second, worker="w2")
            done = await store.succeed(second, result="Success", file_name="x.log", worker="w2")
            assert (done.state, done.progress_percent) == (BatchTaskState.Succeeded, 100)

            assert (await store.acquire(worker="w3")).id == third  # type: ignore[union-attr]
            await asyncio.sleep(0.1)  # the lease runs out
            assert await store.recover_stale() == [third]
            assert (await store.get(third)).state is BatchTaskState.New
            assert await store.acquire(name="nothing") is None

    run(main)


def test_async_for_over_list_and_the_agent_queries(db: Database) -> None:
    async def main() -> None:
        async with open_async(db) as store:
            # More than two pages of 500: the iterator must go back to the thread for each.
            many = await store.create_many(
                {"Name": f"n{i % 3}", "AssociateId": i % 4, "IsSystemTask": i % 5 == 0,
                 "State": "Failed" if i % 2 else "New"}
                for i in range(1_201)
            )
            assert [t.id async for t in store.list()] == many
            assert [t.id async for t in store.list("Failed", select="Name")] == many[1::2]
            assert [t.id async for t in store.list_by_name("n1")] == many[1::3]
            assert [t.id async for t in store.list_by_name_and_state("n1", "New")] == [
                i for n, i in enumerate(many) if n % 3 == 1 and n % 2 == 0
            ]
            assert [t.id async for t in store.list_by_associate(2)] == many[2::4]
            assert [t.id async for t in store.list_by_associates_and_state([1, 3], "Failed")] == many[1::2]
            assert [t.id async for t in store.list_system_tasks_by_name("n0")] == many[0::15]
            first: BatchTaskInfo | None = None
            async for task in store.list():
                first = task
                break  # leaving early is fine
            assert first is not None and first.id == many[0]

    run(main)


def test_errors_come_through_unchanged(db: Database) -> None:
    async def main() -> None:
        async with open_async(db) as store:
            with pytest.raises(TaskNotFoundError, match="update"):
                await store.update({"Id": 7, "State": "Failed"})
            with pytest.raises(InvalidTaskError, match="ProgressPercent"):
                await store.create({"Name": "x", "ProgressPercent": 762})
            with pytest.raises(InvalidTaskError, match="State") as info:
                async for _ in store.list("Sideways"):
                    pass
            assert info.value.field == "State"

    run(main)


def test_no_statement_runs_on_the_event_loop_thread(tmp_path: Path) -> None:
    threads: set[str] = set()

    async def main() -> None:
        async with AsyncBatchStore(tmp_path / "tasks.db") as store:
            inner = store._store()  # the sync core; its connection shows which thread runs each statement
            inner._engine._conn.set_trace_callback(lambda _: threads.add(threading.current_thread().name))  # type: ignore[union-attr]
            task_id = await store.create({"Name": "x"})
            await store.get(task_id)
            _ = [t async for t in store.list()]
            await store.delete(task_id)

    run(main)
    assert threads and all(name.startswith("batchstore") for name in threads), threads
    assert threading.main_thread().name not in threads


# --- never blocking the loop, and cancellation -----------------------------------------------------


def test_the_loop_keeps_ticking_while_a_write_waits_for_another_process(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"

    async def main() -> tuple[float, int, BatchTaskInfo]:
        async with AsyncBatchStore(path) as store:
            task_id = await store.create({"Name": "x"})
            holder = hold_write_lock(path, 0.8)  # margin for a loaded CI machine: 40 ticks at best
            ticks = 0

            async def heartbeat() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.02)
                    ticks += 1

            beating = asyncio.create_task(heartbeat())
            await asyncio.sleep(0)
            loop = asyncio.get_running_loop()
            began = loop.time()
            updated = await store.update({"Id": task_id, "State": "Started"})
            waited, during = loop.time() - began, ticks
            beating.cancel()
            finish(holder)
            return waited, during, updated

    waited, ticks, updated = run(main)
    assert waited >= 0.4, "the update did not wait for the other process's lock"  # else the test proves nothing
    assert ticks >= 15, f"the event loop stalled: {ticks} heartbeats of 20 ms in {waited:.2f} s"
    assert updated.state is BatchTaskState.Started


def test_cancelling_waiting_calls_leaves_the_database_consistent(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"

    async def main() -> tuple[BatchTaskInfo, list[str]]:
        async with AsyncBatchStore(path) as store:
            task_id = await store.create({"Name": "x"})
            holder = hold_write_lock(path, 0.5)
            running = asyncio.create_task(store.update({"Id": task_id, "State": "Started"}))
            queued = asyncio.create_task(store.update({"Id": task_id, "Description": "never"}))
            await asyncio.sleep(0.15)  # the first waits on the lock in the thread, the second in the queue
            running.cancel()
            queued.cancel()
            for cancelled in (running, queued):
                with pytest.raises(asyncio.CancelledError):
                    await cancelled
            finish(holder)
            # The store is still usable, and this read runs after the interrupted-looking update finished.
            task = await store.get(task_id)
            return task, [e.operation for e in await store.history(task_id)]

    task, operations = run(main)
    # The call that was running completed as one transaction; the one still queued never ran.
    assert task.state is BatchTaskState.Started and task.description is None
    assert operations == ["create", "update"]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


# --- opening and closing ---------------------------------------------------------------------------


def test_async_with_closes_and_close_waits_for_earlier_calls(db: Database) -> None:
    async def main() -> AsyncBatchStore:
        async with AsyncBatchStore(db.url) as store:
            assert not store.closed
            pending = [asyncio.ensure_future(store.create({"Name": f"t{i}"})) for i in range(20)]
            await asyncio.sleep(0)  # the tasks start: their calls are made, queued behind each other
        assert store.closed
        assert sorted(await asyncio.gather(*pending)) == list(range(1, 21))  # made before close: all ran
        with pytest.raises(StoreClosedError, match="closed"):
            await store.get(1)
        with pytest.raises(StoreClosedError):
            _ = [t async for t in store.list()]
        await store.close()  # twice is harmless
        return store

    store = run(main)
    assert "closed" in repr(store)
    assert store._store().closed  # the sync core was closed, not just marked
    assert len(snapshot(db.target)["batchtask"]) == 20


def test_close_without_async_with(db: Database) -> None:
    async def main() -> None:
        store = AsyncBatchStore(db.url)
        assert await store.create({"Name": "x"}) == 1
        await store.close()
        assert store._store().closed

    run(main)


@pytest.mark.parametrize(
    ("arguments", "error", "words"),
    [
        ({"database": "missing-folder/tasks.db"}, StorageError, ["open"]),
        ({"writable": ["Id"]}, InvalidTaskError, ["Id"]),
    ],
)
def test_a_store_that_cannot_open_raises_on_entering(
    tmp_path: Path, arguments: dict[str, Any], error: type[Exception], words: list[str]
) -> None:
    if "database" in arguments:
        arguments = {"database": tmp_path / arguments["database"]}

    async def main() -> None:
        before = worker_threads()
        with pytest.raises(error) as info:
            async with AsyncBatchStore(**arguments):
                pass
        for word in words:
            assert word in str(info.value)
        assert worker_threads(settle_at=before) == before, "a store that failed to open kept its thread"
        # Without async with, the first call raises the same error; close is still harmless.
        store = AsyncBatchStore(**arguments)
        with pytest.raises(error):
            await store.get(1)
        await store.close()

    run(main)


def test_a_store_can_be_made_outside_a_running_loop(db: Database) -> None:
    store = AsyncBatchStore(db.url)  # e.g. at app start-up, before asyncio.run

    async def main() -> list[str]:
        async with store:
            await store.create({"Name": "early"})
            return [t.name async for t in store.list()]

    assert run(main) == ["early"]


def test_a_read_only_store_reads_and_refuses_writes(db: Database) -> None:
    with db.open() as writer:
        writer.create({"Name": "kept"})
    before = db.snapshot()

    async def main() -> None:
        async with AsyncBatchStore(db.url, read_only=True) as store:
            assert (await store.get(1)).name == "kept"
            with pytest.raises(StorageError, match="read-only"):
                await store.create({"Name": "refused"})

    run(main)
    assert db.snapshot() == before


def test_importing_batchstore_does_not_import_asyncio() -> None:
    # The command line's start-up time: asyncio is half of batchstore's import time.
    probe = "import sys, batchstore; assert 'asyncio' not in sys.modules; assert 'AsyncBatchStore' in dir(batchstore)"
    subprocess.run([sys.executable, "-c", probe], check=True)
    import batchstore

    assert batchstore.AsyncBatchStore is AsyncBatchStore


# --- the change feed ----------------------------------------------------------------------------


def _create_elsewhere(path: str, name: str) -> None:
    with BatchStore(path) as store:
        store.create({"Name": name, "IsInternalTask": True})


def test_watch_yields_changes_of_another_process_while_the_loop_keeps_running(db: Database) -> None:
    path = db.url

    async def scenario() -> tuple[list[str], int]:
        ticks = 0

        async def heartbeat() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        async with AsyncBatchStore(path) as store:
            beating = asyncio.create_task(heartbeat())
            seen: list[str] = []

            async def watch() -> None:
                # Ends at the last change expected, not after an idle timeout: spawning the other process
                # (and, on PostgreSQL, its pool) may take longer than any short timeout on a loaded machine.
                async for change in store.watch(timeout=60):
                    seen.append(change.operation)
                    if change.operation == "stop":
                        break

            watching = asyncio.create_task(watch())
            await asyncio.sleep(0.3)
            process = multiprocessing.get_context("spawn").Process(target=_create_elsewhere, args=(path, "x"))
            process.start()
            await asyncio.to_thread(process.join, 60)
            task_id = await store.create({"Name": "mine"})  # the store's own calls go on meanwhile
            await store.stop(task_id)
            await watching
            beating.cancel()
            return seen, ticks

    seen, ticks = asyncio.run(scenario())
    assert seen == ["create", "create", "stop"]
    assert ticks >= 50  # the loop ran all along: the watch waits on a thread


def test_a_cancelled_watch_stops_at_once_and_the_store_goes_on(db: Database) -> None:
    async def scenario() -> int:
        async with AsyncBatchStore(db.url) as store:
            async def watch() -> None:
                async for _ in store.watch():
                    pass

            watching = asyncio.create_task(watch())
            await asyncio.sleep(0.2)
            watching.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(watching, timeout=5)
            task_id = await store.create({"Name": "after"})
            return len(await store.changes(after=0)) + task_id

    assert asyncio.run(scenario()) == 2


def test_watch_refuses_a_bad_cursor_at_the_first_step(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with AsyncBatchStore() as store:
            with pytest.raises(InvalidTaskError, match="cursor"):
                async for _ in store.watch(after=-1):
                    pass

    asyncio.run(scenario())
