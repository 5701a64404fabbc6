"""batchstore against raw ``sqlite3``, one operation at a time, on the same data in the same run.

For each operation, batchstore's throughput is compared with hand-written ``sqlite3`` code doing the
same work: ratio = batchstore ops/s / raw ops/s (1.0: batchstore costs nothing over raw SQL; the target
is >= 0.8, issue 11's goal). Rounds alternate (batchstore, raw, raw, batchstore, ...), 5 of them by
default; the ratio is the median over rounds of each round pair's ratio, the ops/s columns the medians
of each side's rounds. The rows marked "goal" are the ones issue 11 sets the goal on: create (internal
task), create_many (1,000 internal tasks), get by id, list one state, update (internal task) and patch
(internal task).

After the timed rounds, each side runs the same operation again to count the WAL frames it writes per
operation (``_common.wal_frames_per_op``): one frame per page a commit writes, so this is the pages each
operation touches (0 for reads).

Both sides use a file in a temp dir with the same schema and data: BatchStore creates and fills one
file, which is then closed, checkpointed (its WAL empty) and copied for the raw side. The raw side opens
the copy with ``sqlite3`` (``isolation_level=None``, explicit ``BEGIN IMMEDIATE``/``COMMIT`` around
writes) and packs ParameterObjects with msgpack as batchstore does. Fairness: the ratio measures code,
not configuration. The raw connection gets the same connection settings as batchstore's own SQLite
connection, read at run time from it (``store._engine._conn``): ``cache_size``, ``mmap_size``,
``synchronous``, ``journal_mode`` and ``temp_store`` (``open_raw``); the page size is the file's, so
it is shared by the copy. Both files hold the same tasks before the first round: ``--tasks`` ordinary
ones (100,000 by default, 1,000,000 with ``--full``; 100 of them Failed, the rest New, Started or
Succeeded) and 1,000 internal ones after them (IsInternalTask true; New, Started or Succeeded), the
targets of the internal update and patch.

batchstore writes a change-feed row (table ``batchtaskchange``) for every create, update and patch of
every task, in the same transaction, and the raw side writes the same row: one INSERT of task_id, at
(now, UTC ISO 8601 with microseconds), operation, worker (NULL), changes (compact JSON text
``{"WireName":[old,new],...}``, ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))``, with
State and CancellationBehaviour as names) and traced: true for a task whose IsInternalTask is false,
whose feed rows are its trace (schema version 3 on), which puts the row in the trace's partial index
too. A write that changes State also sets the ``state_changed`` column, on both sides. What the raw
side does:

- create: in one transaction, insert the blob row, the task row, and its feed row (operation
  "create", changes: every non-null column value the new task starts with, from null)
- create_many: the same 1,000 times in one transaction (1,000 blobs, tasks and feed rows)
- get: one SELECT joining the blob, msgpack decode, build a dict
- get select=Name,State: one SELECT of the two columns (and the id), build a dict
- list one state: indexed SELECT of the 100 Failed tasks with their blobs, decode, build dicts
- update: in one BEGIN IMMEDIATE transaction, read the task's State and Description (a missing task
  raises), compare them with the new ones, UPDATE State and Description and insert a feed row
  (operation "update", changes: the old and new values of those of the two that differ; both do,
  but for a task's first update), read the task back with its blob
- patch (test State, replace State): in one BEGIN IMMEDIATE transaction, read the State, compare,
  UPDATE, insert a feed row (operation "patch", changes ``{"State":[old,new]}``), read the task
  back with its blob

The rows marked "internal task" do the same with IsInternalTask true, where batchstore's feed rows
are not traced, on both sides.

Update and patch each work on their own 1,000 tasks (ordinary ones for the traced rows, the internal
ones for the others); every update changes a task's State and Description, every patch its State.

For each operation below the target, a cProfile summary of batchstore's side follows the table:
the batchstore functions that take the most time of their own, per operation.

The raw side's SQL is all in one place, near the top of this module (``RAW_*``), to follow
batchstore's schema as it changes.

Run: ``python -m benchmarks.ops [--rounds N] [--tasks N | --full] [--only NAME]``. Timings are reported,
never asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python benchmarks/ops.py
    sys.path.append(str(Path(__file__).resolve().parent.parent))

import msgpack

import batchstore
from batchstore import BatchStore
from benchmarks._common import (
    fmt_rate,
    fmt_ratio,
    interleaved,
    markdown_table,
    median,
    paired_ratio,
    sample_task,
    temp_dir,
    truncate_wal,
    wal_frames_per_op,
)

TARGET = 0.8  # issue 11's goal, on every row marked "goal"
POPULATION = 100_000  # ordinary tasks by default (--tasks)
FULL_POPULATION = 1_000_000  # with --full
MIN_ROUNDS = 5
LISTED = 100  # Failed tasks among the population
INTERNAL = 1_000  # internal tasks (IsInternalTask true) after the population: internal update and patch targets
ROUND_SECONDS = 0.2  # each side's round lasts about this long
BATCH = 1_000  # tasks per create_many
FRAME_OPS = 500  # at most this many operations count the WAL frames of a side (fewer for slow operations)
#: The connection settings the raw side copies from batchstore's own connection (see open_raw).
SHARED_PRAGMAS = ("cache_size", "mmap_size", "synchronous", "journal_mode", "temp_store")

_UTC = dt.UTC
_STATE = {"Unknown": 0, "New": 1, "Aquired": 2, "Started": 3, "Succeeded": 4, "Failed": 5}
_STATE_NAME = {number: name for name, number in _STATE.items()}

# --- the raw side: the SQL one would write by hand against batchstore's schema --------------------

_COLUMNS = (
    "id", "name", "associate_id", "details_table", "details_record", "is_system_task", "is_internal_task",
    "last_started", "created", "start_count", "database_serial_number", "context", "result", "state",
    "description", "response", "request", "progress_description", "progress_percent", "file_name",
    "cancellation_behaviour",
)  # fmt: skip
_SELECT_FULL = (
    f"SELECT {', '.join('t.' + c for c in _COLUMNS)}, b.data "
    "FROM batchtask t LEFT JOIN binaryobject b ON b.id = t.parameter_blob"
)
RAW_GET = f"{_SELECT_FULL} WHERE t.id = ?"
RAW_GET_NAME_STATE = "SELECT id, name, state FROM batchtask WHERE id = ?"
RAW_LIST = f"{_SELECT_FULL} WHERE t.state = ? ORDER BY t.id"
RAW_INSERT_BLOB = "INSERT INTO binaryobject (mime_type, data) VALUES (?, ?)"
_INSERT_COLUMNS = (
    "name", "associate_id", "details_table", "details_record", "is_system_task", "is_internal_task",
    "created", "start_count", "database_serial_number", "context", "state", "description", "request",
    "progress_percent", "cancellation_behaviour", "parameter_blob",
)  # fmt: skip
RAW_INSERT_CHANGE = (
    "INSERT INTO batchtaskchange (task_id, at, operation, worker, changes, traced, xid) "
    "VALUES (?, ?, ?, NULL, ?, ?, NULL)"
)
RAW_EXISTS = "SELECT 1 FROM batchtask WHERE id = ?"
RAW_STATE = "SELECT state FROM batchtask WHERE id = ?"
RAW_STATE_DESCRIPTION = "SELECT state, description FROM batchtask WHERE id = ?"
RAW_UPDATE = "UPDATE batchtask SET state = ?, description = ?, state_changed = ? WHERE id = ?"
RAW_SET_STATE = "UPDATE batchtask SET state = ?, state_changed = ? WHERE id = ?"
RAW_INTERNAL_IDS = "SELECT id FROM batchtask WHERE is_internal_task = 1 ORDER BY id"
RAW_TABLE_INFO = "PRAGMA table_info(batchtask)"


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, timestamp=3, strict_map_key=False, raw=False)


def _now() -> str:
    return dt.datetime.now(_UTC).isoformat(timespec="microseconds")


def _changes(changes: dict[str, list[Any]]) -> str:
    """A trace row's changes as batchstore writes them: compact JSON text."""
    return json.dumps(changes, ensure_ascii=False, separators=(",", ":"))


