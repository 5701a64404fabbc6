"""Schema versions: an older database is upgraded in place, a newer one refused untouched, on both engines.

The SQLite case is real: ``fixtures/schema_v1.db`` was written by batchstore 0.1.0 (schema version 1;
see ``fixtures/make_schema_v1.py``). Every check of what a file holds reads it with plain ``sqlite3``;
PostgreSQL is checked with plain psycopg, in a schema of its own per test (dropped afterwards).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import re
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FULL, snapshot
from server_process import require_postgres

from batchstore import BatchStore, StorageError, TaskNotFoundError
from batchstore._engines import migrate, migration_sql
from batchstore._migrations import SCHEMA_VERSION, VERSION_TABLE

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "schema_v1.db"
V1_IDS = [1, 2, 3, 5]  # 4 was created, then deleted, by 0.1.0
V1_TABLES = ("batchtask", "binaryobject")
HEAD = f"{SCHEMA_VERSION:04d}"  # the Alembic revision of this release's schema
NEWER = f"schema version {SCHEMA_VERSION + 1}, newer than this batchstore's {SCHEMA_VERSION}"
# Each is an interpreter importing Alembic (~1 s of CPU): the fast tier races three, the full tier eight.
PROCESSES = 8 if FULL else 3


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    """A fresh copy of the file batchstore 0.1.0 wrote."""
    path = tmp_path / "v1.db"
    shutil.copyfile(FIXTURE, path)
    return path


def fingerprint(path: Path) -> tuple[str, int, list[str]]:
    """The file's bytes (hashed), its mtime, and the files beside it holding anything (a -journal, a -wal).

    A reader of a WAL file (even a read-only one, even the sqlite3 shell) may leave SQLite's empty -wal and
    its -shm index behind: they hold no data, so they do not count as writing.
    """
    return (
        hashlib.sha256(path.read_bytes()).hexdigest(),
        path.stat().st_mtime_ns,
        sorted(
            p.name for p in path.parent.iterdir()
            if not p.name.endswith("-shm") and not (p.name.endswith("-wal") and p.stat().st_size == 0)
        ),
    )


def sqlite_schema(path: Path) -> list[tuple[str, str, str, str | None]]:
    """sqlite_master of a file, its SQL with layout and ``IF NOT EXISTS`` normalized away."""

    def normal(sql: str | None) -> str | None:
        if sql is None:
            return None
        sql = re.sub(r"\s+", " ", sql.replace("IF NOT EXISTS ", ""))
        return re.sub(r"\( ", "(", re.sub(r" \)", ")", sql)).strip()

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    finally:
        conn.close()
    return [(kind, name, table, normal(sql)) for kind, name, table, sql in found]


def sqlite_versions(path: Path) -> tuple[int, list[tuple[str, ...]]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (user_version,) = conn.execute("PRAGMA user_version").fetchone()
        return user_version, conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall()
    finally:
        conn.close()


def fresh_database(tmp_path: Path) -> Path:
    path = tmp_path / "fresh.db"
    BatchStore(path).close()
    return path


def check_v1_tasks(store: BatchStore) -> None:
    """What 0.1.0 stored, read back through the store: every task, its ParameterObject and its history."""
    assert [t.id for t in store.list()] == V1_IDS
    erp, export, cleanup, waiting = (store.get(i) for i in V1_IDS)
    assert (erp.name, erp.associate_id, erp.state.name if erp.state else None) == ("ERPSync", 7, "Succeeded")
    assert erp.parameter_object == {"source": "SAP", "rows": [1, 2, 3]}
    assert erp.progress_description == "40 of 100" and erp.result == "Success" and erp.description == "nightly"
    assert export.parameter_object == {"k": b"\x00\x01"} and export.is_internal_task
    assert cleanup.state is not None and cleanup.state.name == "Failed" and cleanup.is_system_task
    assert waiting.name == "Waiting" and waiting.parameter_object is None
    with pytest.raises(TaskNotFoundError):
        store.get(4)
    assert [h.operation for h in store.history(1)] == ["create", "acquire", "start", "report_progress", "succeed"]
    assert [h.operation for h in store.history(3)] == ["create", "patch"]


def check_history_moved(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> None:
    """The trace rows of a version-1 database are the upgraded feed's traced rows with negative ids, in order.

    Rows are (id, task_id, at, operation, worker, changes) in the trace, and the same plus xid and traced
    in the feed; a negative id keeps them below any cursor a feed reader can hold.
    """
    old = [tuple(r[1:6]) for r in sorted(before["batchtasktrace"])]
    moved = sorted(r for r in after["batchtaskchange"] if r[0] < 0)
    assert [tuple(r[1:6]) for r in moved] == old
    assert all(r[6] is None and r[7] for r in moved)
    assert "batchtasktrace" not in after


def sequences(snap: dict[str, list[Any]]) -> dict[str, int]:
    """The AUTOINCREMENT high-water marks of a SQLite snapshot, by table."""
    return {name: seq for name, seq in snap["sqlite_sequence"]}


# --- SQLite: the file 0.1.0 wrote --------------------------------------------------------------------


def test_the_fixture_is_what_0_1_0_wrote() -> None:
    conn = sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"batchtask", "binaryobject", "batchtasktrace", "sqlite_sequence"}
        assert [i for (i,) in conn.execute("SELECT id FROM batchtask ORDER BY id")] == V1_IDS
        assert conn.execute("SELECT count(*) FROM batchtasktrace").fetchone() == (8,)
    finally:
        conn.close()


def test_a_v1_file_opens_upgraded_with_everything_kept(v1: Path, tmp_path: Path) -> None:
    before = snapshot(v1)
    with BatchStore(v1) as store:
        check_v1_tasks(store)
    after = snapshot(v1)
    for table in V1_TABLES:
        assert after[table] == before[table], table
    assert {t: sequences(after)[t] for t in ("batchtask", "binaryobject")} == sequences(before)
    check_history_moved(before, after)
    assert sqlite_versions(v1) == (SCHEMA_VERSION, [(HEAD,)])
    # Migrations and models agree: the upgraded file has exactly a new file's schema.
    assert sqlite_schema(v1) == sqlite_schema(fresh_database(tmp_path))
    with BatchStore(v1) as store:
        # Ids go on from the largest ever used (5), never reusing the deleted 4 or the newest 5.
        assert store.create({"Name": "after the upgrade", "ParameterObject": {"n": 1}}) == 6
        assert store.get(6).parameter_object == {"n": 1}
        store.update({"Id": 5, "Description": "moved on"})
        assert [h.operation for h in store.history(5)] == ["create", "update"]
        # The feed works, and the history moved into it stays out of it: no reader sees it as new.
        assert [(c.task_id, c.operation) for c in store.changes()] == [(6, "create"), (5, "update")]
    changes = [tuple(r) for r in snapshot(v1)["batchtaskchange"] if r[0] > 0]
    assert [(r[1], r[3]) for r in changes] == [(6, "create"), (5, "update")]


def test_alembic_agrees_the_upgraded_file_matches_the_models(v1: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from batchstore._schema import metadata

    BatchStore(v1).close()
    engine = create_engine(f"sqlite:///{v1}")
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_a_v1_file_opened_read_only_is_refused_untouched(v1: Path) -> None:
    before = fingerprint(v1)
    with pytest.raises(StorageError, match="needs an upgrade") as info:
        BatchStore(v1, read_only=True)
    assert "migrate" in str(info.value)
    assert fingerprint(v1) == before


def _open_at_once(path: str, barrier: Any, results: Any) -> None:
    import warnings

    warnings.simplefilter("error")
    try:
        barrier.wait(timeout=60)
        with BatchStore(path, timeout=60) as store:
            results.put(("ok", [t.id for t in store.list()]))
    except BaseException as exc:
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def open_at_once(target: str, processes: int = PROCESSES) -> list[tuple[str, Any]]:
    """``processes`` processes (spawned: each its own interpreter) open ``target`` at the same moment."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [context.Process(target=_open_at_once, args=(target, barrier, results)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    return outcomes


