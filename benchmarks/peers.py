"""batchstore against other SQLite-backed task stores, on one tracking cycle, in the same run.

The cycle: create a task with its parameters, read it back by id, mark it finished. Each system does it
with its own API, on a file in a temp dir, WAL and ``synchronous=NORMAL`` everywhere (persist-queue
and huey default to ``FULL``; the benchmark sets ``NORMAL`` on their connections so that no one pays
for fsyncs the others skip):

- batchstore, update: ``create`` (with a ParameterObject), ``get``, ``update`` State -> Succeeded
- batchstore, patch: ``create``, ``get``, ``patch`` (test State New, replace it with Succeeded)
- litequeue: ``put`` (JSON text), ``get`` by message id, ``pop``, ``done``
- persist-queue ``SQLiteAckQueue`` with its msgpack serializer: ``put``, ``get(id=...)``, ``ack``
- huey ``SqliteHuey``: ``enqueue`` a task call, ``dequeue``, ``execute``, read the ``result``

The peers are queues: they keep less per task than batchstore's 24 fields, and their "read back"
is part of taking the work. Rounds rotate over the systems (5 by default); cycles/s is the median of
each system's rounds, the ratio the median over rounds of batchstore (update) / peer in the same round.
Issue 11's goal: batchstore (update) at >= 1.2 x the faster of litequeue and persist-queue, in the same
run; a line under the table gives that ratio (the median over rounds of batchstore (update) / the faster
of the two in that round).

After the timed rounds, each system runs more cycles to count the WAL frames it writes per cycle
(``_common.wal_frames_per_op`` on its SQLite file; persist-queue's is the one SQLite file in its folder):
one frame per page a commit writes. Page sizes differ (batchstore's files use 2 KiB pages, the peers
SQLite's default 4 KiB), so the WAL bytes per cycle follow too.

A peer that is not installed is skipped with a note (``pip install -e .[bench]`` installs them).
Run: ``python -m benchmarks.peers [--rounds N]``. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python benchmarks/peers.py
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from batchstore import BatchStore
from benchmarks._common import (
    PARAMS,
    fmt_rate,
    fmt_ratio,
    interleaved,
    markdown_table,
    median,
    paired_ratio,
    sample_task,
    temp_dir,
    wal_frames_per_op,
)

CYCLES = 300  # per round
ROUNDS = 5
GOAL = 1.2  # issue 11: batchstore (update) / the faster of litequeue and persist-queue
FRAME_CYCLES = 200  # cycles that count each system's WAL frames
GOAL_PEERS = ("litequeue", "persistqueue")

Cycle = Callable[[int], int]  # runs n cycles, returns n


def batchstore_update(path: Path, *, internal: bool = False) -> tuple[Cycle, Callable[[], None]]:
    store = BatchStore(str(path))
    task = {**sample_task(0), "IsInternalTask": internal}

    def cycles(n: int) -> int:
        for _ in range(n):
            task_id = store.create(task)
            assert store.get(task_id).parameter_object == PARAMS
            store.update({"Id": task_id, "State": "Succeeded"})
        return n

    return cycles, store.close


def batchstore_patch(path: Path) -> tuple[Cycle, Callable[[], None]]:
    store = BatchStore(str(path))
    task = sample_task(0)
    finish = [
        {"op": "test", "path": "/State", "value": "New"},
        {"op": "replace", "path": "/State", "value": "Succeeded"},
    ]

    def cycles(n: int) -> int:
        for _ in range(n):
            task_id = store.create(task)
            assert store.get(task_id).parameter_object == PARAMS
            store.patch(task_id, finish)
        return n

    return cycles, store.close


def litequeue(path: Path) -> tuple[Cycle, Callable[[], None]]:
    from litequeue import LiteQueue

    queue = LiteQueue(str(path))  # WAL, synchronous=NORMAL by default

    def cycles(n: int) -> int:
        for _ in range(n):
            message = queue.put(json.dumps(PARAMS))
            assert json.loads(queue.get(message.message_id).data) == PARAMS
            taken = queue.pop()
            queue.done(taken.message_id)
        return n

    return cycles, queue.conn.close


def persist_queue(path: Path) -> tuple[Cycle, Callable[[], None]]:
    from persistqueue import SQLiteAckQueue
    from persistqueue.serializers import msgpack as msgpack_serializer

    queue = SQLiteAckQueue(str(path), serializer=msgpack_serializer, auto_commit=True)
    for conn in {id(queue._getter): queue._getter, id(queue._putter): queue._putter}.values():
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL already; its default is FULL

    def cycles(n: int) -> int:
        for _ in range(n):
            task_id = queue.put(PARAMS)
            item = queue.get(id=task_id, raw=True)
            assert item["data"]["ParameterObject1"] == PARAMS["ParameterObject1"]  # lists come back as tuples
            queue.ack(id=item["pqid"])
        return n

    return cycles, queue.close


def huey(path: Path) -> tuple[Cycle, Callable[[], None]]:
    from huey import SqliteHuey

    app = SqliteHuey("bench", filename=str(path))  # WAL by default
    app.storage.conn.execute("PRAGMA synchronous=NORMAL")  # its default is FULL

    @app.task()
    def track(params: dict[str, Any]) -> str:
        return "Succeeded"

    def cycles(n: int) -> int:
        for _ in range(n):
            result = track(PARAMS)
            task = app.dequeue()
            assert task.args[0] == PARAMS
            app.execute(task)
            assert result.get() == "Succeeded"
        return n

    return cycles, app.storage.close


SYSTEMS: list[tuple[str, str | None, Callable[[Path], tuple[Cycle, Callable[[], None]]]]] = [
    ("batchstore (create, get, update)", None, batchstore_update),
    ("batchstore (create, get, patch)", None, batchstore_patch),
    # IsInternalTask: SuperOffice's switch for tasks that leave no trace; the peers keep none either.
    ("batchstore, internal task (create, get, update)", None, lambda p: batchstore_update(p, internal=True)),
    ("litequeue (put, get, pop, done)", "litequeue", litequeue),
    ("persist-queue SQLiteAckQueue (put, get, ack)", "persistqueue", persist_queue),
    ("huey SqliteHuey (enqueue, dequeue, execute, result)", "huey", huey),
]


def sqlite_file(where: Path) -> Path:
    """The database file itself: ``where``, or for a folder (persist-queue's) the one SQLite file in it."""
    if where.is_file():
        return where
    found = []
    for path in sorted(where.rglob("*")):
        if path.is_file() and not path.name.endswith(("-wal", "-shm", "-journal")):
            with path.open("rb") as file:
                if file.read(16) == b"SQLite format 3\x00":
                    found.append(path)
    if len(found) != 1:
        raise RuntimeError(f"{where}: expected one SQLite file, found {[str(p) for p in found]}")
    return found[0]


HEADER = ("system", "cycles/s", "batchstore (update) / system", "WAL frames/cycle", "WAL KiB/cycle")


def _page_size(path: Path) -> int:
    conn = sqlite3.connect(str(path))
    try:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])
    finally:
        conn.close()


