"""batchstore on PostgreSQL against raw psycopg 3, one operation at a time, on the same data in the same run.

The PostgreSQL counterpart of ``benchmarks/ops.py``: ratio = batchstore ops/s / raw psycopg ops/s (target
>= 0.7), medians over interleaved rounds (batchstore, raw, raw, batchstore, ...), the ratio the median of
each round pair's ratio.

Each run creates two fresh databases on the server named by the URL (``pg_bench_ops_store_<pid>`` and
``pg_bench_ops_raw_<pid>``; the URL's user must be allowed to CREATE DATABASE) and drops them afterwards.
BatchStore creates the schema in both, and both hold the same 101,000 tasks (as in ops.py: 100,000 ordinary
ones, 100 of them Failed, and 1,000 internal ones) before the first round.

The raw side is what one would write by hand against batchstore's schema with psycopg 3: one connection
in autocommit (as batchstore's pooled connections are), ``SET TIME ZONE 'UTC'``, explicit transactions
(``conn.transaction()``) around writes, statements with ``%s`` placeholders (psycopg prepares them on
the server after five runs, on both sides alike), ParameterObjects packed with msgpack. It writes what
batchstore writes, in the same statements:

- create: in one transaction, the blob row, the task row (``RETURNING id`` each) and its change-feed row
  (operation "create", changes: every non-null value the task starts with, from null; an INSERT into
  ``batchtaskchange`` with the transaction id, then ``pg_notify``), traced (part of the task's history)
  unless the task is internal
- create_many (1,000): the same in one transaction, each statement sent once for all rows
  (``executemany``, ``returning=True`` for the ids)
- get: one SELECT joining the blob, msgpack decode, build a dict; get select=Name,State: one SELECT of
  the two columns and the id, build a dict
- list one state: the indexed SELECT of the 100 Failed tasks with their blobs, decode, build dicts
- update: in one transaction, read the whole task with its blob ``FOR UPDATE OF t`` (a missing task
  raises), compare State and Description with the new ones, UPDATE them (and ``state_changed`` when the
  State changes), insert the change-feed row (traced unless the task is internal), build the
  result dict from what was read and written
- patch (test State, replace State): the same read ``FOR UPDATE OF t``, compare the State with the tested
  one, UPDATE State and ``state_changed``, and the feed row (traced unless the task is internal)

Run: ``python -m benchmarks.ops_postgres --postgres URL [--rounds N] [--only NAME]`` (or set
BATCHSTORE_BENCH_POSTGRES_URL). Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python benchmarks/ops_postgres.py
    sys.path.append(str(Path(__file__).resolve().parent.parent))

import msgpack
import psycopg

from batchstore import BatchStore
from benchmarks._common import fmt_rate, fmt_ratio, markdown_table, sample_task
from benchmarks.ops import (
    _COLUMNS,
    _STATE,
    _STATE_NAME,
    BATCH,
    INTERNAL,
    LISTED,
    POPULATION,
    ROUND_SECONDS,
    TARGET,
    Op,
    _changes,
    _internal,
    _raw_task,
    measure,
    populate,
    profile_summary,
)

URL_VARIABLE = "BATCHSTORE_BENCH_POSTGRES_URL"

_UTC = dt.UTC
_SELECT_FULL = (
    f"SELECT {', '.join('t.' + c for c in _COLUMNS)}, b.data "
    "FROM batchtask t LEFT JOIN binaryobject b ON b.id = t.parameter_blob"
)
RAW_GET = f"{_SELECT_FULL} WHERE t.id = %s"
RAW_LOCK = f"{_SELECT_FULL} WHERE t.id = %s FOR UPDATE OF t"
RAW_GET_NAME_STATE = "SELECT id, name, state FROM batchtask WHERE id = %s"
RAW_LIST = f"{_SELECT_FULL} WHERE t.state = %s ORDER BY t.id"
RAW_INSERT_BLOB = "INSERT INTO binaryobject (mime_type, data) VALUES (%s, %s) RETURNING id"
RAW_INSERT_TASK = (
    "INSERT INTO batchtask (name, associate_id, details_table, details_record, is_system_task, is_internal_task, "
    "created, start_count, database_serial_number, context, state, description, request, progress_percent, "
    "cancellation_behaviour, parameter_blob, stop_requested, state_changed) "
    "VALUES (%s, %s, 205, %s, false, %s, %s, 0, %s, %s, %s, %s, %s, 0, 0, %s, false, %s) RETURNING id"
)
RAW_INSERT_CHANGE = (
    "WITH c AS (INSERT INTO batchtaskchange (task_id, at, operation, worker, changes, traced, xid) "
    "VALUES (%s, %s, %s, NULL, %s, %s, pg_current_xact_id()::text::bigint) RETURNING 1) "
    "SELECT pg_notify('batchstore_changes', '')"
)
RAW_UPDATE = "UPDATE batchtask SET state = %s, description = %s, state_changed = %s WHERE id = %s"
RAW_UPDATE_DESCRIPTION = "UPDATE batchtask SET description = %s WHERE id = %s"
RAW_SET_STATE = "UPDATE batchtask SET state = %s, state_changed = %s WHERE id = %s"
_STATE_AT = _COLUMNS.index("state")
_DESCRIPTION_AT = _COLUMNS.index("description")


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, timestamp=3, strict_map_key=False, raw=False)


def _now() -> str:
    return dt.datetime.now(_UTC).isoformat(timespec="microseconds")


def _creation_changes(task: dict[str, Any], blob_id: int, created: str) -> str:
    values = (
        ("Name", task["Name"]), ("AssociateId", task["AssociateId"]), ("DetailsTable", 205),
        ("DetailsRecord", blob_id), ("IsSystemTask", False),
        ("IsInternalTask", bool(task.get("IsInternalTask", False))), ("Created", created), ("StartCount", 0),
        ("DatabaseSerialNumber", task["DatabaseSerialNumber"]), ("Context", task["Context"]),
        ("State", task["State"]), ("Description", task["Description"]), ("Request", task["Request"]),
        ("ProgressPercent", 0), ("CancellationBehaviour", "CanCancel"),
    )  # fmt: skip
    return _changes({name: [None, value] for name, value in values if value is not None})


class RawSide:
    """The raw side: one autocommit psycopg connection and the hand-written statements above."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def insert(self, tasks: list[dict[str, Any]]) -> list[int]:
        """Insert tasks (blobs, rows, feed rows traced unless internal) inside the caller's transaction."""
        created = _now()
        with self.conn.cursor() as cur:
            blobs = [("application/msgpack", msgpack.packb(t["ParameterObject"], use_bin_type=True)) for t in tasks]
            blob_ids = _insert_returning(cur, RAW_INSERT_BLOB, blobs)
            rows = [
                (t["Name"], t["AssociateId"], blob_id, bool(t.get("IsInternalTask", False)), created,
                 t["DatabaseSerialNumber"], t["Context"], _STATE[t["State"]], t["Description"], t["Request"],
                 blob_id, created)
                for t, blob_id in zip(tasks, blob_ids)
            ]  # fmt: skip
            ids = _insert_returning(cur, RAW_INSERT_TASK, rows)
            changes = [
                (task_id, created, "create", _creation_changes(t, blob_id, created),
                 not t.get("IsInternalTask", False))
                for task_id, t, blob_id in zip(ids, tasks, blob_ids)
            ]  # fmt: skip
            if len(changes) == 1:
                cur.execute(RAW_INSERT_CHANGE, changes[0])
            else:
                cur.executemany(RAW_INSERT_CHANGE, changes)
        return ids


