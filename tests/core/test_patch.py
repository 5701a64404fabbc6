"""RFC 6902 JSON Patch on a task's wire document: six ops, the whitelist, typed `test`, atomicity."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import TYPE_CHECKING, Any

import pytest

from batchstore import (
    BatchStore,
    BatchStoreError,
    BatchTaskState,
    InvalidTaskError,
    PatchConflictError,
    PatchError,
    ReadOnlyFieldError,
    TaskNotFoundError,
)
from batchstore._patch import simple_operations

if TYPE_CHECKING:
    from conftest import Database


@pytest.fixture
def task_id(store: BatchStore) -> int:
    """A task with every kind of field set (seed 002's values)."""
    return store.create(
        {
            "Name": "ContactExport",
            "AssociateId": 426,
            "IsSystemTask": True,
            "IsInternalTask": False,
            "ParameterObject": {"ParameterObject1": "format=xlsx", "rows": [1, 2]},
            "Created": "2024-11-27T09:00:00+01:00",
            "StartCount": 1,
            "State": "Succeeded",
            "Description": "Export contact list",
            "Response": "Successfully exported 1,245 contacts",
            "Request": "Export all active contacts",
            "ProgressPercent": 100,
            "FileName": "ContactExport_2024-11-27.xlsx",
        }
    )


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {key: after[key] for key in after if after[key] != before[key]}


# --- the six operations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operations", "changes"),
    [
        ([{"op": "replace", "path": "/State", "value": "Failed"}], {"State": "Failed"}),
        ([{"op": "replace", "path": "/Description", "value": "new"}], {"Description": "new"}),
        ([{"op": "add", "path": "/Response", "value": "added"}], {"Response": "added"}),
        ([{"op": "remove", "path": "/Request"}], {"Request": None}),
        ([{"op": "remove", "path": "/Description"}], {"Description": None}),
        ([{"op": "replace", "path": "/Response", "value": None}], {"Response": None}),
        ([{"op": "copy", "from": "/Name", "path": "/Description"}], {"Description": "ContactExport"}),
        ([{"op": "copy", "from": "/FileName", "path": "/Request"}], {"Request": "ContactExport_2024-11-27.xlsx"}),
        ([{"op": "move", "from": "/Response", "path": "/Request"}],
         {"Response": None, "Request": "Successfully exported 1,245 contacts"}),
        ([{"op": "test", "path": "/State", "value": "Succeeded"}], {}),
        ([{"op": "test", "path": "/State", "value": "Succeeded"},
          {"op": "replace", "path": "/State", "value": "Started"}], {"State": "Started"}),
        ([{"op": "replace", "path": "/State", "value": "Started"},
          {"op": "test", "path": "/State", "value": "Started"},
          {"op": "replace", "path": "/State", "value": "Failed"}], {"State": "Failed"}),
        ([{"op": "remove", "path": "/Description"},
          {"op": "add", "path": "/Description", "value": "back"}], {"Description": "back"}),
        ([{"op": "replace", "path": "/Description", "value": "x"},
          {"op": "replace", "path": "/Description", "value": "Export contact list"}], {}),
        ([{"op": "test", "path": "/ParameterObject/rows/1", "value": 2}], {}),
        ([{"op": "test", "path": "/ParameterObject", "value": {"ParameterObject1": "format=xlsx", "rows": [1, 2]}}],
         {}),
        ([{"op": "test", "path": "/IsSystemTask", "value": True}], {}),
        ([{"op": "test", "path": "/LastStarted", "value": None}], {}),
        ([{"op": "test", "path": "/Created", "value": "2024-11-27T08:00:00+00:00"}], {}),
        ([], {}),
    ],
)  # fmt: skip
def test_patch_applies_the_six_operations(
    store: BatchStore, task_id: int, operations: list[dict[str, Any]], changes: dict[str, Any]
) -> None:
    before = store.get(task_id).to_wire()
    result = store.patch(task_id, operations)
    after = store.get(task_id).to_wire()
    assert changed_fields(before, after) == changes
    assert result.to_wire() == after


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("/State", "failed", BatchTaskState.Failed),
        ("/State", "FAILED", BatchTaskState.Failed),
        ("/State", "Acquired", BatchTaskState.Aquired),
        ("/State", 3, BatchTaskState.Started),
        ("/state", "Failed", BatchTaskState.Failed),
        ("/STATE", "Failed", BatchTaskState.Failed),
        ("/sTaTe", 0, BatchTaskState.Unknown),
    ],
)
def test_state_is_read_like_input_at_a_path_in_any_case(
    store: BatchStore, task_id: int, query: Any, path: str, value: object, expected: BatchTaskState
) -> None:
    assert store.patch(task_id, [{"op": "replace", "path": path, "value": value}]).state is expected
    assert query("SELECT state FROM batchtask WHERE id = ?", task_id) == [(int(expected),)]


