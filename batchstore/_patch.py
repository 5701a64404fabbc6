"""RFC 6902 JSON Patch over a task's wire document.

jsonpatch applies add, remove, replace, move and copy. ``test`` is checked here, by JSON value and
type, because jsonpatch compares with Python's ``==`` (so ``1`` would match ``true``). The caller's
operations are copied first: jsonpatch inserts values by reference.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any, Final

import jsonpatch
import jsonpointer

from ._exceptions import InvalidTaskError, PatchConflictError, PatchError
from ._fields import BY_WIRE, DATA_FIELDS, MAX_DEPTH, deeper_than, is_text, nesting_message, parse_json, resolve

__all__ = ["apply_patch", "apply_simple", "json_equal", "parse_operations", "referenced_fields", "simple_operations"]

_OPS = ("add", "remove", "replace", "move", "copy", "test")
_SCALARS = frozenset({str, int, float, bool})  # immutable: nothing to copy


def json_equal(a: object, b: object) -> bool:
    """Equality as JSON sees it: ``true`` is not ``1``, ``"1"`` is not ``1``, ``1`` is ``1.0``.

    >>> json_equal(True, 1), json_equal(1, 1.0), json_equal({"a": [1]}, {"a": [1]})
    (False, True, True)
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


#: A value may stand for the whole task document, which holds the ParameterObject one level down.
_MAX_VALUE_DEPTH: Final = MAX_DEPTH + 1


def _shown(value: object) -> str:
    """A value for a message: its JSON text, or its repr when it has none (a dict with tuple keys)."""
    try:
        return json.dumps(value, default=repr)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


def _test_failed(index: int, path: str, expected: object, actual: object) -> PatchConflictError:
    """The conflict of a failed ``test``: one message for the general path and the common patch's."""
    return PatchConflictError(
        f"operation {index}: test of {path} failed: expected {_shown(expected)}, found {_shown(actual)}"
    )


def _reason(exc: Exception) -> str:
    # jsonpointer says "member 'x' not found in <the whole document>": keep the first half only.
    text = str(exc).partition(" not found in ")[0]
    return text + (" not found" if " not found in " in str(exc) else "")


def _wire_path(path: object, index: int) -> str:
    # Top-level names match in any case (and as attribute names); deeper segments are exact.
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"operation {index}: a JSON Pointer starting with '/' is required, got {path!r}")
    if not path.isascii() and not is_text(path):
        raise PatchError(f"operation {index}: the path {path!r} holds a lone surrogate; a path is Unicode text")
    if not path:
        return path
    head, sep, rest = path[1:].partition("/")
    if head in BY_WIRE:  # the usual spelling: nothing to resolve or unescape
        return path
    try:
        field = resolve(jsonpointer.unescape(head), where="path")
    except InvalidTaskError:
        raise PatchError(f"operation {index}: {path!r} names no field of a batch task") from None
    return f"/{field.wire}{sep}{rest}"


def parse_operations(operations: object) -> list[dict[str, Any]]:
    """Checked, private copies of the operations: a list of dicts, or the same as a JSON string."""
    if isinstance(operations, (str, bytes, bytearray)):
        try:
            operations = parse_json(operations, "the patch")
        except ValueError as exc:
            raise PatchError(str(exc)) from None
    if not isinstance(operations, Sequence) or isinstance(operations, (str, bytes, bytearray)):
        raise PatchError(f"a JSON Patch is a list of operations, not {type(operations).__name__}")
    parsed = []
    for index, op in enumerate(operations):
        if not isinstance(op, dict):
            raise PatchError(f"operation {index}: an operation is an object, not {type(op).__name__}")
        name = op.get("op")
        if name not in _OPS:
            raise PatchError(f"operation {index}: 'op' must be one of {', '.join(_OPS)}, got {name!r}")
        clean: dict[str, Any] = {"op": name, "path": _wire_path(op.get("path"), index)}
        if name in ("add", "replace", "test"):
            if "value" not in op:
                raise PatchError(f"operation {index}: {name} needs a 'value'")
            value = op["value"]
            if value is not None and type(value) not in _SCALARS:
                if deeper_than(value, _MAX_VALUE_DEPTH):
                    raise PatchError(f"operation {index}: the value {nesting_message(_MAX_VALUE_DEPTH)}")
                value = copy.deepcopy(value)
            clean["value"] = value
        if name in ("move", "copy"):
            clean["from"] = _wire_path(op.get("from"), index)
        parsed.append(clean)
    return parsed


