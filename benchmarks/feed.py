"""The change feed: how long a change takes from commit to a watcher in another process, and what it costs a write.

Delay: a watcher process runs ``store.watch()``; this process commits one change at a time at random
intervals and notes the wall-clock time each commit returned; the watcher notes when each change reached
it. Both clocks are the machine's own, so the difference is the delay. Medians and the 90th percentile.

Cost: the same write (create; update of an internal task) timed with the change-feed row and with that
INSERT replaced by a statement that writes nothing, interleaved rounds, medians: the feed's share of a write.

Run: ``python -m benchmarks.feed [--postgres URL]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from batchstore import BatchStore
from benchmarks._common import interleaved, markdown_table, median, sample_task, temp_dir


def _watch(target: str, count: int, ready: Any, out: Any) -> None:
    with BatchStore(target) as store:
        cursor = store.last_cursor()
        received: dict[int, float] = {}
        ready.set()
        for change in store.watch(after=cursor, timeout=30):
            received[change.task_id] = time.time()
            if len(received) == count:
                break
    out.put(json.dumps(received))


def delays(target: str, count: int = 200) -> list[float]:
    """Seconds from each commit (as its writer saw it return) to a watcher in another process."""
    ctx = multiprocessing.get_context("spawn")
    ready, out = ctx.Event(), ctx.Queue()
    watcher = ctx.Process(target=_watch, args=(target, count, ready, out))
    watcher.start()
    committed: dict[int, float] = {}
    try:
        assert ready.wait(60), "the watcher did not start"
        time.sleep(0.5)
        with BatchStore(target) as store:
            for i in range(count):
                time.sleep(random.uniform(0.005, 0.03))  # separate commits: each one a wake-up of its own
                task_id = store.create({"Name": f"feed-{i}", "IsInternalTask": True})
                committed[task_id] = time.time()
        received = {int(k): v for k, v in json.loads(out.get(timeout=60)).items()}
    finally:
        watcher.join(timeout=60)
    return [received[task_id] - at for task_id, at in committed.items()]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def write_cost(target: str, rounds: int = 7, batch: int = 200) -> list[list[str]]:
    """Per write: batchstore with its feed row and with the row's INSERT made a no-op, medians of rounds."""
    rows = []
    with BatchStore(target) as with_feed, BatchStore(target) as without_feed:
        # A statement with the same parameters that writes nothing: what the write costs with no feed row.
        without_feed._engine.insert_change = (  # type: ignore[misc]
            "UPDATE batchtaskchange SET task_id = ? WHERE 0 = 1 AND at = ? AND operation = ? "
            "AND COALESCE(worker, '') = COALESCE(?, '') AND changes = ? AND traced = ?"
        )
        internal = {"Name": "cost", "IsInternalTask": True}
        ids = {s: s.create(internal) for s in (with_feed, without_feed)}

        def creating(store: BatchStore) -> Callable[[], int]:
            def run() -> int:
                for i in range(batch):
                    store.create(sample_task(i))
                return batch
            return run

        def updating(store: BatchStore) -> Callable[[], int]:
            task = store.get(ids[store])

            def run() -> int:
                for i in range(batch):
                    task.description = f"round {i} {random.random()}"
                    store.update(task)
                return batch
            return run

        for label, make in (("create (with ParameterObject and trace)", creating),
                            ("update, internal task (no trace)", updating)):
            with_rates, without_rates = interleaved([make(with_feed), make(without_feed)], rounds)
            per_with, per_without = 1e6 / median(with_rates), 1e6 / median(without_rates)
            rows.append([label, f"{per_with:.0f} us", f"{per_without:.0f} us",
                         f"{per_with - per_without:+.0f} us ({(per_with / per_without - 1) * 100:+.0f}%)"])
    return rows


@contextmanager
def _postgres_schema(url: str) -> Iterator[str]:
    import psycopg

    schema = f"bench_feed_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def run(postgres: str | None = None, rounds: int = 7) -> str:
    """The delay table and the cost table, as Markdown."""
    delay_rows, cost_rows = [], []
    targets: list[tuple[str, Callable[[], Any]]] = [("SQLite (WAL file)", lambda: temp_dir("feed"))]
    if postgres:
        targets.append(("PostgreSQL", lambda: _postgres_schema(postgres)))
    for engine, make in targets:
        with make() as where:
            target = str(Path(where) / "feed.db") if engine.startswith("SQLite") else where
            seen = delays(target)
            delay_rows.append([engine, len(seen), f"{statistics.median(seen) * 1000:.1f} ms",
                               f"{_percentile(seen, 0.9) * 1000:.1f} ms", f"{max(seen) * 1000:.1f} ms"])
            cost_rows += [[engine, *row] for row in write_cost(target, rounds)]
    return (
        markdown_table(["engine", "changes", "median delay", "p90", "max"], delay_rows)
        + "\n\n"
        + markdown_table(["engine", "write", "with feed row", "without", "the feed's cost"], cost_rows)
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--postgres", metavar="URL", help="also measure on this PostgreSQL server")
    args = parser.parse_args()
    print(run(args.postgres))
