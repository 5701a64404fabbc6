"""The 24 fields of a BatchTaskInfo: names on the wire and in Python, kinds, limits, and value rules.

Every input value passes through :func:`coerce`, whatever door it came in by (constructor, attribute,
mapping, update, patch, command line), so a rule lives in one place.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from ._enums import BatchTaskState, CancellationBehaviour, coerce_enum
from ._exceptions import InvalidTaskError

__all__ = [
    "EARLIEST",
    "FIELDS",
    "ID_MAX",
    "ID_MIN",
    "INT32_MAX",
    "INT32_MIN",
    "LATEST",
    "MAX_DEPTH",
    "MAX_DOCUMENT_DEPTH",
    "Field",
    "FrozenMap",
    "check_parameter_object",
    "check_text",
    "coerce",
    "deeper_than",
    "is_text",
    "nesting_message",
    "parse_json",
    "resolve",
    "resolve_select",
    "same_value",
    "to_wire_value",
]

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1
#: Ids a database can hold: signed 64-bit. No task has an id outside them.
ID_MIN: Final = -(2**63)
ID_MAX: Final = 2**63 - 1
#: How deeply a ParameterObject may nest lists and maps: every later path (wire form, JSON, patch,
#: comparison) recurses once per level, and this keeps them all far from Python's recursion limit.
MAX_DEPTH: Final = 64
#: How deeply a whole JSON document a client sends (an HTTP body, a command-line argument) may nest: a
#: patch wraps each value (which may stand for the whole task, one level above its ParameterObject) in an
#: operation inside a list, so MAX_DEPTH + 3 refuses nothing a task may hold, and every deeper document
#: is refused before any code walks it.
MAX_DOCUMENT_DEPTH: Final = MAX_DEPTH + 3
UTC: Final = dt.UTC
#: The instants a task's date-times may hold: one day inside the years 1 to 9999 at each end. Every UTC
#: offset is less than a day, so such an instant can be shown in any time zone (SO-TimeZone) without
#: leaving the calendar a datetime can hold; a later conversion can never fail.
EARLIEST: Final = dt.datetime(1, 1, 2, tzinfo=UTC)
LATEST: Final = dt.datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Field:
    wire: str  # PascalCase, as SuperOffice writes it
    attr: str  # snake_case attribute of BatchTaskInfo and column of the batchtask table
    kind: str  # one of the keys of _COERCERS
    net_type: str  # FieldType in FieldProperties, as SuperOffice names .NET types
    max_length: int = 0  # SuperOffice column length for strings; 0 for other kinds
    column: bool = True  # stored as a column of batchtask (ParameterObject lives in binaryobject)
    nullable: bool = True  # False: the column is NOT NULL, so the value may be left out but never null
    writable: bool = False  # SuperOffice's UpdateBatchTask may change it: a store's default whitelist


FIELDS: Final[tuple[Field, ...]] = (
    Field("Id", "id", "int32", "System.Int32"),
    Field("Name", "name", "str", "System.String", 254),
    Field("AssociateId", "associate_id", "int32", "System.Int32"),
    Field("DetailsTable", "details_table", "int32", "System.Int32"),
    Field("DetailsRecord", "details_record", "int32", "System.Int32"),
    Field("IsSystemTask", "is_system_task", "bool", "System.Boolean", nullable=False),
    Field("IsInternalTask", "is_internal_task", "bool", "System.Boolean", nullable=False),
    Field("ParameterObject", "parameter_object", "object", "System.Object", column=False),
    Field("LastStarted", "last_started", "datetime", "System.DateTime"),
    Field("Created", "created", "datetime", "System.DateTime", nullable=False),
    Field("StartCount", "start_count", "int32", "System.Int32", nullable=False),
    Field("DatabaseSerialNumber", "database_serial_number", "str", "System.String", 254),
    Field("Context", "context", "str", "System.String", 254),
    Field("Result", "result", "str", "System.String", 254),
    Field("State", "state", "state", "BatchTaskState", nullable=False, writable=True),
    Field("Description", "description", "str", "System.String", 254, writable=True),
    Field("Response", "response", "str", "System.String", 254, writable=True),
    Field("Request", "request", "str", "System.String", 254, writable=True),
    Field("ProgressDescription", "progress_description", "str", "System.String", 254),
    Field("ProgressPercent", "progress_percent", "percent", "System.Int32", nullable=False),
    Field("FileName", "file_name", "str", "System.String", 260),
    Field("CancellationBehaviour", "cancellation_behaviour", "behaviour", "CancellationBehaviour", nullable=False),
    Field("TableRight", "table_right", "carrier", "TableRight", column=False),
    Field("FieldProperties", "field_properties", "carrier", "FieldProperties", column=False),
)

#: Fields whose values are kept: all but the carrier's rights, which are computed on output.
DATA_FIELDS: Final = tuple(f for f in FIELDS if f.kind != "carrier")
CARRIER_FIELDS: Final = tuple(f for f in FIELDS if f.kind == "carrier")
COLUMN_FIELDS: Final = tuple(f for f in FIELDS if f.column)
BY_ATTR: Final = MappingProxyType({f.attr: f for f in FIELDS})
BY_WIRE: Final = MappingProxyType({f.wire: f for f in FIELDS})
#: Both exact spellings of every field: wire and attribute names.
BY_NAME: Final = MappingProxyType({**BY_ATTR, **BY_WIRE})


def _key(name: str) -> str:
    return name.replace("_", "").lower()


_BY_KEY: Final = {_key(f.wire): f for f in FIELDS}


def resolve(name: object, *, where: str = "key") -> Field:
    """The field a name means: its wire name or attribute name, in any case.

    >>> resolve("progress_percent").wire, resolve("PROGRESSPERCENT").attr
    ('ProgressPercent', 'progress_percent')
    """
    field = _BY_KEY.get(_key(name)) if isinstance(name, str) else None
    if field is None:
        raise InvalidTaskError(f"unknown {where} {name!r}; known fields are {', '.join(BY_WIRE)}")
    return field


def resolve_select(select: str | Iterable[str] | None) -> frozenset[str] | None:
    """The attribute names a ``$select`` asks for, Id always among them; None means every field.

    >>> sorted(resolve_select("Name, state"))
    ['id', 'name', 'state']
    """
    if select is None:
        return None
    names: Iterable[object]
    if isinstance(select, str):
        names = select.split(",")
    elif isinstance(select, Iterable):
        names = select
    else:
        raise InvalidTaskError(f"select must be a comma-separated string or names, got {type(select).__name__}")
    attrs = {"id"}
    for name in names:
        if isinstance(name, str) and not name.strip():
            continue
        attrs.add(resolve(name.strip() if isinstance(name, str) else name, where="select name").attr)
    return frozenset(attrs)


# --- input values -------------------------------------------------------------------------------


def _int32(value: object, lo: int = INT32_MIN, hi: int = INT32_MAX) -> int:
    # bool is an int in Python, never in JSON: True is not a StartCount.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"expected an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise ValueError(f"{value} is outside {lo}..{hi}")
    return int(value)


def _percent(value: object) -> int:
    return _int32(value, 0, 100)


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {type(value).__name__}")
    return value


def as_utc(value: dt.datetime) -> dt.datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already.

    Raises ValueError when the instant falls outside :data:`EARLIEST` .. :data:`LATEST`.

    >>> as_utc(dt.datetime(9999, 12, 31))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 9999-12-31T00:00:00 is outside 0001-01-02T00:00:00Z .. 9999-12-30T23:59:59.999999Z, the ...
    """
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise ValueError(f"{value.isoformat()} is outside {_RANGE}, the instants every time zone can show")
    return utc