def test_processes_opening_a_v1_file_at_once_upgrade_it_once(v1: Path) -> None:
    before = snapshot(v1)
    outcomes = open_at_once(str(v1))
    assert outcomes == [("ok", V1_IDS)] * PROCESSES, outcomes
    after = snapshot(v1)
    for table in V1_TABLES:
        assert after[table] == before[table], table
    check_history_moved(before, after)  # moved once, however many processes opened it
    assert sqlite_versions(v1) == (SCHEMA_VERSION, [(HEAD,)])
    with BatchStore(v1) as store:
        check_v1_tasks(store)


def _newer_sqlite(tmp_path: Path, how: str) -> Path:
    path = tmp_path / f"newer-{how}.db"
    with BatchStore(path) as store:
        store.create({"Name": "kept"})
    conn = sqlite3.connect(path)
    try:
        with conn:
            if how == "user_version":
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
            conn.execute(f"UPDATE {VERSION_TABLE} SET version_num = '{SCHEMA_VERSION + 1:04d}'")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return path


@pytest.mark.parametrize("how", ["user_version", "version_table"])
@pytest.mark.parametrize("read_only", [False, True])
def test_a_newer_sqlite_file_is_refused_untouched(tmp_path: Path, how: str, read_only: bool) -> None:
    path = _newer_sqlite(tmp_path, how)
    before, content = fingerprint(path), snapshot(path)
    with pytest.raises(StorageError, match=NEWER):
        BatchStore(path, read_only=read_only)
    with pytest.raises(StorageError, match="newer"):
        migrate(str(path))
    with pytest.raises(StorageError, match="newer"):
        migration_sql(str(path))
    assert fingerprint(path) == before and snapshot(path) == content