@pytest.mark.parametrize("path", ["/Description", "/description", "/DESCRIPTION"])
def test_a_top_level_path_matches_in_any_case(store: BatchStore, task_id: int, path: str) -> None:
    result = store.patch(
        task_id,
        [
            {"op": "test", "path": path, "value": "Export contact list"},
            {"op": "replace", "path": path, "value": "patched"},
        ],
    )
    assert result.description == "patched"


def test_a_json_string_is_a_patch(store: BatchStore, task_id: int) -> None:
    text = json.dumps(
        [
            {"op": "test", "path": "/State", "value": "Succeeded"},
            {"op": "replace", "path": "/State", "value": "SucceededManualCleanup"},
        ]
    )
    assert store.patch(task_id, text).state is BatchTaskState.SucceededManualCleanup


def test_remove_of_a_writable_field_stores_null(store: BatchStore, task_id: int, query: Any) -> None:
    store.patch(task_id, [{"op": "remove", "path": "/Response"}, {"op": "remove", "path": "/request"}])
    assert query("SELECT response, request FROM batchtask WHERE id = ?", task_id) == [(None, None)]


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "remove", "path": "/State"}],
        [{"op": "replace", "path": "/State", "value": None}],
        [{"op": "move", "from": "/State", "path": "/Description"}],
    ],
)
def test_state_cannot_be_removed(store: BatchStore, task_id: int, refuses: Any, operations: Any) -> None:
    with refuses(InvalidTaskError, "State") as info:
        store.patch(task_id, operations)
    assert not isinstance(info.value, PatchConflictError)


def test_patch_returns_the_selected_fields(store: BatchStore, task_id: int) -> None:
    result = store.patch(task_id, [{"op": "replace", "path": "/State", "value": "Failed"}], select="State,Name")
    assert result.fields_set == {"id", "state", "name"}
    assert (result.id, result.state, result.name, result.description) == (
        task_id, BatchTaskState.Failed, "ContactExport", None,
    )  # fmt: skip


def test_a_patch_writes_only_its_task(store: BatchStore, task_id: int, query: Any) -> None:
    other = store.create({"Name": "other", "Description": "untouched", "ParameterObject": [1]})
    bystander = query("SELECT * FROM batchtask WHERE id = ?", other)
    blobs = query("SELECT * FROM binaryobject")
    store.patch(task_id, [{"op": "replace", "path": "/Description", "value": "changed"}])
    assert query("SELECT * FROM batchtask WHERE id = ?", other) == bystander
    assert query("SELECT * FROM binaryobject") == blobs