def _goal_line(names: list[str], modules: list[str | None], rates: list[list[float]]) -> str:
    """batchstore (update) against the faster of litequeue and persist-queue, round by round."""
    peers = [i for i, module in enumerate(modules) if module in GOAL_PEERS]
    if not peers:
        return f"Goal (>= {GOAL} x the faster of litequeue and persist-queue): neither is installed; not measured."
    base = rates[0]
    per_round = [base[r] / max(rates[i][r] for i in peers) for r in range(len(base))]
    fastest = max(peers, key=lambda i: median(rates[i]))
    ratio = median(per_round)
    verdict = "met" if ratio >= GOAL else "not met"
    return (
        f"batchstore (update) / the faster of litequeue and persist-queue: {fmt_ratio(ratio)} "
        f"(median over rounds; the faster by median: {names[fastest]}, {fmt_rate(median(rates[fastest]))} cycles/s); "
        f"goal >= {GOAL}: {verdict}."
    )


def run(*, rounds: int = ROUNDS, cycles: int = CYCLES) -> str:
    notes = []
    names: list[str] = []
    modules: list[str | None] = []
    sides: list[Callable[[], int]] = []
    closers: list[Callable[[], None]] = []
    counters: list[tuple[Path, Cycle]] = []
    frames: list[float] = []
    page_sizes: list[int] = []
    with temp_dir("peers") as tmp:
        try:
            for index, (name, module, factory) in enumerate(SYSTEMS):
                if module is not None and importlib.util.find_spec(module) is None:
                    notes.append(f"- {name}: skipped, `{module}` is not installed")
                    continue
                folder = tmp / str(index)
                folder.mkdir()
                # persist-queue takes a folder; the others a file.
                where = folder if module == "persistqueue" else folder / "tasks.db"
                cycle, close = factory(where)
                closers.append(close)
                cycle(max(1, cycles // 5))  # warm up: first inserts, statement caches
                names.append(name)
                modules.append(module)
                sides.append(functools.partial(cycle, cycles))
                counters.append((sqlite_file(where), cycle))
            start = time.perf_counter()
            rates = interleaved(sides, rounds)
            elapsed = time.perf_counter() - start
            # After the timed rounds: the checkpoints between chunks never fall inside a timing.
            frames = [wal_frames_per_op(path, cycle, FRAME_CYCLES) for path, cycle in counters]
            page_sizes = [_page_size(path) for path, _cycle in counters]
        finally:
            for close in closers:
                close()
    base = rates[0]
    rows = [
        (name, fmt_rate(median(r)), fmt_ratio(paired_ratio(base, r)), f"{f:.1f}", f"{f * (size + 24) / 1024:.1f}")
        for name, r, f, size in zip(names, rates, frames, page_sizes)
    ]
    parts = [
        f"Tracking cycle: create with parameters, read back by id, mark finished "
        f"({cycles} cycles a round, median of {rounds} rounds, {elapsed:.0f} s)",
        "",
        markdown_table(HEADER, rows),
        "",
        _goal_line(names, modules, rates),
    ]
    if notes:
        parts += ["", *notes]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"rounds (default and minimum {ROUNDS})")
    parser.add_argument("--cycles", type=int, default=CYCLES, help="cycles per round")
    args = parser.parse_args(argv)
    print(run(rounds=max(ROUNDS, args.rounds), cycles=args.cycles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
