"""Reliability with real processes and files: SIGKILL at random moments, a multi-process load, fuzzing,
and the faults a disk can throw (a read-only file, a full database).

These run in the full tier only (marked ``full``; CI runs them): they take most of a minute.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from batchstore import BatchStore, StorageError, TaskNotFoundError

pytestmark = pytest.mark.full("SIGKILLs, a multi-process load of 10,000 tasks, disk faults")

HERE = Path(__file__).resolve().parents[1]  # tests/: crash_child.py
KILLS = int(os.environ.get("BATCHSTORE_KILLS", "20"))
LOAD_TASKS = int(os.environ.get("BATCHSTORE_LOAD_TASKS", "10000"))


def check_consistent(path: Path) -> None:
    """What a crash must never leave: damage, orphans, half-applied writes."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute(
            "SELECT count(*) FROM binaryobject WHERE id NOT IN (SELECT parameter_blob FROM batchtask "
            "WHERE parameter_blob IS NOT NULL)"
        ).fetchone() == (0,), "orphan binaryobject rows"
        assert conn.execute(
            "SELECT count(*) FROM batchtaskchange WHERE traced AND task_id NOT IN (SELECT id FROM batchtask)"
        ).fetchone() == (0,), "orphan trace rows"
        assert conn.execute(
            "SELECT count(*) FROM batchtask WHERE description IS NOT response"
        ).fetchone() == (0,), "a half-applied patch or update"
        assert conn.execute(
            "SELECT count(*) FROM batchtask WHERE state = 4 AND (progress_percent != 100 OR result != 'ok')"
        ).fetchone() == (0,), "a half-applied succeed"
        assert conn.execute(
            "SELECT count(*) FROM batchtask WHERE parameter_blob IS NOT NULL AND details_record != parameter_blob"
        ).fetchone() == (0,)


def test_sigkill_at_random_moments_loses_and_half_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    reported: set[int] = set()
    deleted: set[int] = set()
    rng = random.Random(20261123)
    kills = 0
    for _ in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, str(HERE / "crash_child.py"), str(path)],
            stdout=subprocess.PIPE, text=True, bufsize=1,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"  # the clock starts once the store is open

        lines: list[str] = []
        reader = threading.Thread(target=lines.extend, args=(child.stdout,))
        reader.start()
        time.sleep(rng.uniform(0.0, 0.4))
        child.send_signal(signal.SIGKILL)
        child.wait()
        reader.join()
        child.stdout.close()
        kills += 1
        assert child.returncode == -signal.SIGKILL
        for line in lines:
            verb, _, number = line.strip().partition(" ")
            if verb == "created":
                reported.add(int(number))
            elif verb == "deleting":
                deleted.add(int(number))

        check_consistent(path)
        with BatchStore(path) as store:
            for task_id in reported - deleted:
                task = store.get(task_id)
                assert task.parameter_object is not None and task.parameter_object["blob"] == "x" * 2000
            for task_id in deleted:  # killed around its delete: there whole, or gone whole
                with contextlib.suppress(TaskNotFoundError):
                    assert store.get(task_id).parameter_object["blob"] == "x" * 2000
    assert kills == KILLS
    assert reported, "the child never got to create a task"


def _load_worker(path: str, worker: str, out: Any) -> None:
    done: list[int] = []
    errors: list[str] = []

    def run(name: str) -> None:
        try:
            with BatchStore(path) as store:
                while (task := store.acquire(worker=name)) is not None:
                    assert task.id is not None
                    store.start(task.id, worker=name)
                    store.report_progress(task.id, 50, worker=name)
                    store.succeed(task.id, result="ok", worker=name)
                    done.append(task.id)
        except BaseException as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=(f"{worker}-t{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((done, errors))


def test_four_processes_two_threads_each_run_every_task_exactly_once(tmp_path: Path) -> None:
    path = str(tmp_path / "load.db")
    with BatchStore(path) as store:
        ids = store.create_many({"Name": "load", "ParameterObject": {"i": i}} for i in range(LOAD_TASKS))
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_load_worker, args=(path, f"p{i}", out)) for i in range(4)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join(timeout=60)
    errors = [e for _, errs in results for e in errs]
    done = [i for d, _ in results for i in d]
    assert errors == []  # no "database is locked" reached a worker
    assert len(done) == len(set(done)), f"{len(done) - len(set(done))} tasks acquired twice"
    assert sorted(done) == ids, f"{len(set(ids) - set(done))} tasks lost"
    with BatchStore(path) as store:
        assert sum(1 for _ in store.list("Succeeded", select="Id")) == LOAD_TASKS
    print(f"\nload: {LOAD_TASKS} tasks x 4 steps by 4 processes x 2 threads in {elapsed:.1f} s "
          f"({LOAD_TASKS / elapsed:.0f} tasks/s, {4 * LOAD_TASKS / elapsed:.0f} writes/s)")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _make_read_only(path: Path) -> str:
    """Make ``path`` read-only for this process; returns what to open it by."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        return str(path)
    # root writes through permission bits; the immutable attribute stops it, where the disk has one.
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0:
        return str(path)
    return f"file:{path}?mode=ro"  # SQLite's own read-only open, the last resort


def _undo_read_only(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    path.chmod(0o644)


def test_a_read_only_database_gives_a_storage_error_and_stays_intact(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    with BatchStore(path) as store:
        task_id = store.create({"Name": "kept"})
    with sqlite3.connect(path) as conn:  # fold the WAL in, so the file alone holds everything
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for extra in tmp_path.glob("ro.db-*"):
        extra.unlink()
    target = _make_read_only(path)
    try:
        before = _sha(path)
        with pytest.raises(StorageError) as info, BatchStore(target) as store:
            store.create({"Name": "refused"})
        message = str(info.value)
        assert "read" in message or "open" in message, message
        assert _sha(path) == before
    finally:
        _undo_read_only(path)
    with BatchStore(path) as store:
        assert [t.id for t in store.list()] == [task_id]


def test_a_full_database_gives_a_storage_error_and_keeps_what_it_had(tmp_path: Path) -> None:
    path = tmp_path / "full.db"
    with BatchStore(path) as store:
        kept = store.create_many([{"Name": "kept", "ParameterObject": "x" * 500} for _ in range(20)])
        (pages,) = store._engine._connection().execute("PRAGMA page_count").fetchone()
        store._engine._connection().execute(f"PRAGMA max_page_count = {pages + 8}")
        with pytest.raises(StorageError, match="full"):
            for _ in range(1000):
                store.create({"Name": "more", "ParameterObject": "y" * 4000})
        count = sum(1 for _ in store.list(select="Id"))
        with pytest.raises(StorageError, match="full"):
            store.create_many([{"Name": "batch", "ParameterObject": "z" * 4000} for _ in range(50)])
        assert sum(1 for _ in store.list(select="Id")) == count  # the batch left nothing behind
        assert [store.get(i).parameter_object for i in kept] == ["x" * 500] * 20
    check_consistent(path)