# --- the whitelist ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operations", "named"),
    [
        ([{"op": "replace", "path": "/Name", "value": "renamed"}], ["Name"]),
        ([{"op": "replace", "path": "/name", "value": "renamed"}], ["Name"]),
        ([{"op": "replace", "path": "/ProgressPercent", "value": 50}], ["ProgressPercent"]),
        ([{"op": "replace", "path": "/IsSystemTask", "value": False}], ["IsSystemTask"]),
        ([{"op": "replace", "path": "/Created", "value": "2001-01-01T00:00:00Z"}], ["Created"]),
        ([{"op": "add", "path": "/LastStarted", "value": "2001-01-01T00:00:00Z"}], ["LastStarted"]),
        ([{"op": "remove", "path": "/FileName"}], ["FileName"]),
        ([{"op": "replace", "path": "/Id", "value": 999}], ["Id"]),
        ([{"op": "replace", "path": "/DetailsTable", "value": 1}], ["DetailsTable"]),
        ([{"op": "replace", "path": "/ParameterObject/ParameterObject1", "value": "x"}], ["ParameterObject"]),
        ([{"op": "add", "path": "/ParameterObject/rows/-", "value": 3}], ["ParameterObject"]),
        ([{"op": "remove", "path": "/ParameterObject"}], ["ParameterObject"]),
        ([{"op": "move", "from": "/Name", "path": "/Description"}], ["Name"]),
        ([{"op": "copy", "from": "/Description", "path": "/Context"}], ["Context"]),
        ([{"op": "replace", "path": "/State", "value": "Failed"},
          {"op": "replace", "path": "/StartCount", "value": 2},
          {"op": "replace", "path": "/AssociateId", "value": 1}], ["StartCount", "AssociateId"]),
    ],
)  # fmt: skip
def test_a_patch_of_a_read_only_field_is_refused_naming_it(
    store: BatchStore, task_id: int, refuses: Any, operations: Any, named: list[str]
) -> None:
    with refuses(ReadOnlyFieldError, *named) as info:
        store.patch(task_id, operations)
    assert set(info.value.fields) == set(named)


def test_a_read_only_field_may_be_replaced_by_its_own_value(store: BatchStore, task_id: int) -> None:
    result = store.patch(
        task_id,
        [
            {"op": "replace", "path": "/Name", "value": "ContactExport"},
            {"op": "replace", "path": "/State", "value": "Failed"},
        ],
    )
    assert (result.name, result.state) == ("ContactExport", BatchTaskState.Failed)


@pytest.mark.parametrize(
    ("operations", "named"),
    [
        ([{"op": "replace", "path": "/FieldProperties/Name/FieldRight/Mask", "value": "Update"}], "FieldProperties"),
        ([{"op": "remove", "path": "/TableRight"}], "TableRight"),
        ([{"op": "replace", "path": "/TableRight", "value": {"Mask": "None", "Reason": ""}}], "TableRight"),
    ],
)
def test_a_patch_of_the_carriers_rights_is_refused(
    store: BatchStore, task_id: int, refuses: Any, operations: Any, named: str
) -> None:
    with refuses(ReadOnlyFieldError, named):
        store.patch(task_id, operations)


def test_a_custom_whitelist_decides_what_a_patch_may_change(db: Database, refuses: Any) -> None:
    with BatchStore(db.url, writable=["ProgressPercent"]) as store:
        task_id = store.create({"Name": "x", "State": "Started"})
        result = store.patch(task_id, [{"op": "replace", "path": "/ProgressPercent", "value": 50}])
        assert result.progress_percent == 50
        assert result.to_wire()["FieldProperties"]["ProgressPercent"]["FieldRight"]["Mask"] == "Update"
        with refuses(InvalidTaskError, "ProgressPercent"):
            store.patch(task_id, [{"op": "replace", "path": "/ProgressPercent", "value": 762}])
        with refuses(ReadOnlyFieldError, "State"):
            store.patch(task_id, [{"op": "replace", "path": "/State", "value": "Succeeded"}])