def alembic_upgrade_sqlite(path: Path, revision: str) -> None:
    """Run batchstore's Alembic scripts up to ``revision`` on the SQLite file ``path``, as Alembic's command would."""
    from alembic import command
    from sqlalchemy import create_engine

    from batchstore._migrations import _config

    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            command.upgrade(_config(connection=conn), revision)
    finally:
        engine.dispose()


def test_alembic_base_to_head_makes_the_models_schema_on_sqlite(tmp_path: Path) -> None:
    migrated = tmp_path / "alembic.db"
    alembic_upgrade_sqlite(migrated, "head")
    assert sqlite_schema(migrated) == sqlite_schema(fresh_database(tmp_path))
    assert sqlite_versions(migrated) == (SCHEMA_VERSION, [(HEAD,)])


# --- version 2: the trace and the feed, written twice, become one table ------------------------------

# A version-2 database as batchstore 0.2.0 left it: task 1 (traced) was created at T1 and updated at T3,
# task 2 (internal) created at T2. Each traced change was written to the trace and to the feed; a prune
# then took the feed's rows up to id 4 (task 1's create among them) and the newest, 9, so the feed's id
# counter stands at 9 with 7 its largest row.
V2_TASK = (
    "INSERT INTO batchtask (id, name, is_system_task, is_internal_task, created, start_count, state, "
    "progress_percent, cancellation_behaviour, stop_requested, state_changed) "
    "VALUES ({p}, {p}, FALSE, {p}, {p}, 0, 1, 0, 0, FALSE, {p})"
)
V2_TRACE = (
    "INSERT INTO batchtasktrace (id, task_id, at, operation, worker, changes) VALUES ({p}, {p}, {p}, {p}, {p}, {p})"
)
V2_FEED = (
    "INSERT INTO batchtaskchange (id, task_id, at, operation, worker, changes, xid) "
    "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {xid})"
)
T1, T2, T3 = (f"2026-11-0{d}T10:00:00.000000+00:00" for d in (1, 2, 3))
CREATED_1 = (1, T1, "create", None, '{"Name":[null,"traced"]}')
UPDATED_1 = (1, T3, "update", "w", '{"Description":[null,"d"]}')
CREATED_2 = (2, T2, "create", None, '{"Name":[null,"internal"]}')


