"""Several hosts, simulated: worker processes share one task table, on PostgreSQL and on a SQLite file.

Each worker is its own process (started with ``spawn``: nothing inherited, as on another host) with its
own :class:`~batchstore.BatchStore` and so its own connections. It loops: ``acquire`` the oldest New task,
``start`` it, ``succeed`` it, until acquire returns None. The table starts with ``--tasks`` New tasks
(10,000 by default; ordinary tasks, so every step leaves a trace row). The clock runs from the moment
every worker has opened its store and is told to go, until the last one has found the table empty.

After each run the whole table is checked, and the run refused if anything is off: every task Succeeded,
each task's trace shows exactly one ``acquire`` (0 acquired twice) by the worker that reported it, and the
workers together report every task exactly once (0 lost). The rates are tasks/s (each task is three write
transactions), the median of ``--rounds`` rounds; in each round every (engine, workers) pair runs once,
in an order that alternates between rounds, so drift of the shared machine spreads over all of them.

SQLite: a file in a temp dir, WAL, ``synchronous=NORMAL`` (batchstore's default), a fresh file per run.
PostgreSQL: a fresh database ``pg_bench_workers_<pid>`` per run, dropped afterwards (the URL's user must be
allowed to CREATE DATABASE); each worker's pool is the default.

Run: ``python -m benchmarks.workers [--postgres URL] [--tasks N] [--rounds N] [--workers 1,2,4,8]``
(or set BATCHSTORE_BENCH_POSTGRES_URL; without a URL only SQLite runs). Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python benchmarks/workers.py
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from batchstore import BatchStore
from benchmarks._common import fmt_rate, markdown_table, median, temp_dir

URL_VARIABLE = "BATCHSTORE_BENCH_POSTGRES_URL"
WORKER_COUNTS = (1, 2, 4, 8)


def work(target: str, worker: str, ready: Any, go: Any, results: Any) -> None:
    """One worker process: open a store, wait for the start, run tasks until none is New; report their ids."""
    done: list[int] = []
    try:
        with BatchStore(target) as store:
            ready.put(worker)
            go.wait()
            while (task := store.acquire(worker=worker)) is not None:
                store.start(task.id, worker=worker)
                store.succeed(task.id, worker=worker, result="done")
                done.append(task.id)
        results.put((worker, time.perf_counter(), done, None))
    except BaseException as exc:  # the parent reports it; a worker that dies silently would look like a loss
        results.put((worker, time.perf_counter(), done, f"{type(exc).__name__}: {exc}"))


@dataclass
class Outcome:
    workers: int
    tasks: int
    seconds: float
    lost: int  # tasks no worker reported, or not Succeeded
    twice: int  # tasks acquired more than once (by the trace), or reported by more than one worker

    @property
    def rate(self) -> float:
        return self.tasks / self.seconds


def run_once(target: str, workers: int, tasks: int, *, timeout: float = 600.0) -> Outcome:
    """Fill ``target`` (an empty database) with ``tasks`` New tasks, let ``workers`` processes run them, check."""
    with BatchStore(target) as store:
        for first in range(0, tasks, 5_000):
            last = min(first + 5_000, tasks)
            store.create_many({"Name": f"job-{i}", "ParameterObject": {"n": i}} for i in range(first, last))
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    names = [f"worker-{i}" for i in range(workers)]
    processes = [ctx.Process(target=work, args=(target, name, ready, go, results), daemon=True) for name in names]
    for process in processes:
        process.start()
    try:
        for _ in names:
            ready.get(timeout=120)
        start = time.perf_counter()
        go.set()
        reports = [results.get(timeout=timeout) for _ in names]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    errors = [f"{worker}: {error}" for worker, _, _, error in reports if error]
    if errors:
        raise RuntimeError("a worker failed: " + "; ".join(errors))
    seconds = max(end for _, end, _, _ in reports) - start
    return Outcome(workers, tasks, seconds, *check(target, {worker: done for worker, _, done, _ in reports}))


def check(target: str, reported: dict[str, list[int]]) -> tuple[int, int]:
    """(lost, acquired twice), from the workers' reports and the table itself, read through the public API."""
    by_task: collections.Counter[int] = collections.Counter()
    owner = {}
    for worker, ids in reported.items():
        by_task.update(ids)
        owner.update(dict.fromkeys(ids, worker))
    lost = twice = 0
    with BatchStore(target) as store:
        for task in store.list("All", select="Id,State"):
            acquires = [e for e in store.history(task.id) if e.operation == "acquire"]
            if task.state.name != "Succeeded" or by_task[task.id] == 0:
                lost += 1
            elif len(acquires) != 1 or by_task[task.id] != 1 or acquires[0].worker != owner[task.id]:
                twice += 1
    return lost, twice


@contextmanager
def sqlite_target() -> Iterator[str]:
    with temp_dir("workers") as tmp:
        yield str(tmp / "tasks.db")


@contextmanager
def postgres_target(url: str) -> Iterator[str]:
    import psycopg

    from benchmarks.ops_postgres import _with_database

    admin = url.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"pg_bench_workers_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(postgres: str | None, *, tasks: int = 10_000, rounds: int = 3, counts: Sequence[int] = WORKER_COUNTS) -> str:
    """Every (engine, workers) pair ``rounds`` times, interleaved; the Markdown report."""
    engines = ["SQLite", *(["PostgreSQL"] if postgres else [])]
    pairs = [(engine, n) for n in counts for engine in engines]
    rates: dict[tuple[str, int], list[float]] = {pair: [] for pair in pairs}
    for r in range(rounds):
        for engine, n in pairs if r % 2 == 0 else reversed(pairs):
            target = sqlite_target() if engine == "SQLite" else postgres_target(postgres)  # type: ignore[arg-type]
            with target as where:
                outcome = run_once(where, n, tasks)
            if outcome.lost or outcome.twice:
                raise RuntimeError(f"{engine}, {n} workers: {outcome.lost} lost, {outcome.twice} acquired twice")
            rates[engine, n].append(outcome.rate)
            print(f"  round {r + 1}: {engine}, {n} workers: {outcome.rate:,.0f} tasks/s, 0 lost, 0 twice",
                  file=sys.stderr, flush=True)
    header = ["worker processes", *(f"{e} tasks/s" for e in engines)]
    rows = [[str(n), *(fmt_rate(median(rates[e, n])) for e in engines)] for n in counts]
    if postgres:
        header.append("PostgreSQL / SQLite")
        for row, n in zip(rows, counts):
            row.append(f"{median(rates['PostgreSQL', n]) / median(rates['SQLite', n]):.2f}")
    lines = [
        f"{tasks:,} tasks (acquire, start, succeed each) per run, worker processes each with their own store; "
        f"median of {rounds} interleaved rounds; every run checked: 0 lost, 0 acquired twice",
        "",
        markdown_table(header, rows),
    ]
    if postgres:
        ahead = [n for n in counts if median(rates["PostgreSQL", n]) > median(rates["SQLite", n])]
        lines += ["", f"PostgreSQL is ahead from {ahead[0]} worker processes on." if ahead
                  else f"SQLite stays ahead up to {counts[-1]} worker processes on this machine."]
    return "\n".join(lines)


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--postgres", default=os.environ.get(URL_VARIABLE),
                        help=f"a PostgreSQL URL whose user may CREATE DATABASE (default: ${URL_VARIABLE})")
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks per run (default 10,000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--workers", type=_counts, default=list(WORKER_COUNTS), help="worker counts, e.g. 1,2,4,8")
    args = parser.parse_args(argv)
    print(run(args.postgres, tasks=args.tasks, rounds=args.rounds, counts=args.workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