@pytest.mark.parametrize("field", ["ProgressPercent", "Created", "IsSystemTask"])
@pytest.mark.parametrize("how", ["patch remove", "update null"])
def test_a_writable_field_that_cannot_be_null_is_refused_as_invalid(
    db: Database, refuses: Any, field: str, how: str
) -> None:
    with BatchStore(db.url, writable=[field]) as store:
        task_id = store.create({"Name": "x"})
        with refuses(InvalidTaskError, field):
            if how == "patch remove":
                store.patch(task_id, [{"op": "remove", "path": f"/{field}"}])
            elif how == "patch null":
                store.patch(task_id, [{"op": "replace", "path": f"/{field}", "value": None}])
            else:
                store.update({"Id": task_id, field: None})


# --- the patched document is validated like input -----------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("/State", "All", "State"),
        ("/State", "InProgress", "State"),
        ("/State", 99999, "State"),
        ("/State", 7, "State"),
        ("/State", True, "State"),
        ("/State", ["Failed"], "State"),
        ("/Description", "d" * 255, "Description"),
        ("/Description", 5, "Description"),
        ("/Response", True, "Response"),
        ("/Request", {"a": 1}, "Request"),
    ],
)
def test_an_invalid_value_is_refused_naming_the_field(
    store: BatchStore, task_id: int, refuses: Any, path: str, value: object, named: str
) -> None:
    with refuses(InvalidTaskError, named) as info:
        store.patch(task_id, [{"op": "replace", "path": path, "value": value}])
    assert not isinstance(info.value, ReadOnlyFieldError)


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "add", "path": "/Colour", "value": "red"}],
        [{"op": "replace", "path": "", "value": {"Colour": "red"}}],
    ],
)
def test_a_patch_cannot_add_unknown_fields(store: BatchStore, task_id: int, refuses: Any, operations: Any) -> None:
    with refuses((InvalidTaskError, PatchError)):
        store.patch(task_id, operations)


def test_replacing_the_whole_document_changes_only_writable_fields(store: BatchStore, task_id: int) -> None:
    document = store.get(task_id).to_wire()
    document["State"] = "Failed"
    document["Description"] = "whole"
    result = store.patch(task_id, [{"op": "replace", "path": "", "value": document}])
    assert (result.state, result.description) == (BatchTaskState.Failed, "whole")


# --- test: JSON value and type ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/State", 4),  # the wire document holds State by name: 4 is not "Succeeded"
        ("/State", "succeeded"),
        ("/State", "New"),
        ("/State", None),
        ("/IsSystemTask", 1),  # true is not 1
        ("/IsSystemTask", "true"),
        ("/IsInternalTask", 0),  # false is not 0
        ("/IsInternalTask", None),
        ("/AssociateId", "426"),  # "426" is not 426
        ("/AssociateId", True),
        ("/StartCount", True),  # 1 is not true
        ("/ProgressPercent", "100"),
        ("/Description", None),
        ("/Description", "export contact list"),
        ("/LastStarted", ""),
        ("/Created", "2024-11-27T09:00:00+01:00"),  # the same instant, another text
        ("/ParameterObject/rows", [1, 2, 3]),
        ("/ParameterObject/rows/0", True),
        ("/ParameterObject", {"ParameterObject1": "format=xlsx"}),
    ],
)
def test_a_failed_test_is_a_conflict_and_writes_nothing(
    store: BatchStore, task_id: int, refuses: Any, path: str, value: object
) -> None:
    operations = [
        {"op": "replace", "path": "/Description", "value": "written before the test"},
        {"op": "test", "path": path, "value": value},
        {"op": "replace", "path": "/State", "value": "Failed"},
    ]
    with refuses(PatchConflictError, "test", path) as info:
        store.patch(task_id, operations)
    assert isinstance(info.value, PatchError)


def test_a_json_number_matches_its_float_spelling(store: BatchStore, task_id: int) -> None:
    store.patch(task_id, [{"op": "test", "path": "/ProgressPercent", "value": 100.0}])


