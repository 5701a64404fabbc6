"""What the issue asks of PostgreSQL in particular: the same results as SQLite for the same calls, a pool,
SKIP LOCKED claims and row-locked compare-and-set across processes, and no psycopg error ever escaping.

Each test gets its own schema on the server in BATCHSTORE_TEST_POSTGRES_URL (see ``postgres_schema`` in
conftest.py); without that variable these tests skip, or fail when BATCHSTORE_REQUIRE_ALL is set.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import postgres_schema, rows, snapshot
from server_process import free_port

from batchstore import (
    BatchStore,
    BatchStoreError,
    InvalidTaskError,
    StorageError,
)

#: Fields whose value is a time stamp: the only ones allowed to differ between the engines.
STAMPS = ("Created", "LastStarted")


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema("pgtests") as url:
        yield url


def named(url: str, application: str) -> str:
    """The URL with a libpq application_name: the test finds the store's own sessions by it (and only them)."""
    return f"{url}&application_name={application}"


@pytest.fixture
def pg(pg_url: str) -> Iterator[BatchStore]:
    with BatchStore(pg_url) as store:
        yield store


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[BatchStore]:
    with BatchStore(tmp_path / "tasks.db", synchronous="OFF") as store:
        yield store


def _wire(value: Any) -> Any:
    """The wire form of a result (a task, a list of them, an id...), time stamps left out."""
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items() if k not in STAMPS}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    if hasattr(value, "to_wire"):
        return {k: v for k, v in value.to_wire().items() if k not in STAMPS}
    return value


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", _wire(call()))
    except BatchStoreError as exc:
        return ("refused", type(exc).__name__)


# One script of calls: reads, writes, the lifecycle, and refusals of every kind.
SCRIPT: list[tuple[str, Callable[[BatchStore], Any]]] = [
    ("create", lambda s: s.create({"Name": "a", "ParameterObject": {"k": [1, 2.5, "x", None, True]}})),
    ("create system", lambda s: s.create({"Name": "sync", "IsSystemTask": True, "AssociateId": 7})),
    ("create_many", lambda s: s.create_many([{"Name": f"m{i}", "State": "Failed"} for i in range(3)])),
    ("get", lambda s: s.get(1)),
    ("get select", lambda s: s.get(2, select="Name,State,IsSystemTask")),
    ("list", lambda s: list(s.list())),
    ("list Failed", lambda s: list(s.list("Failed", select="Id,Name"))),
    ("list_by_name", lambda s: list(s.list_by_name("sync"))),
    ("list_by_associate", lambda s: list(s.list_by_associate(7))),
    ("update", lambda s: s.update({"Id": 1, "Description": "d", "ProgressPercent": 10})),
    ("patch", lambda s: s.patch(1, [{"op": "replace", "path": "/Response", "value": "r"}])),
    ("patch test fails", lambda s: s.patch(1, [{"op": "test", "path": "/Response", "value": "no"}])),
    ("acquire", lambda s: s.acquire(worker="w")),
    ("start", lambda s: s.start(1, worker="w")),
    ("progress", lambda s: s.report_progress(1, 50, "half", worker="w")),
    ("succeed", lambda s: s.succeed(1, worker="w")),
    ("history", lambda s: [(e.operation, e.changes) for e in s.history(1)]),
    ("start again", lambda s: s.start(1, worker="w")),
    ("bad state", lambda s: s.create({"Name": "x", "State": "All"})),
    ("bad percent", lambda s: s.update({"Id": 2, "ProgressPercent": 762})),
    ("unknown id", lambda s: s.get(999)),
    ("bad select", lambda s: s.get(1, select="Nope")),
    ("not writable", lambda s: s.update({"Id": 2, "Name": "renamed"})),
    ("NUL in Name", lambda s: s.create({"Name": "a\x00b"})),
    ("NUL in patch", lambda s: s.patch(2, [{"op": "replace", "path": "/Description", "value": "\x00"}])),
    ("NUL worker", lambda s: s.acquire(worker="w\x00")),
    ("NUL in ParameterObject is data", lambda s: s.create({"Name": "p", "ParameterObject": {"k": "a\x00b"}})),
    ("get it", lambda s: s.get(6)),
    ("delete", lambda s: s.delete(3)),
    ("delete_many", lambda s: s.delete_many([4, 999])),
    ("create after delete", lambda s: s.create({"Name": "after"})),
    ("list ids", lambda s: [t.id for t in s.list(select="Id")]),
]


