"""Threads and processes sharing one database file: nothing lost, nothing locked out."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from batchstore import BatchStore, InvalidTaskError, PatchConflictError

if TYPE_CHECKING:
    from conftest import Database

THREADS = 8
PROCESSES = 4
INCREMENTS = 25


def _increment(store: BatchStore, task_id: int) -> int:
    """Compare-and-set the counter kept in Description; returns how many conflicts it retried."""
    conflicts = 0
    while True:
        current = store.get(task_id, select="Description").description
        try:
            store.patch(task_id, [
                {"op": "test", "path": "/Description", "value": current},
                {"op": "replace", "path": "/Description", "value": str(int(current or "0") + 1)},
            ])
            return conflicts
        except PatchConflictError:
            conflicts += 1


def _in_threads(work: Callable[[], None]) -> list[BaseException]:
    """Run ``work`` in THREADS threads at once; the exceptions they raised."""
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            work()
        except BaseException as exc:  # reported to the test, which asserts there were none
            errors.append(exc)

    threads = [threading.Thread(target=guarded) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def _update_blind(store: BatchStore, task_id: int, worker: int, count: int) -> None:
    for n in range(count):
        store.update({"Id": task_id, "Response": f"{worker}:{n}"})


def test_threads_sharing_one_store_lose_no_compare_and_set(db: Database) -> None:
    with BatchStore(db.url) as store:
        task_id = store.create({"Name": "counter", "Description": "0"})

        def work() -> None:
            for _ in range(INCREMENTS):
                _increment(store, task_id)

        assert _in_threads(work) == []
        assert store.get(task_id).description == str(THREADS * INCREMENTS)


def test_threads_with_their_own_stores_on_one_file(db: Database) -> None:
    path = db.url
    with BatchStore(path) as store:
        task_id = store.create({"Name": "counter", "Description": "0"})

    def work() -> None:
        with BatchStore(path) as own:
            for _ in range(INCREMENTS):
                _increment(own, task_id)
                own.create({"Name": "side", "ParameterObject": [1, 2, 3]})

    assert _in_threads(work) == []
    with BatchStore(path) as store:
        assert store.get(task_id).description == str(THREADS * INCREMENTS)
        assert sum(1 for _ in store.list(select="Id")) == 1 + THREADS * INCREMENTS


def _process_worker(path: str, task_id: int, worker: int, queue: multiprocessing.Queue[object]) -> None:
    try:
        created = []
        with BatchStore(path) as store:
            for n in range(INCREMENTS):
                _increment(store, task_id)
                created.append(store.create({"Name": f"p{worker}", "ParameterObject": {"n": n}}))
                _update_blind(store, created[-1], worker, 2)
        queue.put(created)
    except BaseException as exc:
        queue.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("start_method", ["spawn"])
def test_processes_on_one_file_lose_nothing(db: Database, start_method: str) -> None:
    path = db.url
    with BatchStore(path) as store:
        task_id = store.create({"Name": "counter", "Description": "0"})
    ctx = multiprocessing.get_context(start_method)
    queue: multiprocessing.Queue[object] = ctx.Queue()
    procs = [ctx.Process(target=_process_worker, args=(path, task_id, w, queue)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    failures = [r for r in results if isinstance(r, str)]
    assert failures == []  # no "database is locked", nor anything else, reached a worker
    created = [i for r in results if isinstance(r, list) for i in r]
    assert len(created) == len(set(created)) == PROCESSES * INCREMENTS
    with BatchStore(path) as store:
        assert store.get(task_id).description == str(PROCESSES * INCREMENTS)
        for task_id_created in created:
            task = store.get(task_id_created)
            assert task.parameter_object is not None
            assert task.response is not None and task.response.endswith(":1")


def test_a_forked_child_opens_its_own_connection(db: Database) -> None:
    path = db.url
    with BatchStore(path) as store:
        task_id = store.create({"Name": "before fork"})
        ctx = multiprocessing.get_context("fork")
        queue: multiprocessing.Queue[object] = ctx.Queue()

        def child() -> None:
            try:
                queue.put(store.create({"Name": f"child of {task_id}"}))
            except BaseException as exc:
                queue.put(repr(exc))

        proc = ctx.Process(target=child)
        proc.start()
        child_id = queue.get(timeout=60)
        proc.join(timeout=60)
        assert isinstance(child_id, int)
        assert store.get(child_id).name == f"child of {task_id}"


def _run_guarded(work: Callable[[], object], seconds: float) -> object:
    """``work()`` in a thread, joined for at most ``seconds``: a hang fails the test instead of the suite."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: a hang or a deadlock"
    return outcome[0]


