"""The SQL batchstore runs is the schema its SQLModel models define."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from batchstore import BatchStore
from batchstore._fields import BY_ATTR, COLUMN_FIELDS
from batchstore._migrations import SCHEMA_VERSION, VERSION_TABLE
from batchstore._rows import COLUMNS, INSERT_COLUMNS, INTERNAL_COLUMNS
from batchstore._schema import BatchTask, BatchTaskChange, BinaryObject, sqlite_ddl


def test_the_runtime_columns_are_the_models_columns_in_order() -> None:
    assert [c.name for c in BatchTask.__table__.columns] == list(COLUMNS)  # type: ignore[attr-defined]
    assert COLUMNS[1:] == INSERT_COLUMNS
    assert set(INTERNAL_COLUMNS).isdisjoint(BY_ATTR)


def test_not_null_columns_are_the_fields_that_cannot_be_null() -> None:
    table = BatchTask.__table__  # type: ignore[attr-defined]
    for field in COLUMN_FIELDS[1:]:
        assert table.columns[field.attr].nullable == field.nullable, field.wire


def test_string_lengths_are_the_fields_limits() -> None:
    table = BatchTask.__table__  # type: ignore[attr-defined]
    for field in COLUMN_FIELDS:
        if field.kind == "str":
            assert table.columns[field.attr].type.length == field.max_length, field.wire


def test_a_new_file_gets_the_models_tables_and_the_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    BatchStore(path).close()
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    for model in (BatchTask, BinaryObject, BatchTaskChange):
        assert model.__tablename__ in tables  # type: ignore[attr-defined]
    assert {"ix_batchtask_state_id", "ix_batchtaskchange_task"} <= indexes
    assert "batchtasktrace" not in tables  # the trace is the feed's traced rows since schema version 3
    # Alembic's version table is made beside the models' tables, so that Alembic knows the schema.
    ours = {i for i in indexes if not i.startswith("sqlite_autoindex")}
    assert len(sqlite_ddl()) == len(tables - {"sqlite_sequence", VERSION_TABLE}) + len(ours)


def test_a_database_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    import pytest

    from batchstore import StorageError

    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 42")
    with pytest.raises(StorageError, match="version 42"):
        BatchStore(path)


def test_many_processes_creating_one_new_file_at_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "race.db"
    script = "import sys; from batchstore import BatchStore; BatchStore(sys.argv[1]).create({'Name': 'x'})"
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path)]) for _ in range(6)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 6
    with BatchStore(path) as store:
        assert sorted(t.id for t in store.list()) == [1, 2, 3, 4, 5, 6]


def test_a_new_file_gets_small_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    from batchstore._engines.sqlite import PAGE_SIZE

    new = tmp_path / "new.db"
    BatchStore(new).close()
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.execute("PRAGMA page_size = 4096")
        # A file with pages but no tables yet (another application's file is refused, see test_store).
        conn.execute("PRAGMA application_id = 0")
    assert old.stat().st_size == 4096
    BatchStore(old).close()
    with sqlite3.connect(new) as a, sqlite3.connect(old) as b:
        assert a.execute("PRAGMA page_size").fetchone() == (PAGE_SIZE,)
        assert b.execute("PRAGMA page_size").fetchone() == (4096,)
        assert b.execute("SELECT count(*) FROM batchtask").fetchone() == (0,)


def test_the_openapi_task_schema_follows_the_field_table() -> None:
    pytest.importorskip("fastapi")
    from batchstore._fields import FIELDS
    from batchstore.server._schemas import COMPONENTS

    properties = COMPONENTS["BatchTaskInfo"]["properties"]
    assert list(properties) == [f.wire for f in FIELDS]
    for field in FIELDS:
        schema = properties[field.wire]
        text = [s for s in schema.get("anyOf", [schema]) if s.get("type") == "string"]
        if field.kind == "str":
            assert text[0]["maxLength"] == field.max_length, field.wire
        if field.kind == "int32":
            assert schema["minimum"] == -(2**31) and schema["maximum"] == 2**31 - 1, field.wire
