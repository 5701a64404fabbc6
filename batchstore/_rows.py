"""Between BatchTaskInfo values and batchtask rows: the SQL text, and the conversions of each column.

The SQL is plain text built from the field table, so that a command that only reads needs neither
SQLAlchemy nor SQLModel (half a second to import); ``tests/engines/test_schema.py`` checks it against the
SQLModel tables in ``_schema.py``, which stay the one source of the schema.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from ._blob import unpack
from ._enums import BatchTaskState, CancellationBehaviour
from ._exceptions import StorageError
from ._fields import COLUMN_FIELDS, FIELDS, Field, resolve_select
from ._model import BatchTaskInfo

__all__ = ["INSERT_COLUMNS", "ReadPlan", "plan_for", "read_plan", "to_column", "update_sql"]

#: SuperOffice's table number of BinaryObject: DetailsTable of a task whose ParameterObject we stored.
BINARY_OBJECT_TABLE: Final = 205

#: Columns of batchtask, in table order: the wire order less ParameterObject, then batchstore's own.
INTERNAL_COLUMNS: Final = ("parameter_blob", "worker", "lease_expires", "stop_requested", "state_changed")
COLUMNS: Final = (*(f.attr for f in COLUMN_FIELDS), *INTERNAL_COLUMNS)
INSERT_COLUMNS: Final = COLUMNS[1:]  # the id comes from AUTOINCREMENT


_STATES: Final = {m.value: m for m in BatchTaskState}
_BEHAVIOURS: Final = {m.value: m for m in CancellationBehaviour}


def timestamp(value: dt.datetime) -> str:
    # Fixed width, always UTC: text order is time order.
    return value.isoformat(timespec="microseconds")


def to_column(field: Field, value: Any) -> Any:
    """The column value of an already checked field value."""
    if value is None:
        return None
    if field.kind == "datetime":
        return timestamp(value)
    if field.kind in ("state", "behaviour"):
        return int(value)
    return value


def _datetime(value: Any) -> dt.datetime:
    # SQLite keeps ISO 8601 text; PostgreSQL's timestamptz comes back as an aware datetime (in UTC).
    return value if value.__class__ is dt.datetime else dt.datetime.fromisoformat(value)


_FROM_COLUMN: Final[dict[str, Callable[[Any], Any]]] = {
    "datetime": _datetime,
    "bool": bool,
    "state": _STATES.__getitem__,
    "behaviour": _BEHAVIOURS.__getitem__,
}


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """How to read one projection (``$select``) of tasks: which columns, and how to turn them back."""

    select_list: str  # the columns a row holds, in ``attrs`` order
    source: str  # the FROM clause: batchtask t, joined to the blob table when the ParameterObject is read
    by_id: str  # the task with one id
    by_id_with_claim: str  # the same, then its claim: worker, stop_requested (the lifecycle steps need both)
    attrs: tuple[str, ...]  # the attribute each column of a row holds
    converters: tuple[tuple[str, Callable[[Any], Any]], ...]  # those whose column needs converting
    with_blob: bool
    with_rights: tuple[str, ...]  # "table_right", "field_properties" when selected
    fields_set: frozenset[str]
    read_row: Callable[[tuple[Any, ...], Mapping[str, Any]], dict[str, Any]]  # see _row_reader

    def page(self, where: str, order: str, keys: str) -> str:
        """One page of the tasks matching ``where`` (SQL over ``t.``) in ``order``, each row ending in the
        ``keys`` columns its successor page starts after; the last placeholders are LIMIT and OFFSET."""
        return f"SELECT {self.select_list}, {keys} FROM {self.source} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"

    def values(self, row: tuple[Any, ...], rights: Mapping[str, Any], operation: str) -> dict[str, Any]:
        """Every attribute of a task (None where not selected) from one row read by this plan."""
        try:
            return self.read_row(row, rights)
        except (ValueError, TypeError, KeyError, OverflowError, StorageError):
            return self._checked_values(row, rights, operation)  # raises, saying which column

    def _checked_values(self, row: tuple[Any, ...], rights: Mapping[str, Any], operation: str) -> dict[str, Any]:
        values = _ALL_NONE.copy()
        values.update(zip(self.attrs, row))
        for attr, convert in self.converters:
            value = values[attr]
            if value is not None:
                try:
                    values[attr] = convert(value)
                except (ValueError, TypeError, KeyError, OverflowError, StorageError) as exc:
                    # Only a file changed behind batchstore's back gets here: say where, not just what.
                    raise StorageError(
                        f"{operation}: the stored {attr} of task {values.get('id')} cannot be read: {exc}"
                    ) from exc
        for attr in self.with_rights:
            values[attr] = rights[attr]
        return values

    def build(self, row: tuple[Any, ...], rights: Mapping[str, Any], operation: str) -> BatchTaskInfo:
        return BatchTaskInfo._trusted(self.values(row, rights, operation), self.fields_set)

    def project(self, values: dict[str, Any], rights: Mapping[str, Any]) -> BatchTaskInfo:
        """The task this plan would read, from all of its values already at hand."""
        selected = self.fields_set
        if len(selected) == len(values):  # every field: nothing to null out
            projected = dict(values)
        else:
            projected = {a: (v if a in selected else None) for a, v in values.items()}
        for attr in self.with_rights:
            projected[attr] = rights[attr]
        return BatchTaskInfo._trusted(projected, selected)


_ALL_NONE: Final = dict.fromkeys(f.attr for f in FIELDS)


def _row_reader(
    attrs: tuple[str, ...], converters: tuple[tuple[str, Callable[[Any], Any]], ...], with_rights: tuple[str, ...]
) -> Callable[[tuple[Any, ...], Mapping[str, Any]], dict[str, Any]]:
    """A function turning one row into a task's values, made for one plan: one dict display, no loop.

    Every read goes through it (a list of 500 tasks, 500 times), and a display built for the plan is
    about twice as fast as filling a dict column by column. ReadPlan.values falls back to the loop,
    which names the column, when a stored value cannot be converted.
    """
    position = {attr: i for i, attr in enumerate(attrs)}
    convert = dict(converters)
    names: dict[str, Any] = {}
    items = []
    for field in FIELDS:
        attr = field.attr
        if attr in with_rights:
            value = f"rights[{attr!r}]"
        elif attr not in position:
            value = "None"
        elif attr in convert:
            names[f"c_{attr}"] = convert[attr]
            value = f"None if (v := row[{position[attr]}]) is None else c_{attr}(v)"
        else:
            value = f"row[{position[attr]}]"
        items.append(f"{attr!r}: {value}")
    source = f"def read_row(row, rights):\n    return {{{', '.join(items)}}}\n"
    exec(source, names)  # the text is built above from the field table alone, no caller input
    reader: Callable[[tuple[Any, ...], Mapping[str, Any]], dict[str, Any]] = names["read_row"]
    return reader


@lru_cache(maxsize=256)
def read_plan(attrs: frozenset[str] | None) -> ReadPlan:
    """The plan for reading ``attrs`` (None: every field). Only the columns asked for are read."""
    wanted = [f for f in FIELDS if attrs is None or f.attr in attrs]
    columns = [f for f in wanted if f.column]
    converters = [(f.attr, _FROM_COLUMN[f.kind]) for f in columns if f.kind in _FROM_COLUMN]
    select_list = [f"t.{f.attr}" for f in columns]
    with_blob = any(f.attr == "parameter_object" for f in wanted)
    source = "batchtask t"
    if with_blob:
        select_list.append("b.data")
        converters.append(("parameter_object", unpack))
        source += " LEFT JOIN binaryobject b ON b.id = t.parameter_blob"
    attr_order = (*(f.attr for f in columns), *(("parameter_object",) if with_blob else ()))
    rights = tuple(f.attr for f in wanted if f.kind == "carrier")
    return ReadPlan(
        select_list=", ".join(select_list),
        source=source,
        by_id=f"SELECT {', '.join(select_list)} FROM {source} WHERE t.id = ?",
        by_id_with_claim=f"SELECT {', '.join(select_list)}, t.worker, t.stop_requested FROM {source} WHERE t.id = ?",
        attrs=attr_order,
        converters=tuple(converters),
        with_blob=with_blob,
        with_rights=rights,
        fields_set=frozenset(f.attr for f in wanted),
        read_row=_row_reader(attr_order, tuple(converters), rights),
    )


_BY_SELECT: dict[str, ReadPlan] = {}


def plan_for(select: str | Iterable[str] | None) -> ReadPlan:
    """The read plan of a ``$select`` as the caller spelled it; string spellings are remembered."""
    if select is None:
        return read_plan(None)
    if isinstance(select, str):
        plan = _BY_SELECT.get(select)
        if plan is None:
            plan = read_plan(resolve_select(select))
            if len(_BY_SELECT) < 1024:  # bounded: callers may build select strings on the fly
                _BY_SELECT[select] = plan
        return plan
    return read_plan(resolve_select(select))


@lru_cache(maxsize=256)
def update_sql(attrs: tuple[str, ...]) -> str:
    """UPDATE of the given columns of one task, by id."""
    return f"UPDATE batchtask SET {', '.join(f'{a} = ?' for a in attrs)} WHERE id = ?"
