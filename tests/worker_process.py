"""A worker process for tests/lifecycle/test_workers.py: its own BatchStore, acquire/start/succeed until no task is New.

A helper module (not a test module) so that ``spawn`` children can import it by name.
"""

from __future__ import annotations

from typing import Any

from batchstore import BatchStore


def work(target: str, worker: str, go: Any, results: Any) -> None:
    """Run tasks from ``target`` as ``worker`` once every worker is ready (``go``, a barrier); put (worker, ids
    done, error or None)."""
    done: list[int] = []
    try:
        with BatchStore(target) as store:
            go.wait()
            while (task := store.acquire(worker=worker)) is not None:
                store.start(task.id, worker=worker)
                store.succeed(task.id, worker=worker)
                done.append(task.id)
        results.put((worker, done, None))
    except BaseException as exc:  # reported by the parent: a worker dying silently would look like lost tasks
        results.put((worker, done, f"{type(exc).__name__}: {exc}"))