_RANGE: Final = f"{EARLIEST.isoformat().replace('+00:00', 'Z')} .. {LATEST.isoformat().replace('+00:00', 'Z')}"


_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = dt.timedelta(microseconds=1)


def _same_instant(stored: dt.datetime, given: dt.datetime) -> bool:
    # The precision a client kept shows in what it sent: whole seconds, whole milliseconds (JavaScript's
    # Date), or microseconds (finer: .NET's 100 ns ticks, Python). The stored value truncated or rounded
    # to that precision is the same instant for that client.
    sent = (given - _EPOCH) // _MICROSECOND
    kept = (stored - _EPOCH) // _MICROSECOND
    unit = 1_000_000 if sent % 1_000_000 == 0 else 1000 if sent % 1000 == 0 else 1
    below = kept % unit
    return sent == kept - below or (sent == kept - below + unit and 2 * below >= unit)


def same_value(field: Field, stored: object, given: object) -> bool:
    """Whether ``given`` (checked, as :func:`coerce` returns it) leaves ``field``'s ``stored`` value as it is.

    Equal values are; so is a date-time equal to the stored one at the precision the client sent, in
    any offset: JavaScript's milliseconds send back a stored ``.123456`` as ``.123``.

    >>> stored = coerce(resolve("Created"), "2024-05-01T10:00:00.123456+00:00")
    >>> same_value(resolve("Created"), stored, coerce(resolve("Created"), "2024-05-01T12:00:00.123+02:00"))
    True
    >>> same_value(resolve("Created"), stored, coerce(resolve("Created"), "2024-05-01T10:00:00.124Z"))
    False
    """
    if stored == given:
        return True
    if field.kind == "datetime" and isinstance(stored, dt.datetime) and isinstance(given, dt.datetime):
        return _same_instant(stored, given)
    return False