def fill_v2(execute: Callable[..., Any], p: str, xid: str) -> None:
    """The rows above, with ``p`` the driver's placeholder and ``xid`` what 0.2.0 wrote as the feed's xid."""
    execute(V2_TASK.format(p=p), (1, "traced", False, T1, T3))
    execute(V2_TASK.format(p=p), (2, "internal", True, T2, T2))
    execute(V2_TRACE.format(p=p), (1, *CREATED_1))
    execute(V2_TRACE.format(p=p), (2, *UPDATED_1))
    execute(V2_FEED.format(p=p, xid=xid), (5, *CREATED_2))
    execute(V2_FEED.format(p=p, xid=xid), (7, *UPDATED_1))


def check_v2_upgraded(store: BatchStore) -> None:
    assert [(h.operation, h.changes) for h in store.history(1)] == [
        ("create", {"Name": (None, "traced")}), ("update", {"Description": (None, "d")})
    ]
    assert store.history(2) == []
    # The feed is as it was: the same cursors, and the history moved in (task 1's create) out of sight.
    assert [(c.cursor, c.task_id, c.operation) for c in store.changes()] == [(5, 2, "create"), (7, 1, "update")]
    assert [c.cursor for c in store.changes(after=5)] == [7]
    # Ids go on past every one ever used by the feed (9), never below a cursor a reader may hold.
    store.update({"Id": 1, "Description": "after"})
    (change,) = store.changes(after=7)
    assert change.cursor > 9 and change.operation == "update"
    assert [h.operation for h in store.history(1)] == ["create", "update", "update"]
    # A deleted task's history leaves with it; its changes stay in the feed until a prune.
    store.delete(1)
    assert [c.operation for c in store.changes(after=5)] == ["update", "update", "delete"]


