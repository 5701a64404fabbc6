"""BatchTaskInfo, the two enums and the error classes: names, numbers, wire form and value rules."""

from __future__ import annotations

import copy
import datetime as dt
import json
import pickle
from typing import Any

import pytest

from batchstore import (
    BatchStoreError,
    BatchTaskInfo,
    BatchTaskState,
    CancellationBehaviour,
    InvalidTaskError,
    PatchConflictError,
    PatchError,
    ReadOnlyFieldError,
    StorageError,
    StoreClosedError,
    TaskNotFoundError,
)

UTC = dt.UTC
PLUS2 = dt.timezone(dt.timedelta(hours=2))

#: (wire name, attribute name) of every field.
NAMES = [
    ("Id", "id"), ("Name", "name"), ("AssociateId", "associate_id"), ("DetailsTable", "details_table"),
    ("DetailsRecord", "details_record"), ("IsSystemTask", "is_system_task"), ("IsInternalTask", "is_internal_task"),
    ("ParameterObject", "parameter_object"), ("LastStarted", "last_started"), ("Created", "created"),
    ("StartCount", "start_count"), ("DatabaseSerialNumber", "database_serial_number"), ("Context", "context"),
    ("Result", "result"), ("State", "state"), ("Description", "description"), ("Response", "response"),
    ("Request", "request"), ("ProgressDescription", "progress_description"), ("ProgressPercent", "progress_percent"),
    ("FileName", "file_name"), ("CancellationBehaviour", "cancellation_behaviour"), ("TableRight", "table_right"),
    ("FieldProperties", "field_properties"),
]  # fmt: skip
ATTR = dict(NAMES)
INT32_FIELDS = ["Id", "AssociateId", "DetailsTable", "DetailsRecord", "StartCount"]
BOOL_FIELDS = ["IsSystemTask", "IsInternalTask"]
STR_FIELDS = [
    ("Name", 254), ("DatabaseSerialNumber", 254), ("Context", 254), ("Result", 254), ("Description", 254),
    ("Response", 254), ("Request", 254), ("ProgressDescription", 254), ("FileName", 260),
]  # fmt: skip
DATETIME_FIELDS = ["LastStarted", "Created"]


def refused(field: str, value: object) -> InvalidTaskError:
    """The InvalidTaskError of BatchTaskInfo.from_wire({field: value}), checked to name the field."""
    with pytest.raises(InvalidTaskError) as info:
        BatchTaskInfo.from_wire({field: value})
    assert info.value.field == field
    assert field in str(info.value)
    return info.value


# --- enums --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "number"),
    [
        (BatchTaskState.Unknown, 0), (BatchTaskState.New, 1), (BatchTaskState.Aquired, 2),
        (BatchTaskState.Started, 3), (BatchTaskState.Succeeded, 4), (BatchTaskState.Failed, 5),
        (BatchTaskState.SucceededManualCleanup, 6), (BatchTaskState.All, 99999),
        (CancellationBehaviour.CanCancel, 0), (CancellationBehaviour.CancelWithWarning, 1),
        (CancellationBehaviour.CannotCancel, 2),
    ],
)  # fmt: skip
def test_enum_numbers_are_superoffices(member: Any, number: int) -> None:
    assert member.value == number
    assert type(member)(number) is member


def test_enums_have_exactly_the_documented_members() -> None:
    assert [m.name for m in BatchTaskState] == [
        "Unknown", "New", "Aquired", "Started", "Succeeded", "Failed", "SucceededManualCleanup", "All",
    ]  # fmt: skip
    assert [m.name for m in CancellationBehaviour] == ["CanCancel", "CancelWithWarning", "CannotCancel"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Succeeded", BatchTaskState.Succeeded),
        ("succeeded", BatchTaskState.Succeeded),
        ("SUCCEEDED", BatchTaskState.Succeeded),
        ("sUcCeEdEd", BatchTaskState.Succeeded),
        (4, BatchTaskState.Succeeded),
        (BatchTaskState.Succeeded, BatchTaskState.Succeeded),
        ("Aquired", BatchTaskState.Aquired),
        ("Acquired", BatchTaskState.Aquired),
        ("acquired", BatchTaskState.Aquired),
        ("ACQUIRED", BatchTaskState.Aquired),
        (2, BatchTaskState.Aquired),
        (0, BatchTaskState.Unknown),
        ("unknown", BatchTaskState.Unknown),
        ("SucceededManualCleanup", BatchTaskState.SucceededManualCleanup),
        (6, BatchTaskState.SucceededManualCleanup),
    ],
)
def test_state_accepts_name_in_any_case_number_or_member(given: object, expected: BatchTaskState) -> None:
    assert BatchTaskInfo(state=given).state is expected
    assert BatchTaskInfo.from_wire({"State": given}).state is expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("CanCancel", CancellationBehaviour.CanCancel),
        ("cancancel", CancellationBehaviour.CanCancel),
        ("CANCELWITHWARNING", CancellationBehaviour.CancelWithWarning),
        (1, CancellationBehaviour.CancelWithWarning),
        (2, CancellationBehaviour.CannotCancel),
        (CancellationBehaviour.CannotCancel, CancellationBehaviour.CannotCancel),
    ],
)
def test_cancellation_behaviour_accepts_name_number_or_member(given: object, expected: CancellationBehaviour) -> None:
    assert BatchTaskInfo(cancellation_behaviour=given).cancellation_behaviour is expected


