"""How fast a running task advances and when it should be done, from the progress reports in its history.

Every ``report_progress`` (or other change of ProgressPercent) is a row of the task's trace with the time
it was committed. The rate is read over the reports of the current run (since its ``start``, which counts
as 0 %) that fall in the last :data:`WINDOW` before the newest report: recent enough to follow a task that
speeds up or slows down, long enough not to jump at every report. The ETA extends that rate from the
newest report to 100 %. One rule, used by the store, the HTTP routes, the dashboard and ``batchstore watch``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from ._enums import SUCCEEDED, BatchTaskState

__all__ = ["RECENT_REPORTS", "WINDOW", "ProgressEstimate", "estimate", "shown_percent"]

#: The span of reports the rate is measured over, back from the newest one.
WINDOW: Final = dt.timedelta(minutes=10)
#: How many of a task's newest trace rows are read to find its reports (the rest are older than needed).
RECENT_REPORTS: Final = 64
#: Operations after which a task runs again from 0 %: a report before them belongs to an earlier run.
_RUN_BEGINS: Final = frozenset({"start", "create", "requeue", "recover_stale"})


@dataclass(frozen=True, slots=True)
class ProgressEstimate:
    """A task's progress as people read it: ``percent`` shown, ``rate`` in percent per minute, ``eta``.

    ``rate`` and ``eta`` are None unless the task is Started and its reports moved forward; ``eta`` is
    when it reaches 100 % at that rate (UTC). ``percent`` is ProgressPercent, except that a Succeeded
    task shows 100 even when it was finished by an update that never touched ProgressPercent.

    >>> ProgressEstimate(50, 5.0, None).to_json()
    {'Percent': 50, 'Rate': 5.0, 'Eta': None}
    """

    percent: int
    rate: float | None = None
    eta: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"Percent", "Rate", "Eta"}``: the members batchstore's own routes add to a task."""
        return {"Percent": self.percent, "Rate": self.rate,
                "Eta": None if self.eta is None else self.eta.isoformat()}


def shown_percent(state: BatchTaskState | None, percent: int | None) -> int:
    """The percentage a bar shows: 100 for a Succeeded task, else ProgressPercent (0 when unknown).

    >>> shown_percent(BatchTaskState.Succeeded, 0), shown_percent(BatchTaskState.Failed, 35)
    (100, 35)
    """
    if state in SUCCEEDED:
        return 100
    return max(0, min(100, percent or 0))


def reports_of(rows: Iterable[tuple[Any, str, str]]) -> list[tuple[dt.datetime, int]]:
    """The progress points of the current run, oldest first, from trace rows ``(at, operation, changes)``
    read newest first; the run's start counts as a point at 0 %."""
    points: list[tuple[dt.datetime, int]] = []
    for at, operation, changes in rows:
        when = at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(at)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        if operation == "start":
            points.append((when, 0))
            break
        if operation in _RUN_BEGINS:
            break
        try:
            change = json.loads(changes).get("ProgressPercent")
        except (ValueError, AttributeError):
            continue  # a damaged row tells nothing about progress; history() says what is wrong with it
        if isinstance(change, list) and len(change) == 2 and isinstance(change[1], int):
            points.append((when, change[1]))
    points.reverse()
    return points


def estimate(state: BatchTaskState | None, percent: int | None, points: list[tuple[dt.datetime, int]]) -> (
    ProgressEstimate
):
    """The estimate of a task in ``state`` at ``percent``, given its run's progress ``points`` (oldest first).

    >>> t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> e = estimate(BatchTaskState.Started, 40, [(t0, 0), (t0 + dt.timedelta(minutes=4), 40)])
    >>> e.rate, e.eta.isoformat()
    (10.0, '2026-01-01T00:10:00+00:00')
    """
    shown = shown_percent(state, percent)
    if state is not BatchTaskState.Started or len(points) < 2:
        return ProgressEstimate(shown)
    last_at, last_percent = points[-1]
    recent = [p for p in points if p[0] >= last_at - WINDOW]
    first_at, first_percent = recent[0] if len(recent) >= 2 else points[-2]
    seconds = (last_at - first_at).total_seconds()
    if seconds <= 0 or last_percent <= first_percent:
        return ProgressEstimate(shown)
    per_second = (last_percent - first_percent) / seconds
    eta = last_at + dt.timedelta(seconds=max(0, 100 - last_percent) / per_second)
    return ProgressEstimate(shown, round(per_second * 60, 3), eta)
