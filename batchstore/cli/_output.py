"""How a verb's results are written: a table for people, JSON for programs.

Four forms, chosen once per command:

- ``table``: stdout is a terminal and neither ``--json`` nor ``--wire`` was given (drawn by :mod:`._table`).
- ``lines``: stdout is not a terminal and no flag was given: one compact JSON object per line (JSON Lines),
  so ``grep``, ``head`` and ``jq`` work a task at a time.
- ``json`` (``--json``): a task is one JSON object, a list one JSON array, written as it is read.
- ``wire`` (``--wire``): as ``json``, but each task is exactly the API's wire form: all 24 keys,
  TableRight and FieldProperties included.

``lines`` and ``json`` leave out TableRight and FieldProperties (the same 2.6 KB on every task of a
store, derived from its field whitelist) unless ``--select`` names them; with ``--select`` they hold Id
and the selected fields only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from .._feed import Change
from .._fields import FIELDS, Field, resolve_select, to_wire_value
from .._model import BatchTaskInfo
from .._progress import ProgressEstimate
from .._trace import TraceEntry

__all__ = ["Form", "Output", "choose_form"]

Form = Literal["table", "lines", "json", "wire"]


def choose_form(*, as_json: bool, wire: bool) -> Form:
    """The form a command writes in, from its flags and whether stdout is a terminal."""
    if wire:
        return "wire"
    if as_json:
        return "json"
    return "table" if sys.stdout.isatty() else "lines"


def _dumps(value: Any, *, indent: int | None = None) -> str:
    separators = None if indent else (",", ":")
    return json.dumps(value, ensure_ascii=False, indent=indent, separators=separators)


def history_object(entry: TraceEntry) -> dict[str, Any]:
    """One trace entry as JSON: ``at``, ``operation``, ``worker``, ``changes`` (field: [old, new])."""
    return {
        "at": entry.at.isoformat(),
        "operation": entry.operation,
        "worker": entry.worker,
        "changes": {name: list(change) for name, change in entry.changes.items()},
    }


def change_object(change: Change) -> dict[str, Any]:
    """One change of the feed as JSON: ``cursor``, ``task_id``, ``operation``, ``worker``, ``at``, ``changes``."""
    return {
        "cursor": change.cursor,
        "task_id": change.task_id,
        "operation": change.operation,
        "worker": change.worker,
        "at": change.at.isoformat(),
        "changes": {name: list(values) for name, values in change.changes.items()},
    }


class Output:
    """Writes tasks, lists, histories and messages in one form.

    >>> out = Output("lines", select="Name")
    >>> out.task(BatchTaskInfo(id=7, name="ERPSync"))
    {"Id":7,"Name":"ERPSync"}
    """

    def __init__(self, form: Form, *, select: str | None = None) -> None:
        self.form = form
        attrs = resolve_select(select)
        self._fields: tuple[Field, ...] = tuple(
            f for f in FIELDS if (f.kind != "carrier" if attrs is None else f.attr in attrs)
        )

    def _object(self, task: BatchTaskInfo) -> dict[str, Any]:
        if self.form == "wire":
            return task.to_wire()
        values = task.__dict__
        return {f.wire: to_wire_value(f, values[f.attr]) for f in self._fields}

    def _table(self) -> Any:
        from . import _table  # rich is loaded only to draw on a terminal

        return _table

    def task(self, task: BatchTaskInfo | None, *, detail: bool = False, none: str = "no task") -> None:
        """One task (``null`` in JSON when there is none); ``detail`` shows every field on a terminal."""
        if self.form == "table":
            if task is None:
                self.message(none)
            elif detail:
                self._table().detail(task, self._fields)
            else:
                self._table().tasks([task])
            return
        value = None if task is None else self._object(task)
        sys.stdout.write(_dumps(value, indent=2 if self.form in ("json", "wire") else None) + "\n")

    def tasks(self, tasks: Iterable[BatchTaskInfo]) -> None:
        """Many tasks, written as they are read: a JSON array, JSON lines, or a table drawn in chunks."""
        if self.form == "table":
            self._table().tasks(tasks)
        else:
            self._many(self._object(t) for t in tasks)

    def history(self, entries: Iterable[TraceEntry]) -> None:
        """A task's trace, oldest first."""
        if self.form == "table":
            self._table().history(entries)
        else:
            self._many(history_object(e) for e in entries)

    def _many(self, objects: Iterator[dict[str, Any]]) -> None:
        write = sys.stdout.write
        if self.form == "lines":
            for value in objects:
                write(_dumps(value) + "\n")
            return
        write("[")
        separator = "\n"
        for value in objects:
            write(separator + _dumps(value))
            separator = ",\n"
        write("\n]\n" if separator != "\n" else "]\n")

    def change(self, change: Change) -> None:
        """One change of the feed, as a JSON line (flushed: a reader downstream sees it at once)."""
        sys.stdout.write(_dumps(change_object(change)) + "\n")
        sys.stdout.flush()

    def live(
        self, shown: dict[int, BatchTaskInfo], updates: Iterator[object], *, database: str,
        estimates: dict[int, ProgressEstimate],
    ) -> None:
        """A table of ``shown`` redrawn at each of ``updates``: the terminal form of ``watch``."""
        self._table().live(shown, updates, database=database, estimates=estimates)

    def message(self, text: str) -> None:
        """A line for people; in the JSON forms nothing (the data says it)."""
        if self.form == "table":
            self._table().message(text)