def _datetime(value: object) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return as_utc(value)
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 date-time string, got {type(value).__name__}")
    try:
        # fromisoformat reads 'Z', offsets, and 7 fractional digits (kept to the microsecond).
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset; add 'Z' or one like '+01:00'")
    return as_utc(parsed)


def _encodable(value: str) -> str:
    # A lone surrogate ("\ud800") is a Python str but no Unicode text: SQLite, msgpack and every
    # UTF-8 reader refuse it. isascii() is O(1) in CPython, so plain text costs no encode.
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"{value[max(exc.start - 10, 0):exc.end + 10]!r} holds a lone surrogate at position {exc.start}; "
                "only valid Unicode text can be stored"
            ) from None
    return value


def _storable(value: str) -> str:
    # A column's text: valid Unicode, and no NUL, which PostgreSQL's text cannot hold. Refused on every
    # engine, so a task means the same everywhere. (Inside a ParameterObject, msgpack bytes, NUL is kept.)
    if "\x00" in value:
        raise ValueError(f"holds a NUL character at position {value.index(chr(0))}; no engine stores one in text")
    return value if value.isascii() else _encodable(value)


def check_text(value: str, field: str) -> str:
    """``value`` if it is valid Unicode text without NUL, else InvalidTaskError naming ``field``.

    >>> check_text("w1", "worker")
    'w1'
    """
    try:
        return _storable(value)
    except ValueError as exc:
        raise InvalidTaskError(str(exc), field=field) from None