def test_a_v2_file_keeps_every_history_entry_and_every_cursor(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    alembic_upgrade_sqlite(path, "0002")
    conn = sqlite3.connect(path)
    try:
        with conn:
            fill_v2(conn.execute, "?", "NULL")
            conn.execute("UPDATE sqlite_sequence SET seq = 9 WHERE name = 'batchtaskchange'")
            conn.execute("INSERT INTO sqlite_sequence (name, seq) SELECT 'batchtaskchange', 9 WHERE changes() = 0")
    finally:
        conn.close()
    assert sqlite_versions(path) == (2, [("0002",)])
    with BatchStore(path) as store:
        check_v2_upgraded(store)
    assert sqlite_schema(path) == sqlite_schema(fresh_database(tmp_path))


# --- migrate() and migration_sql() on SQLite -----------------------------------------------------------


def test_migrate_reports_the_versions_before_and_after(v1: Path, tmp_path: Path) -> None:
    assert migrate(str(v1)) == (1, SCHEMA_VERSION)
    assert migrate(str(v1)) == (SCHEMA_VERSION, SCHEMA_VERSION)
    with BatchStore(v1, read_only=True) as store:
        check_v1_tasks(store)
    new = tmp_path / "new.db"
    assert migrate(str(new)) == (0, SCHEMA_VERSION)
    assert sqlite_versions(new) == (SCHEMA_VERSION, [(HEAD,)])
    assert migrate(f"sqlite:///{new}") == (SCHEMA_VERSION, SCHEMA_VERSION)


def test_migration_sql_of_a_v1_file_upgrades_it_when_run_by_hand(v1: Path, tmp_path: Path) -> None:
    before = fingerprint(v1)
    sql = migration_sql(str(v1))
    assert fingerprint(v1) == before
    assert "CREATE TABLE batchtaskchange" in sql
    assert HEAD in sql and f"PRAGMA user_version = {SCHEMA_VERSION}" in sql
    # What a DBA would do: run it with the sqlite3 shell's equivalent, then open the file.
    data = snapshot(v1)
    conn = sqlite3.connect(v1)
    try:
        conn.executescript(sql)
    finally:
        conn.close()
    assert sqlite_versions(v1) == (SCHEMA_VERSION, [(HEAD,)])
    assert sqlite_schema(v1) == sqlite_schema(fresh_database(tmp_path))
    with BatchStore(v1, read_only=True) as store:  # read-only: it must need no upgrade now
        check_v1_tasks(store)
    for table in V1_TABLES:
        assert snapshot(v1)[table] == data[table]


def test_migration_sql_of_a_current_or_missing_file(tmp_path: Path) -> None:
    current = fresh_database(tmp_path)
    before = fingerprint(current)
    assert migration_sql(str(current)) == ""
    assert fingerprint(current) == before
    missing = tmp_path / "missing.db"
    sql = migration_sql(str(missing))
    assert not missing.exists()
    assert "CREATE TABLE batchtask " in sql and "CREATE TABLE batchtaskchange" in sql
    created = tmp_path / "by-hand.db"
    conn = sqlite3.connect(created)
    try:
        conn.executescript(sql)
    finally:
        conn.close()
    assert sqlite_schema(created) == sqlite_schema(current)


# --- PostgreSQL ---------------------------------------------------------------------------------------


def with_search_path(url: str, schema: str) -> str:
    return url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"


@pytest.fixture
def pg() -> Iterator[tuple[str, Callable[[str], str]]]:
    """The server's URL, and ``new_schema(label)``: a fresh schema's name (all dropped after the test)."""
    url = require_postgres()
    import psycopg

    made: list[str] = []

    def new_schema(label: str) -> str:
        name = f"migration_tests_{label}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        made.append(name)
        return name

    yield url, new_schema
    with psycopg.connect(url, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def alembic_upgrade_postgres(url: str, schema: str, revision: str) -> None:
    """Run batchstore's Alembic scripts up to ``revision`` in ``schema``, as Alembic's command line would."""
    from alembic import command
    from sqlalchemy import create_engine

    from batchstore._engines import sqlalchemy_url
    from batchstore._migrations import _config

    engine = create_engine(sqlalchemy_url(url), connect_args={"options": f"-csearch_path={schema}"})
    try:
        with engine.begin() as conn:
            command.upgrade(_config(connection=conn), revision)
    finally:
        engine.dispose()


def pg_connect(url: str, schema: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True, options=f"-csearch_path={schema}")


def postgres_v1(url: str, schema: str) -> None:
    """A version-1 PostgreSQL database in ``schema``, holding the rows 0.1.0 wrote into the fixture."""
    alembic_upgrade_postgres(url, schema, "0001")
    source = sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True)
    booleans = {"is_system_task", "is_internal_task", "stop_requested"}
    try:
        with pg_connect(url, schema) as conn, conn.transaction():
            for table in ("binaryobject", "batchtask", "batchtasktrace"):
                cursor = source.execute(f"SELECT * FROM {table} ORDER BY id")
                names = [d[0] for d in cursor.description]
                for row in cursor:
                    values = [bool(v) if n in booleans else v for n, v in zip(names, row)]
                    conn.execute(
                        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})",
                        values,
                    )
                # As if the ids had been drawn from the sequence: task 5 was the newest ever made.
                (largest,) = source.execute(
                    "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), max(id)) FROM " + table,
                    (table,),
                ).fetchone()
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", (largest,))
    finally:
        source.close()


def pg_dump(url: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    with pg_connect(url, schema) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", (schema,)
        )]
        return {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in tables}


