"""Tables on a terminal, drawn with rich: Id, Name, State in colour, a progress bar, Created.

A long list is drawn a chunk of rows at a time with fixed column widths, so the columns line up and
100,000 tasks never sit in memory.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, Final

from rich.console import Console
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .._enums import BatchTaskState
from .._fields import Field, to_wire_value
from .._model import BatchTaskInfo
from .._progress import ProgressEstimate, shown_percent
from .._trace import TraceEntry

__all__ = ["detail", "history", "message", "tasks"]

_CHUNK: Final = 200
STATE_STYLES: Final = {
    BatchTaskState.New: "bold blue",
    BatchTaskState.Aquired: "cyan",
    BatchTaskState.Started: "bold yellow",
    BatchTaskState.Succeeded: "green",
    BatchTaskState.SucceededManualCleanup: "green",
    BatchTaskState.Failed: "bold red",
}

_console: Console | None = None


def console() -> Console:
    global _console
    if _console is None:
        _console = Console(highlight=False, soft_wrap=False)
    return _console


def _state(state: BatchTaskState | None) -> Text:
    if state is None:
        return Text("")
    return Text(state.name, style=STATE_STYLES.get(state, ""))


def _progress(percent: int | None) -> Table | Text:
    if percent is None:
        return Text("")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=10)
    grid.add_column(width=4, justify="right")
    grid.add_row(ProgressBar(total=100, completed=percent, width=10), f"{percent}%")
    return grid


def _when(value: dt.datetime | None) -> str:
    return "" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def _task_table(header: bool) -> Table:
    table = Table(show_header=header, header_style="bold", box=None, expand=True, pad_edge=False)
    table.add_column("Id", justify="right", width=7, no_wrap=True)
    table.add_column("Name", ratio=1, no_wrap=True, overflow="ellipsis")
    table.add_column("State", width=22, no_wrap=True)
    table.add_column("Progress", width=15, no_wrap=True)
    table.add_column("Created (UTC)", width=16, no_wrap=True)
    return table


def tasks(items: Iterable[BatchTaskInfo]) -> None:
    """Draw tasks as rows of one table, a chunk at a time; a line says when there are none."""
    rows = iter(items)
    shown = 0
    while chunk := list(islice(rows, _CHUNK)):
        table = _task_table(header=shown == 0)
        for task in chunk:
            table.add_row(str(task.id), task.name or "", _state(task.state), _progress(task.progress_percent),
                          _when(task.created))
        console().print(table)
        shown += len(chunk)
    if not shown:
        message("no tasks")


def _age(value: dt.datetime | None, now: dt.datetime) -> str:
    """How long ago, as people say it: "just now", "5 minutes ago", "12 years ago"."""
    if value is None:
        return ""
    seconds = max(0.0, (now - value).total_seconds())
    if seconds < 45:
        return "just now"
    for unit, size in (("year", 365.25 * 86400), ("month", 30.44 * 86400), ("week", 7 * 86400), ("day", 86400),
                       ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = round(seconds / size)
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "a minute ago"


def _eta(estimate: ProgressEstimate | None, now: dt.datetime) -> str:
    if estimate is None or estimate.rate is None or estimate.eta is None:
        return ""
    left = (estimate.eta - now).total_seconds()
    rate = f"{estimate.rate:.0f}" if estimate.rate >= 10 else f"{estimate.rate:.1f}"
    when = "due now" if left <= 30 else "in " + _age(now - dt.timedelta(seconds=left), now).removesuffix(" ago")
    return f"{rate}%/min, {when}"


def live(
    shown: dict[int, BatchTaskInfo],
    updates: Iterator[object],
    *,
    database: str,
    estimates: dict[int, ProgressEstimate],
) -> None:
    """Draw ``shown`` (tasks by Id) as a table, redrawn after each item of ``updates`` (which changes ``shown``
    and ``estimates``): the database in the title, a live indicator with the time of the last look, and for
    each task its progress bar, rate and ETA, ProgressDescription and age."""
    from rich.live import Live

    def render() -> Table:
        now = dt.datetime.now(dt.UTC)
        clock = now.astimezone().strftime("%H:%M:%S")
        table = Table(header_style="bold", box=None, expand=True, pad_edge=False, title_justify="left",
                      title=Text.assemble(("batchstore watch", "bold"), f"  {database}  ",
                                          ("● live", "bold green"), (f" (checked {clock})", "dim")))
        table.add_column("Id", justify="right", width=7, no_wrap=True)
        table.add_column("Name", max_width=28, no_wrap=True, overflow="ellipsis")
        table.add_column("State", width=12, no_wrap=True)
        table.add_column("Progress", width=15, no_wrap=True)
        table.add_column("Rate, ETA", width=20, no_wrap=True)
        table.add_column("ProgressDescription", ratio=1, no_wrap=True, overflow="ellipsis")
        table.add_column("Created", width=15, no_wrap=True)
        for task_id in sorted(shown):
            task = shown[task_id]
            table.add_row(str(task.id), task.name or "", _state(task.state),
                          _progress(shown_percent(task.state, task.progress_percent)),
                          _eta(estimates.get(task_id), now), task.progress_description or "", _age(task.created, now))
        if not shown:
            table.add_row("", Text("no tasks yet: they appear as they are created", style="dim"))
        return table

    with Live(render(), console=console(), auto_refresh=False, vertical_overflow="visible") as screen:
        for _ in updates:
            screen.update(render(), refresh=True)


def detail(task: BatchTaskInfo, fields: Iterable[Field]) -> None:
    """Every (selected) field of one task, a line each."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column("Field", style="bold", no_wrap=True)
    table.add_column("Value", overflow="fold")
    values = task.__dict__
    for field in fields:
        value = values[field.attr]
        shown: Any
        if field.attr == "state":
            shown = _state(value)
        elif field.attr == "progress_percent":
            shown = _progress(value)
        elif value is None:
            shown = Text("—", style="dim")
        elif field.kind == "datetime":
            shown = _when(value)
        else:
            wire = to_wire_value(field, value)
            shown = Text(wire if isinstance(wire, str) else json.dumps(wire, ensure_ascii=False))
        table.add_row(field.wire, shown)
    console().print(table)


def history(entries: Iterable[TraceEntry]) -> None:
    """A task's trace: when, which operation, which worker, and each change as old → new."""
    table = Table(header_style="bold", box=None, pad_edge=False)
    table.add_column("At (UTC)", no_wrap=True)
    table.add_column("Operation", no_wrap=True)
    table.add_column("Worker", no_wrap=True)
    table.add_column("Changes", overflow="fold")
    for entry in entries:
        changes = Text()
        for index, (name, (old, new)) in enumerate(entry.changes.items()):
            if index:
                changes.append("\n")
            changes.append(f"{name}: ", style="bold")
            changes.append(json.dumps(old, ensure_ascii=False), style="dim")
            changes.append(" → ")
            changes.append(json.dumps(new, ensure_ascii=False))
        table.add_row(_when(entry.at), entry.operation, entry.worker or "", changes)
    console().print(table)


def message(text: str) -> None:
    """One line for people."""
    console().print(Text(text))
