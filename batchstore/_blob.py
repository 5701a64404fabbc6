"""The ParameterObject codec: msgpack bytes for the binaryobject table.

Date-times travel as msgpack's Timestamp extension and come back as aware UTC datetimes; a naive one
is taken to be UTC, as everywhere else in batchstore.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgpack

from ._exceptions import InvalidTaskError, StorageError

__all__ = ["DEFAULT_MAX_BLOB_BYTES", "MIME_TYPE", "pack", "unpack"]

DEFAULT_MAX_BLOB_BYTES = 16 * 1024 * 1024
MIME_TYPE = "application/msgpack"
_UTC = dt.UTC


def _default(value: object) -> object:
    # Called by msgpack for types it does not know. Naive datetimes land here because the packer
    # runs with datetime=False, which lets us give them UTC instead of the machine's local zone.
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_UTC)
        return msgpack.Timestamp.from_datetime(value)
    raise TypeError(f"{type(value).__name__} cannot be stored in a ParameterObject")


def pack(value: object, *, max_bytes: int = DEFAULT_MAX_BLOB_BYTES) -> bytes:
    """msgpack bytes of a ParameterObject, or InvalidTaskError naming ParameterObject.

    >>> unpack(pack({"source": "SAP", "rows": [1, 2]}))
    {'source': 'SAP', 'rows': [1, 2]}
    """
    try:
        data: bytes = msgpack.packb(value, default=_default, datetime=False, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidTaskError(f"cannot be serialized: {exc}", field="ParameterObject") from exc
    if len(data) > max_bytes:
        raise InvalidTaskError(
            f"serializes to {len(data)} bytes; the store's limit is {max_bytes}", field="ParameterObject"
        )
    # Some values pack but cannot be read back (a tuple as a map key, a date-time before year 1 in
    # UTC): reading it once here keeps them from being stored, where every later read would fail.
    # Only a date-time (msgpack's extension type -1, the byte 0xFF) or a map key that is not a string
    # can do that, and those keys never get here (coerce refuses them): bytes without 0xFF read back.
    if b"\xff" not in data:
        return data
    try:
        _unpack(data)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidTaskError(f"would be stored but could not be read back: {exc}", field="ParameterObject") from None
    return data


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, timestamp=3, strict_map_key=False, raw=False)


def unpack(data: bytes) -> Any:
    """The ParameterObject stored as ``data``; StorageError if the stored bytes are damaged."""
    try:
        return _unpack(data)
    except (TypeError, ValueError, OverflowError) as exc:  # msgpack's FormatError and ExtraData are ValueErrors
        raise StorageError(f"{exc or type(exc).__name__} (its binaryobject row is damaged)") from exc
