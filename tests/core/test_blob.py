"""ParameterObject: msgpack bytes in its own binaryobject row, linked by DetailsTable 205 / DetailsRecord."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack
import pytest

from batchstore import BatchStore, BatchStoreError, BatchTaskInfo, BatchTaskState, InvalidTaskError

if TYPE_CHECKING:
    from conftest import Database

UTC = dt.UTC
PLUS2 = dt.timezone(dt.timedelta(hours=2))
MINUS530 = dt.timezone(-dt.timedelta(hours=5, minutes=30))

ROUND_TRIPS = [
    {"ParameterObject1": "source=SAP", "ParameterObject2": "syncType=incremental"},
    {"nested": {"list": [1, [2, [3]]], "empty": {}, "none": None}},
    [],
    {},
    [1, "two", 3.5, True, False, None],
    "",
    "unicode \u00e9\u4e2d\U0001f600",
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**31,
    1.5,
    -0.0,
    1e308,
    True,
    False,
    b"",
    b"\x00\xff binary",
    {"bytes": b"\x01\x02", "strings": {"1": "one", "-2": "minus two"}},
    {"x" * 300: "a long key"},
    "y" * 100_000,
]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=lambda v: type(v).__name__)
def test_a_parameter_object_reads_back_equal(store: BatchStore, value: Any) -> None:
    task_id = store.create({"Name": "x", "ParameterObject": value})
    read = store.get(task_id).parameter_object
    assert read == value
    assert type(read) is type(value)
    assert [t.parameter_object for t in store.list(select="ParameterObject")] == [value]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.datetime(2024, 11, 27, 14, 0, tzinfo=UTC), dt.datetime(2024, 11, 27, 14, 0, tzinfo=UTC)),
        (dt.datetime(2024, 11, 27, 14, 0, 0, 123456, tzinfo=PLUS2),
         dt.datetime(2024, 11, 27, 12, 0, 0, 123456, tzinfo=UTC)),
        (dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=MINUS530),
         dt.datetime(1970, 1, 1, 5, 29, 59, 999999, tzinfo=UTC)),
        (dt.datetime(1, 1, 1, tzinfo=UTC), dt.datetime(1, 1, 1, tzinfo=UTC)),
        (dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
         dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        (dt.datetime(2024, 11, 27, 14, 0), dt.datetime(2024, 11, 27, 14, 0, tzinfo=UTC)),  # naive: taken as UTC
    ],
)  # fmt: skip
def test_datetimes_in_a_parameter_object_read_back_aware_utc(
    store: BatchStore, value: dt.datetime, expected: dt.datetime
) -> None:
    task_id = store.create({"ParameterObject": {"when": value, "list": [value]}})
    read = store.get(task_id).parameter_object
    assert read == {"when": expected, "list": [expected]}
    assert read["when"].tzinfo is not None
    assert read["when"].utcoffset() == dt.timedelta(0)
    assert (read["when"].year, read["when"].hour, read["when"].microsecond) == (
        expected.year, expected.hour, expected.microsecond,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("value", "expected"),
    [((1, 2), [1, 2]), ({"t": (1, (2,))}, {"t": [1, [2]]}), (bytearray(b"ab"), b"ab"), (memoryview(b"cd"), b"cd")],
)
def test_tuples_come_back_as_lists_and_buffers_as_bytes(store: BatchStore, value: Any, expected: Any) -> None:
    assert store.get(store.create({"ParameterObject": value})).parameter_object == expected


@pytest.mark.parametrize(
    "value",
    [
        {1, 2},
        frozenset(),
        object(),
        dt.date(2024, 11, 27),
        dt.time(12, 0),
        dt.timedelta(seconds=1),
        decimal.Decimal("1.5"),
        1 + 2j,
        2**64,
        -(2**63) - 1,
        {"deep": [1, {"bad": {3}}]},
        [1, Path("x")],
        {"ok": 1, "ko": lambda: None},
    ],
    # No memory address in an id: pytest-xdist's workers must collect the same names.
    ids=lambda value: re.sub(r" at 0x[0-9a-f]+", "", repr(value)),
)
def test_an_unserializable_parameter_object_is_refused(store: BatchStore, refuses: Any, value: Any) -> None:
    store.create({"Name": "already there", "ParameterObject": "p"})
    with refuses(InvalidTaskError, "ParameterObject") as info:
        store.create({"Name": "new", "ParameterObject": value})
    assert info.value.field == "ParameterObject"
    assert not isinstance(info.value.__cause__, BatchStoreError) or info.value.__cause__ is None


def test_a_recursive_parameter_object_is_refused(store: BatchStore, refuses: Any) -> None:
    loop: list[Any] = []
    loop.append(loop)
    with refuses(InvalidTaskError, "ParameterObject"):
        store.create({"ParameterObject": loop})


def test_the_blob_limit_is_a_store_option(db: Database, refuses: Any) -> None:
    value = b"x" * 100
    size = len(msgpack.packb(value, use_bin_type=True))
    with BatchStore(db.url, max_blob_bytes=size) as store:
        task_id = store.create({"ParameterObject": value})
        assert store.get(task_id).parameter_object == value
        with refuses(InvalidTaskError, "ParameterObject", str(size)):
            store.create({"ParameterObject": value + b"y"})


def test_the_default_blob_limit_allows_a_megabyte(store: BatchStore) -> None:
    value = b"\x00" * (1 << 20)
    assert store.get(store.create({"ParameterObject": value})).parameter_object == value


def test_the_blob_lives_in_its_own_row_and_the_task_keeps_no_copy(store: BatchStore, query: Any) -> None:
    value = {"marker": "c0ffee-marker", "n": 12345}
    task_id = store.create({"Name": "x", "DetailsTable": 239, "DetailsRecord": 63, "ParameterObject": value})
    ((table, record),) = query("SELECT details_table, details_record FROM batchtask WHERE id = ?", task_id)
    assert table == 205
    ((blob_id, data),) = query("SELECT id, data FROM binaryobject")
    assert record == blob_id
    assert msgpack.unpackb(data) == value
    (row,) = query("SELECT * FROM batchtask WHERE id = ?", task_id)
    assert not any(isinstance(cell, str) and "c0ffee-marker" in cell for cell in row)
    assert not any(isinstance(cell, bytes) for cell in row)
    task = store.get(task_id)
    assert (task.details_table, task.details_record) == (205, blob_id)


@pytest.mark.parametrize("body", [{}, {"ParameterObject": None}, {"DetailsTable": 239, "DetailsRecord": 63}])
def test_a_task_without_a_parameter_object_keeps_its_details_link(
    store: BatchStore, query: Any, body: dict[str, Any]
) -> None:
    task_id = store.create({"Name": "x", **body})
    task = store.get(task_id)
    assert task.parameter_object is None
    assert (task.details_table, task.details_record) == (body.get("DetailsTable"), body.get("DetailsRecord"))
    assert query("SELECT count(*) FROM binaryobject") == [(0,)]


def test_each_task_has_its_own_blob_row(store: BatchStore, query: Any) -> None:
    ids = [store.create({"ParameterObject": {"same": "value"}}) for _ in range(3)]
    records = [store.get(task_id).details_record for task_id in ids]
    assert len(set(records)) == 3
    assert query("SELECT count(*) FROM binaryobject") == [(3,)]


def test_the_wire_form_of_a_parameter_object_is_json(store: BatchStore) -> None:
    when = dt.datetime(2024, 11, 27, 14, 0, tzinfo=PLUS2)
    task_id = store.create({"ParameterObject": {"when": when, "raw": b"\x00\x01", "n": [1, 2.5], "7": "seven"}})
    wire = store.get(task_id).to_wire()
    text = json.dumps(wire, allow_nan=False)
    value = json.loads(text)["ParameterObject"]
    assert dt.datetime.fromisoformat(value["when"]) == when
    assert dt.datetime.fromisoformat(value["when"]).tzinfo is not None
    assert base64.b64decode(value["raw"]) == b"\x00\x01"
    assert value["n"] == [1, 2.5]
    assert value["7"] == "seven"


@pytest.mark.sqlite_only("sqlite3's trace hook shows the statements run")
def test_selecting_other_fields_never_reads_the_blob(store: BatchStore, sql_trace: list[str]) -> None:
    task_id = store.create({"Name": "x", "ParameterObject": {"a": 1}})
    sql_trace.clear()
    store.get(task_id, select="Name,State,DetailsRecord")
    list(store.list(select="Name"))
    list(store.list("New", select=["Id", "Created"]))
    reads = [s for s in sql_trace if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) >= 3
    assert [s for s in reads if "binaryobject" in s] == []
    sql_trace.clear()
    assert store.get(task_id, select="ParameterObject").parameter_object == {"a": 1}
    assert any("binaryobject" in s for s in sql_trace)


@pytest.mark.sqlite_only("sqlite3's trace hook shows the statements run")
def test_an_update_of_other_fields_never_reads_the_blob(store: BatchStore, sql_trace: list[str]) -> None:
    task_id = store.create({"Name": "x", "ParameterObject": {"a": 1}})
    sql_trace.clear()
    assert store.update({"Id": task_id, "State": "Started"}, select="State").state == BatchTaskState.Started
    assert [s for s in sql_trace if "binaryobject" in s] == []


def test_a_damaged_blob_does_not_stop_reading_other_fields(store: BatchStore, db: Database) -> None:
    task_id = store.create({"Name": "x", "ParameterObject": {"a": 1}})
    db.execute("UPDATE binaryobject SET data = ?", b"\xc1")  # 0xc1: never used in msgpack
    assert store.get(task_id, select="Name,State").name == "x"
    assert [t.name for t in store.list(select="Name")] == ["x"]


@pytest.mark.parametrize("data", [b"\xc1", b"\x01\x02", b"\x92\x01"])
def test_a_damaged_blob_is_a_storage_error(store: BatchStore, db: Database, data: bytes) -> None:
    task_id = store.create({"Name": "x", "ParameterObject": {"a": 1}})
    db.execute("UPDATE binaryobject SET data = ?", data)
    with pytest.raises(BatchStoreError, match="get"):  # StorageError ("damaged") fits best
        store.get(task_id)


@pytest.mark.parametrize(
    "value",
    [
        {(1, 2): "tuple key"},
        dt.datetime(1, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.timezone(-dt.timedelta(hours=1))),
    ],
    ids=["tuple-key", "before-year-1", "after-9999"],
)
def test_a_parameter_object_is_refused_or_reads_back(store: BatchStore, dump: Any, db: Database, value: Any) -> None:
    before = db.snapshot()
    refusal: InvalidTaskError | None = None
    try:
        task_id = store.create({"Name": "x", "ParameterObject": value})
    except InvalidTaskError as exc:
        refusal = exc
    if refusal is not None:
        assert refusal.field == "ParameterObject"
        assert db.snapshot() == before
        return
    store.get(task_id)
    list(store.list())


# --- what the wire form can carry (issue 7, items 4, 8, 9, 11) -----------------------------------


def nested(depth: int, leaf: Any = 1) -> Any:
    """``depth`` lists and maps, alternating, one inside the other, around ``leaf``."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