def _insert_returning(cur: psycopg.Cursor[Any], sql: str, rows: list[tuple[Any, ...]]) -> list[int]:
    if len(rows) == 1:
        return [cur.execute(sql, rows[0]).fetchone()[0]]  # type: ignore[index]
    cur.executemany(sql, rows, returning=True)
    ids = []
    while True:
        ids.append(cur.fetchone()[0])  # type: ignore[index]
        if not cur.nextset():
            return ids


def _raw_full(row: tuple[Any, ...]) -> dict[str, Any]:
    return _raw_task(row) if row[-1] is None else {**dict(zip(_COLUMNS, row)), "parameter_object": _unpack(row[-1])}


def open_raw(url: str) -> psycopg.Connection[Any]:
    """The raw side's connection: what batchstore sets up on each pooled connection, by hand."""
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


# --- fresh databases -----------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    base, sep, query = url.partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}{sep}{query}"


@contextmanager
def fresh_databases(url: str, *names: str) -> Iterator[list[str]]:
    """Databases ``names`` on the server at ``url`` (leftovers dropped first): their URLs; dropped afterwards.

    Only the first is created here; :func:`copy_database` makes the others from it once it is populated.
    """
    admin = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{names[0]}"')
    try:
        yield [_with_database(admin, name) for name in names]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def copy_database(url: str, source: str, target: str) -> None:
    """Create ``target`` as a copy of ``source`` (no one may be connected to it): same rows, same ids, same schema."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')


# --- the operations --------------------------------------------------------------------------------


def build_ops(store: BatchStore, conn: psycopg.Connection[Any]) -> list[Op]:
    raw = RawSide(conn)
    ids = [(i * 7919) % POPULATION + 1 for i in range(4096)]  # spread over the whole table

    def creates(batch: list[dict[str, Any]]) -> tuple[Callable[[int], None], Callable[[int], None]]:
        one = batch[0] if len(batch) == 1 else None

        def store_create(n: int) -> None:
            if one is not None:
                for _ in range(n):
                    store.create(one)
            else:
                for _ in range(n):
                    store.create_many(batch)

        def raw_create(n: int) -> None:
            for _ in range(n):
                with conn.transaction():
                    raw.insert(batch)

        return store_create, raw_create

    def store_get(n: int) -> None:
        for i in range(n):
            store.get(ids[i & 4095])

    def raw_get(n: int) -> None:
        for i in range(n):
            _raw_full(conn.execute(RAW_GET, (ids[i & 4095],)).fetchone())  # type: ignore[arg-type]

    def store_get_select(n: int) -> None:
        for i in range(n):
            store.get(ids[i & 4095], select="Name,State")

    def raw_get_select(n: int) -> None:
        for i in range(n):
            task_id, name, state = conn.execute(RAW_GET_NAME_STATE, (ids[i & 4095],)).fetchone()  # type: ignore[misc]
            {"id": task_id, "name": name, "state": state}  # noqa: B018  # building it is the point

    def store_list(n: int) -> None:
        for _ in range(n):
            tasks = list(store.list("Failed"))
        assert len(tasks) == LISTED, len(tasks)

    def raw_list(n: int) -> None:
        for _ in range(n):
            tasks = [_raw_full(row) for row in conn.execute(RAW_LIST, (_STATE["Failed"],)).fetchall()]
        assert len(tasks) == LISTED, len(tasks)

    step = POPULATION // LISTED
    targets = [i for i in ids if (i - 1) % step != step // 2][:1000]
    internal_targets = [r[0] for r in conn.execute("SELECT id FROM batchtask WHERE is_internal_task ORDER BY id")]
    assert internal_targets == list(range(POPULATION + 1, POPULATION + INTERNAL + 1)), internal_targets[:3]

    def updates(targets: list[int], traced: bool) -> tuple[Callable[[int], None], Callable[[int], None]]:
        count = len(targets)
        done = {"store": 0, "raw": 0}

        def new_values(k: int) -> tuple[int, str, str]:
            return targets[k % count], "Started" if (k // count) & 1 else "Succeeded", f"step {k}"

        def store_update(n: int) -> None:
            first = done["store"]
            for k in range(first, first + n):
                task_id, state, description = new_values(k)
                store.update({"Id": task_id, "State": state, "Description": description})
            done["store"] = first + n

        def raw_update(n: int) -> None:
            first = done["raw"]
            for k in range(first, first + n):
                task_id, state_name, description = new_values(k)
                state = _STATE[state_name]
                with conn.transaction(), conn.cursor() as cur:
                    row = cur.execute(RAW_LOCK, (task_id,)).fetchone()
                    if row is None:
                        raise LookupError(task_id)
                    task = _raw_full(row)
                    changes: dict[str, list[Any]] = {}
                    if task["state"] != state:
                        changes["State"] = [_STATE_NAME[task["state"]], state_name]
                    if task["description"] != description:
                        changes["Description"] = [task["description"], description]
                    if changes:
                        at = _now()
                        if "State" in changes:
                            cur.execute(RAW_UPDATE, (state, description, at, task_id))
                        else:
                            cur.execute(RAW_UPDATE_DESCRIPTION, (description, task_id))
                        cur.execute(RAW_INSERT_CHANGE, (task_id, at, "update", _changes(changes), traced))
                    task.update(state=state, description=description)
            done["raw"] = first + n

        return store_update, raw_update

    def patches(
        targets: list[int], traced: bool
    ) -> tuple[Callable[[int], None], Callable[[int], None], Callable[[], None]]:
        store_states: dict[int, str] = {}
        raw_states: dict[int, int] = {}

        def store_patch(n: int) -> None:
            for i in range(n):
                task_id = targets[i % 1000]
                old = store_states[task_id]
                new = "Aquired" if old != "Aquired" else "Started"
                store.patch(task_id, [
                    {"op": "test", "path": "/State", "value": old},
                    {"op": "replace", "path": "/State", "value": new},
                ])  # fmt: skip
                store_states[task_id] = new

        def raw_patch(n: int) -> None:
            for i in range(n):
                task_id = targets[i % 1000]
                old = raw_states[task_id]
                new = 2 if old != 2 else 3
                with conn.transaction(), conn.cursor() as cur:
                    row = cur.execute(RAW_LOCK, (task_id,)).fetchone()
                    if row is None or row[_STATE_AT] != old:
                        raise ValueError(f"test of /State failed on task {task_id}")
                    task = _raw_full(row)
                    at = _now()
                    cur.execute(RAW_SET_STATE, (new, at, task_id))
                    changes = _changes({"State": [_STATE_NAME[old], _STATE_NAME[new]]})
                    cur.execute(RAW_INSERT_CHANGE, (task_id, at, "patch", changes, traced))
                    task["state"] = new
                raw_states[task_id] = new

        def prepare_patch() -> None:
            for task_id in targets:
                store_states[task_id] = store.get(task_id, select="State").state.name  # type: ignore[union-attr]
                raw_states[task_id] = conn.execute("SELECT state FROM batchtask WHERE id = %s",
                                                   (task_id,)).fetchone()[0]  # type: ignore[index]

        return store_patch, raw_patch, prepare_patch

    task = sample_task(0)
    batch = [sample_task(i) for i in range(BATCH)]
    return [
        Op("create", *creates([task])),
        Op("create (internal task, no trace)", *creates([_internal(task)])),
        Op(f"create_many ({BATCH:,} tasks)", *creates(batch)),
        Op("get by id", store_get, raw_get),
        Op('get select="Name,State"', store_get_select, raw_get_select),
        Op(f"list one state ({LISTED} of {POPULATION + INTERNAL:,})", store_list, raw_list),
        Op("update (State, Description)", *updates(targets, traced=True)),
        Op("update (internal task)", *updates(internal_targets, traced=False)),
        Op("patch (test + replace State)", *patches(targets, traced=True)),
        Op("patch (internal task)", *patches(internal_targets, traced=False)),
    ]


def server_version(url: str) -> str:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]  # type: ignore[index]


def run(url: str, *, rounds: int = 7, only: str | None = None, profile: bool = True) -> str:
    """Populate two fresh databases, measure every operation, and return the Markdown report."""
    pid = os.getpid()
    names = f"pg_bench_ops_store_{pid}", f"pg_bench_ops_raw_{pid}"
    with fresh_databases(url, *names) as (store_url, raw_url):
        start = time.perf_counter()
        populate(store_url)  # type: ignore[arg-type]  # populate opens BatchStore(str(path)): a URL works too
        # The raw side's database is a copy: BatchStore made its schema, and both hold the same rows.
        copy_database(url, *names)
        setup = time.perf_counter() - start
        with BatchStore(store_url) as store, open_raw(raw_url) as conn:
            ops = [op for op in build_ops(store, conn) if only is None or only.lower() in op.name.lower()]
            results = [measure(op, rounds) for op in ops]
            rows = [(r.name, fmt_rate(r.store_rate), fmt_rate(r.raw_rate), fmt_ratio(r.ratio)) for r in results]
            parts = [
                f"batchstore on PostgreSQL {server_version(url)} vs raw psycopg {psycopg.__version__} "
                f"(median of {rounds} interleaved rounds; two databases of {POPULATION + INTERNAL:,} tasks, "
                f"one populated and copied in {setup:.1f} s; target ratio >= {TARGET})",
                "",
                markdown_table(["operation", "batchstore ops/s", "raw psycopg ops/s", "ratio"], rows),
            ]
            slow = [(op, r) for op, r in zip(ops, results) if r.ratio < TARGET]
            if slow and profile:
                parts += ["", f"Where the time goes in operations below {TARGET} (cProfile, batchstore side):"]
                for op, r in slow:
                    n = max(1, round(r.store_rate * ROUND_SECONDS * 2))
                    parts += ["", profile_summary(op, n)]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--postgres", default=os.environ.get(URL_VARIABLE),
                        help=f"a PostgreSQL URL whose user may CREATE DATABASE (default: ${URL_VARIABLE})")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per operation (at least 5)")
    parser.add_argument("--only", help="run the operations whose name contains this text")
    args = parser.parse_args(argv)
    if not args.postgres:
        parser.error(f"give --postgres URL or set {URL_VARIABLE}")
    print(run(args.postgres, rounds=max(5, args.rounds), only=args.only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