def _internal(task: dict[str, Any]) -> dict[str, Any]:
    return {**task, "IsInternalTask": True}


def _raw_task(row: tuple[Any, ...]) -> dict[str, Any]:
    task = dict(zip(_COLUMNS, row))
    data = row[-1]
    task["parameter_object"] = None if data is None else _unpack(data)
    return task


def raw_insert_sql(conn: sqlite3.Connection) -> tuple[str, int]:
    """The raw INSERT of a task, and how many times it repeats the created timestamp at its end.

    The columns are the ones a caller's task fills, plus any other NOT NULL column without a default
    that the schema has grown (a timestamp for date-times, 0 otherwise), so the raw side keeps
    inserting valid rows as batchstore's table evolves.
    """
    fixed = {"details_table": "205", "is_system_task": "0", "start_count": "0", "progress_percent": "0",
             "cancellation_behaviour": "0"}  # fmt: skip
    names, values = list(_INSERT_COLUMNS), [fixed.get(c, "?") for c in _INSERT_COLUMNS]
    stamps = 0
    for _cid, name, decl, notnull, default, pk in conn.execute(RAW_TABLE_INFO):
        if notnull and default is None and not pk and name not in names:
            names.append(name)
            if "DATE" in decl.upper() or "TIME" in decl.upper():
                values.append("?")
                stamps += 1
            else:
                values.append("0")
    sql = f"INSERT INTO batchtask ({', '.join(names)}) VALUES ({', '.join(values)})"
    return sql, stamps