#: Top-level data fields whose wire values are scalars (or null): a test or replace of one needs no
#: wire document, no copy and no jsonpatch. The ParameterObject and the carrier's rights are left out.
_SIMPLE_PATHS: Final = {f"/{f.wire}": f.wire for f in DATA_FIELDS if f.kind != "object"}


def simple_operations(operations: object) -> list[tuple[bool, str, Any]] | None:
    """The common patch taken apart once: (is it a test, wire name, value) per operation, or None.

    None unless every operation is a ``test`` or ``replace`` of a top-level scalar field spelled as on
    the wire, with a scalar or null value; anything else (other spellings and errors included) goes the
    general way, :func:`parse_operations` and :func:`apply_patch`, which say what is wrong.
    """
    if type(operations) is not list:
        return None
    simple = []
    for op in operations:
        if type(op) is not dict:
            return None
        name = op.get("op")
        if name != "test" and name != "replace":
            return None
        path = op.get("path")
        wire = _SIMPLE_PATHS.get(path) if type(path) is str else None  # a list as path is unhashable
        if wire is None or "value" not in op:
            return None
        value = op["value"]
        if value is not None and type(value) not in _SCALARS:
            return None
        simple.append((name == "test", wire, value))
    return simple


def apply_simple(document: dict[str, Any], operations: list[tuple[bool, str, Any]]) -> dict[str, Any]:
    """Apply :func:`simple_operations` to ``document`` (the wire values of the fields they name); a new dict.

    The same semantics and messages as :func:`apply_patch`: the fields are always members, so a replace
    cannot miss, and a test compares by JSON value and type.
    """
    patched = dict(document)
    for index, (test, wire, value) in enumerate(operations):
        if test:
            actual = patched[wire]
            if not json_equal(actual, value):
                raise _test_failed(index, f"/{wire}", value, actual)
        else:
            patched[wire] = value
    return patched


def referenced_fields(operations: list[dict[str, Any]]) -> tuple[set[str] | None, set[str] | None]:
    """The top-level wire names the operations name, and those of them they may change.

    None stands for the whole document: an operation names it (path ``""``).
    """
    named: set[str] | None = set()
    changed: set[str] | None = set()
    for op in operations:
        for key in ("path", "from"):
            path = op.get(key)
            if path is None:
                continue
            if path == "":
                if op["op"] != "test":
                    return None, None
                named = None
                continue
            top = path[1:].partition("/")[0]
            if named is not None:
                named.add(top)
            if op["op"] != "test" and changed is not None:
                changed.add(top)
    return named, changed


def apply_patch(document: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply checked operations to ``document`` (changed in place: pass a copy) and return it."""
    for index, op in enumerate(operations):
        name, path = op["op"], op["path"]
        # A top-level member (one token, no escapes: wire names have none) is a plain dict operation;
        # deeper paths, move and copy go to jsonpatch.
        top = path[1:] if path.count("/") == 1 else None
        try:
            if name == "test":
                actual = document[top] if top in document else jsonpointer.resolve_pointer(document, path)
                if isinstance(actual, jsonpointer.EndOfList):
                    # '-' names the place after a list's last element: there is no value there to test.
                    raise PatchError(f"operation {index} (test {path}): the path names no existing value")
                if not json_equal(actual, op["value"]):
                    raise _test_failed(index, path, op["value"], actual)
            elif top is not None and name in ("add", "replace", "remove"):
                if name != "add" and top not in document:
                    raise PatchError(f"operation {index} ({name} {path}): the document has no member {top!r}")
                if name == "remove":
                    del document[top]
                else:
                    document[top] = op["value"]
            else:
                document = jsonpatch.apply_patch(document, [op], in_place=True)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise PatchError(f"operation {index} ({name} {path}): {_reason(exc)}") from exc
        except RecursionError:
            # copy and move can nest a value inside itself, deeper with each operation.
            raise PatchError(f"operation {index} ({name} {path}): the result nests too deeply") from None
    if not isinstance(document, dict):
        raise PatchError("the patch replaced the whole task with something that is not an object")
    return document