@pytest.mark.parametrize(
    "value",
    ["All", "all", BatchTaskState.All, 99999, "InProgress", "Done", "", 7, -1, True, False, 1.0, [], {}],
)
def test_state_refuses_all_unknown_names_numbers_and_other_types(value: object) -> None:
    refused("State", value)


@pytest.mark.parametrize("value", [3, -1, "Cancel", "", True, 1.0, [0]])
def test_cancellation_behaviour_refuses_unknown_values(value: object) -> None:
    refused("CancellationBehaviour", value)


# --- names and keys -----------------------------------------------------------------------------


def test_wire_form_has_the_24_keys_in_the_seed_order(wire_order: tuple[str, ...]) -> None:
    assert len(wire_order) == 24
    assert tuple(BatchTaskInfo().to_wire()) == wire_order
    assert [wire for wire, _ in NAMES] == list(wire_order)


@pytest.mark.parametrize(("wire", "attr"), NAMES)
def test_every_field_is_an_attribute_and_a_key_in_any_spelling(wire: str, attr: str) -> None:
    value: object = {"Name": "n", "State": "New", "IsSystemTask": True}.get(wire)
    for key in (wire, attr, wire.lower(), wire.upper(), attr.upper()):
        task = BatchTaskInfo.from_wire({key: value})
        assert task.to_wire()[wire] == value
        assert task.fields_set == {attr}
    assert getattr(BatchTaskInfo(), attr) is None


@pytest.mark.parametrize("key", ["Nope", "Nam", "Parameter", "", "Id ", "state.name", "Tasks"])
def test_unknown_keys_are_refused_naming_them(key: str) -> None:
    with pytest.raises(InvalidTaskError, match="unknown") as info:
        BatchTaskInfo.from_wire({key: 1})
    assert repr(key) in str(info.value)


def test_unknown_attribute_is_refused_by_constructor_and_assignment() -> None:
    with pytest.raises(InvalidTaskError, match="colour"):
        BatchTaskInfo(colour="red")  # type: ignore[call-arg]
    task = BatchTaskInfo()
    with pytest.raises(InvalidTaskError, match="colour"):
        task.colour = "red"


def test_a_key_given_twice_in_two_spellings_is_refused() -> None:
    with pytest.raises(InvalidTaskError, match="Name"):
        BatchTaskInfo.from_wire({"Name": "a", "name": "b"})


@pytest.mark.parametrize("mapping", [None, [("Name", "x")], "Name", 5])
def test_from_wire_refuses_what_is_not_a_mapping(mapping: object) -> None:
    with pytest.raises(InvalidTaskError):
        BatchTaskInfo.from_wire(mapping)  # type: ignore[arg-type]


def test_fields_set_records_what_was_given_and_assigned() -> None:
    task = BatchTaskInfo(id=7, state="Succeeded")
    assert task.fields_set == {"id", "state"}
    task.description = "done"
    assert task.fields_set == {"id", "state", "description"}
    assert task.name is None


# --- value rules --------------------------------------------------------------------------------


@pytest.mark.parametrize("field", INT32_FIELDS)
@pytest.mark.parametrize("value", [0, 1, -(2**31), 2**31 - 1])
def test_int32_fields_accept_the_int32_range(field: str, value: int) -> None:
    task = BatchTaskInfo.from_wire({field: value})
    assert task.to_wire()[field] == value


@pytest.mark.parametrize("field", INT32_FIELDS)
@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, 2**63, True, False, 1.0, "1", [1]])
def test_int32_fields_refuse_other_values(field: str, value: object) -> None:
    refused(field, value)


@pytest.mark.parametrize("value", [0, 1, 50, 69, 100])
def test_progress_percent_accepts_0_to_100(value: int) -> None:
    assert BatchTaskInfo(progress_percent=value).progress_percent == value


@pytest.mark.parametrize("value", [-1, 101, 416, 762, 2**31, True, 50.0, "50"])
def test_progress_percent_refuses_the_rest(value: object) -> None:
    refused("ProgressPercent", value)


@pytest.mark.parametrize("field", BOOL_FIELDS)
@pytest.mark.parametrize("value", [True, False])
def test_bool_fields_accept_bools(field: str, value: bool) -> None:
    assert BatchTaskInfo.from_wire({field: value}).to_wire()[field] is value


