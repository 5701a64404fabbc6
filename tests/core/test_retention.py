"""Retention: a policy stored in the database, applied by the stores' own writes, in small batches; both engines.

Old finished tasks are made by moving their ``state_changed`` back behind batchstore's back: the store
then finds them as it would find tasks finished a month ago.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import pytest
from cli_run import Run, cli
from conftest import Database, Refuses

from batchstore import AsyncBatchStore, BatchStore, ConfigurationError, RetentionPolicy
from batchstore._retention import BATCH

DAY = dt.timedelta(days=1)


def age(db: Database, task_ids: list[int], days: float) -> None:
    """Move the tasks' last State change (and their feed rows) ``days`` back."""
    when = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).isoformat()
    for task_id in task_ids:
        db.execute("UPDATE batchtask SET state_changed = ? WHERE id = ?", when, task_id)
        db.execute("UPDATE batchtaskchange SET at = ? WHERE task_id = ?", when, task_id)


def ids(store: BatchStore) -> list[int]:
    return [t.id for t in store.list(select="Id") if t.id is not None]


def test_retention_is_off_by_default_and_kept_in_the_database(db: Database, store: BatchStore) -> None:
    assert store.retention is None
    policy = store.set_retention(dt.timedelta(days=30), keep_failed_for=dt.timedelta(days=90))
    assert policy == RetentionPolicy(dt.timedelta(days=30), dt.timedelta(days=90))
    with db.open() as other:  # another store (another process alike) reads the same policy
        assert other.retention == policy
        assert other.retention.failed_older_than == dt.timedelta(days=90)  # type: ignore[union-attr]
        assert other.set_retention(7 * DAY) == RetentionPolicy(7 * DAY)
    assert store.retention == RetentionPolicy(7 * DAY, None)
    assert store.set_retention(None) is None and store.retention is None


@pytest.mark.parametrize(("args", "kwargs", "option"), [
    ((30,), {}, "finished_older_than"),
    ((dt.timedelta(0),), {}, "finished_older_than"),
    ((-DAY,), {}, "finished_older_than"),
    ((dt.timedelta.max,), {}, "finished_older_than"),
    ((DAY,), {"keep_failed_for": "90d"}, "keep_failed_for"),
    ((None,), {"keep_failed_for": DAY}, "keep_failed_for"),
])  # fmt: skip
def test_a_refused_policy_writes_nothing(
    store: BatchStore, refuses: Refuses, args: tuple[Any, ...], kwargs: dict[str, Any], option: str
) -> None:
    store.set_retention(30 * DAY)
    with refuses(ConfigurationError, option) as caught:
        store.set_retention(*args, **kwargs)
    assert caught.value.option == option  # type: ignore[attr-defined]
    assert store.retention == RetentionPolicy(30 * DAY)


def test_a_write_of_any_store_applies_the_policy(db: Database, store: BatchStore) -> None:
    old_done = store.create_many([{"Name": f"done {i}", "State": "Succeeded"} for i in range(3)])
    old_cleanup = store.create({"Name": "cleanup", "State": "SucceededManualCleanup"})
    old_failed = store.create({"Name": "failed long ago", "State": "Failed"})
    recent_failed = store.create({"Name": "failed last week", "State": "Failed"})
    old_running = store.create({"Name": "still running"})
    fresh_done = store.create({"Name": "done today", "State": "Succeeded"})
    age(db, [*old_done, old_cleanup, old_running], days=40)
    age(db, [old_failed], days=100)
    age(db, [recent_failed], days=7)
    store.set_retention(30 * DAY, keep_failed_for=90 * DAY)
    # Nothing happens until some store writes: no thread of its own.
    assert len(ids(store)) == 8
    with db.open() as worker:
        assert worker.acquire(worker="w") is not None  # a worker loop's write (it takes "still running")
        assert ids(worker) == [recent_failed, old_running, fresh_done]
    # Their history and their feed rows went with them; the live tasks keep theirs.
    gone = [*old_done, old_cleanup, old_failed]
    assert db.rows(f"SELECT COUNT(*) FROM batchtaskchange WHERE task_id IN ({','.join('?' * len(gone))}) "
                   "AND operation <> 'retention'", *gone) == [(0,)]
    assert [c.operation for c in store.changes() if c.task_id == old_failed] == ["retention"]
    assert [h.operation for h in store.history(old_running)] == ["create", "acquire"]


