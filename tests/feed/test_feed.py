"""The change feed: ``changes(after=)`` and ``watch()``, on SQLite (file and memory) and on PostgreSQL.

Writers run in other processes where the feed's promise is "from any process"; nothing is mocked.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading

import pytest
from conftest import Database
from server_process import postgres_schema

from batchstore import BatchStore, Change, InvalidTaskError, PatchConflictError, UnknownCursorError


@pytest.fixture
def target(db: Database) -> str:
    """The test's own database on each engine (tests/conftest.py): a SQLite file or a fresh PostgreSQL schema."""
    return db.url


def _ops(changes: list[Change]) -> list[tuple[int, str]]:
    return [(c.task_id, c.operation) for c in changes]


def test_every_committed_change_is_in_the_feed_in_order(target: str) -> None:
    with BatchStore(target) as store:
        first = store.create({"Name": "ERPSync", "ParameterObject": {"rows": 3}})
        store.patch(first, [{"op": "replace", "path": "/State", "value": "Started"}])
        second = store.create({"Name": "Other"})
        store.delete(second)
        changes = store.changes()
    assert _ops(changes) == [(first, "create"), (first, "patch"), (second, "create"), (second, "delete")]
    assert changes[1].changes == {"State": ("New", "Started")}
    assert changes[3].changes == {}
    assert all(isinstance(c.at, dt.datetime) and c.at.tzinfo is not None for c in changes)
    assert len({c.cursor for c in changes}) == len(changes)


def test_internal_tasks_move_in_the_feed_but_leave_no_trace(target: str) -> None:
    with BatchStore(target) as store:
        task_id = store.create({"Name": "quiet", "IsInternalTask": True})
        claimed = store.acquire(worker="w1")
        assert claimed is not None
        store.start(task_id, worker="w1")
        store.report_progress(task_id, 40, "40 of 100", worker="w1")
        assert store.history(task_id) == []
        changes = store.changes()
    assert [c.operation for c in changes] == ["create", "acquire", "start", "report_progress"]
    assert changes[-1].changes["ProgressPercent"] == (0, 40)
    assert changes[1].worker == "w1"


def test_a_refused_write_adds_nothing_to_the_feed(target: str) -> None:
    with BatchStore(target) as store:
        task_id = store.create({"Name": "a"})
        before = store.changes()
        with pytest.raises(PatchConflictError):
            store.patch(task_id, [{"op": "test", "path": "/State", "value": "Failed"},
                                  {"op": "replace", "path": "/State", "value": "Started"}])
        assert store.changes() == before


def test_changes_after_a_cursor_and_limit(target: str) -> None:
    with BatchStore(target) as store:
        ids = store.create_many([{"Name": str(i)} for i in range(5)])
        everything = store.changes()
        assert [c.task_id for c in everything] == ids
        assert store.changes(after=everything[1].cursor) == everything[2:]
        assert store.changes(after=everything[1].cursor, limit=2) == everything[2:4]
        assert store.changes(after=everything[-1].cursor) == []
        for bad in (-1, "3", 1.5, True):
            with pytest.raises(InvalidTaskError, match="cursor"):
                store.changes(after=bad)  # type: ignore[arg-type]


def test_watch_from_now_sees_only_new_changes_and_ends_after_its_timeout(target: str) -> None:
    with BatchStore(target) as store:
        store.create({"Name": "old"})
        seen: list[Change] = []
        ready = threading.Event()

        def watch() -> None:
            ready.set()
            seen.extend(store.watch(timeout=1.0))

        watcher = threading.Thread(target=watch)
        watcher.start()
        ready.wait()
        # watch() arms itself on its first next(); give it that moment before writing.
        threading.Event().wait(0.3)
        new = store.create({"Name": "new"})
        watcher.join(timeout=30)
        assert not watcher.is_alive()
    assert _ops(seen) == [(new, "create")]


def _write_many(target: str, name: str, count: int, barrier: multiprocessing.synchronize.Barrier) -> None:
    with BatchStore(target) as store:
        barrier.wait()
        for i in range(count):
            task_id = store.create({"Name": f"{name}-{i}"})
            store.patch(task_id, [{"op": "replace", "path": "/Description", "value": "done"}])