def test_create_many_over_a_generator_reading_the_same_store(db: Database) -> None:
    path = db.url
    with BatchStore(path, timeout=2) as store:
        for n in range(5):
            store.fail(store.create({"Name": f"failed {n}", "State": "Aquired"}))
        other_writes: list[int] = []

        def again() -> Iterator[dict[str, str]]:
            for task in store.list("Failed"):
                # Another connection writes while the caller's generator runs: it must not wait for it.
                with BatchStore(path, timeout=1) as other:
                    other_writes.append(other.create({"Name": f"meanwhile {task.id}"}))
                yield {"Name": f"retry {task.name}"}

        ids = _run_guarded(lambda: store.create_many(again()), 20)
        assert isinstance(ids, list) and len(ids) == 5
        assert [store.get(i).name for i in ids] == [f"retry failed {n}" for n in range(5)]
        assert len(other_writes) == 5


def test_create_many_over_a_generator_stays_all_or_nothing(db: Database) -> None:
    path = db.url
    with BatchStore(path) as store:
        store.create({"Name": "one"})

        def tasks() -> Iterator[dict[str, object]]:
            for task in store.list():
                yield {"Name": f"copy of {task.name}"}
            yield {"Name": "bad", "ProgressPercent": 101}

        error = _run_guarded(lambda: store.create_many(tasks()), 20)
        assert isinstance(error, InvalidTaskError) and "task 1" in str(error)
        assert [t.name for t in store.list()] == ["one"]


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forks_while_a_thread_writes(db: Database) -> None:
    """20 forks while another thread writes: each child's new store and its inherited one both work."""
    path = db.url
    forks = 20
    with BatchStore(path, timeout=10) as store:
        stop = threading.Event()
        writer_errors: list[BaseException] = []

        def writer() -> None:
            try:
                while not stop.is_set():
                    store.create_many([{"Name": "parent", "ParameterObject": {"n": n}} for n in range(20)])
            except BaseException as exc:  # reported to the test
                writer_errors.append(exc)

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        children = []
        try:
            for n in range(forks):
                time.sleep(0.01)
                pid = os.fork()
                if pid == 0:  # the child: no pytest machinery from here, only an exit status
                    status = 1
                    try:
                        with BatchStore(path, timeout=10) as own:
                            own.create({"Name": f"child {n}"})
                        store.create({"Name": f"inherited {n}"})
                        status = 0
                    finally:
                        os._exit(status)
                children.append(pid)
            deadline = time.monotonic() + 60
            statuses = {}
            while children and time.monotonic() < deadline:
                for pid in list(children):
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        statuses[pid] = os.waitstatus_to_exitcode(status)
                        children.remove(pid)
                time.sleep(0.02)
        finally:
            stop.set()
            thread.join(30)
            for pid in children:  # hung: killed, and the test fails below
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        assert children == [], f"{len(children)} children hung"
        assert writer_errors == []
        assert sorted(statuses.values()) == [0] * forks
        names = {t.name for t in store.list(select="Name")}
        assert {f"child {n}" for n in range(forks)} | {f"inherited {n}" for n in range(forks)} <= names


def _open_in_rounds(folder: str, rounds: int, barrier: Any, queue: multiprocessing.Queue[object]) -> None:
    failures = []
    for n in range(rounds):
        barrier.wait(timeout=60)
        try:
            with BatchStore(os.path.join(folder, f"round{n}.db"), timeout=30) as store:
                store.create({"Name": "opened"})
        except BaseException as exc:
            failures.append(f"round {n}: {type(exc).__name__}: {exc}")
    queue.put(failures)


@pytest.mark.sqlite_only("creating one new SQLite file: test_postgres.py races schema creation on the server")
def test_processes_opening_a_new_file_at_once_wait_for_each_other(tmp_path: Path) -> None:
    rounds, processes = 6, 8
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(processes)
    queue: multiprocessing.Queue[object] = ctx.Queue()
    procs = [ctx.Process(target=_open_in_rounds, args=(str(tmp_path), rounds, barrier, queue))
             for _ in range(processes)]
    for p in procs:
        p.start()
    try:
        results = [queue.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert [f for r in results for f in r] == []  # type: ignore[attr-defined]
    for n in range(rounds):
        with BatchStore(tmp_path / f"round{n}.db") as store:
            assert sum(1 for _ in store.list(select="Id")) == processes
