"""$select: which fields get, list, update and patch return; the rest None, Id always there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from batchstore import BatchStore, BatchTaskInfo, InvalidTaskError

#: (select as given, wire names expected back besides Id)
SELECTS = [
    ("Name", {"Name"}),
    ("name", {"Name"}),
    ("NAME", {"Name"}),
    ("Name,State", {"Name", "State"}),
    ("name, STATE ,progressPercent", {"Name", "State", "ProgressPercent"}),
    ("progress_percent,file_name", {"ProgressPercent", "FileName"}),
    (["Name", "state"], {"Name", "State"}),
    (("ProgressPercent",), {"ProgressPercent"}),
    ({"Created", "LastStarted"}, {"Created", "LastStarted"}),
    ({"Description": 1}.keys(), {"Description"}),
    ("Id", set()),
    ("id", set()),
    ("", set()),
    ([], set()),
    ("ParameterObject", {"ParameterObject"}),
    ("parameter_object,Name", {"ParameterObject", "Name"}),
    ("TableRight,FieldProperties", {"TableRight", "FieldProperties"}),
    ("Name,Name,name", {"Name"}),
]

OPERATIONS: dict[str, Callable[[BatchStore, int, Any], BatchTaskInfo]] = {
    "get": lambda store, task_id, select: store.get(task_id, select=select),
    "list": lambda store, task_id, select: next(iter(store.list("All", select=select))),
    "list state": lambda store, task_id, select: next(iter(store.list("Succeeded", select=select))),
    "update": lambda store, task_id, select: store.update({"Id": task_id, "Response": "r"}, select=select),
    "patch": lambda store, task_id, select: store.patch(
        task_id, [{"op": "replace", "path": "/Response", "value": "r"}], select=select
    ),
}


@pytest.fixture
def task_id(store: BatchStore, seed: Any) -> int:
    """A full task (seed 002: every field set, State Succeeded)."""
    return store.create(seed("002"))


@pytest.mark.parametrize("operation", OPERATIONS)
# A set's id in sorted order: pytest-xdist's workers (each its own hash seed) must collect the same names.
@pytest.mark.parametrize(("select", "expected"), SELECTS, ids=[
    "{" + ", ".join(sorted(map(repr, s))) + "}" if isinstance(s, set) else repr(s) for s, _ in SELECTS
])
def test_select_returns_those_fields_and_the_id(
    store: BatchStore, task_id: int, operation: str, select: Any, expected: set[str]
) -> None:
    full = store.get(task_id).to_wire()
    result = OPERATIONS[operation](store, task_id, select)
    wire = result.to_wire()
    assert wire["Id"] == task_id
    assert {key for key, value in wire.items() if value is not None} == {"Id", *expected}
    for key in expected:
        if key == "Response":
            continue
        assert wire[key] == full[key], key


@pytest.mark.parametrize("operation", OPERATIONS)
def test_no_select_returns_every_field(store: BatchStore, task_id: int, operation: str) -> None:
    wire = OPERATIONS[operation](store, task_id, None).to_wire()
    assert all(value is not None for value in wire.values())


@pytest.mark.parametrize("operation", ["get", "list", "list state"])
def test_select_is_the_same_projection_of_the_full_task(store: BatchStore, task_id: int, operation: str) -> None:
    full = store.get(task_id).to_wire()
    part = OPERATIONS[operation](store, task_id, "State,Created,ParameterObject,FieldProperties").to_wire()
    assert part == {
        key: (full[key] if key in ("Id", "State", "Created", "ParameterObject", "FieldProperties") else None)
        for key in full
    }


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize(
    ("select", "named"),
    [
        ("Nope", "Nope"),
        ("Name,Nope", "Nope"),
        ("Name;State", "Name;State"),
        ("department,category", "department"),  # the seed pages' own $select example
        (["Name", "Colour"], "Colour"),
        (["Name", 5], "5"),
        (5, "int"),
    ],
)
def test_unknown_select_names_are_refused_and_nothing_is_written(
    store: BatchStore, task_id: int, refuses: Any, operation: str, select: Any, named: str
) -> None:
    with refuses(InvalidTaskError, named):
        OPERATIONS[operation](store, task_id, select)


def test_select_on_a_store_with_many_tasks(store: BatchStore) -> None:
    ids = store.create_many({"Name": f"t{n}", "ProgressPercent": n % 101} for n in range(600))
    listed = list(store.list(select="ProgressPercent"))
    assert [(t.id, t.progress_percent, t.name) for t in listed] == [(i, n % 101, None) for n, i in enumerate(ids)]


def test_the_selected_fields_are_the_fields_set(store: BatchStore, task_id: int) -> None:
    task = store.get(task_id, select="Name,State")
    assert task.fields_set == {"id", "name", "state"}
    task.state = "Failed"
    assert store.update(task).state.name == "Failed"  # type: ignore[union-attr]