@pytest.mark.parametrize(
    ("value", "where"),
    [
        (float("nan"), "top level"),
        ({"a": float("inf")}, "/a"),
        ({"a": [1, {"b": float("-inf")}]}, "/a/1/b"),
        ([1.5, float("nan")], "/1"),
        ({"a~b/c": [float("nan")]}, "/a~0b~1c/0"),  # the path is a JSON Pointer
    ],
    ids=["nan", "inf", "nested-minus-inf", "in-a-list", "escaped-key"],
)
def test_non_finite_numbers_are_refused_naming_where(store: BatchStore, refuses: Any, value: Any, where: str) -> None:
    store.create({"Name": "already there", "ParameterObject": {"a": 1.5}})
    with refuses(InvalidTaskError, "ParameterObject", where, "finite") as info:
        store.create({"Name": "x", "ParameterObject": value})
    assert info.value.field == "ParameterObject"
    with refuses(InvalidTaskError, "ParameterObject", where):
        store.create_many([{"Name": "ok"}, {"Name": "x", "ParameterObject": value}])
    with pytest.raises(InvalidTaskError, match="ParameterObject"):
        BatchTaskInfo(parameter_object=value)


def test_the_wire_form_is_strict_json_even_for_a_non_finite_number_stored_before(
    store: BatchStore, db: Database
) -> None:
    # A file written without the check (by hand, or an older release): read, shown as null.
    task_id = store.create({"Name": "x", "ParameterObject": {"a": 1.5, "b": [2.5]}})
    db.execute("UPDATE binaryobject SET data = ?", msgpack.packb({"a": float("nan"), "b": [float("inf")]}))
    wire = store.get(task_id).to_wire()
    assert json.loads(json.dumps(wire, allow_nan=False))["ParameterObject"] == {"a": None, "b": [None]}


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({1: "a", "1": "b"}, "top level"),  # would collide on the wire: {"1": "b"}
        ({"a": {None: 1}}, "/a"),
        ({"a": [{True: 1}]}, "/a/0"),
        ({b"k": 1}, "top level"),
        ({"a": {2.5: 1}}, "/a"),
        ({"a": {(1, 2): 1}}, "/a"),
    ],
    ids=["int-colliding", "none", "bool", "bytes", "float", "tuple"],
)
def test_map_keys_that_are_not_strings_are_refused_naming_where(
    store: BatchStore, refuses: Any, value: Any, where: str
) -> None:
    store.create({"Name": "already there", "ParameterObject": {"1": "b"}})
    with refuses(InvalidTaskError, "ParameterObject", where, "key") as info:
        store.create({"Name": "x", "ParameterObject": value})
    assert info.value.field == "ParameterObject"


