"""How batchstore's costs grow with the database: listing, iterating everything, one big create_many.

- list one state: the time to list the 100 Failed tasks of a database of 10,000 tasks and of a
  large one (100,000 by default; 1,000,000 with ``--full``), and the ratio large / small. The
  (state, id) index should keep it near 1: listing touches only the rows it returns.
- iterate all: ``list("All")`` over every task of the large database, in a child process, with
  its peak RSS (VmHWM, read inside the child) and how far it rose above the RSS just before
  iterating. Pages are read lazily, so the growth should not depend on the number of tasks.
- create_many: one call storing 20,000 tasks (100,000 with ``--full``) in a fresh database, in a
  child process: the time, and the peak RSS above the RSS once the input list is built.

The large databases are filled with ``create_many`` in chunks of 10,000. Run:
``python -m benchmarks.scale [--full]``. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python benchmarks/scale.py (also how children start)
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from batchstore import BatchStore
from benchmarks._common import (
    current_rss_bytes,
    fmt_bytes,
    fmt_ratio,
    fmt_seconds,
    markdown_table,
    peak_rss_bytes,
    sample_task,
    temp_dir,
)

LISTED = 100
CHUNK = 10_000
SMALL = 10_000


def populate(path: Path, total: int) -> float:
    """``total`` tasks, LISTED of them Failed and evenly spread, the rest New; returns the seconds taken."""
    step = total // LISTED
    start = time.perf_counter()
    with BatchStore(str(path)) as store:
        for first in range(0, total, CHUNK):
            store.create_many(
                sample_task(i, "Failed" if i % step == step // 2 else "New")
                for i in range(first, min(first + CHUNK, total))
            )
    return time.perf_counter() - start


def time_lists(paths: list[Path], min_seconds: float = 1.0, min_reps: int = 21) -> list[float]:
    """Median seconds of one ``list("Failed")`` read to the end, per database, the databases taking turns."""
    stores = [BatchStore(str(path)) for path in paths]
    times: list[list[float]] = [[] for _ in paths]
    try:
        for store in stores:  # warm-up, and a check that each lists what it should
            assert len(list(store.list("Failed"))) == LISTED
        began = time.perf_counter()
        while len(times[0]) < min_reps or time.perf_counter() - began < min_seconds:
            for store, spent in zip(stores, times):
                start = time.perf_counter()
                for _ in store.list("Failed"):
                    pass
                spent.append(time.perf_counter() - start)
    finally:
        for store in stores:
            store.close()
    return [statistics.median(t) for t in times]


# --- children: each prints one JSON line ----------------------------------------------------------


def _child_iterate(db: str) -> dict[str, float]:
    with BatchStore(db) as store:
        next(iter(store.list("All")))  # warm: the first page's statement, the store's caches
        before = current_rss_bytes()
        start = time.perf_counter()
        count = 0
        for _ in store.list("All"):
            count += 1
        seconds = time.perf_counter() - start
    return {"count": count, "seconds": seconds, "before": before, "peak": peak_rss_bytes()}


def _child_create_many(db: str, total: int) -> dict[str, float]:
    with BatchStore(db) as store:  # a new file: the schema is created (and SQLAlchemy loaded) here
        tasks = [sample_task(i) for i in range(total)]
        before = current_rss_bytes()
        start = time.perf_counter()
        ids = store.create_many(tasks)
        seconds = time.perf_counter() - start
    return {"count": len(ids), "seconds": seconds, "before": before, "peak": peak_rss_bytes()}


def _in_child(*args: str) -> dict[str, float]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the report ---------------------------------------------------------------------------------


def run(*, full: bool = False) -> str:
    large = 1_000_000 if full else 100_000
    batch = 100_000 if full else 20_000
    with temp_dir("scale") as tmp:
        small_db, large_db = tmp / "small.db", tmp / "large.db"
        populate(small_db, SMALL)
        fill_seconds = populate(large_db, large)
        small_time, large_time = time_lists([small_db, large_db])
        iterated = _in_child("iterate", str(large_db))
        created = _in_child("create_many", str(tmp / "batch.db"), str(batch))
    assert iterated["count"] == large, iterated
    assert created["count"] == batch, created

    list_rows = [
        (f"{LISTED} Failed among {SMALL:,}", fmt_seconds(small_time), "1.00"),
        (f"{LISTED} Failed among {large:,}", fmt_seconds(large_time), fmt_ratio(large_time / small_time)),
    ]
    memory_rows = [
        (
            f'iterate list("All") over {large:,} tasks',
            fmt_seconds(iterated["seconds"]),
            f"{iterated['count'] / iterated['seconds']:,.0f}",
            fmt_bytes(iterated["peak"]),
            fmt_bytes(iterated["peak"] - iterated["before"]),
        ),
        (
            f"create_many of {batch:,} tasks in one call",
            fmt_seconds(created["seconds"]),
            f"{created['count'] / created['seconds']:,.0f}",
            fmt_bytes(created["peak"]),
            fmt_bytes(created["peak"] - created["before"]),
        ),
    ]
    return "\n".join([
        f"List one state (time per list, median of interleaved lists; ratio to the {SMALL:,}-task database). "
        f"The {large:,}-task database was filled in {fill_seconds:.1f} s.",
        "",
        markdown_table(["list", "time per list", "ratio"], list_rows),
        "",
        "Memory, each in a child process (peak RSS = VmHWM; growth = peak minus RSS just before the call):",
        "",
        markdown_table(["check", "time", "tasks/s", "peak RSS", "growth"], memory_rows),
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--full", action="store_true", help="1,000,000 tasks and a 100,000-task create_many")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        verb, *rest = args.child
        result = _child_iterate(*rest) if verb == "iterate" else _child_create_many(rest[0], int(rest[1]))
        print(json.dumps(result))
        return 0
    print(run(full=args.full))
    return 0


if __name__ == "__main__":
    sys.exit(main())
