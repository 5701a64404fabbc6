"""BatchStore on real SQLite files: opening, create, get, list, update, delete, and what each stores.

What is stored is read back with plain sqlite3 (the ``query``, ``dump`` and ``refuses`` fixtures).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import pickle
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack
import pytest

from batchstore import (
    BatchStore,
    BatchStoreError,
    BatchTaskInfo,
    BatchTaskState,
    CancellationBehaviour,
    ConfigurationError,
    InvalidTaskError,
    ReadOnlyFieldError,
    StorageError,
    StoreClosedError,
    TaskNotFoundError,
)

if TYPE_CHECKING:
    from conftest import Database

UTC = dt.UTC
WRITABLE = ("State", "Description", "Response", "Request")
#: Fields that FieldProperties describes: every field but the carrier's own two.
DATA_FIELDS = (
    "Id", "Name", "AssociateId", "DetailsTable", "DetailsRecord", "IsSystemTask", "IsInternalTask",
    "ParameterObject", "LastStarted", "Created", "StartCount", "DatabaseSerialNumber", "Context", "Result",
    "State", "Description", "Response", "Request", "ProgressDescription", "ProgressPercent", "FileName",
    "CancellationBehaviour",
)  # fmt: skip

#: One invalid value per rule, and the wire name the refusal must name.
INVALID_VALUES = [
    ("State", "All"),
    ("State", "InProgress"),
    ("State", 99999),
    ("State", True),
    ("CancellationBehaviour", "Never"),
    ("CancellationBehaviour", 3),
    ("ProgressPercent", 762),
    ("ProgressPercent", 416),
    ("ProgressPercent", -1),
    ("StartCount", 2**31),
    ("AssociateId", -(2**31) - 1),
    ("AssociateId", True),
    ("DetailsTable", "205"),
    ("IsSystemTask", 1),
    ("IsInternalTask", "false"),
    ("Name", "x" * 255),
    ("FileName", "x" * 261),
    ("Description", 42),
    ("Created", "2024-11-27T14:00:00"),
    ("Created", "not a date"),
    ("LastStarted", "2024-11-27T14:00:00+24:00"),
]


# --- opening and closing ------------------------------------------------------------------------


def test_a_file_store_creates_the_file_and_both_tables(db: Database) -> None:
    assert db.tables() == set()  # on SQLite: no file yet; on PostgreSQL: an empty schema
    with BatchStore(db.url):
        pass
    assert {"batchtask", "binaryobject", "batchtaskchange"} <= db.tables()


def test_a_path_object_opens_the_file(db: Database, query: Any) -> None:
    with BatchStore(db.target) as store:  # type: ignore[arg-type]
        store.create({"Name": "a"})
    assert query("SELECT name FROM batchtask") == [("a",)]


def test_a_sqlalchemy_url_opens_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = tmp_path / "absolute.db"
    with BatchStore(f"sqlite:///{absolute}") as store:
        store.create({"Name": "absolute"})
    monkeypatch.chdir(tmp_path)
    with BatchStore("sqlite:///relative.db") as store:
        store.create({"Name": "relative"})
    for path, name in ((absolute, "absolute"), (tmp_path / "relative.db", "relative")):
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("SELECT name FROM batchtask").fetchall() == [(name,)]
        finally:
            conn.close()


@pytest.mark.parametrize("database", [None, "sqlite://", "sqlite:///:memory:"])
def test_in_memory_stores_are_private(database: str | None) -> None:
    with BatchStore(database) as first, BatchStore(database) as second:
        first.create({"Name": "only in first"})
        assert [t.name for t in first.list()] == ["only in first"]
        assert list(second.list()) == []


@pytest.mark.parametrize("url", ["mysql+pymysql://u:p@h/d", "oracle://scott@db"])
def test_an_unsupported_url_is_a_storage_error(url: str) -> None:
    with pytest.raises(StorageError, match="open"):
        BatchStore(url)


def test_a_file_that_is_not_a_database_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are not the tables you are looking for\n" * 200)
    with pytest.raises(StorageError, match=r"not a database|damaged"):
        BatchStore(str(path))
    assert path.read_bytes() == b"these are not the tables you are looking for\n" * 200


def test_tasks_survive_closing_and_reopening(db: Database) -> None:
    with BatchStore(db.url) as store:
        task_id = store.create({"Name": "durable", "ParameterObject": {"n": 1}})
    with BatchStore(db.url) as store:
        task = store.get(task_id)
    assert (task.name, task.parameter_object) == ("durable", {"n": 1})


def test_the_context_manager_closes_the_store(db: Database) -> None:
    with BatchStore(db.url) as store:
        assert not store.closed
    assert store.closed
    store.close()  # closing twice is harmless
    with pytest.raises(StoreClosedError):
        store.get(1)


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("create", lambda s: s.create({"Name": "x"})),
        ("create_many", lambda s: s.create_many([{"Name": "x"}])),
        ("get", lambda s: s.get(1)),
        ("list", lambda s: list(s.list())),
        ("list state", lambda s: list(s.list("New", select="Id"))),
        ("update", lambda s: s.update({"Id": 1, "State": "Failed"})),
        ("patch", lambda s: s.patch(1, [{"op": "replace", "path": "/State", "value": "Failed"}])),
        ("delete", lambda s: s.delete(1)),
    ],
)
def test_every_operation_on_a_closed_store_is_refused(
    db: Database, dump: Any, operation: str, call: Callable[[BatchStore], object]
) -> None:
    store = BatchStore(db.url)
    store.create({"Name": "kept"})
    store.close()
    before = db.snapshot()
    with pytest.raises(StoreClosedError) as info:
        call(store)
    assert isinstance(info.value, BatchStoreError)
    assert "closed" in str(info.value)
    assert db.snapshot() == before


# --- create -------------------------------------------------------------------------------------


def test_create_ignores_the_id_sent_and_returns_new_ids(store: BatchStore, seed: Any, query: Any) -> None:
    body = seed("001")
    body["State"], body["ProgressPercent"] = "New", 76  # the seed's own values are invalid
    first = store.create(body)
    second = store.create(body)
    assert first != 254
    assert second > first
    assert [row[0] for row in query("SELECT id FROM batchtask ORDER BY id")] == [first, second]
    assert store.get(first).id == first


def test_create_fills_in_the_defaults(store: BatchStore, query: Any) -> None:
    before = dt.datetime.now(UTC)
    task_id = store.create({"Name": "defaults"})
    after = dt.datetime.now(UTC)
    task = store.get(task_id)
    assert task.created is not None
    assert task.created.tzinfo is not None
    assert task.created.utcoffset() == dt.timedelta(0)
    assert before - dt.timedelta(seconds=1) <= task.created <= after + dt.timedelta(seconds=1)
    assert task.state is BatchTaskState.New
    assert task.start_count == 0
    assert task.progress_percent == 0
    assert task.cancellation_behaviour is CancellationBehaviour.CanCancel
    ((state, start_count, percent, behaviour, created),) = query(
        "SELECT state, start_count, progress_percent, cancellation_behaviour, created FROM batchtask"
    )
    assert (state, start_count, percent, behaviour) == (1, 0, 0, 0)
    assert created is not None


def test_create_stores_every_field_it_was_given(store: BatchStore, seed: Any) -> None:
    body = seed("002")
    task_id = store.create(body)
    wire = store.get(task_id).to_wire()
    for key in body:
        if key in ("Id", "DetailsTable", "DetailsRecord", "TableRight", "FieldProperties"):
            continue
        if key in ("Created", "LastStarted"):
            assert dt.datetime.fromisoformat(wire[key]) == dt.datetime.fromisoformat(body[key])
        else:
            assert wire[key] == body[key], key
    assert wire["Id"] == task_id


def test_create_accepts_snake_case_keys_and_a_batch_task_info(store: BatchStore) -> None:
    first = store.create({"name": "snake", "progress_percent": 5, "state": "failed"})
    second = store.create(BatchTaskInfo(name="info", progress_percent=6, state=BatchTaskState.Failed))
    assert [(t.name, t.progress_percent, t.state) for t in store.list("Failed")] == [
        ("snake", 5, BatchTaskState.Failed),
        ("info", 6, BatchTaskState.Failed),
    ]
    assert second == first + 1


def test_table_right_and_field_properties_are_accepted_and_ignored_on_input(store: BatchStore, seed: Any) -> None:
    body = seed("002")
    body["TableRight"] = {"Mask": "Nothing", "Reason": "mine"}
    task = store.get(store.create(body))
    assert "fieldName" not in task.field_properties
    assert task.field_properties["Name"]["FieldRight"]["Mask"] == "Read"
    assert task.table_right["Mask"] != "Nothing"


@pytest.mark.parametrize(
    ("number", "fix", "named"),
    [
        ("001", {}, "State"),  # State "All" (and ProgressPercent 762)
        ("001", {"State": "New"}, "ProgressPercent"),  # 762
        ("000", {}, "State"),  # "InProgress"
        ("003", {}, "State"),  # "All" (and ProgressPercent 416)
        ("003", {"State": "Failed"}, "ProgressPercent"),  # 416
    ],
)
def test_the_seed_samples_invalid_values_are_refused(
    store: BatchStore, seed: Any, refuses: Any, number: str, fix: dict[str, Any], named: str
) -> None:
    body = {**seed(number), **fix}
    with refuses(InvalidTaskError, named) as info:
        store.create(body)
    assert info.value.field == named


@pytest.mark.parametrize(("field", "value"), INVALID_VALUES)
def test_create_refuses_an_invalid_value_naming_the_field(
    store: BatchStore, refuses: Any, field: str, value: object
) -> None:
    store.create({"Name": "already there", "ParameterObject": [1]})
    with refuses(InvalidTaskError, field) as info:
        store.create({"Name": "new", "ParameterObject": {"a": 1}, field: value})
    assert info.value.field == field


@pytest.mark.parametrize("task", [None, [], "Name", 7, [("Name", "x")], {"Nope": 1}, {"Name": "x", "Colour": "red"}])
def test_create_refuses_what_is_not_a_task(store: BatchStore, refuses: Any, task: object) -> None:
    with refuses(InvalidTaskError):
        store.create(task)  # type: ignore[arg-type]


def test_create_many_returns_the_ids_in_order(store: BatchStore, query: Any) -> None:
    ids = store.create_many({"Name": f"task {n}", "ParameterObject": n} for n in range(5))
    assert ids == sorted(ids)
    assert len(set(ids)) == 5
    assert [(t.id, t.name, t.parameter_object) for t in store.list()] == [
        (task_id, f"task {n}", n) for n, task_id in enumerate(ids)
    ]
    assert query("SELECT count(*) FROM binaryobject") == [(5,)]
    assert store.create_many([]) == []


@pytest.mark.parametrize(("field", "value"), [("ProgressPercent", 762), ("State", "All"), ("Colour", "red")])
def test_create_many_is_all_or_nothing(store: BatchStore, refuses: Any, field: str, value: object) -> None:
    store.create({"Name": "before"})
    tasks = [{"Name": "ok", "ParameterObject": [1]}, {"Name": "ok too"}, {"Name": "bad", field: value}]
    with refuses(InvalidTaskError, field):
        store.create_many(tasks)


def test_create_many_with_a_blob_over_the_limit_writes_nothing(db: Database, refuses: Any) -> None:
    with BatchStore(db.url, max_blob_bytes=64) as store, refuses(InvalidTaskError, "ParameterObject"):
        store.create_many([{"ParameterObject": "small"}, {"ParameterObject": "x" * 100}])


# --- get ----------------------------------------------------------------------------------------


def test_get_returns_the_stored_task(store: BatchStore, seed: Any) -> None:
    body = seed("002")
    task_id = store.create(body)
    task = store.get(task_id)
    assert isinstance(task, BatchTaskInfo)
    assert task.id == task_id
    assert task.state is BatchTaskState.Succeeded
    assert task.created == dt.datetime(2024, 11, 27, 8, 0, tzinfo=UTC)
    assert task.parameter_object == body["ParameterObject"]
    json.dumps(task.to_wire())


@pytest.mark.parametrize("task_id", [2, 0, -1, 2**31 - 1, 2**40])
def test_get_of_an_unknown_id_is_task_not_found(store: BatchStore, task_id: int) -> None:
    store.create({"Name": "the only one"})
    with pytest.raises(TaskNotFoundError) as info:
        store.get(task_id)
    assert isinstance(info.value, LookupError)
    assert str(task_id) in str(info.value)
    assert "get" in str(info.value)


@pytest.mark.parametrize("task_id", ["1", 1.0, None, True, [1]])
def test_get_refuses_an_id_that_is_not_an_integer(store: BatchStore, task_id: object) -> None:
    store.create({"Name": "x"})
    with pytest.raises(InvalidTaskError, match="Id"):
        store.get(task_id)  # type: ignore[arg-type]


# --- list ---------------------------------------------------------------------------------------

STATES = ["New", "Failed", "Started", "New", "Succeeded", "Failed", "Aquired", "Unknown", "SucceededManualCleanup"]


@pytest.fixture
def mixed(store: BatchStore) -> list[int]:
    """Tasks in several states, in the order of STATES."""
    return store.create_many([{"Name": f"t{n}", "State": state} for n, state in enumerate(STATES)])


@pytest.mark.parametrize("state", ["All", "all", "ALL", BatchTaskState.All, 99999])
def test_list_all_returns_every_task_by_id(store: BatchStore, mixed: list[int], state: object) -> None:
    assert [t.id for t in store.list(state)] == mixed  # type: ignore[arg-type]
    assert [t.id for t in store.list()] == mixed


@pytest.mark.parametrize(
    ("state", "name"),
    [
        ("New", "New"), ("new", "New"), (1, "New"), (BatchTaskState.New, "New"),
        ("Failed", "Failed"), (5, "Failed"), ("acquired", "Aquired"), ("Aquired", "Aquired"),
        ("Unknown", "Unknown"), (0, "Unknown"), ("succeededmanualcleanup", "SucceededManualCleanup"),
        ("Started", "Started"),
    ],
)  # fmt: skip
def test_list_one_state_returns_its_tasks_by_id(store: BatchStore, mixed: list[int], state: object, name: str) -> None:
    listed = list(store.list(state))  # type: ignore[arg-type]
    assert [t.id for t in listed] == [task_id for task_id, s in zip(mixed, STATES) if s == name]
    assert all(t.state is BatchTaskState[name] for t in listed)


@pytest.mark.parametrize("state", ["InProgress", "", 7, -1, True, 1.5, None])
def test_list_refuses_an_unknown_state(store: BatchStore, state: object) -> None:
    with pytest.raises(InvalidTaskError, match="State"):
        list(store.list(state))  # type: ignore[arg-type]


def test_list_of_an_empty_store_is_empty(store: BatchStore) -> None:
    assert list(store.list()) == []
    assert list(store.list("New")) == []


def test_list_streams_more_than_a_thousand_tasks_in_id_order(store: BatchStore) -> None:
    count = 1203
    states = ["New", "Started", "Failed"]
    ids = store.create_many({"Name": f"t{n}", "State": states[n % 3]} for n in range(count))
    listed = store.list(select="Id,State")
    assert not isinstance(listed, list)  # an iterator, read a page at a time
    assert [t.id for t in listed] == ids
    for offset, state in enumerate(states):
        assert [t.id for t in store.list(state, select="Id")] == ids[offset::3]


def test_tasks_can_be_updated_while_listing(store: BatchStore, query: Any) -> None:
    ids = store.create_many({"Name": f"t{n}"} for n in range(1100))
    seen = []
    for task in store.list("New", select="Id,State"):
        seen.append(task.id)
        store.update({"Id": task.id, "State": "Started", "Response": f"seen {task.id}"})
        if task.id == ids[10]:
            store.create({"Name": "created while listing"})  # a New task after the last id
    assert seen == [*ids, ids[-1] + 1]
    assert query("SELECT count(*) FROM batchtask WHERE state = 3") == [(len(ids) + 1,)]
    assert list(store.list("New")) == []
    done = 0
    for task in store.list("All", select="Id"):
        store.patch(task.id, [{"op": "replace", "path": "/Description", "value": "done"}])
        done += 1
    assert done == len(ids) + 1
    assert query("SELECT DISTINCT description FROM batchtask") == [("done",)]


@pytest.mark.sqlite_only("sqlite3's trace hook and EXPLAIN QUERY PLAN")
@pytest.mark.parametrize("select", [None, "Id", "Id,State", "Name,ParameterObject"])
def test_listing_one_state_walks_an_index_not_the_table(
    store: BatchStore, db: Database, sql_trace: list[str], select: str | None
) -> None:
    store.create_many([{"Name": f"t{n}", "State": ["New", "Failed"][n % 2], "ParameterObject": n} for n in range(20)])
    sql_trace.clear()
    assert len(list(store.list("Failed", select=select))) == 10
    selects = [s for s in sql_trace if s.lstrip().upper().startswith("SELECT") and "batchtask" in s]
    assert selects, sql_trace
    conn = sqlite3.connect(db.target)
    try:
        for statement in selects:
            plan = " | ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}"))
            batchtask_steps = [step for step in plan.split(" | ") if " t " in f" {step} " or "batchtask" in step]
            assert batchtask_steps, plan
            assert all("INDEX" in step and "state" in step for step in batchtask_steps), plan
            assert not any(step.startswith("SCAN") for step in batchtask_steps), plan
    finally:
        conn.close()


def test_the_state_index_exists_in_the_file(store: BatchStore, db: Database, query: Any) -> None:
    store.create({"Name": "x"})
    if db.is_postgres:  # its planner scans a table this small whatever the indexes: look at them instead
        definitions = [d for (d,) in query("SELECT indexdef FROM pg_indexes WHERE tablename = 'batchtask'"
                                           " AND schemaname = current_schema()")]
        assert any("(state" in d for d in definitions), definitions
        return
    plan = query("EXPLAIN QUERY PLAN SELECT id FROM batchtask WHERE state = ? ORDER BY id", 1)
    detail = " ".join(row[-1] for row in plan)
    assert "USING COVERING INDEX" in detail or "USING INDEX" in detail
    assert "SCAN" not in detail


# --- update -------------------------------------------------------------------------------------


@pytest.fixture
def task_id(store: BatchStore, seed: Any) -> int:
    """A task made from seed 002 (valid), with a ParameterObject."""
    return store.create(seed("002"))


def test_get_modify_update_round_trips(store: BatchStore, task_id: int, query: Any) -> None:
    task = store.get(task_id)
    task.state = "Started"
    task.description = "changed"
    task.response = None
    task.request = "again"
    updated = store.update(task)
    assert updated.state is BatchTaskState.Started
    assert (updated.description, updated.response, updated.request) == ("changed", None, "again")
    assert query("SELECT state, description, response, request FROM batchtask WHERE id = ?", task_id) == [
        (3, "changed", None, "again")
    ]
    assert store.get(task_id) == updated


def test_get_modify_update_round_trips_in_the_wire_form(store: BatchStore, task_id: int) -> None:
    wire = json.loads(json.dumps(store.get(task_id).to_wire()))
    wire["State"] = "Failed"
    assert store.update(wire).state is BatchTaskState.Failed


def test_wire_round_trip_with_datetimes_and_bytes_in_the_parameter_object(store: BatchStore) -> None:
    task_id = store.create({"Name": "x", "ParameterObject": {"at": dt.datetime(2024, 1, 1, tzinfo=UTC), "b": b"\0"}})
    wire = json.loads(json.dumps(store.get(task_id).to_wire()))
    wire["State"] = "Failed"
    assert store.update(wire).state is BatchTaskState.Failed


@pytest.mark.parametrize(
    ("field", "value", "column", "stored"),
    [
        ("State", "Succeeded", "state", 4),
        ("State", "acquired", "state", 2),
        ("State", 5, "state", 5),
        ("State", BatchTaskState.Unknown, "state", 0),
        ("Description", "new description", "description", "new description"),
        ("Description", None, "description", None),
        ("Response", "r" * 254, "response", "r" * 254),
        ("Request", "", "request", ""),
    ],
)
def test_update_changes_a_writable_field(
    store: BatchStore, task_id: int, query: Any, dump: Any, db: Database,
    field: str, value: object, column: str, stored: object,
) -> None:  # fmt: skip
    other = store.create({"Name": "bystander", "ParameterObject": "p"})
    bystander = query("SELECT * FROM batchtask WHERE id = ?", other)
    blobs = query("SELECT * FROM binaryobject")
    store.update({"Id": task_id, field: value})
    assert query(f"SELECT {column} FROM batchtask WHERE id = ?", task_id) == [(stored,)]
    assert query("SELECT * FROM batchtask WHERE id = ?", other) == bystander
    assert query("SELECT * FROM binaryobject") == blobs


def test_update_with_a_batch_task_info_compares_only_the_fields_set(store: BatchStore, task_id: int) -> None:
    before = store.get(task_id)
    updated = store.update(BatchTaskInfo(id=task_id, state="Failed"))
    assert updated.state is BatchTaskState.Failed
    assert updated.name == before.name
    assert updated.parameter_object == before.parameter_object


def test_update_accepts_read_only_fields_with_their_stored_values(store: BatchStore, task_id: int) -> None:
    stored = store.get(task_id)
    same = {
        "Id": task_id,
        "Name": stored.name,
        "ProgressPercent": stored.progress_percent,
        "Created": "2024-11-27T10:00:00+02:00",  # the same instant in another offset
        "IsSystemTask": False,
        "CancellationBehaviour": 0,
        "ParameterObject": stored.parameter_object,
        "TableRight": {"Mask": "anything"},  # the carrier's rights are ignored on input
        "FieldProperties": None,
        "Description": "changed",
    }
    assert store.update(same).description == "changed"


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"Name": "renamed"}, ["Name"]),
        ({"ProgressPercent": 50}, ["ProgressPercent"]),
        ({"AssociateId": 1}, ["AssociateId"]),
        ({"IsSystemTask": True}, ["IsSystemTask"]),
        ({"Created": "2001-01-01T00:00:00Z"}, ["Created"]),
        ({"LastStarted": None}, ["LastStarted"]),
        ({"CancellationBehaviour": "CannotCancel"}, ["CancellationBehaviour"]),
        ({"DetailsTable": 999}, ["DetailsTable"]),
        ({"DetailsRecord": 999}, ["DetailsRecord"]),
        ({"ParameterObject": {"other": 1}}, ["ParameterObject"]),
        ({"ParameterObject": None}, ["ParameterObject"]),
        ({"FileName": "other.log", "Name": "renamed", "State": "Failed"}, ["FileName", "Name"]),
        ({"progress_percent": 1, "start_count": 2, "description": "d"}, ["ProgressPercent", "StartCount"]),
    ],
)
def test_update_of_a_read_only_field_is_refused_naming_it(
    store: BatchStore, task_id: int, refuses: Any, changes: dict[str, Any], named: list[str]
) -> None:
    with refuses(ReadOnlyFieldError, *named) as info:
        store.update({"Id": task_id, **changes})
    assert set(info.value.fields) == set(named)
    assert isinstance(info.value, InvalidTaskError)


def test_update_of_a_modified_batch_task_info_names_every_read_only_change(
    store: BatchStore, task_id: int, refuses: Any
) -> None:
    task = store.get(task_id)
    task.name = "renamed"
    task.progress_percent = 1
    task.state = "Failed"
    with refuses(ReadOnlyFieldError, "Name", "ProgressPercent") as info:
        store.update(task)
    assert set(info.value.fields) == {"Name", "ProgressPercent"}


@pytest.mark.parametrize("task", [{"State": "Failed"}, {"Id": None, "State": "Failed"}, BatchTaskInfo(state="Failed")])
def test_update_without_an_id_is_refused(store: BatchStore, task_id: int, refuses: Any, task: Any) -> None:
    with refuses(InvalidTaskError, "Id") as info:
        store.update(task)
    assert not isinstance(info.value, TaskNotFoundError)


@pytest.mark.parametrize("changes", [{"State": "Failed"}, {"Name": "x"}, {"Description": "d", "Request": "r"}])
def test_update_of_an_unknown_id_is_task_not_found(
    store: BatchStore, task_id: int, refuses: Any, changes: dict[str, Any]
) -> None:
    with refuses(TaskNotFoundError, str(task_id + 100)):
        store.update({"Id": task_id + 100, **changes})


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"State": None}, "State"),
        ({"State": "All"}, "State"),
        ({"State": "InProgress"}, "State"),
        ({"Description": "d" * 255}, "Description"),
        ({"Response": 5}, "Response"),
        ({"Request": ["r"]}, "Request"),
        ({"Colour": "red"}, "Colour"),
    ],
)
def test_update_refuses_invalid_values(
    store: BatchStore, task_id: int, refuses: Any, changes: dict[str, Any], named: str
) -> None:
    with refuses(InvalidTaskError, named):
        store.update({"Id": task_id, **changes})


def test_update_returns_the_selected_fields(store: BatchStore, task_id: int) -> None:
    result = store.update({"Id": task_id, "State": "Failed"}, select="State")
    assert result.fields_set == {"id", "state"}
    assert (result.id, result.state, result.name) == (task_id, BatchTaskState.Failed, None)


# --- the whitelist ------------------------------------------------------------------------------


@pytest.mark.parametrize("field", DATA_FIELDS)
def test_field_properties_show_the_default_whitelist(store: BatchStore, task_id: int, field: str) -> None:
    task = store.get(task_id)
    assert store.writable == WRITABLE
    mask = task.to_wire()["FieldProperties"][field]["FieldRight"]["Mask"]
    assert mask == ("Update" if field in WRITABLE else "Read")


def test_field_properties_show_a_custom_whitelist(db: Database) -> None:
    with BatchStore(db.url, writable=["progress_percent", "STATE", "ProgressDescription"]) as store:
        task = store.get(store.create({"Name": "x"}))
    masks = {field: props["FieldRight"]["Mask"] for field, props in task.to_wire()["FieldProperties"].items()}
    assert set(masks) == set(DATA_FIELDS)
    assert {field for field, mask in masks.items() if mask == "Update"} == {
        "ProgressPercent", "State", "ProgressDescription",
    }  # fmt: skip
    assert set(masks.values()) == {"Update", "Read"}


def test_a_custom_whitelist_decides_what_update_may_change(db: Database, refuses: Any) -> None:
    with BatchStore(db.url, writable=["ProgressPercent", "Name"]) as store:
        task_id = store.create({"Name": "x", "Description": "d"})
        assert store.update({"Id": task_id, "ProgressPercent": 50, "Name": "y"}).progress_percent == 50
        with refuses(ReadOnlyFieldError, "Description"):
            store.update({"Id": task_id, "Description": "changed"})
        with refuses(InvalidTaskError, "ProgressPercent"):
            store.update({"Id": task_id, "ProgressPercent": 101})
        with refuses(ReadOnlyFieldError, "State"):
            store.update({"Id": task_id, "State": "Failed"})


@pytest.mark.parametrize("name", ["Nope", "Colour"])
def test_an_unknown_writable_name_is_refused(db: Database, name: str) -> None:
    with pytest.raises(InvalidTaskError, match=name):
        BatchStore(db.url, writable=["State", name])


# --- delete -------------------------------------------------------------------------------------


def test_delete_removes_the_task_and_its_blob(store: BatchStore, query: Any) -> None:
    keep = store.create({"Name": "keep", "ParameterObject": {"keep": True}})
    gone = store.create({"Name": "gone", "ParameterObject": {"keep": False}})
    (gone_blob,) = query("SELECT details_record FROM batchtask WHERE id = ?", gone)[0]
    assert store.delete(gone) is None
    assert query("SELECT id FROM batchtask") == [(keep,)]
    assert query("SELECT id FROM binaryobject WHERE id = ?", gone_blob) == []
    assert query("SELECT count(*) FROM binaryobject") == [(1,)]
    assert store.get(keep).parameter_object == {"keep": True}
    with pytest.raises(TaskNotFoundError):
        store.get(gone)


def test_delete_without_a_blob(store: BatchStore, query: Any) -> None:
    task_id = store.create({"Name": "plain"})
    store.delete(task_id)
    assert query("SELECT count(*) FROM batchtask") == [(0,)]


@pytest.mark.parametrize("task_id", [3, 0, -1])
def test_delete_of_an_unknown_id_is_task_not_found_and_writes_nothing(
    store: BatchStore, refuses: Any, task_id: int
) -> None:
    store.create_many([{"Name": "a", "ParameterObject": 1}, {"Name": "b"}])
    with refuses(TaskNotFoundError, str(task_id), "delete"):
        store.delete(task_id)


@pytest.mark.parametrize("task_id", ["1", None, 1.0, True])
def test_delete_refuses_an_id_that_is_not_an_integer(store: BatchStore, refuses: Any, task_id: object) -> None:
    store.create({"Name": "a"})
    with refuses(InvalidTaskError, "Id"):
        store.delete(task_id)  # type: ignore[arg-type]


def test_delete_never_follows_a_callers_details_link(store: BatchStore, query: Any) -> None:
    owner = store.create({"Name": "owner", "ParameterObject": {"secret": 1}})
    (blob_id,) = query("SELECT details_record FROM batchtask WHERE id = ?", owner)[0]
    pointer = store.create({"Name": "pointer", "DetailsTable": 205, "DetailsRecord": blob_id})
    assert (store.get(pointer).details_table, store.get(pointer).details_record) == (205, blob_id)
    assert store.get(pointer).parameter_object is None
    store.delete(pointer)
    assert query("SELECT count(*) FROM binaryobject WHERE id = ?", blob_id) == [(1,)]
    assert store.get(owner).parameter_object == {"secret": 1}


def test_a_caller_link_to_a_deleted_blob_is_left_as_given(store: BatchStore, query: Any) -> None:
    owner = store.create({"Name": "owner", "ParameterObject": [1]})
    blob_id = store.get(owner).details_record
    pointer = store.create({"Name": "pointer", "DetailsTable": 205, "DetailsRecord": blob_id})
    store.delete(owner)
    assert query("SELECT count(*) FROM binaryobject") == [(0,)]
    task = store.get(pointer)
    assert (task.details_table, task.details_record, task.parameter_object) == (205, blob_id, None)


def test_ids_are_never_reused_not_even_the_newest(db: Database, query: Any) -> None:
    with BatchStore(db.url) as store:
        first = store.create({"Name": "a", "ParameterObject": 1})
        newest = store.create({"Name": "b", "ParameterObject": 2})
        newest_blob = store.get(newest).details_record
        store.delete(newest)
        again = store.create({"Name": "c", "ParameterObject": 3})
        assert again > newest > first
        assert store.get(again).details_record > newest_blob
        store.delete(again)
    with BatchStore(db.url) as store:  # and not after reopening either
        assert store.create({"Name": "d"}) > again
    assert [row[0] for row in query("SELECT id FROM batchtask ORDER BY id")] == [first, again + 1]


# --- errors of the layers below -----------------------------------------------------------------


def test_a_read_only_database_file_is_a_storage_error(db: Database, dump: Any) -> None:
    with BatchStore(db.url) as store:
        store.create({"Name": "x"})
    before = db.snapshot()
    # SQLite: a read-only open of the file; PostgreSQL: read-only sessions (the read_only option).
    with BatchStore(db.url, read_only=True) if db.is_postgres else BatchStore(f"file:{db.target}?mode=ro") as store:
        assert store.get(1).name == "x"
        with pytest.raises(StorageError, match="create"):
            store.create({"Name": "y"})
    assert db.snapshot() == before


def test_a_database_of_another_schema_version_is_a_storage_error(db: Database) -> None:
    if db.is_postgres:
        BatchStore(db.url).close()
        db.execute("UPDATE batchstore_version SET version_num = '999'")
    else:
        db.execute("PRAGMA user_version = 999")
    with pytest.raises(StorageError, match="999"):
        BatchStore(db.url)


def test_stored_msgpack_is_what_the_task_row_links_to(store: BatchStore, query: Any) -> None:
    value = {"ParameterObject1": "source=SAP", "n": [1, 2.5, None, True]}
    task_id = store.create({"Name": "x", "DetailsTable": 239, "DetailsRecord": 63, "ParameterObject": value})
    ((table, record),) = query("SELECT details_table, details_record FROM batchtask WHERE id = ?", task_id)
    assert table == 205
    ((data,),) = query("SELECT data FROM binaryobject WHERE id = ?", record)
    assert msgpack.unpackb(data) == value


def test_create_many_refused_past_its_first_chunks_writes_nothing(store: BatchStore, db: Database) -> None:

    store.create({"Name": "kept", "ParameterObject": [1]})
    before = db.snapshot()

    def tasks():  # a generator: create_many must not need a list
        for i in range(2500):
            yield {"Name": f"t{i}", "ParameterObject": {"i": i}, "ProgressPercent": 762 if i == 2200 else 5}

    with pytest.raises(InvalidTaskError, match="task 2200") as info:
        store.create_many(tasks())
    assert info.value.field == "ProgressPercent"
    assert db.snapshot() == before
    assert [t.id for t in store.list()] == [1]
    assert store.create_many(t for t in [{"Name": "a"}, {"Name": "b"}]) == [2, 3]


# --- hardening (issue 7, items 4, 5, 7, 10) ------------------------------------------------------

STRING_FIELDS = ("Name", "DatabaseSerialNumber", "Context", "Result", "Description", "Response", "Request",
                 "ProgressDescription", "FileName")
SURROGATE = "ok \ud800"


def printable(error: BaseException) -> None:
    """The message of a refusal can be written anywhere (a terminal, a UTF-8 log)."""
    str(error).encode("utf-8")


@pytest.mark.parametrize("field", STRING_FIELDS)
def test_a_lone_surrogate_in_a_string_field_is_refused_by_every_door(
    store: BatchStore, refuses: Any, field: str
) -> None:
    existing = store.create({"Name": "already there", "Description": "d"})
    with refuses(InvalidTaskError, field, "surrogate") as info:
        store.create({"Name": "x", field: SURROGATE})
    assert info.value.field == field
    printable(info.value)
    with refuses(InvalidTaskError, field, "surrogate"):
        store.create_many([{"Name": "fine"}, {"Name": "x", field: SURROGATE}])
    with refuses(InvalidTaskError, field, "surrogate"):
        store.update({"Id": existing, field: SURROGATE})
    with refuses(InvalidTaskError, field):
        store.patch(existing, [{"op": "replace", "path": f"/{field}", "value": SURROGATE}])
    with pytest.raises(InvalidTaskError, match=field):
        BatchTaskInfo.from_wire({field: SURROGATE})


def test_a_lone_surrogate_in_a_parameter_object_is_refused(store: BatchStore, refuses: Any) -> None:
    store.create({"Name": "already there"})
    with refuses(InvalidTaskError, "ParameterObject", "/a/k\\udc00"):
        store.create({"Name": "x", "ParameterObject": {"a": {"k\udc00": "v"}}})
    with refuses(InvalidTaskError, "ParameterObject", "/a/0"):
        store.create_many([{"Name": "x", "ParameterObject": {"a": ["\udfff"]}}])


@pytest.mark.parametrize(
    "call",
    [
        lambda s: list(s.list_by_name(SURROGATE)),
        lambda s: list(s.list_by_name_and_state(SURROGATE, "All")),
        lambda s: list(s.list_system_tasks_by_name(SURROGATE)),
        lambda s: s.acquire(name=SURROGATE),
    ],
    ids=["list_by_name", "list_by_name_and_state", "list_system_tasks_by_name", "acquire-name"],
)
def test_a_lone_surrogate_in_a_name_passed_to_a_query_is_refused(
    store: BatchStore, refuses: Any, call: Callable[[BatchStore], Any]
) -> None:
    store.create({"Name": "x"})
    with refuses(InvalidTaskError, "Name", "surrogate"):
        call(store)


@pytest.mark.parametrize("step", ["acquire", "start", "report_progress", "succeed", "fail"])
def test_a_lone_surrogate_in_a_worker_name_is_refused(store: BatchStore, refuses: Any, step: str) -> None:
    task_id = store.create({"Name": "x"})
    store.acquire(worker="w")
    if step in ("report_progress", "succeed"):
        store.start(task_id, worker="w")
    calls: dict[str, Callable[[], Any]] = {
        "acquire": lambda: store.acquire(worker=SURROGATE),
        "start": lambda: store.start(task_id, worker=SURROGATE),
        "report_progress": lambda: store.report_progress(task_id, 50, worker=SURROGATE),
        "succeed": lambda: store.succeed(task_id, worker=SURROGATE),
        "fail": lambda: store.fail(task_id, worker=SURROGATE),
    }
    store.create({"Name": "another, for acquire"})
    with refuses(InvalidTaskError, "worker", "surrogate") as info:
        calls[step]()
    printable(info.value)


OUT_OF_RANGE_IDS = [2**63, -(2**63) - 1, 10**20, -(10**30)]
ID_CALLS: dict[str, Callable[[BatchStore, int], Any]] = {
    "get": lambda s, i: s.get(i),
    "get-select": lambda s, i: s.get(i, select="Name"),
    "patch": lambda s, i: s.patch(i, [{"op": "replace", "path": "/State", "value": "Failed"}]),
    "delete": lambda s, i: s.delete(i),
    "history": lambda s, i: s.history(i),
    "stop": lambda s, i: s.stop(i),
    "stop_requested": lambda s, i: s.stop_requested(i),
    "start": lambda s, i: s.start(i),
    "report_progress": lambda s, i: s.report_progress(i, 10),
    "succeed": lambda s, i: s.succeed(i),
    "fail": lambda s, i: s.fail(i),
}


@pytest.mark.parametrize("task_id", OUT_OF_RANGE_IDS)
@pytest.mark.parametrize("operation", ID_CALLS)
def test_an_id_outside_64_bits_is_task_not_found(
    store: BatchStore, refuses: Any, operation: str, task_id: int
) -> None:
    # No task can have such an id (SQLite's are signed 64-bit): the same answer as any unknown id.
    store.create({"Name": "x", "ParameterObject": 1})
    with refuses(TaskNotFoundError, str(task_id), operation.partition("-")[0]) as info:
        ID_CALLS[operation](store, task_id)
    assert info.value.task_id == task_id  # type: ignore[attr-defined]


@pytest.mark.parametrize("task_id", OUT_OF_RANGE_IDS)
def test_delete_many_skips_an_id_outside_64_bits_like_any_unknown_id(
    store: BatchStore, query: Any, task_id: int
) -> None:
    kept, gone = store.create_many([{"Name": "kept"}, {"Name": "gone"}])
    assert store.delete_many([task_id, gone]) == 1
    assert query("SELECT id FROM batchtask") == [(kept,)]


@pytest.mark.parametrize("task_id", [2**63 - 1, -(2**63)])
def test_the_64_bit_limits_themselves_are_merely_unknown(store: BatchStore, task_id: int) -> None:
    store.create({"Name": "x"})
    with pytest.raises(TaskNotFoundError):
        store.get(task_id)
    assert store.delete_many([task_id]) == 0


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ("'not json'", "JSONDecodeError"),
        ("'[1, 2]'", "AttributeError"),
        ("'{\"State\": 5}'", "TypeError"),
        ("'{\"State\": []}'", "IndexError"),
        ("'{\"State\": [\"New\"]}'", "IndexError"),
        ("x'00ff'", "JSONDecodeError"),
        ("12", "AttributeError"),
    ],
)
def test_history_of_a_damaged_trace_row_is_a_storage_error(
    store: BatchStore, db: Database, changes: str, kind: str
) -> None:
    task_id = store.create({"Name": "x"})
    store.update({"Id": task_id, "State": "Started"})
    if db.is_postgres and changes.startswith("x'"):
        changes = "'\xff'"  # PostgreSQL keeps a BLOB out of a TEXT column: text that is no JSON either
    ((row,),) = db.rows("SELECT max(id) FROM batchtaskchange WHERE traced")
    db.execute(f"UPDATE batchtaskchange SET changes = {changes} WHERE id = ?", row)
    with pytest.raises(StorageError) as info:
        store.history(task_id)
    for word in ("history", f"task {task_id}", f"row {row}", kind):
        assert word in str(info.value)


def test_history_of_a_trace_row_with_a_damaged_time_is_a_storage_error(store: BatchStore, db: Database) -> None:
    task_id = store.create({"Name": "x"})
    if db.is_postgres:  # a timestamptz column holds only times: NULL is the damage it can show
        db.execute("ALTER TABLE batchtaskchange ALTER COLUMN at DROP NOT NULL")
        db.execute("UPDATE batchtaskchange SET at = NULL")
    else:
        db.execute("UPDATE batchtaskchange SET at = 'yesterday'")
    with pytest.raises(StorageError, match=f"history: trace row .* of task {task_id}"):
        store.history(task_id)



def test_histories_reads_many_traces_as_history_reads_each(store: BatchStore) -> None:
    """Every id of a task is a key (an internal task's trace is empty), an id of no task is absent, duplicates
    count once, and each trace is what ``history`` answers for its task, across the 500-id statements."""
    ids = store.create_many([{"Name": f"t{i}", "IsInternalTask": i % 5 == 0} for i in range(1_203)])
    for task_id in ids[::7]:
        store.update({"Id": task_id, "State": "Started"})
    gone = ids.pop(3)
    store.delete(gone)
    asked = [*ids, gone, ids[0], 2**31 - 1, 2**63]  # 2**63: beyond any id, so no task either
    traces = store.histories(asked)
    assert sorted(traces) == sorted(ids)
    internal = {task.id for task in store.list(where={"IsInternalTask": True})}
    assert internal and all(traces[task_id] == [] for task_id in internal)
    for task_id in ids[:40] + ids[-40:]:
        assert traces[task_id] == store.history(task_id)
    assert store.histories([]) == {}


def test_histories_refuses_a_bad_id_by_name(store: BatchStore) -> None:
    with pytest.raises(InvalidTaskError, match="histories"):
        store.histories([1, "one"])  # type: ignore[list-item]

def results(store: BatchStore, task_id: int) -> dict[str, Any]:
    """One result of every kind of read and write."""
    return {
        "get": store.get(task_id),
        "get-select": store.get(task_id, select="Name,FieldProperties"),
        "list": next(iter(store.list())),
        "update": store.update({"Id": task_id, "Description": "d"}),
        "patch": store.patch(task_id, [{"op": "replace", "path": "/Request", "value": "r"}]),
        "acquire": store.acquire(worker="w"),
        "start": store.start(task_id, worker="w"),
    }


@pytest.mark.parametrize("kind", ["get", "get-select", "list", "update", "patch", "acquire", "start"])
def test_results_pickle_and_deep_copy_and_compare_equal(store: BatchStore, kind: str) -> None:
    parameters = {"a": [1, {"b": b"\x00"}], "when": dt.datetime(2026, 1, 1)}
    task_id = store.create({"Name": "x", "ParameterObject": parameters})
    task = results(store, task_id)[kind]
    for clone in (pickle.loads(pickle.dumps(task)), copy.deepcopy(task), copy.copy(task)):
        assert clone == task
        assert clone.to_wire() == task.to_wire()
        assert clone.fields_set == task.fields_set
        assert clone.stop_requested == task.stop_requested
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(task, protocol)) == task


def test_the_rights_every_result_shares_cannot_be_changed_through_one(store: BatchStore) -> None:
    first, second = (store.get(i) for i in store.create_many([{"Name": "a"}, {"Name": "b"}]))
    with pytest.raises(TypeError):
        first.field_properties["Name"] = {"FieldRight": {"Mask": "Update"}}
    with pytest.raises(TypeError):
        first.field_properties["Description"]["FieldRight"]["Mask"] = "Read"
    with pytest.raises(TypeError):
        first.table_right.clear()
    assert second.field_properties["Description"]["FieldRight"]["Mask"] == "Update"
    assert first.table_right == second.table_right == {"Mask": "Select, Insert, Update, Delete", "Reason": ""}
    json.dumps(first.to_wire(), allow_nan=False)


def test_a_results_parameter_object_is_its_own(store: BatchStore) -> None:
    task_id = store.create({"Name": "a", "ParameterObject": {"rows": [1]}})
    first, second = store.get(task_id), store.get(task_id)
    first.parameter_object["rows"].append(2)
    assert second.parameter_object == {"rows": [1]}
    assert store.get(task_id).parameter_object == {"rows": [1]}


# --- options are refused at the call -------------------------------------------------------------

@pytest.mark.parametrize(("options", "option"), [
    ({"synchronous": "bogus"}, "synchronous"),
    ({"synchronous": 1}, "synchronous"),
    ({"lease_seconds": math.nan}, "lease_seconds"),
    ({"lease_seconds": -1}, "lease_seconds"),
    ({"lease_seconds": 0}, "lease_seconds"),
    ({"lease_seconds": 1e15}, "lease_seconds"),
    ({"lease_seconds": math.inf}, "lease_seconds"),
    ({"lease_seconds": "300"}, "lease_seconds"),
    ({"timeout": -1}, "timeout"),
    ({"timeout": math.nan}, "timeout"),
    ({"timeout": 1e12}, "timeout"),
    ({"max_starts": 0}, "max_starts"),
    ({"max_starts": 1.5}, "max_starts"),
    ({"max_starts": True}, "max_starts"),
    ({"max_blob_bytes": 0}, "max_blob_bytes"),
    ({"max_blob_bytes": "big"}, "max_blob_bytes"),
    ({"read_only": "yes"}, "read_only"),
])
def test_refused_options_are_configuration_errors(tmp_path: Path, options: dict[str, Any], option: str) -> None:
    path = tmp_path / "tasks.db"
    with pytest.raises(ConfigurationError) as info:
        BatchStore(path, **options)
    assert isinstance(info.value, ValueError) and isinstance(info.value, BatchStoreError)
    assert info.value.option == option and option in str(info.value)
    assert not path.exists()  # refused before anything was opened


@pytest.mark.parametrize("url", ["sqlite://h:abc/x.db", "://nothing"])
def test_a_url_sqlalchemy_cannot_parse_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="database"):
        BatchStore(url)


def test_the_longest_lease_still_acquires(tmp_path: Path) -> None:
    with BatchStore(tmp_path / "tasks.db", lease_seconds=1e9) as store:
        task_id = store.create({"Name": "x"})
        assert store.acquire(worker="w") is not None
        assert store.start(task_id, worker="w").state is BatchTaskState.Started


@pytest.mark.parametrize("older_than", [dt.timedelta.max, dt.timedelta(days=-1), 30, "30d", None])
def test_prune_refuses_what_is_no_age(store: BatchStore, dump: Callable[..., Any], db: Database,
                                      older_than: Any) -> None:
    store.create({"Name": "done", "State": "Succeeded"})
    before = db.snapshot()
    with pytest.raises(ConfigurationError) as info:
        store.prune(older_than)
    assert info.value.option == "older_than"
    assert db.snapshot() == before


# --- files the store refuses, and read-only stores -----------------------------------------------

def _file_state(path: Path) -> tuple[bytes, int, bool, bool]:
    """The bytes and mtime of a file, and whether its -wal and -shm files exist."""
    return (path.read_bytes(), path.stat().st_mtime_ns,
            Path(f"{path}-wal").exists(), Path(f"{path}-shm").exists())


def _foreign(path: Path, version: int, tables: str) -> Path:
    with sqlite3.connect(path) as conn:
        conn.executescript(tables)
        conn.execute(f"PRAGMA user_version = {version}")
    conn.close()
    return path


@pytest.mark.parametrize(("version", "tables", "message"), [
    (2, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'x');",
     "not a batchstore database"),
    (0, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);", "not a batchstore database"),
    (1, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);", "not a batchstore database"),
    (7, "CREATE TABLE batchtask (id INTEGER PRIMARY KEY); CREATE TABLE binaryobject (id INTEGER PRIMARY KEY);"
        " CREATE TABLE batchtasktrace (id INTEGER PRIMARY KEY);", "newer"),
])
@pytest.mark.parametrize("read_only", [False, True])
def test_a_refused_database_is_not_changed_at_all(
    tmp_path: Path, version: int, tables: str, message: str, read_only: bool
) -> None:
    path = _foreign(tmp_path / "other.db", version, tables)
    before = _file_state(path)
    assert before[2:] == (False, False)
    with pytest.raises(StorageError, match=message):
        BatchStore(path, read_only=read_only)
    assert _file_state(path) == before


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    path = tmp_path / "tasks.db"
    with BatchStore(path) as store:
        task_id = store.create({"Name": "ERPSync", "ParameterObject": {"n": 1}})
        store.acquire(worker="w")
        store.start(task_id, worker="w")
        store.create({"Name": "second"})
    return path


def test_a_read_only_store_reads_and_never_writes(filled: Path) -> None:
    before = _file_state(filled)
    with BatchStore(filled, read_only=True) as reader:
        assert reader.read_only is True
        assert [t.name for t in reader.list(select="Name")] == ["ERPSync", "second"]
        assert reader.get(1).parameter_object == {"n": 1}
        assert reader.stop_requested(1) is False
        assert [e.operation for e in reader.history(1)][:1] == ["create"]
        writes: dict[str, Callable[[], object]] = {
            "create": lambda: reader.create({"Name": "x"}),
            "create_many": lambda: reader.create_many([{"Name": "x"}]),
            "update": lambda: reader.update({"Id": 2, "Description": "x"}),
            "patch": lambda: reader.patch(2, [{"op": "replace", "path": "/Description", "value": "x"}]),
            "delete": lambda: reader.delete(2),
            "delete_many": lambda: reader.delete_many([2]),
            "prune": lambda: reader.prune(dt.timedelta(0)),
            "acquire": lambda: reader.acquire(worker="w"),
            "start": lambda: reader.start(2),
            "report_progress": lambda: reader.report_progress(1, 50),
            "succeed": lambda: reader.succeed(1),
            "fail": lambda: reader.fail(1),
            "stop": lambda: reader.stop(1),
            "recover_stale": reader.recover_stale,
        }
        for operation, call in writes.items():
            with pytest.raises(StorageError) as info:
                call()
            assert str(info.value).startswith(f"{operation}:") and "read-only" in str(info.value), operation
    assert _file_state(filled)[:2] == before[:2]


def test_a_read_only_store_works_on_a_read_only_file(filled: Path) -> None:
    folder = filled.parent
    filled.chmod(0o444)
    folder.chmod(0o555)  # nor can -wal or -shm files be made beside it
    try:
        if os.geteuid() != 0:  # root ignores file modes: the assert would prove nothing
            with pytest.raises(StorageError):
                BatchStore(filled).create({"Name": "x"})
        with BatchStore(filled, read_only=True) as reader:
            assert reader.get(2).name == "second"
            assert sum(1 for _ in reader.list()) == 2
    finally:
        folder.chmod(0o755)
        filled.chmod(0o644)


def test_a_read_only_store_needs_an_existing_batchstore_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(StorageError, match="no such database"):
        BatchStore(missing, read_only=True)
    with pytest.raises(StorageError, match="no such database"):
        BatchStore(f"sqlite:///{missing}", read_only=True)
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(StorageError, match="not a batchstore database"):
        BatchStore(empty, read_only=True)
    assert empty.read_bytes() == b""
    with pytest.raises(StorageError, match="in-memory"):
        BatchStore(read_only=True)


@pytest.mark.parametrize("field", ["Name", "Description", "Result", "ProgressDescription", "FileName", "Context"])
def test_a_nul_character_in_text_is_refused_as_on_postgresql(store: BatchStore, refuses: Any, field: str) -> None:
    """PostgreSQL's text cannot hold NUL: refused on every engine, so a task means the same on both."""
    with refuses(InvalidTaskError, field, "NUL"):
        store.create({"Name": "a", field: "before\x00after"})
    task_id = store.create({"Name": "a", "ParameterObject": {"raw": "keeps\x00nul"}})  # msgpack bytes: kept
    assert store.get(task_id).parameter_object == {"raw": "keeps\x00nul"}
    with refuses(InvalidTaskError, "worker", "NUL"):
        store.acquire(worker="w\x00")


@pytest.mark.parametrize("database", ["nul\x00.db", "surrogate\ud800.db"])
def test_a_database_name_no_driver_can_open_is_a_configuration_error(database: str) -> None:
    with pytest.raises(ConfigurationError, match="database"):
        BatchStore(database)


def test_a_collection_argument_that_is_none_or_a_single_value_is_refused(tmp_path: Path) -> None:
    import datetime as dt

    with BatchStore(tmp_path / "t.db") as store:
        for call, field in [
            (lambda: store.create_many(None), "tasks"),  # type: ignore[arg-type]
            (lambda: store.create_many({"Name": "a"}), "tasks"),  # a task, not a list of tasks
            (lambda: store.delete_many(None), "Id"),  # type: ignore[arg-type]
            (lambda: store.prune(dt.timedelta(0), states=None), "State"),  # type: ignore[arg-type]
            (lambda: store.list_by_associates_and_state(5, "New"), "AssociateId"),  # type: ignore[arg-type]
        ]:
            with pytest.raises(InvalidTaskError) as info:
                call()
            assert info.value.field == field
        assert list(store.list()) == []