def test_string_keys_keep_their_values_on_the_wire(store: BatchStore) -> None:
    value = {"1": "a", "01": "b", "": "c", "None": "d", "true": "e"}
    task = store.get(store.create({"Name": "x", "ParameterObject": value}))
    assert json.loads(json.dumps(task.to_wire(), allow_nan=False))["ParameterObject"] == value


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("a\ud800", "top level"),
        ({"a": ["ok", "\udfff"]}, "/a/1"),
        ({"k\ud800": 1}, "/k\\ud800"),  # the message escapes the key, so it can be printed
    ],
    ids=["top", "nested", "key"],
)
def test_lone_surrogates_are_refused_naming_where(store: BatchStore, refuses: Any, value: Any, where: str) -> None:
    store.create({"Name": "already there", "ParameterObject": "p"})
    with refuses(InvalidTaskError, "ParameterObject", where, "surrogate") as info:
        store.create({"Name": "x", "ParameterObject": value})
    str(info.value).encode("utf-8")  # a message that can be printed anywhere


@pytest.mark.parametrize("depth", [1, 2, 63, 64])
def test_nesting_up_to_the_limit_works_on_every_path(store: BatchStore, depth: int) -> None:
    value = nested(depth)
    task_id = store.create({"Name": "x", "ParameterObject": value})
    task = store.get(task_id)
    assert task.parameter_object == value
    json.dumps(task.to_wire(), allow_nan=False)
    task.state = "Started"
    assert store.update(task).state is BatchTaskState.Started
    assert store.update(task.to_wire()).state is BatchTaskState.Started
    store.patch(task_id, [{"op": "test", "path": "/ParameterObject", "value": value},
                          {"op": "replace", "path": "/State", "value": "Failed"}])
    assert [t.parameter_object for t in store.list(select="ParameterObject")] == [value]


@pytest.mark.parametrize("depth", [65, 66, 600, 5000])
def test_nesting_past_the_limit_is_refused(store: BatchStore, refuses: Any, depth: int) -> None:
    store.create({"Name": "already there", "ParameterObject": nested(64)})
    with refuses(InvalidTaskError, "ParameterObject", "64 levels") as info:
        store.create({"Name": "x", "ParameterObject": nested(depth)})
    assert info.value.field == "ParameterObject"
    with pytest.raises(InvalidTaskError, match="ParameterObject"):
        BatchTaskInfo(parameter_object=nested(depth))
