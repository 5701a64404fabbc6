"""Property tests: the ParameterObject codec round-trips, and patches agree with patching a dict by hand."""

from __future__ import annotations

import copy
import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchstore import BatchStore, BatchStoreError, InvalidTaskError, PatchConflictError, PatchError

if TYPE_CHECKING:
    from conftest import Database

UTC = dt.UTC
SETTINGS = settings(
    max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# --- ParameterObject codec ----------------------------------------------------------------------

offsets = st.builds(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes)),
    st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
)
#: Aware date-times whose UTC instant, and local time, both lie within years 1..9999.
aware_datetimes = st.builds(
    lambda moment, tz: moment.astimezone(tz),
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.just(UTC)),
    offsets,
)
naive_datetimes = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31))
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.binary(max_size=40)
    | aware_datetimes
    | naive_datetimes
)
parameter_objects = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)


def as_read_back(value: Any) -> Any:
    """What a ParameterObject reads back as: date-times aware UTC (a naive one taken as UTC)."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, list):
        return [as_read_back(v) for v in value]
    if isinstance(value, dict):
        return {k: as_read_back(v) for k, v in value.items()}
    return value


def assert_utc_datetimes(value: Any) -> None:
    if isinstance(value, dt.datetime):
        assert value.tzinfo is not None
        assert value.utcoffset() == dt.timedelta(0)
    elif isinstance(value, list):
        for v in value:
            assert_utc_datetimes(v)
    elif isinstance(value, dict):
        for v in value.values():
            assert_utc_datetimes(v)


@SETTINGS
@given(value=parameter_objects)
def test_a_parameter_object_reads_back_equal(store: BatchStore, value: Any) -> None:
    original = copy.deepcopy(value)
    task_id = store.create({"Name": "codec", "ParameterObject": value})
    assert value == original  # the caller's value is not changed
    read = store.get(task_id).parameter_object
    assert read == as_read_back(value)
    assert_utc_datetimes(read)
    assert store.get(task_id, select="ParameterObject").parameter_object == read


@SETTINGS
@given(moment=aware_datetimes | naive_datetimes)
def test_a_datetime_keeps_its_microseconds(store: BatchStore, moment: dt.datetime) -> None:
    read = store.get(store.create({"ParameterObject": moment})).parameter_object
    expected = as_read_back(moment)
    assert read == expected
    assert read.tzinfo is not None
    assert (read.year, read.month, read.day, read.hour, read.minute, read.second, read.microsecond) == (
        expected.year, expected.month, expected.day, expected.hour, expected.minute, expected.second,
        expected.microsecond,
    )  # fmt: skip


# --- patches ------------------------------------------------------------------------------------

STATES = ["Unknown", "New", "Aquired", "Started", "Succeeded", "Failed", "SucceededManualCleanup"]
TEXT_FIELDS = ["Description", "Response", "Request"]
# Text a store can keep: no NUL (PostgreSQL has none) and no lone surrogate (no valid Unicode holds one).
short_text = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=30)
text_or_null = st.none() | short_text
state_spellings = st.sampled_from(STATES).flatmap(
    lambda name: st.sampled_from([name, name, name.lower(), name.upper(), STATES.index(name)]).map(lambda v: (name, v))
)


@st.composite
def valid_operations(draw: st.DrawFn) -> list[tuple[str, str, Any, Any]]:
    """(op, field, value as sent, value as it lands in the wire document) for replace and test ops.

    A State is sent in any spelling; a replace lands as its name, a test compares the spelling as sent.
    """
    operations = []
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        op = draw(st.sampled_from(["replace", "test"]))
        field = draw(st.sampled_from(["State", *TEXT_FIELDS]))
        if field == "State":
            name, spelled = draw(state_spellings)
            operations.append((op, field, spelled, name))
        else:
            value = draw(text_or_null)
            operations.append((op, field, value, value))
    return operations


def initial_task() -> dict[str, Any]:
    return {"Name": "patched", "State": "New", "Description": "d", "Response": None, "Request": "r"}


@SETTINGS
@given(operations=valid_operations(), path_case=st.sampled_from([str, str.lower, str.upper]))
def test_valid_patches_agree_with_patching_the_dict_by_hand(
    store: BatchStore, db: Database, dump: Any, operations: list[tuple[str, str, Any, Any]], path_case: Any
) -> None:
    task_id = store.create(initial_task())
    document = store.get(task_id).to_wire()
    # By hand, as RFC 6902 reads: each op applies to the document as the previous ops left it (a State
    # sent as "new" or 1 is tested as such by a later op); the result then stores State by its name.
    raw = copy.deepcopy(document)
    expected: dict[str, Any] | None = copy.deepcopy(document)
    for op, field, sent, lands_as in operations:
        assert expected is not None
        if op == "replace":
            raw[field] = sent
            expected[field] = lands_as
        elif raw[field] != sent or type(raw[field]) is not type(sent):
            expected = None  # the test fails: nothing may change
            break
    patch = [{"op": op, "path": "/" + path_case(field), "value": sent} for op, field, sent, _ in operations]
    sent_copy = copy.deepcopy(patch)
    before = db.snapshot()
    if expected is None:
        with pytest.raises(PatchConflictError):
            store.patch(task_id, patch)
        assert db.snapshot() == before
        assert store.get(task_id).to_wire() == document
    else:
        result = store.patch(task_id, patch)
        assert result.to_wire() == expected
        assert store.get(task_id).to_wire() == expected
    assert patch == sent_copy


invalid_values = {
    "State": st.sampled_from(["All", "InProgress", "", 7, 99999, -1, True, None, 1.5, ["New"], {"n": 1}]),
    "Description": (
        st.text(min_size=255, max_size=300) | st.integers() | st.booleans() | st.lists(st.none(), max_size=2)
    ),
    "Name": short_text.filter(lambda s: s != "patched") | st.none(),  # read-only
    "ProgressPercent": st.integers(min_value=1, max_value=100),  # read-only
    "AssociateId": st.integers(min_value=1, max_value=2**31 - 1),  # read-only
    "Nope": short_text,  # no such field
}


@st.composite
def invalid_patches(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Valid operations around one that must be refused (bad value, read-only field, bad path or op)."""
    before = [{"op": "replace", "path": "/Description", "value": draw(short_text)}]
    kind = draw(st.sampled_from(["value", "op", "path", "missing value", "failed test"]))
    if kind == "value":
        field = draw(st.sampled_from(sorted(invalid_values)))
        bad: dict[str, Any] = {"op": draw(st.sampled_from(["replace", "add"])), "path": f"/{field}",
                               "value": draw(invalid_values[field])}  # fmt: skip
    elif kind == "op":
        bad = {"op": draw(short_text.filter(lambda s: s not in ("add", "remove", "replace", "move", "copy", "test"))),
               "path": "/State", "value": "Failed"}  # fmt: skip
    elif kind == "path":
        bad = {"op": "replace", "path": draw(st.sampled_from(["State", "/", "/State/x/y", "/Nope", "//", "/-"])),
               "value": "Failed"}  # fmt: skip
    elif kind == "missing value":
        bad = {"op": draw(st.sampled_from(["replace", "add", "test"])), "path": "/State"}
    else:
        bad = {"op": "test", "path": "/State", "value": draw(st.sampled_from(["Failed", 1, "new", None, True]))}
    after = [{"op": "replace", "path": "/Response", "value": draw(short_text)}]
    return [*before, bad, *after]


@SETTINGS
@given(patch=invalid_patches())
def test_invalid_patches_leave_the_database_unchanged(
    store: BatchStore, db: Database, dump: Any, patch: list[dict[str, Any]]
) -> None:
    task_id = store.create(initial_task())
    sent = copy.deepcopy(patch)
    before = db.snapshot()
    with pytest.raises((InvalidTaskError, PatchError)) as info:
        store.patch(task_id, patch)
    assert isinstance(info.value, BatchStoreError)
    assert db.snapshot() == before
    assert patch == sent
