"""Where a commit's pages go: the WAL frames each operation writes, by table and index, on SQLite.

A commit in WAL mode appends one frame (a page and a 24-byte header) for every page it changed, so what a
write costs the disk, and how soon the next checkpoint (and its fsync) comes, is its number of frames.
This reads the page number in each frame's header after the operations ran (the WAL truncated before
each chunk of them, so none is checkpointed away meanwhile) and asks SQLite's ``dbstat`` table which table
or index owns each page. Page 1 (``header``) holds the file's size and free-page count: a commit that
grows the file writes it too.

The file holds ``--tasks`` tasks (10,000 by default) before the operations, with ParameterObjects, so its
B-trees have their working shape; each operation runs ``--ops`` times (200) on tasks of its own.
Run: ``python -m benchmarks.frames [--tasks N] [--ops N]``. Counts, not timings: they do not vary between runs
on one SQLite version, so there are no rounds.
"""

from __future__ import annotations

import argparse
import collections
import sqlite3
import struct
import sys
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python benchmarks/frames.py
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from batchstore import BatchStore
from benchmarks._common import FRAME_HEADER, WAL_HEADER, markdown_table, sample_task, temp_dir, truncate_wal

TASKS = 10_000
OPS = 200
CHUNK = 20  # operations between truncations: far below the 1,000 frames of an autocheckpoint
#: Columns of the report, in this order; any other owner is counted under "other".
OWNERS = (
    "batchtask", "ix_batchtask_state_id", "ix_batchtask_name", "ix_batchtask_associate", "binaryobject",
    "batchtaskchange", "ix_batchtaskchange_task", "sqlite_sequence", "header",
)  # fmt: skip


def _pages_written(wal: Path, page_size: int) -> list[int]:
    data = wal.read_bytes() if wal.exists() else b""
    return [
        struct.unpack_from(">I", data, offset)[0]
        for offset in range(WAL_HEADER, len(data) - FRAME_HEADER + 1, FRAME_HEADER + page_size)
    ]


def count(db: Path, ops: Callable[[int], object], n: int) -> collections.Counter[str]:
    """Frames written per operation by owner, over n operations run in chunks of CHUNK."""
    checker = sqlite3.connect(str(db), isolation_level=None, timeout=5.0)
    try:
        if checker.execute("SELECT count(*) FROM pragma_module_list WHERE name = 'dbstat'").fetchone() == (0,):
            raise RuntimeError("this SQLite has no dbstat table (SQLITE_ENABLE_DBSTAT_VTAB): pages have no owners")
        (page_size,) = checker.execute("PRAGMA page_size").fetchone()
        totals: collections.Counter[str] = collections.Counter()
        for first in range(0, n, CHUNK):
            truncate_wal(checker, db)
            ops(min(CHUNK, n - first))
            owner = dict(checker.execute("SELECT pageno, name FROM dbstat"))
            owner[1] = "header"  # page 1 is sqlite_schema's root too; what a write changes there is the header
            for page in _pages_written(db.with_name(db.name + "-wal"), page_size):
                name = owner.get(page, "free")
                totals[name if name in OWNERS else "other"] += 1
        truncate_wal(checker, db)
    finally:
        checker.close()
    return collections.Counter({name: frames / n for name, frames in totals.items()})


def run(*, tasks: int = TASKS, ops: int = OPS) -> str:
    with temp_dir("frames") as tmp:
        db = tmp / "tasks.db"
        with BatchStore(str(db)) as store:
            for first in range(0, tasks, 10_000):
                store.create_many(sample_task(i) for i in range(first, min(tasks, first + 10_000)))
            # Tasks of their own, New, for each of update and patch of each kind.
            targets = {
                (verb, kind): iter(store.create_many(
                    {**sample_task(i), "IsInternalTask": kind == "internal"} for i in range(ops)))
                for verb in ("update", "patch") for kind in ("traced", "internal")
            }

            def create(kind: str) -> Callable[[int], object]:
                task = {**sample_task(0), "IsInternalTask": kind == "internal"}
                return lambda k: [store.create(task) for _ in range(k)]

            def update(kind: str) -> Callable[[int], object]:
                ids = targets["update", kind]
                return lambda k: [store.update({"Id": next(ids), "State": "Started", "Description": "d"})
                                  for _ in range(k)]

            def patch(kind: str) -> Callable[[int], object]:
                steps = [{"op": "test", "path": "/State", "value": "New"},
                         {"op": "replace", "path": "/State", "value": "Started"}]
                ids = targets["patch", kind]
                return lambda k: [store.patch(next(ids), steps) for _ in range(k)]

            def cycle(k: int) -> None:  # benchmarks/peers.py's tracking cycle
                for _ in range(k):
                    task_id = store.create(sample_task(0))
                    store.get(task_id)
                    store.update({"Id": task_id, "State": "Succeeded"})

            store.create_many({**sample_task(i), "Name": "run"} for i in range(ops))

            def lifecycle(k: int) -> None:
                for _ in range(k):
                    claimed = store.acquire(name="run", worker="w")
                    assert claimed is not None
                    assert claimed.id is not None
                    store.start(claimed.id, worker="w")
                    store.succeed(claimed.id, worker="w")

            measured = [
                ("create (with ParameterObject, traced)", create("traced")),
                ("create, internal task", create("internal")),
                ("update State + Description, traced", update("traced")),
                ("update State + Description, internal task", update("internal")),
                ("patch test + replace State, traced", patch("traced")),
                ("patch test + replace State, internal task", patch("internal")),
                ("tracking cycle: create, get, update (peers)", cycle),
                ("acquire + start + succeed, traced", lifecycle),
            ]
            rows = []
            for name, ops_of in measured:
                by_owner = count(db, ops_of, ops)
                rows.append((name, *(f"{by_owner.get(o, 0):.2f}" for o in (*OWNERS, "other")),
                             f"{sum(by_owner.values()):.1f}"))
    header = ["operation", *OWNERS, "other", "total"]
    return "\n".join([
        f"WAL frames per operation, by the table or index owning each page ({tasks:,} tasks in the file, "
        f"{ops} operations each):",
        "",
        markdown_table(header, rows),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=TASKS, help="tasks in the file before the operations")
    parser.add_argument("--ops", type=int, default=OPS, help="how many times each operation runs")
    args = parser.parse_args(argv)
    print(run(tasks=args.tasks, ops=args.ops))
    return 0


if __name__ == "__main__":
    sys.exit(main())
