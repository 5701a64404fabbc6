"""The query model against the same SQL written by hand, on the same SQLite data in the same run.

Issue 18's goal: a filtered, sorted, paged list (State in two states, a Name prefix, newest first, 50
tasks) and a count of the same filter reach >= 0.8 of hand-written ``sqlite3`` code running the SQL a
person would write for it, with the same indexes. The hand side decodes the ParameterObject and builds
a dict per row (as ``ops.py``'s raw side does); batchstore builds BatchTaskInfo objects.

The data is ``ops.py``'s population (100,000 tasks, 1,000,000 with ``--full``), one file copied for the
raw side (with the planner statistics batchstore gathers on its first open of a large table), and the raw
connection gets batchstore's connection settings. Each query's plan, as SQLite
explains it for batchstore's statement, is printed under the table: it shows which index serves it.

    python -m benchmarks.query [--full] [--rounds N]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

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
WHERE = Q(State__in=["New", "Started"]) & Q(Name__startswith="ERPSync-1")


def build_ops(store: BatchStore, conn: sqlite3.Connection) -> list[Op]:
    def store_page(n: int) -> None:
        for _ in range(n):
            tasks = list(store.list(where=WHERE, order_by="-Created", limit=PAGE))
        assert len(tasks) == PAGE

    def raw_page(n: int) -> None:
        for _ in range(n):
            tasks = [_raw_task(row) for row in conn.execute(RAW_PAGE).fetchall()]
        assert len(tasks) == PAGE

    def store_count(n: int) -> None:
        for _ in range(n):
            store.count(where=WHERE)

    def raw_count(n: int) -> None:
        for _ in range(n):
            conn.execute(RAW_COUNT).fetchone()

    def store_state_page(n: int) -> None:
        for _ in range(n):
            list(store.list("New", limit=10))

    def raw_state_page(n: int) -> None:
        for _ in range(n):
            [_raw_task(row) for row in conn.execute(RAW_STATE_PAGE).fetchall()]

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
    rows = [(r.name, "goal" if r.goal else "", fmt_rate(r.store_rate), fmt_rate(r.raw_rate), fmt_ratio(r.ratio))
            for r in results]
    return "\n".join([
        f"The query model vs the same SQL by hand (median of {rounds} interleaved rounds; {tasks:,} tasks, "
        f"populated in {populated:.1f} s; target >= {TARGET} on the goal rows)",
        "",
        markdown_table(("query", "", "batchstore/s", "raw sqlite3/s", "ratio"), rows),
        "",
        "SQLite's plan for batchstore's statements:",
        *explained,
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    parser.add_argument("--tasks", type=int, default=POPULATION)
    parser.add_argument("--full", action="store_true", help=f"the same as --tasks {FULL_POPULATION}")
    args = parser.parse_args(argv)
    print(run(rounds=max(MIN_ROUNDS, args.rounds), tasks=FULL_POPULATION if args.full else args.tasks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
