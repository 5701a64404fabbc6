"""Threads and processes sharing one database file: nothing lost, nothing locked out."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from batchstore import BatchStore, PatchConflictError

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


def test_threads_sharing_one_store_lose_no_compare_and_set(tmp_path: Path) -> None:
    with BatchStore(tmp_path / "tasks.db") as store:
        task_id = store.create({"Name": "counter", "Description": "0"})

        def work() -> None:
            for _ in range(INCREMENTS):
                _increment(store, task_id)

        assert _in_threads(work) == []
        assert store.get(task_id).description == str(THREADS * INCREMENTS)


def test_threads_with_their_own_stores_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
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
def test_processes_on_one_file_lose_nothing(tmp_path: Path, start_method: str) -> None:
    path = str(tmp_path / "tasks.db")
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


def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
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
