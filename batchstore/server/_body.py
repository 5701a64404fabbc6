"""Reading a request's JSON body: the one place that turns bytes into a value or a 400."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request

from .._fields import parse_json
from ._errors import RequestRefusedError

__all__ = ["json_body", "members", "parse_body"]


async def json_body(request: Request) -> Any:
    """The parsed body. Empty or malformed JSON is a 400 naming the body; the Guard already checked type and size."""
    return parse_body(await request.body())


def parse_body(raw: bytes) -> Any:
    """The value of a JSON body already read (the fast path reads it itself): as :func:`json_body`.

    >>> parse_body(b'{"Id": 7}')
    {'Id': 7}
    """
    if not raw.strip():
        raise RequestRefusedError(400, "a JSON body is required", field="body")
    try:
        # Malformed JSON, and a document nested deeper than any task can be, are refused here, in the
        # words every front uses, before any route walks the value.
        return parse_json(raw, "the body")
    except ValueError as exc:
        raise RequestRefusedError(400, str(exc).removeprefix("the body "), field="body") from None


def members(body: Any, *names: str, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """The members of a request object, by their documented names, matched in any case (as SuperOffice does).

    A missing required member or an unknown one is a 400 naming it.

    >>> members({"id": 7}, "Id")
    {'Id': 7}
    """
    if not isinstance(body, Mapping):
        raise RequestRefusedError(400, f"the body must be a JSON object with {', '.join(names)}", field="body")
    by_key = {name.lower(): name for name in (*names, *optional)}
    found: dict[str, Any] = {}
    for key, value in body.items():
        name = by_key.get(str(key).lower())
        if name is None:
            raise RequestRefusedError(400, f"unknown member; expected {', '.join(by_key.values())}", field=str(key))
        if name in found:
            raise RequestRefusedError(400, "given twice (in different cases)", field=name)
        found[name] = value
    for name in names:
        if name not in found:
            raise RequestRefusedError(400, "is required", field=name)
    return found