def test_a_watcher_sees_every_change_of_other_processes_once_in_commit_order(target: str) -> None:
    processes, per_process = 3, 40
    with BatchStore(target) as store:
        start = store.changes()
        cursor = start[-1].cursor if start else 0
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(processes)
        writers = [ctx.Process(target=_write_many, args=(target, f"p{n}", per_process, barrier))
                   for n in range(processes)]
        for writer in writers:
            writer.start()
        seen: list[Change] = []
        for change in store.watch(after=cursor, timeout=20):
            seen.append(change)
            if len(seen) == processes * per_process * 2:
                break
        for writer in writers:
            writer.join(timeout=60)
            assert writer.exitcode == 0
        assert store.changes(after=seen[-1].cursor) == []
        again = store.changes(after=cursor, limit=processes * per_process * 2)
    assert len(seen) == processes * per_process * 2
    assert len({c.cursor for c in seen}) == len(seen)
    per_task: dict[int, list[str]] = {}
    for change in seen:
        per_task.setdefault(change.task_id, []).append(change.operation)
    assert all(ops == ["create", "patch"] for ops in per_task.values())
    assert again == seen  # the same feed, read again, in the same order


def test_in_memory_store_watch_sees_its_own_writes_from_another_thread() -> None:
    with BatchStore() as store:
        seen: list[Change] = []
        watcher = threading.Thread(target=lambda: seen.extend(store.watch(after=0, timeout=1.0)))
        watcher.start()
        task_id = store.create({"Name": "a"})
        store.stop(task_id)
        watcher.join(timeout=30)
    assert [c.operation for c in seen] == ["create", "stop"]


def test_prune_removes_old_changes_with_old_tasks(target: str) -> None:
    with BatchStore(target) as store:
        task_id = store.create({"Name": "a", "State": "Succeeded"})
        assert store.prune(dt.timedelta(0)) == 1
        # The delete itself is a change, written at the very moment of the prune: it stays.
        assert _ops(store.changes()) == [(task_id, "prune")]


@pytest.mark.postgresql
def test_the_feed_waits_for_an_older_transaction_on_postgresql() -> None:
    """A change committed while an older writer (a smaller xid) still runs is held back until that one ends;
    then both come, in transaction order, and none is skipped. Transactions that are not writers do not count.
    """
    import psycopg

    from batchstore._engines.postgres import FEED_WRITER_KEY

    with postgres_schema("feed") as url:
        with BatchStore(url) as store, BatchStore(url) as other:
            first = store.create({"Name": "first"})
            cursor = store.changes()[-1].cursor
            with psycopg.connect(url) as slow:  # a batchstore-like writer of its own, left open
                slow.execute(f"SELECT pg_advisory_xact_lock_shared({FEED_WRITER_KEY}, hashtext(current_schema()))")
                slow.execute("UPDATE batchtask SET description = 'slow' WHERE id = %s", (first,))
                slow.execute(other._engine.insert_change.replace("?", "%s"),
                             (first, dt.datetime.now(dt.UTC).isoformat(), "patch", None, "{}", True))
                second = other.create({"Name": "second"})  # commits now, with a later transaction id
                assert store.changes(after=cursor) == []  # held back: an older writer still runs
                with psycopg.connect(url) as bystander:  # a long transaction that writes no change
                    bystander.execute("SELECT count(*) FROM batchtask")
                    slow.commit()
                    changes_meanwhile = store.changes(after=cursor)
        assert _ops(changes_meanwhile) == [(first, "patch"), (second, "create")]


def test_a_cursor_past_every_change_is_refused_and_an_issued_one_sees_only_newer_ones_on_both_engines(
    target: str,
) -> None:
    with BatchStore(target) as store:
        store.create({"Name": "before"})
        # A cursor this database never handed out would skip every change until the feed reached it.
        with pytest.raises(UnknownCursorError, match="never handed out"):
            store.changes(after=10**12)
        later = store.create({"Name": "after"})
        assert [c.task_id for c in store.changes(after=store.changes()[0].cursor)] == [later]