@pytest.mark.postgresql
def test_the_same_calls_give_the_same_results_on_both_engines(pg: BatchStore, lite: BatchStore) -> None:
    results = {}
    for engine, store in (("sqlite", lite), ("postgresql", pg)):
        results[engine] = [(label, *_outcome(lambda call=call, store=store: call(store))) for label, call in SCRIPT]
    for on_sqlite, on_postgres in zip(results["sqlite"], results["postgresql"]):
        assert on_sqlite == on_postgres
    outcome = dict((label, kind) for label, kind, _ in results["postgresql"])
    assert outcome["NUL in Name"] == outcome["NUL in patch"] == outcome["NUL worker"] == "refused"
    assert outcome["NUL in ParameterObject is data"] == "ok"
    assert results["postgresql"][-1][2] == [1, 2, 5, 6, 7]  # 3 and 4 deleted, 7 new: no id reused


@pytest.mark.postgresql
@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.create({"Name": "a\x00"}),
        lambda s: s.create({"Name": "a", "Description": "\x00"}),
        lambda s: s.create_many([{"Name": "ok"}, {"Name": "b", "Request": "x\x00y"}]),
        lambda s: s.update({"Id": 1, "Description": "d\x00"}),
        lambda s: s.patch(1, [{"op": "replace", "path": "/Description", "value": "\x00"}]),
        lambda s: s.start(1, worker="\x00"),
        lambda s: list(s.list_by_name("a\x00")),
    ],
)
def test_a_nul_character_in_text_is_refused_alike_on_both_engines(
    pg: BatchStore, pg_url: str, lite: BatchStore, tmp_path: Path, call: Callable[[BatchStore], Any]
) -> None:
    for store, target in ((lite, tmp_path / "tasks.db"), (pg, pg_url)):
        store.create({"Name": "first", "State": "Aquired"})
        before = snapshot(target)
        with pytest.raises(InvalidTaskError, match="NUL"):
            call(store)
        assert snapshot(target) == before


@pytest.mark.postgresql
def test_one_store_serves_threads_from_several_connections(pg_url: str) -> None:
    """8 threads' updates wait on the server at once: only a pool can do that (one connection would queue them)."""
    import psycopg

    application = "pgtests_pool"
    pg = BatchStore(named(pg_url, application))
    ids = pg.create_many([{"Name": f"t{i}"} for i in range(8)])
    # An admin session holds every task's row: each thread's update then waits on the server, not in Python.
    admin = psycopg.connect(pg_url, autocommit=True)
    watcher = psycopg.connect(pg_url, autocommit=True)  # outside the holder's transaction: fresh statistics
    errors: list[BaseException] = []
    try:
        holder = admin.transaction()
        holder.__enter__()
        admin.execute("SELECT id FROM batchtask FOR UPDATE")

        def update(task_id: int) -> None:
            try:
                pg.update({"Id": task_id, "Description": "done"})
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=update, args=(i,)) for i in ids]
        for t in threads:
            t.start()
        waiting: list[Any] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = %s",
                (application,),
            ).fetchall()
            if waiting[0][0] >= 8:
                break
            time.sleep(0.05)
        assert waiting[0][0] >= 8, "the 8 threads did not wait on the server at once"
        holder.__exit__(None, None, None)
        for t in threads:
            t.join(30)
    finally:
        admin.close()
        watcher.close()
        pg.close()
    assert errors == []
    assert [d for (d,) in rows(pg_url, "SELECT description FROM batchtask ORDER BY id")] == ["done"] * 8


def _acquire_all(url: str, found: Any) -> None:
    with BatchStore(url) as store:
        mine = []
        while (task := store.acquire(worker="p")) is not None:
            mine.append(task.id)
        found.put(mine)


