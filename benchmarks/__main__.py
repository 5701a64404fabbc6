"""``python -m benchmarks``: run every benchmark and print Markdown tables.

By default everything runs in a few minutes at most on two cores; ``--full`` runs the large checks
(the operations and the scale sections on 1,000,000 tasks, populating which takes a few minutes more) and
more rounds elsewhere; ``--only NAME`` runs one section (ops, query, frames, peers, scale, cli, feed, server,
ops-postgres or workers). ``--postgres URL`` (or BATCHSTORE_BENCH_POSTGRES_URL) adds the PostgreSQL operation table and
PostgreSQL's column of the workers table; the URL's user must be allowed to CREATE DATABASE (each run makes
fresh ``pg_bench_*`` databases and drops them).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python benchmarks/__main__.py
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from benchmarks._common import environment_note

SECTIONS = ("ops", "query", "frames", "peers", "scale", "cli", "feed", "server", "ops-postgres", "workers")
URL_VARIABLE = "BATCHSTORE_BENCH_POSTGRES_URL"
TITLES = {
    "ops": "Operations: batchstore vs raw sqlite3",
    "query": "The query model vs the same SQL by hand",
    "frames": "Pages per commit: WAL frames by table and index",
    "peers": "Peers: one tracking cycle on SQLite",
    "scale": "Scale: growth with the number of tasks",
    "cli": "Command line start-up",
    "feed": "Change feed: delay to a watcher in another process, and its cost per write",
    "server": "HTTP server: requests/s and p99 beside in-process calls",
    "ops-postgres": "Operations on PostgreSQL: batchstore vs raw psycopg",
    "workers": "Several hosts, simulated: worker processes on one task table",
}


def _section(name: str, full: bool, postgres: str | None) -> Callable[[], str]:
    # Imported on demand: --only cli never loads what ops needs, and a peer's absence stays local.
    if name == "ops":
        from benchmarks import ops

        return lambda: ops.run(rounds=ops.MIN_ROUNDS, tasks=ops.FULL_POPULATION if full else ops.POPULATION)
    if name == "query":
        from benchmarks import query

        return lambda: query.run(tasks=query.FULL_POPULATION if full else query.POPULATION)
    if name == "frames":
        from benchmarks import frames

        return lambda: frames.run(tasks=100_000 if full else frames.TASKS)
    if name == "peers":
        from benchmarks import peers

        return lambda: peers.run(rounds=7 if full else peers.ROUNDS)
    if name == "ops-postgres":
        if not postgres:
            return lambda: f"(skipped: give --postgres URL or set {URL_VARIABLE})"
        from benchmarks import ops_postgres

        return lambda: ops_postgres.run(postgres, rounds=9 if full else 7)
    if name == "workers":
        from benchmarks import workers

        return lambda: workers.run(postgres, tasks=10_000, rounds=3 if full else 1)
    if name == "feed":
        from benchmarks import feed

        return lambda: feed.run(postgres, rounds=9 if full else 7)
    if name == "server":
        from benchmarks import server

        return lambda: server.run(rounds=5 if full else 3)
    if name == "scale":
        from benchmarks import scale

        return lambda: scale.run(full=full)
    from benchmarks import cli

    return lambda: cli.run(runs=11 if full else 9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--full", action="store_true", help="ops and scale on 1,000,000 tasks, more rounds elsewhere")
    parser.add_argument("--only", choices=SECTIONS, metavar="NAME", help=f"run one section: {', '.join(SECTIONS)}")
    parser.add_argument("--postgres", metavar="URL", default=os.environ.get(URL_VARIABLE),
                        help=f"a PostgreSQL URL whose user may CREATE DATABASE (default: ${URL_VARIABLE})")
    args = parser.parse_args(argv)
    names = [args.only] if args.only else list(SECTIONS)
    print(f"# batchstore benchmarks{' (--full)' if args.full else ''}\n")
    print(f"{environment_note()}\n")
    began = time.perf_counter()
    for name in names:
        start = time.perf_counter()
        report = _section(name, args.full, args.postgres)()
        print(f"## {TITLES[name]}\n\n{report}\n\n_{name}: {time.perf_counter() - start:.0f} s_\n", flush=True)
    print(f"_total: {time.perf_counter() - began:.0f} s_")
    return 0


if __name__ == "__main__":
    sys.exit(main())