def pg_schema(url: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Columns (types, nullability, defaults), indexes and constraints of ``schema``, its name replaced by S."""
    import psycopg

    queries = {
        "columns": "SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length, "
        "is_nullable, column_default FROM information_schema.columns WHERE table_schema = %s ORDER BY 1, 3",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %s ORDER BY 1, 2",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = %s::regnamespace ORDER BY 1, 2",
    }
    with psycopg.connect(url, autocommit=True) as conn:
        return {
            what: [
                tuple(str(v).replace(f"{schema}.", "S.") if isinstance(v, str) else v for v in row)
                for row in conn.execute(sql, (schema,))
            ]
            for what, sql in queries.items()
        }


@pytest.mark.postgresql
def test_alembic_base_to_head_makes_the_models_schema_on_postgres(pg: tuple[str, Callable[[str], str]]) -> None:
    url, new_schema = pg
    migrated, fresh = new_schema("alembic"), new_schema("fresh")
    alembic_upgrade_postgres(url, migrated, "head")
    BatchStore(with_search_path(url, fresh)).close()
    ours, theirs = pg_schema(url, migrated), pg_schema(url, fresh)
    assert [c[:2] for c in ours["columns"]] == [c[:2] for c in theirs["columns"]]
    assert ours == theirs
    assert {r[0] for r in ours["columns"]} == {"batchtask", "binaryobject", "batchtaskchange",
                                               "batchstore_setting", VERSION_TABLE}
    assert pg_dump(url, migrated)[VERSION_TABLE] == pg_dump(url, fresh)[VERSION_TABLE] == [(HEAD,)]


@pytest.mark.postgresql
def test_a_postgres_v1_database_is_upgraded_in_place(pg: tuple[str, Callable[[str], str]]) -> None:
    url, new_schema = pg
    schema = new_schema("v1")
    postgres_v1(url, schema)
    target = with_search_path(url, schema)
    before = pg_dump(url, schema)
    assert before[VERSION_TABLE] == [("0001",)] and "batchtaskchange" not in before
    with pytest.raises(StorageError, match="needs an upgrade"):
        BatchStore(target, read_only=True)
    assert pg_dump(url, schema) == before
    sql = migration_sql(target)
    assert "CREATE TABLE batchtaskchange" in sql and f"UPDATE batchstore_version SET version_num='{HEAD}'" in sql
    assert pg_dump(url, schema) == before
    with BatchStore(target) as store:
        check_v1_tasks(store)
        assert store.create({"Name": "after the upgrade"}) == 6
    after = pg_dump(url, schema)
    assert after[VERSION_TABLE] == [(HEAD,)]
    for table in ("batchtask", "binaryobject"):
        assert after[table][: len(before[table])] == before[table], table
    check_history_moved(before, after)
    assert [r[1] for r in after["batchtaskchange"] if r[0] > 0] == [6]
    fresh = new_schema("fresh")
    BatchStore(with_search_path(url, fresh)).close()
    assert pg_schema(url, schema) == pg_schema(url, fresh)
    assert migrate(target) == (SCHEMA_VERSION, SCHEMA_VERSION) and migration_sql(target) == ""


@pytest.mark.postgresql
def test_migrate_and_migration_sql_on_postgres(pg: tuple[str, Callable[[str], str]]) -> None:
    url, new_schema = pg
    schema = new_schema("sql")
    postgres_v1(url, schema)
    target = with_search_path(url, schema)
    sql = migration_sql(target)
    with pg_connect(url, schema) as conn, conn.transaction():
        conn.execute(sql)  # what a DBA would run by hand
    with BatchStore(target, read_only=True) as store:
        check_v1_tasks(store)
    other = with_search_path(url, new_schema("migrate"))
    assert migrate(other) == (0, SCHEMA_VERSION)
    assert migrate(other) == (SCHEMA_VERSION, SCHEMA_VERSION)
    v1 = new_schema("v1")
    postgres_v1(url, v1)
    assert migrate(with_search_path(url, v1)) == (1, SCHEMA_VERSION)


@pytest.mark.postgresql
def test_processes_opening_a_postgres_v1_database_at_once_upgrade_it_once(
    pg: tuple[str, Callable[[str], str]],
) -> None:
    url, new_schema = pg
    schema = new_schema("race")
    postgres_v1(url, schema)
    before = pg_dump(url, schema)
    outcomes = open_at_once(with_search_path(url, schema), processes=6)
    assert outcomes == [("ok", V1_IDS)] * 6, outcomes
    after = pg_dump(url, schema)
    assert after[VERSION_TABLE] == [(HEAD,)]
    check_history_moved(before, after)  # once, by one of the six
    for table in ("batchtask", "binaryobject"):
        assert after[table] == before[table], table


@pytest.mark.postgresql
def test_a_postgres_v2_database_keeps_every_history_entry_and_every_cursor(
    pg: tuple[str, Callable[[str], str]],
) -> None:
    url, new_schema = pg
    schema = new_schema("v2")
    alembic_upgrade_postgres(url, schema, "0002")
    with pg_connect(url, schema) as conn, conn.transaction():
        fill_v2(conn.execute, "%s", "pg_current_xact_id()::text::bigint")
        conn.execute("SELECT setval(pg_get_serial_sequence('batchtaskchange', 'id'), 9)")
        conn.execute("SELECT setval(pg_get_serial_sequence('batchtask', 'id'), 2)")
    with BatchStore(with_search_path(url, schema)) as store:
        check_v2_upgraded(store)
    fresh = new_schema("fresh")
    BatchStore(with_search_path(url, fresh)).close()
    assert pg_schema(url, schema) == pg_schema(url, fresh)


@pytest.mark.postgresql
@pytest.mark.parametrize("read_only", [False, True])
def test_a_newer_postgres_database_is_refused_untouched(pg: tuple[str, Callable[[str], str]], read_only: bool) -> None:
    url, new_schema = pg
    schema = new_schema("newer")
    target = with_search_path(url, schema)
    with BatchStore(target) as store:
        store.create({"Name": "kept", "ParameterObject": {"a": 1}})
    with pg_connect(url, schema) as conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version_num = '{SCHEMA_VERSION + 1:04d}'")
    before, layout = pg_dump(url, schema), pg_schema(url, schema)
    with pytest.raises(StorageError, match=NEWER):
        BatchStore(target, read_only=read_only)
    with pytest.raises(StorageError, match="newer"):
        migrate(target)
    with pytest.raises(StorageError, match="newer"):
        migration_sql(target)
    assert pg_dump(url, schema) == before and pg_schema(url, schema) == layout


def test_an_upgrade_that_fails_leaves_the_file_as_it_was(v1: Path) -> None:
    # A table the upgrade would create, already there: the upgrade's CREATE fails half-way through.
    conn = sqlite3.connect(v1)
    try:
        conn.execute("CREATE TABLE batchtaskchange (id INTEGER PRIMARY KEY)")
        conn.commit()
    finally:
        conn.close()
    before = snapshot(v1)
    with pytest.raises(StorageError, match="upgrading the schema failed, nothing was changed"):
        BatchStore(v1)
    assert snapshot(v1) == before  # no version table, user_version still 1: the transaction rolled back
    with pytest.raises(StorageError, match="upgrading the schema failed"):
        migrate(str(v1))
    assert snapshot(v1) == before


@pytest.mark.postgresql
def test_a_waiting_postgres_upgrade_gives_up_after_the_timeout(pg: tuple[str, Callable[[str], str]]) -> None:
    import psycopg

    from batchstore._migrations import PG_LOCK_KEY as _PG_LOCK_KEY

    url, new_schema = pg
    schema = new_schema("wait")
    postgres_v1(url, schema)
    before = pg_dump(url, schema)
    with psycopg.connect(url) as holder:  # another process in the middle of an upgrade
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,))
        with pytest.raises(StorageError, match="open"):
            BatchStore(with_search_path(url, schema), timeout=1)
        holder.rollback()
    assert pg_dump(url, schema) == before
    with BatchStore(with_search_path(url, schema), timeout=5) as store:
        check_v1_tasks(store)