@pytest.mark.parametrize("field", BOOL_FIELDS)
@pytest.mark.parametrize("value", [1, 0, "true", "false", 1.0, [True]])
def test_bool_fields_refuse_ints_and_strings(field: str, value: object) -> None:
    refused(field, value)


@pytest.mark.parametrize(("field", "limit"), STR_FIELDS)
def test_strings_fit_their_column_length(field: str, limit: int) -> None:
    assert BatchTaskInfo.from_wire({field: "x" * limit}).to_wire()[field] == "x" * limit
    assert BatchTaskInfo.from_wire({field: "\u00e9" * limit}).to_wire()[field] == "\u00e9" * limit
    assert BatchTaskInfo.from_wire({field: ""}).to_wire()[field] == ""
    refused(field, "x" * (limit + 1))


@pytest.mark.parametrize(("field", "limit"), STR_FIELDS)
@pytest.mark.parametrize("value", [5, b"bytes", True, ["x"], {"x": 1}])
def test_string_fields_refuse_non_strings(field: str, limit: int, value: object) -> None:
    refused(field, value)


@pytest.mark.parametrize("field", DATETIME_FIELDS)
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2014-07-15T14:34:02.7132229+02:00", dt.datetime(2014, 7, 15, 12, 34, 2, 713222, tzinfo=UTC)),
        ("2016-10-29T17:54:08.6793184+02:00", dt.datetime(2016, 10, 29, 15, 54, 8, 679318, tzinfo=UTC)),
        ("2024-11-27T14:00:00+01:00", dt.datetime(2024, 11, 27, 13, 0, tzinfo=UTC)),
        ("2024-11-27T14:00:00Z", dt.datetime(2024, 11, 27, 14, 0, tzinfo=UTC)),
        ("2024-11-27T14:00:00.5-05:30", dt.datetime(2024, 11, 27, 19, 30, 0, 500000, tzinfo=UTC)),
        ("2024-11-27T14:00:00.123456+00:00", dt.datetime(2024, 11, 27, 14, 0, 0, 123456, tzinfo=UTC)),
        ("2024-02-29T23:59:59.9999999Z", dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)),
        (dt.datetime(2024, 11, 27, 14, 0), dt.datetime(2024, 11, 27, 14, 0, tzinfo=UTC)),  # naive: UTC
        (dt.datetime(2024, 11, 27, 14, 0, tzinfo=PLUS2), dt.datetime(2024, 11, 27, 12, 0, tzinfo=UTC)),
    ],
)
def test_datetimes_read_iso_8601_with_offset_to_aware_utc_microseconds(
    field: str, given: object, expected: dt.datetime
) -> None:
    task = BatchTaskInfo.from_wire({field: given})
    value = getattr(task, ATTR[field])
    assert value == expected
    assert value.utcoffset() == dt.timedelta(0)
    wire = task.to_wire()[field]
    assert dt.datetime.fromisoformat(wire) == expected
    assert dt.datetime.fromisoformat(wire).tzinfo is not None  # ISO 8601 with an offset


@pytest.mark.parametrize("field", DATETIME_FIELDS)
@pytest.mark.parametrize(
    "value",
    [
        "2024-11-27T14:00:00",  # no offset
        "2024-11-27",
        "yesterday",
        "",
        "2024-13-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2024-11-27T25:00:00Z",
        "2024-11-27T14:00:00+25:00",
        1700000000,
        1.5,
        True,
        dt.date(2024, 11, 27),
    ],
)
def test_datetimes_refuse_what_is_not_iso_8601_with_offset(field: str, value: object) -> None:
    refused(field, value)


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:30:00+01:00",
        "9999-12-31T23:59:59-01:00",
        dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    ],
)
def test_datetimes_outside_the_utc_range_are_refused_as_invalid(value: object) -> None:
    refused("Created", value)


# --- wire form ----------------------------------------------------------------------------------


def test_wire_form_names_enums_and_writes_offsets() -> None:
    task = BatchTaskInfo(
        state=4,
        cancellation_behaviour=2,
        created="2024-11-27T14:00:00+01:00",
        last_started=dt.datetime(2024, 11, 27, 14, 0),
    )
    wire = task.to_wire()
    assert wire["State"] == "Succeeded"
    assert wire["CancellationBehaviour"] == "CannotCancel"
    assert wire["Created"] == "2024-11-27T13:00:00+00:00"
    assert wire["LastStarted"] == "2024-11-27T14:00:00+00:00"
    json.dumps(wire)


def test_wire_form_round_trips_through_json(seed: Any) -> None:
    body = seed("002")
    task = BatchTaskInfo.from_wire(body)
    again = BatchTaskInfo.from_wire(json.loads(json.dumps(task.to_wire())))
    assert again == task
    assert again.to_wire() == task.to_wire()