def test_retention_runs_at_most_once_a_minute_across_stores(db: Database, store: BatchStore) -> None:
    first = store.create({"Name": "a", "State": "Succeeded"})
    age(db, [first], days=2)
    store.set_retention(DAY)
    store.create({"Name": "trigger"})  # due at once after set_retention: applied now
    assert first not in ids(store)
    second = store.create({"Name": "b", "State": "Succeeded"})
    age(db, [second], days=2)
    with db.open() as other:  # a store of its own checks at its first write, and finds it not due yet
        other.create({"Name": "another write"})
        assert second in ids(other)
        (due,) = db.rows("SELECT value FROM batchstore_setting WHERE key = 'retention_due'")[0]
        assert dt.datetime.fromisoformat(due) > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=50)
        assert other.apply_retention() == 1  # on demand, due or not
    assert second not in ids(store)


@pytest.mark.sqlite_only("counts the statements of each transaction through sqlite3's trace hook")
def test_retention_deletes_in_small_transactions(db: Database, store: BatchStore, sql_trace: list[str]) -> None:
    old = store.create_many([{"Name": f"t{i}", "State": "Succeeded"} for i in range(BATCH * 3 + 17)])
    db.execute("UPDATE batchtask SET state_changed = '2000-01-01T00:00:00+00:00'")
    store.set_retention(DAY)
    sql_trace.clear()
    assert store.apply_retention() == len(old)
    per_transaction, deletes = [], 0
    for statement in sql_trace:
        if statement.startswith("DELETE FROM batchtask WHERE"):
            deletes += 1
        elif statement == "COMMIT":
            per_transaction.append(deletes)
            deletes = 0
    assert sum(per_transaction) == len(old)
    assert max(per_transaction) == BATCH and len([n for n in per_transaction if n]) == 4


def test_a_read_only_store_never_applies_it(db: Database, store: BatchStore) -> None:
    done = store.create({"Name": "a", "State": "Succeeded"})
    store.set_retention(DAY)
    age(db, [done], days=2)
    with BatchStore(db.url, read_only=True) as reader:
        assert reader.retention == RetentionPolicy(DAY)
        assert done in ids(reader)


def test_async_retention(db: Database) -> None:
    async def main() -> None:
        async with AsyncBatchStore(db.url) as store:
            assert await store.retention is None
            await store.set_retention(2 * DAY, keep_failed_for=3 * DAY)
            assert await store.retention == RetentionPolicy(2 * DAY, 3 * DAY)
            assert await store.apply_retention() == 0

    asyncio.run(main())


def test_cli_retention_set_show_off(db: Database) -> None:
    def retention(*args: str) -> Run:
        return cli("retention", *args, "--db", db.url)

    db.open().close()
    assert retention("show").stdout == "null\n"
    done = retention("set", "--finished-older-than", "30d", "--keep-failed-for", "12h")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"finished_older_than": 30 * 86400.0, "keep_failed_for": 43200.0}
    with db.open() as store:
        assert store.retention == RetentionPolicy(30 * DAY, dt.timedelta(hours=12))
    assert json.loads(retention("show").stdout)["finished_older_than"] == 30 * 86400.0
    refused = retention("set", "--finished-older-than", "soon")
    assert refused.returncode == 2 and "--finished-older-than" in refused.stderr
    assert retention("off").returncode == 0 and retention("show").stdout == "null\n"
