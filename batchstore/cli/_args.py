"""Parsing what people type: JSON arguments (or stdin), task ids, durations, state lists."""

from __future__ import annotations

import datetime as dt
import re
import sys
from typing import Any, Final

import click

from .._enums import BatchTaskState, coerce_enum
from .._exceptions import InvalidTaskError
from .._fields import ID_MAX, ID_MIN, parse_json

__all__ = ["TASK_ID", "format_duration", "parse_duration", "parse_seconds", "parse_states", "read_json"]

_ID_MIN: Final = ID_MIN
_ID_MAX: Final = ID_MAX


class TaskId(click.IntRange):
    """A task id: a whole number a database can hold (64-bit); anything else is a usage error, not a lookup.

    Click's IntRange alone would answer "'abc' is not a valid integer range", which names a type, not the
    mistake.

    >>> TaskId().convert("42", None, None)
    42
    >>> TaskId().convert("abc", None, None)
    Traceback (most recent call last):
    ...
    click.exceptions.BadParameter: 'abc' is not a task id: ids are whole numbers, such as 1 or 42
    """

    name = "id"

    def __init__(self) -> None:
        super().__init__(_ID_MIN, _ID_MAX)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, int) and not re.fullmatch(r"\s*[+-]?\d+\s*", str(value)):
            self.fail(f"{value!r} is not a task id: ids are whole numbers, such as 1 or 42", param, ctx)
        if not isinstance(value, int) and not _ID_MIN <= int(value) <= _ID_MAX:
            self.fail(f"{value} is not a task id: ids are 64-bit, from {_ID_MIN} to {_ID_MAX}", param, ctx)
        return super().convert(value, param, ctx)


TASK_ID: Final = TaskId()

_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PART: Final = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)


def read_json(text: str | None, what: str) -> Any:
    """The JSON value of an argument; ``-`` or no argument reads standard input.

    Nothing at all (an empty argument, or standard input at its end at once: ``</dev/null``) is refused as
    "no JSON given", not as JSON that failed to parse.
    """
    from_stdin = text in (None, "-")
    raw = sys.stdin.read() if from_stdin else text
    if raw is None or not raw.strip():
        where = "standard input was empty" if from_stdin else "the argument is empty"
        raise InvalidTaskError(f"no JSON given: {where}; pass {what} as an argument or on standard input")
    try:
        return parse_json(raw, what)  # the HTTP server's rules and words: malformed or too deep is refused
    except ValueError as exc:
        raise InvalidTaskError(str(exc)) from None


def parse_duration(text: str, option: str = "--older-than") -> dt.timedelta:
    """A duration such as ``30d``, ``12h``, ``90m``, ``45s`` or ``1d12h``.

    >>> parse_duration("1d12h"), parse_duration("90s")
    (datetime.timedelta(days=1, seconds=43200), datetime.timedelta(seconds=90))
    """
    compact = text.strip().replace(" ", "")
    parts = _PART.findall(compact)
    if not compact or "".join(number + unit for number, unit in parts) != compact:
        raise click.BadParameter(f"{text!r} is not a duration such as 30d, 12h, 90m or 45s", param_hint=option)
    try:
        return sum((dt.timedelta(**{_UNITS[unit.lower()]: float(number)}) for number, unit in parts), dt.timedelta())
    except OverflowError:
        raise click.BadParameter(f"{text!r} is too long a duration", param_hint=option) from None


def format_duration(value: dt.timedelta) -> str:
    """A duration as people write it, the way parse_duration reads it.

    >>> format_duration(dt.timedelta(days=30)), format_duration(dt.timedelta(days=1, hours=12, seconds=5))
    ('30d', '1d12h5s')
    """
    seconds = round(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def parse_seconds(text: str, option: str) -> float:
    """A number of seconds (``2.5``), or a duration (``90s``, ``5m``), as seconds.

    >>> parse_seconds("2.5", "--timeout"), parse_seconds("5m", "--timeout")
    (2.5, 300.0)
    """
    try:
        seconds = float(text)
    except ValueError:
        return parse_duration(text, option).total_seconds()
    if not 0 <= seconds < float("inf"):
        raise click.BadParameter(f"{text!r} is not a number of seconds (0 or more)", param_hint=option)
    return seconds


def parse_states(states: tuple[str, ...]) -> list[BatchTaskState]:
    """The distinct states asked for, in order; none or ``All`` among them means every state."""
    wanted: list[BatchTaskState] = []
    for state in states:
        try:
            member = coerce_enum(BatchTaskState, state)
        except ValueError as exc:
            raise InvalidTaskError(str(exc), field="State") from None
        if member is BatchTaskState.All:
            return [BatchTaskState.All]
        if member not in wanted:
            wanted.append(member)
    return wanted or [BatchTaskState.All]