class RawSide:
    """The raw side's connection and its hand-written insert."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.insert_sql, self.stamps = raw_insert_sql(conn)

    def insert(self, task: dict[str, Any]) -> int:
        """Insert the task's blob, its row and its feed row (traced unless the task is internal)."""
        conn = self.conn
        internal = bool(task.get("IsInternalTask", False))
        blob = msgpack.packb(task["ParameterObject"], use_bin_type=True)
        blob_id = conn.execute(RAW_INSERT_BLOB, ("application/msgpack", blob)).lastrowid
        created = _now()
        task_id: int = conn.execute(
            self.insert_sql,
            (
                task["Name"], task["AssociateId"], blob_id, internal, created, task["DatabaseSerialNumber"],
                task["Context"], _STATE[task["State"]], task["Description"], task["Request"], blob_id,
                *[created] * self.stamps,
            ),
        ).lastrowid  # type: ignore[assignment]  # fmt: skip
        # Every non-null value the new task starts with, from null, in the table's column order.
        values = (
            ("Name", task["Name"]), ("AssociateId", task["AssociateId"]), ("DetailsTable", 205),
            ("DetailsRecord", blob_id), ("IsSystemTask", False), ("IsInternalTask", internal),
            ("Created", created), ("StartCount", 0), ("DatabaseSerialNumber", task["DatabaseSerialNumber"]),
            ("Context", task["Context"]), ("State", task["State"]), ("Description", task["Description"]),
            ("Request", task["Request"]), ("ProgressPercent", 0), ("CancellationBehaviour", "CanCancel"),
        )  # fmt: skip
        changes = _changes({name: [None, value] for name, value in values if value is not None})
        conn.execute(RAW_INSERT_CHANGE, (task_id, created, "create", changes, not internal))
        return task_id


def store_pragmas(store: BatchStore) -> dict[str, Any]:
    """The SHARED_PRAGMAS of batchstore's own SQLite connection, as it runs now."""
    conn = getattr(getattr(store, "_engine", None), "_conn", None)
    if not isinstance(conn, sqlite3.Connection):
        raise RuntimeError("batchstore's SQLite connection (store._engine._conn) is not where ops.py looks for it")
    return {name: conn.execute(f"PRAGMA {name}").fetchone()[0] for name in SHARED_PRAGMAS}


def open_raw(path: Path, store: BatchStore) -> sqlite3.Connection:
    """The raw side's connection, with the connection settings of the store's own (read from it, not assumed)."""
    conn = sqlite3.connect(str(path), isolation_level=None, cached_statements=256)
    for name, value in store_pragmas(store).items():
        conn.execute(f"PRAGMA {name}={value}")
        (now,) = conn.execute(f"PRAGMA {name}").fetchone()
        if str(now).lower() != str(value).lower():
            raise RuntimeError(f"the raw connection's {name} stayed {now!r}, batchstore's is {value!r}")
    return conn


# --- the benchmark ------------------------------------------------------------------------------


@dataclass
class Op:
    name: str
    store: Callable[[int], None]  # does n operations with batchstore
    raw: Callable[[int], None]  # does n operations with sqlite3
    prepare: Callable[[], None] | None = None  # untimed set-up, run just before the operation's rounds
    goal: bool = False  # one of the rows issue 11 sets its goal on


@dataclass
class Result:
    name: str
    store_rate: float
    raw_rate: float
    ratio: float
    store_frames: float | None  # WAL frames per operation (None: not a SQLite file, not counted)
    raw_frames: float | None
    goal: bool


