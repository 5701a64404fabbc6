"""Several hosts, simulated: worker processes, each with its own store, share one task table.

Four ``spawn``ed processes (nothing inherited from the test, as on other hosts) run 500 tasks each way
through acquire, start and succeed, on a SQLite file and on PostgreSQL. Afterwards no task is lost (every
one Succeeded and reported by a worker) and none was acquired twice (each trace shows exactly one acquire,
by the worker that reported the task, and no two workers reported the same task). Speed is
``benchmarks/workers.py``'s business, not this test's.
"""

from __future__ import annotations

import collections
import multiprocessing

import pytest
from conftest import Database

from batchstore import BatchStore

WORKERS = 4
TASKS = 2_000  # 4 workers x 500 tasks each, on average


@pytest.fixture
def target(db: Database) -> str:
    """The test's own database on each engine (tests/conftest.py): a SQLite file or a schema of its own."""
    return db.url


def test_worker_processes_lose_no_task_and_never_share_one(target: str) -> None:
    from worker_process import work

    with BatchStore(target) as store:
        ids = set(store.create_many({"Name": f"job-{i}", "ParameterObject": {"n": i}} for i in range(TASKS)))
    ctx = multiprocessing.get_context("spawn")
    # A barrier, not an event: a worker slow to start (spawn imports everything anew) must not find the
    # table already emptied by the others.
    go, results = ctx.Barrier(WORKERS + 1), ctx.Queue()
    names = [f"worker-{i}" for i in range(WORKERS)]
    processes = [ctx.Process(target=work, args=(target, name, go, results), daemon=True) for name in names]
    for process in processes:
        process.start()
    try:
        go.wait(timeout=120)
        reports = [results.get(timeout=300) for _ in names]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    assert [error for _, _, error in reports if error] == []
    reported = collections.Counter(task_id for _, done, _ in reports for task_id in done)
    owner = {task_id: worker for worker, done, _ in reports for task_id in done}

    assert set(reported) == ids, "lost: no worker reported these tasks"
    assert [t for t, n in reported.items() if n > 1] == [], "reported by more than one worker"
    with BatchStore(target) as store:
        states = collections.Counter(t.state.name for t in store.list("All", select="State"))
        assert states == {"Succeeded": TASKS}
        twice = []
        for task_id in sorted(ids):
            acquires = [e.worker for e in store.history(task_id) if e.operation == "acquire"]
            if acquires != [owner[task_id]]:
                twice.append((task_id, acquires))
        assert twice == []
    # Every worker took part, or the test proved nothing about sharing the table.
    assert all(done for _, done, _ in reports), [len(done) for _, done, _ in reports]