def test_attribute_assignment_checks_the_value_like_the_constructor() -> None:
    task = BatchTaskInfo()
    task.state = "acquired"
    assert task.state is BatchTaskState.Aquired
    with pytest.raises(InvalidTaskError, match="ProgressPercent"):
        task.progress_percent = 762
    with pytest.raises(InvalidTaskError, match="State"):
        task.state = "All"
    assert task.progress_percent is None
    assert task.state is BatchTaskState.Aquired


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "bases"),
    [
        (TaskNotFoundError, (BatchStoreError, LookupError)),
        (InvalidTaskError, (BatchStoreError, ValueError)),
        (ReadOnlyFieldError, (InvalidTaskError, BatchStoreError, ValueError)),
        (PatchError, (BatchStoreError, ValueError)),
        (PatchConflictError, (PatchError, BatchStoreError, ValueError)),
        (StoreClosedError, (BatchStoreError,)),
        (StorageError, (BatchStoreError,)),
    ],
)
def test_error_tree(error: type[Exception], bases: tuple[type[Exception], ...]) -> None:
    for base in bases:
        assert issubclass(error, base)
    assert issubclass(BatchStoreError, Exception)


def test_read_only_field_error_names_fields_by_wire_name() -> None:
    error = ReadOnlyFieldError(["Name", "ProgressPercent"], writable=["State"])
    assert error.fields == ("Name", "ProgressPercent")
    assert "Name" in str(error)
    assert "ProgressPercent" in str(error)


def test_task_not_found_error_names_the_id_and_operation() -> None:
    error = TaskNotFoundError(42, "delete")
    assert error.task_id == 42
    assert "42" in str(error)
    assert "delete" in str(error)


# --- what a task may hold, whatever door it comes in by (issue 7, items 4, 8, 9, 10, 11) ---------

STRING_ATTRS = ("name", "database_serial_number", "context", "result", "description", "response", "request",
                "progress_description", "file_name")


@pytest.mark.parametrize("attr", STRING_ATTRS)
def test_a_lone_surrogate_is_refused_by_the_constructor_and_assignment(attr: str) -> None:
    wire = next(w for w, a in NAMES if a == attr)
    with pytest.raises(InvalidTaskError, match=wire) as info:
        BatchTaskInfo(**{attr: "a\ud800"})  # type: ignore[misc]
    assert info.value.field == wire
    str(info.value).encode("utf-8")
    task = BatchTaskInfo(**{attr: "a\U0001f600"})  # type: ignore[misc]  # a real pair is text
    with pytest.raises(InvalidTaskError, match=wire):
        setattr(task, attr, "\udfff")
    assert getattr(task, attr) == "a\U0001f600"


@pytest.mark.parametrize(
    "value",
    [float("nan"), {"a": float("inf")}, {1: "a"}, {"a": {None: 1}}, {"k\ud800": 1}, ["\ud800"]],
    ids=["nan", "inf", "int-key", "none-key", "surrogate-key", "surrogate"],
)
def test_a_parameter_object_the_wire_cannot_carry_is_refused_at_once(value: Any) -> None:
    with pytest.raises(InvalidTaskError, match="ParameterObject") as info:
        BatchTaskInfo(parameter_object=value)
    assert info.value.field == "ParameterObject"
    task = BatchTaskInfo(parameter_object={"fine": [1.5]})
    with pytest.raises(InvalidTaskError, match="ParameterObject"):
        task.parameter_object = value
    with pytest.raises(InvalidTaskError, match="ParameterObject"):
        BatchTaskInfo.from_wire({"ParameterObject": value})
    assert json.dumps(task.to_wire(), allow_nan=False)


def test_a_carrier_given_by_hand_still_has_a_strict_json_wire_form() -> None:
    # TableRight and FieldProperties are accepted and ignored on input, so they are not checked.
    task = BatchTaskInfo(table_right={"x": float("nan")}, field_properties=[float("-inf")])
    wire = json.loads(json.dumps(task.to_wire(), allow_nan=False))
    assert wire["TableRight"] == {"x": None}
    assert wire["FieldProperties"] == [None]


def test_a_task_pickles_and_deep_copies_with_what_it_remembers() -> None:
    task = BatchTaskInfo(name="x", state="Started", parameter_object={"a": [1, {"b": b"\x00"}]})
    for clone in (pickle.loads(pickle.dumps(task)), copy.deepcopy(task)):
        assert clone == task
        assert clone.fields_set == task.fields_set == {"name", "state", "parameter_object"}
        assert clone.stop_requested is None
    clone = copy.deepcopy(task)
    clone.parameter_object["a"].append(2)
    assert task.parameter_object == {"a": [1, {"b": b"\x00"}]}
