"""BatchTaskInfo: one batch task, with snake_case attributes and a PascalCase wire form."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar, TypedDict, Unpack

from ._enums import BatchTaskState, CancellationBehaviour
from ._exceptions import InvalidTaskError
from ._fields import BY_ATTR, BY_NAME, CARRIER_FIELDS, FIELDS, coerce, resolve, to_wire_value

__all__ = ["BatchTaskInfo", "TaskFields", "given_values"]

_ATTRS = tuple(f.attr for f in FIELDS)
_ALL_NONE = dict.fromkeys(_ATTRS)
_CARRIER = tuple(f.attr for f in CARRIER_FIELDS)


class TaskFields(TypedDict, total=False):
    """The keyword arguments of :class:`BatchTaskInfo`, with every form each accepts."""

    id: int | None
    name: str | None
    associate_id: int | None
    details_table: int | None
    details_record: int | None
    is_system_task: bool | None
    is_internal_task: bool | None
    parameter_object: Any
    last_started: dt.datetime | str | None
    created: dt.datetime | str | None
    start_count: int | None
    database_serial_number: str | None
    context: str | None
    result: str | None
    state: BatchTaskState | str | int | None
    description: str | None
    response: str | None
    request: str | None
    progress_description: str | None
    progress_percent: int | None
    file_name: str | None
    cancellation_behaviour: CancellationBehaviour | str | int | None
    table_right: Any
    field_properties: Any


def given_values(task: BatchTaskInfo | Mapping[str, Any]) -> dict[str, Any]:
    """The checked values of the fields a task gives (set on a BatchTaskInfo, or keys of a mapping), by attribute."""
    if isinstance(task, BatchTaskInfo):
        values = task.__dict__
        return {attr: values[attr] for attr in task._fields_set}
    if not isinstance(task, Mapping):
        raise InvalidTaskError(f"a task is a BatchTaskInfo or a mapping, not {type(task).__name__}")
    given: dict[str, Any] = {}
    for key, value in task.items():
        field = BY_NAME.get(key) or resolve(key)  # exact spellings first: the common case, and cheap
        if field.attr in given:
            raise InvalidTaskError(f"given twice (as {key!r} too)", field=field.wire)
        given[field.attr] = coerce(field, value)
    return given


class BatchTaskInfo:
    """One batch task. Every value is checked when set; unset fields are None.

    The fields you set are remembered (:attr:`fields_set`): :meth:`BatchStore.update` compares only
    those, so ``BatchTaskInfo(id=7, state="Succeeded")`` changes the State of task 7 and nothing else.

    >>> task = BatchTaskInfo(name="ERPSync", state="new", created="2024-11-27T14:00:00+01:00")
    >>> task.state, task.created.isoformat()
    (<BatchTaskState.New: 1>, '2024-11-27T13:00:00+00:00')
    >>> task.to_wire()["State"], sorted(task.fields_set)
    ('New', ['created', 'name', 'state'])
    """

    __slots__ = ("__dict__", "_fields_set", "_stop_requested")

    id: int | None
    name: str | None
    associate_id: int | None
    details_table: int | None
    details_record: int | None
    is_system_task: bool | None
    is_internal_task: bool | None
    parameter_object: Any
    last_started: dt.datetime | None
    created: dt.datetime | None
    start_count: int | None
    database_serial_number: str | None
    context: str | None
    result: str | None
    state: BatchTaskState | None
    description: str | None
    response: str | None
    request: str | None
    progress_description: str | None
    progress_percent: int | None
    file_name: str | None
    cancellation_behaviour: CancellationBehaviour | None
    table_right: Any
    field_properties: Any

    _fields_set: frozenset[str]
    __hash__: ClassVar[None]  # type: ignore[assignment]  # mutable, so unhashable

    def __init__(self, **fields: Unpack[TaskFields]) -> None:
        values = dict(_ALL_NONE)
        for name, value in fields.items():
            field = BY_ATTR.get(name)
            if field is None:
                raise InvalidTaskError(f"unknown field {name!r}; known fields are {', '.join(_ATTRS)}")
            values[name] = coerce(field, value)
        self.__dict__.update(values)
        object.__setattr__(self, "_fields_set", frozenset(fields))

    @classmethod
    def _trusted(cls, values: dict[str, Any], fields_set: frozenset[str]) -> BatchTaskInfo:
        # Rows read back from batchstore's own tables were checked on the way in: skip the checks.
        # ``values`` becomes the task's own __dict__: callers hand over a dict nobody else holds.
        task = cls.__new__(cls)
        object.__setattr__(task, "__dict__", values)
        object.__setattr__(task, "_fields_set", fields_set)
        return task

    def __getstate__(self) -> tuple[dict[str, Any], frozenset[str], bool | None]:
        return dict(self.__dict__), self._fields_set, self.stop_requested

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.__dict__.update(state[0])
        object.__setattr__(self, "_fields_set", state[1])
        if len(state) > 2 and state[2] is not None:  # pickles of 0.1.0 have two items
            object.__setattr__(self, "_stop_requested", state[2])

    def __setattr__(self, name: str, value: object) -> None:
        field = BY_ATTR.get(name)
        if field is None:
            raise InvalidTaskError(f"unknown field {name!r}; known fields are {', '.join(_ATTRS)}")
        self.__dict__[name] = coerce(field, value)
        object.__setattr__(self, "_fields_set", self._fields_set | {name})

    @property
    def stop_requested(self) -> bool | None:
        """On the result of a lifecycle step: whether someone asked this task to stop. None elsewhere."""
        return getattr(self, "_stop_requested", None)

    @property
    def fields_set(self) -> frozenset[str]:
        """The attribute names given to the constructor, assigned since, or read from the store."""
        return self._fields_set

    @classmethod
    def from_wire(cls, mapping: Mapping[str, Any]) -> BatchTaskInfo:
        """Read a task from its wire form; keys are wire or attribute names, in any case.

        >>> BatchTaskInfo.from_wire({"Name": "ContactExport", "ProgressPercent": 100}).progress_percent
        100
        """
        if isinstance(mapping, BatchTaskInfo):
            return mapping
        given = given_values(mapping)
        return cls._trusted({**_ALL_NONE, **given}, frozenset(given))

    def to_wire(self) -> dict[str, Any]:
        """The wire form: the 24 PascalCase keys in SuperOffice's order, ready for ``json.dumps``.

        >>> list(BatchTaskInfo(id=1).to_wire())[:3]
        ['Id', 'Name', 'AssociateId']
        """
        values = self.__dict__
        return {f.wire: to_wire_value(f, values[f.attr]) for f in FIELDS}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BatchTaskInfo):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __repr__(self) -> str:
        # The carrier's rights are the same on every task read from a store: noise in a repr.
        shown = ", ".join(
            f"{k}={v!r}" for k, v in self.__dict__.items() if v is not None and k not in _CARRIER
        )
        return f"BatchTaskInfo({shown})"