def _str(value: object, max_length: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    if len(value) > max_length:
        raise ValueError(f"is {len(value)} characters long; at most {max_length} fit")
    return _storable(value)


def _state(value: object) -> BatchTaskState:
    state = coerce_enum(BatchTaskState, value)
    if state is BatchTaskState.All:
        raise ValueError("All is a filter for listing, not a state a task can have")
    return state


def _behaviour(value: object) -> CancellationBehaviour:
    return coerce_enum(CancellationBehaviour, value)


def _anything(value: object) -> object:
    return value


def _pointer(path: tuple[object, ...]) -> str:
    # The JSON Pointer of a place inside a ParameterObject, printable even when a key is not valid text.
    if not path:
        return "the top level"
    pointer = "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)
    return pointer.encode("utf-8", "backslashreplace").decode("utf-8")


def _check_node(value: object, path: tuple[object, ...]) -> None:
    # Recursion is bounded by MAX_DEPTH (a cycle exceeds it too), so deep input cannot overflow it.
    kind = type(value)
    if kind is str:
        try:
            _encodable(value)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ValueError(f"at {_pointer(path)}: {exc}") from None
    elif kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise ValueError(f"at {_pointer(path)}: {value} is not a finite number; JSON has no NaN or Infinity")
    elif isinstance(value, (dict, list, tuple)):
        if len(path) >= MAX_DEPTH:
            raise ValueError(f"at {_pointer(path[:8])}/...: {nesting_message()}")
        if isinstance(value, dict):
            for key, item in value.items():
                if type(key) is not str:
                    raise ValueError(
                        f"at {_pointer(path)}: the key {key!r} ({type(key).__name__}) is not a string; map keys must be"
                        " strings, as in JSON"
                    )
                _check_node(key, (*path, key))
                _check_node(item, (*path, key))
        else:
            for index, item in enumerate(value):
                _check_node(item, (*path, index))
    elif isinstance(value, str):
        _check_node(str(value), path)
    elif isinstance(value, float):
        _check_node(float(value), path)


def is_text(text: str) -> bool:
    r"""Whether ``text`` is valid Unicode (UTF-8 can encode it: no lone surrogate).

    >>> is_text("caf" + chr(0xE9)), is_text("a" + chr(0xD800))
    (True, False)
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _plainly_valid(value: Any, depth: int) -> bool:
    # The fast check of the common case, with no path kept; anything it does not vouch for (a fault,
    # or a subclass of a plain type) goes to _check_node, which says where.
    kind = type(value)
    if kind is str:
        return value.isascii() or is_text(value)
    if kind is dict:
        if depth >= MAX_DEPTH:
            return False
        depth += 1
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or is_text(key)) or not _plainly_valid(item, depth):
                return False
        return True
    if kind is list or kind is tuple:
        if depth >= MAX_DEPTH:
            return False
        depth += 1
        # A loop, not all(...): no generator frame per element (1.1 us instead of 3 us a small create).
        for item in value:  # noqa: SIM110
            if not _plainly_valid(item, depth):
                return False
        return True
    if kind is float:
        return math.isfinite(value)
    return kind in _PLAIN or value is None


def check_parameter_object(value: object) -> object:
    """``value`` if it may be a ParameterObject, else ValueError saying where inside it the fault is.

    Strings must be valid Unicode text, numbers finite, map keys strings, and lists and maps nest at
    most :data:`MAX_DEPTH` levels, so that its wire form is always strict JSON and every path handles
    it. Other types are checked when it is packed (see _blob.py).

    >>> check_parameter_object({"rows": [1, 2.5]})
    {'rows': [1, 2.5]}
    >>> check_parameter_object({"a": [float("nan")]})
    Traceback (most recent call last):
    ...
    ValueError: at /a/0: nan is not a finite number; JSON has no NaN or Infinity
    """
    if value is None or type(value) in _PLAIN or _plainly_valid(value, 0):
        return value
    _check_node(value, ())
    return value


_PLAIN: Final = frozenset({int, bool, bytes, dt.datetime})


def nesting_message(limit: int = MAX_DEPTH) -> str:
    """How every front words a value nested too deeply (the store, a patch, HTTP bodies, the command line).

    >>> nesting_message()
    'nests deeper than 64 levels of lists and maps'
    """
    return f"nests deeper than {limit} levels of lists and maps"


def deeper_than(value: object, limit: int) -> bool:
    """Whether ``value`` nests lists and maps (tuples too) more than ``limit`` levels deep.

    A loop with a stack of its own rather than recursion: a value nested a million levels deep is
    measured without touching Python's recursion limit, and the walk stops as soon as it passes ``limit``.

    >>> deeper_than([[1]], 2), deeper_than([[[1]]], 2)
    (False, True)
    """
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[object] = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_json(text: str | bytes | bytearray, what: str) -> Any:
    """The JSON value of ``text``, or ValueError saying why not, in the same words on every front.

    Refused: malformed JSON, and a document nesting more than :data:`MAX_DOCUMENT_DEPTH` levels (which
    Python's parser would otherwise answer with a RecursionError, or hand on to code that recurses).

    >>> parse_json('{"a": [1]}', "the task")
    {'a': [1]}
    >>> parse_json("[" * 100 + "]" * 100, "the body")
    Traceback (most recent call last):
    ...
    ValueError: the body nests deeper than 67 levels of lists and maps
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"{what} {nesting_message(MAX_DOCUMENT_DEPTH)}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None
    if deeper_than(value, MAX_DOCUMENT_DEPTH):
        raise ValueError(f"{what} {nesting_message(MAX_DOCUMENT_DEPTH)}")
    return value


def coerce(field: Field, value: object) -> Any:
    """The stored form of ``value`` for ``field``, or InvalidTaskError naming the field.

    >>> coerce(BY_WIRE["State"], "succeeded")
    <BatchTaskState.Succeeded: 4>
    """
    if value is None:
        return None
    try:
        kind = field.kind
        if kind == "str":
            return _str(value, field.max_length)
        return _COERCERS[kind](value)
    except ValueError as exc:
        raise InvalidTaskError(str(exc), field=field.wire) from None


_COERCERS: Final = {
    "int32": _int32,
    "percent": _percent,
    "bool": _bool,
    "datetime": _datetime,
    "state": _state,
    "behaviour": _behaviour,
    "object": check_parameter_object,  # its types are checked when packed: see _blob.py
    "carrier": _anything,  # accepted and ignored on input
}


# --- output values ------------------------------------------------------------------------------


class FrozenMap(dict[str, Any]):
    """A read-only dict: the carrier's rights, which every result of a store shares.

    A plain dict could be changed by one caller for every other result; a ``MappingProxyType``
    cannot be pickled or deep-copied. This one is a dict (``json.dumps`` takes it, ``==`` compares
    it with any mapping) that refuses changes, pickles, and copies as itself.

    >>> rights = FrozenMap({"Mask": "Read"})
    >>> import pickle; pickle.loads(pickle.dumps(rights)) == rights
    True
    >>> rights["Mask"] = "Update"
    Traceback (most recent call last):
    ...
    TypeError: FrozenMap is read-only
    """

    __slots__ = ()

    def _read_only(self, *args: object, **kwargs: object) -> Any:
        raise TypeError("FrozenMap is read-only")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> tuple[type[FrozenMap], tuple[dict[str, Any]]]:
        return FrozenMap, (dict(self),)

    def __copy__(self) -> FrozenMap:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenMap:
        return self  # immutable all the way down: its values are FrozenMaps and scalars

    def __repr__(self) -> str:
        return f"FrozenMap({dict.__repr__(self)})"


def to_json_value(value: object) -> Any:
    """A JSON-ready copy of a ParameterObject value: datetimes as ISO 8601, bytes as base64."""
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, float):
        # Values are checked finite on the way in; a file written otherwise still gives strict JSON
        # (null, as JavaScript's JSON.stringify writes NaN and Infinity).
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else str(to_json_value(k)): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    return str(value)


def to_wire_value(field: Field, value: object) -> Any:
    """The JSON form of a stored value: enums by name, date-times as ISO 8601 with offset."""
    if value is None:
        return None
    if field.kind in ("state", "behaviour"):
        return value.name  # type: ignore[attr-defined]
    if field.kind == "datetime":
        return value.isoformat()  # type: ignore[attr-defined]
    if field.kind in ("object", "carrier"):
        return to_json_value(value)
    return value


_WIRE_CONVERTERS: Final = tuple(
    (f.wire, f.attr, f.kind in ("state", "behaviour", "datetime", "object")) for f in DATA_FIELDS
)


def wire_document(values: Mapping[str, Any], names: set[str] | None = None) -> dict[str, Any]:
    """The wire form of a task's data fields (not the carrier's rights), or of those of them in ``names``."""
    return {
        wire: to_wire_value(BY_ATTR[attr], values[attr]) if convert else values[attr]
        for wire, attr, convert in _WIRE_CONVERTERS
        if names is None or wire in names
    }


_CONVERTER_OF: Final = {wire: (attr, convert) for wire, attr, convert in _WIRE_CONVERTERS}


def wire_values(values: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The wire form of the data fields in ``names`` (each one's wire name): :func:`wire_document` for a few."""
    document = {}
    for wire in names:
        attr, convert = _CONVERTER_OF[wire]
        document[wire] = to_wire_value(BY_ATTR[attr], values[attr]) if convert else values[attr]
    return document
