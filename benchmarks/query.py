"""The query model against the same SQL written by hand, on the same SQLite data in the same run.

Issue 18's goal: a filtered, sorted, paged list (State in two states, a Name prefix, newest first, 50
tasks) and a count of the same filter reach >= 0.8 of hand-written ``sqlite3`` code running the SQL a
person would write for it, with the same indexes. The hand side decodes the ParameterObject and builds
a dict per row (as ``ops.py``'s raw side does); batchstore builds BatchTaskInfo objects.

The data is ``ops.py``'s population (100,000 tasks, 1,000,000 with ``--full``), one file copied for the
raw side (with the planner statistics batchstore gathers on its first open of a large table), and the raw
connection gets batchstore's connection settings. Each query's plan, as SQLite
explains it for batchstore's statement, is printed under the table: it shows which index serves it.

With ``--postgres URL`` (a user that may CREATE DATABASE) the same queries run on PostgreSQL as well, against
hand-written psycopg code on a copy of the same database (``ops_postgres.py``'s fresh databases, ANALYZEd
on both sides), with ``LIKE 'ERPSync-1%'`` where SQLite's hand-written SQL has ``GLOB``.

    python -m benchmarks.query [--full] [--rounds N] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from batchstore import BatchStore, Q
from benchmarks._common import fmt_rate, fmt_ratio, markdown_table, temp_dir
from benchmarks.ops import (
    _COLUMNS,
    FULL_POPULATION,
    MIN_ROUNDS,
    POPULATION,
    Op,
    _raw_task,
    copy_database,
    measure,
    open_raw,
    populate,
)

TARGET = 0.8
PAGE = 50
_SELECT = (
    f"SELECT {', '.join('t.' + c for c in _COLUMNS)}, b.data "
    "FROM batchtask t LEFT JOIN binaryobject b ON b.id = t.parameter_blob"
)
#: What a person would write for "New or Started, Name starting with ERPSync-1, newest first, 50".
RAW_PAGE = (
    f"{_SELECT} WHERE t.state IN (1, 3) AND t.name GLOB 'ERPSync-1*' ORDER BY t.created DESC, t.id DESC LIMIT {PAGE}"
)
RAW_COUNT = "SELECT count(*) FROM batchtask WHERE state IN (1, 3) AND name GLOB 'ERPSync-1*'"
RAW_STATE_PAGE = f"{_SELECT} WHERE t.state = 1 ORDER BY t.id LIMIT 10"
#: The same on PostgreSQL: a prefix is LIKE there (the Name index is built for it: text_pattern_ops or C).
PG_PAGE = (
    f"{_SELECT} WHERE t.state IN (1, 3) AND t.name LIKE 'ERPSync-1%' ORDER BY t.created DESC, t.id DESC LIMIT {PAGE}"
)
PG_COUNT = "SELECT count(*) FROM batchtask WHERE state IN (1, 3) AND name LIKE 'ERPSync-1%'"
PG_STATE_PAGE = RAW_STATE_PAGE
WHERE = Q(State__in=["New", "Started"]) & Q(Name__startswith="ERPSync-1")


def build_ops(store: BatchStore, conn: Any, engine: str = "sqlite") -> list[Op]:
    """The goal queries; ``conn`` is a sqlite3 or psycopg connection, as ``engine`` says."""
    page_sql, count_sql, state_sql = (
        (RAW_PAGE, RAW_COUNT, RAW_STATE_PAGE) if engine == "sqlite" else (PG_PAGE, PG_COUNT, PG_STATE_PAGE)
    )
    if engine == "sqlite":
        decode = _raw_task
    else:
        from benchmarks.ops_postgres import _raw_full as decode  # psycopg: only when PostgreSQL is measured

    def store_page(n: int) -> None:
        for _ in range(n):
            tasks = list(store.list(where=WHERE, order_by="-Created", limit=PAGE))
        assert len(tasks) == PAGE

    def raw_page(n: int) -> None:
        for _ in range(n):
            tasks = [decode(row) for row in conn.execute(page_sql).fetchall()]
        assert len(tasks) == PAGE

    def store_count(n: int) -> None:
        for _ in range(n):
            store.count(where=WHERE)

    def raw_count(n: int) -> None:
        for _ in range(n):
            conn.execute(count_sql).fetchone()

    def store_state_page(n: int) -> None:
        for _ in range(n):
            list(store.list("New", limit=10))

    def raw_state_page(n: int) -> None:
        for _ in range(n):
            [decode(row) for row in conn.execute(state_sql).fetchall()]

    return [
        Op(f"list: 2 states, Name prefix, newest first, {PAGE}", store_page, raw_page, goal=True),
        Op("count: 2 states, Name prefix", store_count, raw_count, goal=True),
        Op("list: one state, first 10 by Id (SailPoint's first page)", store_state_page, raw_state_page),
    ]


def plans(store: BatchStore, conn: sqlite3.Connection) -> list[str]:
    """SQLite's plan for batchstore's own statements (as the store compiles them)."""
    from batchstore._query import compile_where, parse_order
    from batchstore._rows import read_plan

    lines = []
    condition, params = compile_where(WHERE, "sqlite")
    ordering = parse_order("-Created")
    sql = read_plan(None).page(condition, ordering.sql("sqlite"), ordering.columns())
    for title, statement, values in (
        ("list", sql, [*params, PAGE, 0]),
        ("count", f"SELECT count(*) FROM batchtask t WHERE {condition}", params),
    ):
        detail = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", values)]
        lines.append(f"- {title}: {'; '.join(detail)}")
    return lines


def run_postgres(url: str, *, rounds: int = MIN_ROUNDS, tasks: int = POPULATION) -> str:
    """The same queries on PostgreSQL: a populated database and its copy, both ANALYZEd, in one run."""
    from benchmarks import ops_postgres

    names = f"pg_bench_query_store_{os.getpid()}", f"pg_bench_query_raw_{os.getpid()}"
    with ops_postgres.fresh_databases(url, *names) as (store_url, raw_url):
        populate(store_url, tasks)  # type: ignore[arg-type]  # BatchStore(str(path)) takes a URL too
        ops_postgres.copy_database(url, *names)
        with BatchStore(store_url) as store, ops_postgres.open_raw(raw_url) as conn:
            conn.execute("ANALYZE")  # autovacuum may not have come by yet: both sides get fresh statistics
            with ops_postgres.open_raw(store_url) as analyzer:
                analyzer.execute("ANALYZE")
            results = [measure(op, rounds) for op in build_ops(store, conn, "postgres")]
            version = ops_postgres.server_version(url)
    rows = [
        (r.name, "goal" if r.goal else "", fmt_rate(r.store_rate), fmt_rate(r.raw_rate), fmt_ratio(r.ratio))
        for r in results
    ]
    return "\n".join(
        [
            f"The same on PostgreSQL {version} vs raw psycopg (median of {rounds} interleaved rounds; {tasks:,} tasks)",
            "",
            markdown_table(("query", "", "batchstore/s", "raw psycopg/s", "ratio"), rows),
        ]
    )


def run(*, rounds: int = MIN_ROUNDS, tasks: int = POPULATION) -> str:
    with temp_dir("query") as tmp:
        store_path, raw_path = tmp / "batchstore.db", tmp / "raw.db"
        start = time.perf_counter()
        populate(store_path, tasks)
        BatchStore(str(store_path)).close()  # an open gathers the planner's statistics, as any user's would
        populated = time.perf_counter() - start
        copy_database(store_path, raw_path)  # the raw side gets the same statistics: a person would ANALYZE
        with BatchStore(str(store_path)) as store:
            conn = open_raw(raw_path, store)
            try:
                results = [measure(op, rounds) for op in build_ops(store, conn)]
                explained = plans(store, conn)
            finally:
                conn.close()
    rows = [
        (r.name, "goal" if r.goal else "", fmt_rate(r.store_rate), fmt_rate(r.raw_rate), fmt_ratio(r.ratio))
        for r in results
    ]
    return "\n".join(
        [
            f"The query model vs the same SQL by hand (median of {rounds} interleaved rounds; {tasks:,} tasks, "
            f"populated in {populated:.1f} s; target >= {TARGET} on the goal rows)",
            "",
            markdown_table(("query", "", "batchstore/s", "raw sqlite3/s", "ratio"), rows),
            "",
            "SQLite's plan for batchstore's statements:",
            *explained,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    parser.add_argument("--tasks", type=int, default=POPULATION)
    parser.add_argument("--full", action="store_true", help=f"the same as --tasks {FULL_POPULATION}")
    parser.add_argument("--postgres", help="also run the queries on PostgreSQL (a URL whose user may CREATE DATABASE)")
    parser.add_argument("--only", choices=("sqlite", "postgres"), help="run one engine only")
    args = parser.parse_args(argv)
    rounds, tasks = max(MIN_ROUNDS, args.rounds), FULL_POPULATION if args.full else args.tasks
    if args.only != "postgres":
        print(run(rounds=rounds, tasks=tasks))
    if args.postgres and args.only != "sqlite":
        print(run_postgres(args.postgres, rounds=rounds, tasks=tasks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