def populate(path: Path, population: int = POPULATION) -> None:
    """``population`` tasks, LISTED of them Failed (evenly spread), the rest New, Started or Succeeded;
    then INTERNAL internal tasks (ids population + 1 on), New, Started or Succeeded."""
    states = ("New", "Started", "Succeeded")
    step = population // LISTED
    with BatchStore(str(path)) as store:
        for start in range(0, population, 10_000):
            store.create_many(
                sample_task(i, "Failed" if i % step == step // 2 else states[i % 3])
                for i in range(start, min(start + 10_000, population))
            )
        store.create_many(_internal(sample_task(i, states[i % 3])) for i in range(population, population + INTERNAL))


def copy_database(source: Path, target: Path) -> None:
    """A copy of a closed SQLite file, its WAL checkpointed into it first, so the copy alone holds everything."""
    checker = sqlite3.connect(str(source), isolation_level=None)
    try:
        truncate_wal(checker, source)
    finally:
        checker.close()
    shutil.copy(source, target)


def build_ops(store: BatchStore, conn: sqlite3.Connection, population: int = POPULATION) -> list[Op]:
    raw = RawSide(conn)
    ids = [(i * 7919) % population + 1 for i in range(4096)]  # spread over the whole table

    def creates(task: dict[str, Any]) -> tuple[Callable[[int], None], Callable[[int], None]]:
        def store_create(n: int) -> None:
            for _ in range(n):
                store.create(task)

        def raw_create(n: int) -> None:
            for _ in range(n):
                conn.execute("BEGIN IMMEDIATE")
                raw.insert(task)
                conn.execute("COMMIT")

        return store_create, raw_create

    def creates_many(batch: list[dict[str, Any]]) -> tuple[Callable[[int], None], Callable[[int], None]]:
        def store_create_many(n: int) -> None:
            for _ in range(n):
                store.create_many(batch)

        def raw_create_many(n: int) -> None:
            for _ in range(n):
                conn.execute("BEGIN IMMEDIATE")
                [raw.insert(t) for t in batch]
                conn.execute("COMMIT")

        return store_create_many, raw_create_many

    def store_get(n: int) -> None:
        for i in range(n):
            store.get(ids[i & 4095])

    def raw_get(n: int) -> None:
        for i in range(n):
            _raw_task(conn.execute(RAW_GET, (ids[i & 4095],)).fetchone())

    def store_get_select(n: int) -> None:
        for i in range(n):
            store.get(ids[i & 4095], select="Name,State")

    def raw_get_select(n: int) -> None:
        for i in range(n):
            task_id, name, state = conn.execute(RAW_GET_NAME_STATE, (ids[i & 4095],)).fetchone()
            {"id": task_id, "name": name, "state": state}  # noqa: B018  # building it is the point

    def store_list(n: int) -> None:
        for _ in range(n):
            tasks = list(store.list("Failed"))
        assert len(tasks) == LISTED, len(tasks)

    def raw_list(n: int) -> None:
        for _ in range(n):
            tasks = [_raw_task(row) for row in conn.execute(RAW_LIST, (_STATE["Failed"],)).fetchall()]
        assert len(tasks) == LISTED, len(tasks)

    # update and patch work on 1,000 ordinary tasks (none of the Failed ones listed), or on the
    # 1,000 internal tasks populate() adds after the population.
    step = population // LISTED
    targets = [i for i in ids if (i - 1) % step != step // 2][:1000]
    internal_targets = [row[0] for row in conn.execute(RAW_INTERNAL_IDS)]
    assert internal_targets == list(range(population + 1, population + INTERNAL + 1)), internal_targets[:3]

    def updates(targets: list[int], traced: bool) -> tuple[Callable[[int], None], Callable[[int], None]]:
        # The k-th update of a side (counting on over calls) goes to targets[k % count]; each visit to a
        # task flips its State between Started and Succeeded and gives it a new Description.
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
                conn.execute("BEGIN IMMEDIATE")
                try:
                    row = conn.execute(RAW_STATE_DESCRIPTION, (task_id,)).fetchone()
                    if row is None:
                        raise LookupError(task_id)
                    old_state, old_description = row
                    changes: dict[str, list[Any]] = {}
                    if old_state != state:
                        changes["State"] = [_STATE_NAME[old_state], state_name]
                    if old_description != description:
                        changes["Description"] = [old_description, description]
                    if changes:
                        now, text = _now(), _changes(changes)
                        conn.execute(RAW_UPDATE, (state, description, now, task_id))
                        conn.execute(RAW_INSERT_CHANGE, (task_id, now, "update", text, traced))
                    _raw_task(conn.execute(RAW_GET, (task_id,)).fetchone())
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
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
                conn.execute("BEGIN IMMEDIATE")
                try:
                    row = conn.execute(RAW_STATE, (task_id,)).fetchone()
                    if row is None or row[0] != old:
                        raise ValueError(f"test of /State failed on task {task_id}")
                    changes, now = _changes({"State": [_STATE_NAME[old], _STATE_NAME[new]]}), _now()
                    conn.execute(RAW_SET_STATE, (new, now, task_id))
                    conn.execute(RAW_INSERT_CHANGE, (task_id, now, "patch", changes, traced))
                    _raw_task(conn.execute(RAW_GET, (task_id,)).fetchone())
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                raw_states[task_id] = new

        def prepare_patch() -> None:
            # Each side remembers the State it last wrote, to test it; start from what update left.
            for task_id in targets:
                store_states[task_id] = store.get(task_id, select="State").state.name  # type: ignore[union-attr]
                raw_states[task_id] = conn.execute(RAW_STATE, (task_id,)).fetchone()[0]

        return store_patch, raw_patch, prepare_patch

    task = sample_task(0)
    batch = [sample_task(i) for i in range(BATCH)]
    return [
        Op("create", *creates(task)),
        Op("create (internal task, no trace)", *creates(_internal(task)), goal=True),
        Op(f"create_many ({BATCH:,} tasks)", *creates_many(batch)),
        Op(f"create_many ({BATCH:,} internal tasks)", *creates_many([_internal(t) for t in batch]), goal=True),
        Op("get by id", store_get, raw_get, goal=True),
        Op('get select="Name,State"', store_get_select, raw_get_select),
        Op(f"list one state ({LISTED} of {population + INTERNAL:,})", store_list, raw_list, goal=True),
        Op("update (State, Description)", *updates(targets, traced=True)),
        Op("update (internal task)", *updates(internal_targets, traced=False), goal=True),
        Op("patch (test + replace State)", *patches(targets, traced=True)),
        Op("patch (internal task)", *patches(internal_targets, traced=False), goal=True),
    ]


def _calibrate(fn: Callable[[int], None]) -> int:
    """How many operations make a round of about ROUND_SECONDS (after a warm-up)."""
    n = 1
    while True:
        start = time.perf_counter()
        fn(n)
        elapsed = time.perf_counter() - start
        if elapsed > ROUND_SECONDS / 8 or n >= 1 << 20:
            return max(1, round(n * ROUND_SECONDS / elapsed))
        n *= 4


def measure(op: Op, rounds: int, store_path: Path | None = None, raw_path: Path | None = None) -> Result:
    """Interleaved rounds of both sides; then, given the two SQLite files, the WAL frames of each."""
    if op.prepare is not None:
        op.prepare()
    n = _calibrate(op.store)
    op.raw(n)  # warm the raw side too

    def store_round() -> int:
        op.store(n)
        return n

    def raw_round() -> int:
        op.raw(n)
        return n

    store_rates, raw_rates = interleaved([store_round, raw_round], rounds)
    # After the timed rounds, so the checkpoints between chunks never fall inside a timing.
    count = max(1, min(n, FRAME_OPS))
    store_frames = None if store_path is None else wal_frames_per_op(store_path, op.store, count)
    raw_frames = None if raw_path is None else wal_frames_per_op(raw_path, op.raw, count)
    return Result(
        op.name, median(store_rates), median(raw_rates), paired_ratio(store_rates, raw_rates),
        store_frames, raw_frames, op.goal,
    )  # fmt: skip


def profile_summary(op: Op, n: int, top: int = 10) -> str:
    """batchstore's functions that take the most time of their own during n operations, per operation."""
    if op.prepare is not None:
        op.prepare()
    profiler = cProfile.Profile()
    profiler.enable()
    op.store(n)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    package = os.path.dirname(batchstore.__file__) + os.sep
    total = sum(entry[2] for entry in stats.values())
    mine: list[tuple[float, float, int, str]] = []
    other: list[tuple[float, float, int, str]] = []
    for (file, line, func), (_cc, calls, tottime, cumtime, _callers) in stats.items():
        where = f"{os.path.basename(file)}:{line}({func})" if file != "~" else func
        (mine if file.startswith(package) else other).append((tottime, cumtime, calls, where))
    mine.sort(reverse=True)
    other.sort(reverse=True)
    rows = [
        (where, f"{calls / n:.1f}", f"{tottime / n * 1e6:.1f}", f"{cumtime / n * 1e6:.1f}")
        for tottime, cumtime, calls, where in mine[:top]
    ]
    in_package = sum(t for t, *_ in mine)
    lines = [
        f"**{op.name}**: {total / n * 1e6:.1f} µs/op under cProfile, "
        f"{in_package / total:.0%} of it in batchstore's own code",
        "",
        markdown_table(["batchstore function", "calls/op", "tottime µs/op", "cumtime µs/op"], rows),
        "",
        "Outside batchstore: "
        + "; ".join(f"{where} {tottime / n * 1e6:.1f} µs/op" for tottime, _c, _n, where in other[:4]),
    ]
    return "\n".join(lines)


HEADER = ("operation", "issue 11", "batchstore ops/s", "raw sqlite3 ops/s", "ratio",
          "batchstore WAL frames/op", "raw WAL frames/op")  # fmt: skip


def _frames(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def run(*, rounds: int = MIN_ROUNDS, tasks: int = POPULATION, only: str | None = None) -> str:
    """Populate, measure every operation, and return the Markdown report."""
    if tasks < LISTED * 10:
        raise ValueError(f"--tasks must be at least {LISTED * 10:,}, not {tasks:,}")
    with temp_dir("ops") as tmp:
        store_path, raw_path = tmp / "batchstore.db", tmp / "raw.db"
        start = time.perf_counter()
        populate(store_path, tasks)
        populated = time.perf_counter() - start
        copy_database(store_path, raw_path)  # one population, two identical files: same schema, same data
        with BatchStore(str(store_path)) as store:
            pragmas = store_pragmas(store)
            conn = open_raw(raw_path, store)
            try:
                (page_size,) = conn.execute("PRAGMA page_size").fetchone()
                ops = [
                    op for op in build_ops(store, conn, tasks) if only is None or only.lower() in op.name.lower()
                ]
                results = [measure(op, rounds, store_path, raw_path) for op in ops]
                rows = [
                    (
                        r.name, "goal" if r.goal else "", fmt_rate(r.store_rate), fmt_rate(r.raw_rate),
                        fmt_ratio(r.ratio), _frames(r.store_frames), _frames(r.raw_frames),
                    )
                    for r in results
                ]  # fmt: skip
                settings = ", ".join(f"{name}={value}" for name, value in pragmas.items())
                parts = [
                    f"batchstore vs raw sqlite3 (median of {rounds} interleaved rounds; two identical files of "
                    f"{tasks + INTERNAL:,} tasks, populated once in {populated:.1f} s and copied; "
                    f"target ratio >= {TARGET} on the goal rows)",
                    "",
                    f"Both connections: {settings}; page_size={page_size} (the file's).",
                    "",
                    markdown_table(HEADER, rows),
                ]
                goals = [r for r in results if r.goal]
                if goals:
                    missed = [f"{r.name} {fmt_ratio(r.ratio)}" for r in goals if r.ratio < TARGET]
                    parts += [
                        "",
                        f"Goal rows at >= {TARGET}: {len(goals) - len(missed)} of {len(goals)}"
                        + (f"; below: {'; '.join(missed)}." if missed else "."),
                    ]
                slow = [(op, r) for op, r in zip(ops, results) if r.ratio < TARGET]
                if slow:
                    parts += ["", f"Where the time goes in operations below {TARGET} (cProfile, batchstore side):"]
                    for op, r in slow:
                        n = max(1, round(r.store_rate * ROUND_SECONDS * 2))
                        parts += ["", profile_summary(op, n)]
            finally:
                conn.close()
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS,
                        help=f"interleaved rounds per operation (default and minimum {MIN_ROUNDS})")  # fmt: skip
    parser.add_argument("--tasks", type=int, default=POPULATION,
                        help=f"ordinary tasks in the table (default {POPULATION:,}; {INTERNAL:,} internal ones "
                             "come on top)")  # fmt: skip
    parser.add_argument("--full", action="store_true", help=f"the same as --tasks {FULL_POPULATION}")
    parser.add_argument("--only", help="run the operations whose name contains this text")
    args = parser.parse_args(argv)
    tasks = FULL_POPULATION if args.full else args.tasks
    print(run(rounds=max(MIN_ROUNDS, args.rounds), tasks=tasks, only=args.only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
