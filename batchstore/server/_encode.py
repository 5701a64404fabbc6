"""The JSON bytes of every answer: one encoder, and a task's wire form written without a detour.

A task read from a store carries the store's rights (``TableRight`` and ``FieldProperties``, about 2.5 KB
of JSON of the 3 KB of a task) as read-only maps every result shares, so their bytes are written once per
store and copied after; only the 22 data fields are encoded per task. That, and orjson where installed
(the ``server`` extra brings it; the standard library's json otherwise, with the same output up to the
spelling of exponents), takes a task from about 150 µs to a few µs, which is what a list of 100 costs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from .._fields import DATA_FIELDS, FrozenMap, to_json_value
from .._model import BatchTaskInfo
from ._timezone import ResponseZone, in_zone

__all__ = ["dumps", "task_bytes"]


def _stdlib_dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _make_dumps() -> Callable[[Any], bytes]:
    try:
        import orjson
    except ImportError:
        return lambda value: _stdlib_dumps(to_json_value(value))
    fast = orjson.dumps
    refused = orjson.JSONEncodeError
    # Date-times, bytes and any other non-JSON value go through to_json_value, as with the standard library.
    options = orjson.OPT_PASSTHROUGH_DATETIME

    def dumps(value: Any) -> bytes:
        try:
            return fast(value, default=to_json_value, option=options)
        except refused:
            # What orjson declines (an integer past 64 bits, a dict key that is not a string) the standard
            # library writes, from the same JSON-ready copy.
            return _stdlib_dumps(to_json_value(value))

    return dumps


#: A JSON value as UTF-8 bytes, compact, non-ASCII kept as is.
dumps: Final = _make_dumps()

# The ParameterObject goes to dumps as stored: what is not JSON already, dumps converts as to_json_value does.
_PLAIN, _ENUM, _DATETIME = range(3)
_KIND: Final = {"state": _ENUM, "behaviour": _ENUM, "datetime": _DATETIME}
_PLAN: Final = tuple((f.wire, f.attr, _KIND.get(f.kind, _PLAIN)) for f in DATA_FIELDS)
# id(a store's rights map) -> (the map, its JSON): the map is kept alive with it, so its id is never reused.
_CARRIED: Final[dict[int, tuple[FrozenMap, bytes]]] = {}
_CARRIED_MAX: Final = 64


def _carrier(value: Any) -> bytes:
    """The JSON of TableRight or FieldProperties: a store's shared read-only map is encoded once."""
    if value is None:
        return b"null"
    if type(value) is not FrozenMap:
        return dumps(to_json_value(value))
    cached = _CARRIED.get(id(value))
    if cached is not None and cached[0] is value:
        return cached[1]
    encoded = dumps(to_json_value(value))
    if len(_CARRIED) >= _CARRIED_MAX:
        _CARRIED.clear()  # stores come and go (a test suite): a few maps are ever in use at once
    _CARRIED[id(value)] = (value, encoded)
    return encoded


def task_bytes(task: BatchTaskInfo, zone: ResponseZone = None) -> bytes:
    """The JSON of ``task.to_wire()``, its date-times in ``zone`` (SO-TimeZone) when one is given.

    >>> import json
    >>> task = BatchTaskInfo(id=7, name="ERPSync", state="Started")
    >>> json.loads(task_bytes(task)) == task.to_wire()
    True
    """
    values = task.__dict__
    document: dict[str, Any] = {}
    for wire, attr, kind in _PLAN:
        value = values[attr]
        if value is not None and kind:
            value = value.name if kind == _ENUM else in_zone(value, zone)
        document[wire] = value
    return b"".join((
        dumps(document)[:-1],
        b',"TableRight":', _carrier(values["table_right"]),
        b',"FieldProperties":', _carrier(values["field_properties"]),
        b"}",
    ))