@pytest.mark.postgresql
def test_processes_acquire_every_task_once_with_skip_locked(pg: BatchStore, pg_url: str) -> None:
    ids = pg.create_many([{"Name": f"t{i}"} for i in range(400)])
    ctx = multiprocessing.get_context("spawn")
    found = ctx.Queue()
    procs = [ctx.Process(target=_acquire_all, args=(pg_url, found)) for _ in range(4)]
    for p in procs:
        p.start()
    claims = [found.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    every = [task_id for mine in claims for task_id in mine]
    assert sorted(every) == ids  # none lost, none twice
    assert sum(1 for mine in claims if mine) >= 2, "one process took every task: no concurrency was shown"


def _compare_and_set(url: str, task_id: int, worker: int, start: Any, result: Any) -> None:
    with BatchStore(url) as store:
        start.wait(30)
        try:
            store.patch(task_id, [{"op": "test", "path": "/Response", "value": "open"},
                                  {"op": "replace", "path": "/Response", "value": f"won by {worker}"}])
            result.put(("won", worker))
        except BatchStoreError as exc:
            result.put((type(exc).__name__, worker))


@pytest.mark.postgresql
def test_compare_and_set_across_processes_has_one_winner(pg: BatchStore, pg_url: str) -> None:
    task_id = pg.create({"Name": "contended", "Response": "open"})
    ctx = multiprocessing.get_context("spawn")
    start, result = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_compare_and_set, args=(pg_url, task_id, n, start, result)) for n in range(6)]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let every process open its store before the race
    start.set()
    outcomes = [result.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    winners = [w for kind, w in outcomes if kind == "won"]
    assert len(winners) == 1, outcomes
    assert {kind for kind, _ in outcomes if kind != "won"} == {"PatchConflictError"}
    assert pg.get(task_id).response == f"won by {winners[0]}"


def test_a_refused_connection_is_a_storage_error() -> None:
    url = f"postgresql://nobody:pw@127.0.0.1:{free_port()}/none"
    with pytest.raises(StorageError, match="open") as info:
        BatchStore(url, timeout=2)
    assert "pw@" not in str(info.value)  # the password is never shown


@pytest.mark.postgresql
def test_a_bad_password_is_a_storage_error(pg_url: str) -> None:
    from server_process import require_postgres as postgres_url

    base = postgres_url()
    scheme, rest = base.split("://", 1)
    credentials, location = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    with pytest.raises(StorageError, match="open") as info:
        BatchStore(f"{scheme}://{user}:wrong-password-7@{location}", timeout=5)
    assert "wrong-password-7" not in str(info.value)


@pytest.mark.postgresql
def test_a_server_connection_killed_mid_use_is_a_storage_error_and_the_next_call_works(pg_url: str) -> None:
    import psycopg

    application = "pgtests_killed"
    with BatchStore(named(pg_url, application)) as store:
        task_id = store.create({"Name": "x"})
        with psycopg.connect(pg_url, autocommit=True) as admin:
            (killed,) = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                (application,),
            ).fetchone()  # type: ignore[misc]
        assert killed >= 1
        time.sleep(0.2)
        outcomes = []
        for _ in range(3):  # the pool may hand out the dead connection once; a call after that works
            try:
                outcomes.append(("ok", store.get(task_id).name))
            except StorageError as exc:
                outcomes.append(("StorageError", str(exc)))
        assert outcomes[-1] == ("ok", "x"), outcomes
        for kind, message in outcomes:
            assert kind == "ok" or message.startswith("get"), message
        store.update({"Id": task_id, "Description": "after"})  # writes work again too
        assert store.get(task_id).description == "after"


@pytest.mark.postgresql
def test_without_the_postgres_extra_the_error_says_how_to_install(pg_url: str) -> None:
    script = (
        "import sys\n"
        "sys.modules['psycopg'] = None\n"
        "sys.modules['psycopg_pool'] = None\n"
        "from batchstore import BatchStore, StorageError\n"
        "try:\n"
        f"    BatchStore({pg_url!r})\n"
        "except StorageError as exc:\n"
        "    print('StorageError:', exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "StorageError:" in done.stdout and 'pip install "batchstore[postgres]"' in done.stdout, done.stdout
