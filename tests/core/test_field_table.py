"""The field table (``_fields.FIELDS``) is the one home of a task's fields: every other copy must agree with it.

The copies that cannot be generated from it (Python annotations, which type checkers read as written, and the
SQLModel table, whose DDL Alembic's scripts were made from) are checked here, name by name, in order, with
their types and limits, so that a field added, renamed or resized in one place and not the others fails.
"""

from __future__ import annotations

import datetime as dt
import typing

import pytest
from sqlalchemy.types import TypeDecorator

from batchstore import BatchTaskInfo, TaskFields
from batchstore._fields import FIELDS
from batchstore._schema import BatchTask, ddl
from batchstore._store import DEFAULT_WRITABLE

# The columns of batchtask that are batchstore's own, not fields of a task (the lifecycle's and the blob's).
OWN_COLUMNS = ("parameter_blob", "worker", "lease_expires", "stop_requested", "state_changed")

# What each kind of field is, in each copy: TaskFields (what a caller may pass), BatchTaskInfo (what it
# holds), and the SQL column type.
TASK_FIELDS_TYPE = {
    "int32": "int | None", "percent": "int | None", "str": "str | None", "bool": "bool | None",
    "datetime": "dt.datetime | str | None", "state": "BatchTaskState | str | int | None",
    "behaviour": "CancellationBehaviour | str | int | None", "object": "Any", "carrier": "Any",
}
INFO_TYPE = {
    **TASK_FIELDS_TYPE, "datetime": "dt.datetime | None", "state": "BatchTaskState | None",
    "behaviour": "CancellationBehaviour | None",
}
COLUMN_TYPE = {"int32": int, "percent": int, "state": int, "behaviour": int, "str": str, "bool": bool,
               "datetime": dt.datetime}


def test_task_fields_has_every_field_in_order_with_the_type_of_its_kind() -> None:
    annotations = TaskFields.__annotations__
    assert list(annotations) == [f.attr for f in FIELDS]
    for field in FIELDS:
        assert _text(annotations[field.attr]) == TASK_FIELDS_TYPE[field.kind], field.wire


def test_batch_task_info_annotates_every_field_in_order_with_the_type_of_its_kind() -> None:
    annotations = {name: value for name, value in BatchTaskInfo.__annotations__.items() if not name.startswith("_")}
    annotations = {name: value for name, value in annotations.items() if "ClassVar" not in _text(value)}
    assert list(annotations) == [f.attr for f in FIELDS]
    for field in FIELDS:
        assert _text(annotations[field.attr]) == INFO_TYPE[field.kind], field.wire


def test_the_sql_table_has_a_column_per_stored_field_in_order_then_batchstores_own() -> None:
    columns = BatchTask.__table__.columns  # type: ignore[attr-defined]
    stored = [f for f in FIELDS if f.column]
    assert [c.name for c in columns] == [f.attr for f in stored] + list(OWN_COLUMNS)
    for field in stored:
        column = columns[field.attr]
        sql_type = column.type.impl_instance if isinstance(column.type, TypeDecorator) else column.type
        assert sql_type.python_type is COLUMN_TYPE[field.kind], field.wire
        if field.kind == "str":
            assert column.type.length == field.max_length, field.wire
        if field.attr != "id":  # the primary key: never null, though a new task's Id is not given
            assert column.nullable is field.nullable, field.wire


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_ddl_creates_every_stored_field(dialect: str) -> None:
    (create,) = [s for s in ddl(dialect) if s.startswith("CREATE TABLE IF NOT EXISTS batchtask ")]
    for field in FIELDS:
        assert (f"\t{field.attr} " in create) is field.column, field.wire


def test_the_http_schema_has_every_field_in_order_with_its_limits() -> None:
    pytest.importorskip("fastapi")
    from batchstore.server._schemas import BatchTaskInfo as Schema

    properties = Schema.model_json_schema()["properties"]
    assert list(properties) == [f.wire for f in FIELDS]
    for field in FIELDS:
        if field.kind == "str":
            (text,) = [t for t in properties[field.wire]["anyOf"] if t.get("type") == "string"]
            assert text["maxLength"] == field.max_length, field.wire


def test_the_default_whitelist_is_the_fields_the_table_marks_writable() -> None:
    # SuperOffice's UpdateBatchTask changes these four: a field marked writable by mistake fails here.
    assert DEFAULT_WRITABLE == ("State", "Description", "Response", "Request")
    assert tuple(f.wire for f in FIELDS if f.writable) == DEFAULT_WRITABLE
    assert all(f.column for f in FIELDS if f.writable)


def _text(annotation: object) -> str:
    """An annotation as written (``from __future__ import annotations`` keeps them as text)."""
    if isinstance(annotation, typing.ForwardRef):
        return annotation.__forward_arg__
    return annotation if isinstance(annotation, str) else repr(annotation)