# --- the caller's operations --------------------------------------------------------------------


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "replace", "path": "", "value": None},  # filled in below with the whole document
         {"op": "replace", "path": "/Description", "value": "after"},
         {"op": "remove", "path": "/Response"}],
        [{"op": "test", "path": "/ParameterObject", "value": {"ParameterObject1": "format=xlsx", "rows": [1, 2]}},
         {"op": "add", "path": "/Request", "value": "r"},
         {"op": "copy", "from": "/Request", "path": "/Response"},
         {"op": "move", "from": "/Response", "path": "/Description"}],
        [{"op": "replace", "path": "/Description", "value": "x"},
         {"op": "test", "path": "/State", "value": "New"}],  # fails: a conflict
        [{"op": "replace", "path": "/Name", "value": "x"}],  # read-only
    ],
)  # fmt: skip
def test_the_callers_operations_are_never_mutated(store: BatchStore, task_id: int, operations: Any) -> None:
    if operations[0]["path"] == "":
        operations[0]["value"] = store.get(task_id).to_wire()
    original = copy.deepcopy(operations)
    with contextlib.suppress(PatchError, InvalidTaskError):
        store.patch(task_id, operations)
    assert operations == original


# --- malformed patches --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operations", "named"),
    [
        ({"op": "replace", "path": "/State", "value": "Failed"}, "list"),
        (None, "list"),
        (5, "list"),
        ("not json", "JSON"),
        ('{"op": "replace", "path": "/State", "value": "Failed"}', "list"),
        ("", "JSON"),
        ([1], "operation 0"),
        ([["replace", "/State", "Failed"]], "operation 0"),
        ([{"path": "/State", "value": "Failed"}], "op"),
        ([{"op": "frobnicate", "path": "/State", "value": "Failed"}], "frobnicate"),
        ([{"op": "REPLACE", "path": "/State", "value": "Failed"}], "REPLACE"),
        ([{"op": None, "path": "/State"}], "op"),
        ([{"op": "replace", "path": "/State"}], "value"),
        ([{"op": "add", "path": "/Description"}], "value"),
        ([{"op": "test", "path": "/State"}], "value"),
        ([{"op": "replace", "value": "Failed"}], "operation 0"),
        ([{"op": "replace", "path": "State", "value": "Failed"}], "State"),
        ([{"op": "replace", "path": 5, "value": "Failed"}], "5"),
        ([{"op": "replace", "path": "/Nope", "value": 1}], "/Nope"),
        ([{"op": "replace", "path": "/department", "value": 1}], "/department"),
        ([{"op": "move", "path": "/Description"}], "operation 0"),
        ([{"op": "copy", "from": "/Nope", "path": "/Description"}], "/Nope"),
        ([{"op": "copy", "from": "Name", "path": "/Description"}], "Name"),
        ([{"op": "remove", "path": "/ParameterObject/missing"}], "/ParameterObject/missing"),
        ([{"op": "replace", "path": "/ParameterObject/rows/9", "value": 1}], "/ParameterObject/rows/9"),
        ([{"op": "add", "path": "/ParameterObject/rows/9", "value": 1}], "/ParameterObject/rows/9"),
        ([{"op": "replace", "path": "/Description/0", "value": "x"}], "/Description/0"),
        ([{"op": "add", "path": "/LastStarted/x", "value": "x"}], "/LastStarted/x"),
        ([{"op": "move", "from": "/Description", "path": "/Description/x"}], "/Description/x"),
        ([{"op": "replace", "path": "", "value": ["not", "an", "object"]}], "object"),
        ([{"op": "replace", "path": "/Description", "value": "ok"}, {"op": "bad"}], "operation 1"),
    ],
)
def test_a_malformed_patch_is_a_patch_error_and_writes_nothing(
    store: BatchStore, task_id: int, refuses: Any, operations: Any, named: str
) -> None:
    with refuses(PatchError, named) as info:
        store.patch(task_id, operations)
    assert not isinstance(info.value, PatchConflictError)
    assert isinstance(info.value, ValueError)


def test_a_patch_of_an_unknown_task_is_task_not_found(store: BatchStore, task_id: int, refuses: Any) -> None:
    with refuses(TaskNotFoundError, str(task_id + 1), "patch"):
        store.patch(task_id + 1, [{"op": "replace", "path": "/State", "value": "Failed"}])


@pytest.mark.parametrize("bad_id", ["1", None, 1.5, True])
def test_a_patch_needs_an_integer_id(store: BatchStore, task_id: int, refuses: Any, bad_id: object) -> None:
    with refuses(InvalidTaskError, "Id"):
        store.patch(bad_id, [{"op": "replace", "path": "/State", "value": "Failed"}])  # type: ignore[arg-type]


# --- refusals that name what is wrong, in batchstore's words (issue 7, items 4, 7, 9) ------------


@pytest.mark.parametrize(
    "path", ["/ParameterObject/rows/-", "/ParameterObject/missing", "/ParameterObject/rows/7", "/Description/x"]
)
def test_a_test_of_a_path_that_does_not_exist_is_a_patch_error(
    store: BatchStore, task_id: int, refuses: Any, path: str
) -> None:
    with refuses(PatchError, "operation 0", path) as info:
        store.patch(task_id, [{"op": "test", "path": path, "value": 1},
                              {"op": "replace", "path": "/State", "value": "Failed"}])
    assert not isinstance(info.value, PatchConflictError)
    assert "EndOfList" not in str(info.value)


def test_a_failed_test_whose_value_has_no_json_form_is_still_a_conflict(
    store: BatchStore, task_id: int, refuses: Any
) -> None:
    with refuses(PatchConflictError, "operation 0", "/ParameterObject", "(1, 2)", "format=xlsx"):
        store.patch(task_id, [{"op": "test", "path": "/ParameterObject", "value": {(1, 2): "tuple key"}},
                              {"op": "replace", "path": "/State", "value": "Failed"}])


@pytest.mark.parametrize("path", ["/Description", "/Response", "/Request", "/description"])
def test_a_lone_surrogate_in_a_patch_value_is_refused_naming_the_field(
    store: BatchStore, task_id: int, refuses: Any, path: str
) -> None:
    with refuses(InvalidTaskError, path[1:].capitalize(), "surrogate") as info:
        store.patch(task_id, [{"op": "replace", "path": path, "value": "ok \ud800"}])
    str(info.value).encode("utf-8")


def test_a_lone_surrogate_added_to_the_parameter_object_is_refused(
    store: BatchStore, task_id: int, refuses: Any
) -> None:
    with refuses(InvalidTaskError, "ParameterObject"):
        store.patch(task_id, [{"op": "add", "path": "/ParameterObject/k", "value": "\ud800"}])


def deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("op", ["add", "replace", "test"])
@pytest.mark.parametrize("depth", [66, 600, 5000])
def test_a_patch_value_nested_past_the_limit_is_a_patch_error(
    store: BatchStore, task_id: int, refuses: Any, op: str, depth: int
) -> None:
    with refuses(PatchError, "operation 1", "levels"):
        store.patch(task_id, [{"op": "replace", "path": "/State", "value": "Failed"},
                              {"op": op, "path": "/ParameterObject/rows", "value": deep(depth)}])


def test_copies_that_nest_the_parameter_object_in_itself_are_refused(
    store: BatchStore, task_id: int, refuses: Any
) -> None:
    # Each copy puts the whole ParameterObject one level down inside itself: deeper than any path handles.
    operations = [{"op": "copy", "from": "/ParameterObject", "path": "/ParameterObject/self"}] * 1200
    with refuses(BatchStoreError, "ParameterObject") as info:
        store.patch(task_id, [{"op": "replace", "path": "/State", "value": "Failed"}, *operations])
    assert isinstance(info.value, (PatchError, InvalidTaskError))


def test_a_lone_surrogate_in_a_path_is_a_patch_error_that_can_be_printed(
    store: BatchStore, task_id: int, refuses: Any
) -> None:
    with refuses(PatchError, "operation 1", "surrogate") as info:
        store.patch(task_id, [{"op": "replace", "path": "/State", "value": "Failed"},
                              {"op": "test", "path": "/ParameterObject/\ud800", "value": 1}])
    str(info.value).encode("utf-8")


def test_a_missing_member_is_named_without_dumping_the_document(
    store: BatchStore, task_id: int, refuses: Any
) -> None:
    with refuses(PatchError, "operation 0", "'nope'") as info:
        store.patch(task_id, [{"op": "add", "path": "/ParameterObject/nope/x", "value": 1}])
    assert "format=xlsx" not in str(info.value)  # the stored ParameterObject is not the message


# --- the common patch's fast path ---------------------------------------------------------------

_TASK_FOR_PATHS = {
    "Name": "ContactExport", "IsInternalTask": True, "Created": "2024-11-27T09:00:00+01:00",
    "State": "Started", "Description": "d", "ProgressPercent": 40,
}  # fmt: skip


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "test", "path": "/State", "value": "Started"}, {"op": "replace", "path": "/State", "value": "Failed"}],
        [{"op": "test", "path": "/State", "value": "New"}, {"op": "replace", "path": "/State", "value": "Failed"}],
        [{"op": "replace", "path": "/Description", "value": "x"}, {"op": "test", "path": "/Description", "value": "y"}],
        [{"op": "test", "path": "/IsInternalTask", "value": 1}],  # true is not 1
        [{"op": "test", "path": "/IsInternalTask", "value": True},
         {"op": "replace", "path": "/Response", "value": "r"}],
        [{"op": "test", "path": "/ProgressPercent", "value": 40.0},
         {"op": "replace", "path": "/ProgressPercent", "value": 41}],
        [{"op": "test", "path": "/ProgressPercent", "value": "40"}],  # "40" is not 40
        [{"op": "test", "path": "/LastStarted", "value": None}, {"op": "replace", "path": "/State", "value": 5}],
        [{"op": "replace", "path": "/Name", "value": "other"}, {"op": "replace", "path": "/State", "value": "Failed"},
         {"op": "replace", "path": "/Created", "value": "2024-01-01T00:00:00Z"}],  # read-only, named in field order
        [{"op": "replace", "path": "/Created", "value": "2024-11-27T08:00:00Z"},  # the same instant: no change
         {"op": "replace", "path": "/IsInternalTask", "value": True},
         {"op": "replace", "path": "/Request", "value": "q"}],
        [{"op": "replace", "path": "/State", "value": None}],
        [{"op": "replace", "path": "/Description", "value": None}],
        [{"op": "replace", "path": "/State", "value": "Nonsense"}],
        [{"op": "replace", "path": "/Response", "value": 7}],
        [{"op": "test", "path": "/State", "value": "Started"}, {"op": "test", "path": "/Name", "value": "Contact"}],
    ],
)  # fmt: skip
def test_the_common_patch_does_what_the_general_path_does(store: BatchStore, operations: Any) -> None:
    # A list of tests and replaces of top-level scalar fields takes the fast path; the same patch as JSON
    # text takes the general one. Both must write, refuse and name things alike.
    assert simple_operations(operations) is not None
    assert simple_operations(json.dumps(operations)) is None
    outcomes = []
    for patch in (operations, json.dumps(operations)):
        task_id = store.create(_TASK_FOR_PATHS)
        before = store.get(task_id).to_wire()  # type: ignore[union-attr]
        try:
            result = store.patch(task_id, patch).to_wire()
        except BatchStoreError as exc:
            after = store.get(task_id).to_wire()  # type: ignore[union-attr]
            assert after == before  # nothing written
            outcomes.append((type(exc), str(exc), getattr(exc, "fields", None)))
        else:
            stored = store.get(task_id).to_wire()  # type: ignore[union-attr]
            assert stored == result
            outcomes.append(changed_fields(before, result))
    assert outcomes[0] == outcomes[1]
