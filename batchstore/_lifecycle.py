"""The lifecycle of a batch task: which step may follow which state, and the steps themselves.

::

    New ──acquire──> Aquired ──start──> Started ──succeed──> Succeeded (or SucceededManualCleanup)
     ^                  │                  │ report_progress (stays Started)
     │                  └──────fail────────┴──fail──> Failed
     └── recover_stale: an expired claim goes back to New (Failed after max_starts starts)

``stop`` fails a New or Aquired task at once and asks a Started one to stop (the worker sees it).
``requeue`` sends a Failed task (a stopped one fails too) back to New, for a worker to acquire again.
"""

from __future__ import annotations

import builtins
import datetime as dt
from typing import Any, Final

from ._core import FULL, Writer, _now, _task_id, _worker, default_worker
from ._engines import Transaction
from ._enums import CLAIMED, FINISHED, BatchTaskState, CancellationBehaviour
from ._exceptions import ClaimLostError, InvalidTaskError, InvalidTransitionError, TaskNotFoundError
from ._fields import BY_ATTR, BY_WIRE, INT32_MAX, coerce
from ._model import BatchTaskInfo
from ._queries import NEXT_NEW, NEXT_NEW_BY_NAME, SELECT_CLAIM, STALE_CLAIMS
from ._rows import timestamp

__all__ = [
    "ALLOWED",
    "CLAIMED",
    "FINISHED",
    "STOPPED",
    "Lifecycle",
    "check_transition",
    "stopped_result",
    "why_not_stopped",
]

S = BatchTaskState

#: The states each lifecycle step may be taken from.
ALLOWED: Final[dict[str, tuple[BatchTaskState, ...]]] = {
    "acquire": (S.New,),
    "start": (S.Aquired,),
    "report_progress": (S.Started,),
    "succeed": (S.Started,),
    "fail": (S.Aquired, S.Started),
    "requeue": (S.Failed,),
}


def check_transition(step: str, task_id: int, state: BatchTaskState) -> None:
    """InvalidTransitionError naming the current state and the allowed ones, unless ``step`` may follow ``state``."""
    allowed = ALLOWED[step]
    if state not in allowed:
        names = " or ".join(s.name for s in allowed)
        raise InvalidTransitionError(
            f"{step} of task {task_id}: its State is {state.name}; {step} needs {names}", field="State"
        )


_RECOVERY_EVERY: Final = dt.timedelta(seconds=1)
#: The Result of a task stopped by request (SailPoint's view of a task reads it too).
STOPPED: Final = "Stopped by request"
_WARNED: Final = f"{STOPPED}; CancelWithWarning: a warning applied"


def stopped_result(behaviour: CancellationBehaviour) -> str:
    """The Result a stopped task gets: it says so, and that a warning applied for CancelWithWarning."""
    return _WARNED if behaviour is CancellationBehaviour.CancelWithWarning else STOPPED


def why_not_stopped(task: BatchTaskInfo) -> str:
    """Why :meth:`BatchStore.stop` left a task as it was (it returned False), for a front to say so.

    >>> why_not_stopped(BatchTaskInfo(state="Succeeded", cancellation_behaviour="CanCancel"))
    'its State is Succeeded (finished)'
    """
    if task.cancellation_behaviour is CancellationBehaviour.CannotCancel:
        return "its CancellationBehaviour is CannotCancel"
    return f"its State is {task.state.name if task.state else None} (finished)"


class Lifecycle:
    """The steps a worker takes a task through, and stop; each one atomic, each checked against the table above.

    A store's lifecycle concern: :class:`~batchstore.BatchStore` holds one and hands each lifecycle verb to
    it. Every method reads top to bottom: check the arguments, open the write, read the task with its
    claim (``Writer.claimed_values``), check the claim and the transition, write (``Writer.change``: the
    columns, the feed row and the trace), and return the task.
    """

    def __init__(self, writer: Writer, lease_length: dt.timedelta, max_starts: int) -> None:
        self._writer = writer
        self._engine = writer.engine
        self._lease_length = lease_length
        self._max_starts = max_starts
        self._next_recovery = dt.datetime.min.replace(tzinfo=dt.UTC)  # when acquire next looks for stale claims

    def _claimed(
        self, tx: Transaction, task_id: int, step: str, worker: str | None
    ) -> tuple[dict[str, Any], bool]:
        """The task's values and stop flag, once the worker's claim and the step's transition are checked."""
        current, holder, stop = self._writer.claimed_values(tx, task_id, step)
        # A claim is lost when another worker holds the task, or recovery took it back (no holder). The
        # holder's own step on a task it finished is a step the State does not allow: a transition error.
        if worker is not None and holder != worker:
            by = f"held by {holder!r}" if holder is not None else "its claim was recovered or never made"
            raise ClaimLostError(
                f"{step} of task {task_id}: worker {worker!r} no longer holds it "
                f"(State {current['state'].name}, {by}); nothing was changed"
            )
        check_transition(step, task_id, current["state"])
        return current, bool(stop)

    def _lease_until(self, now: dt.datetime) -> str:
        return timestamp(now + self._lease_length)

    def _result(self, values: dict[str, Any], stop: bool | None = None) -> BatchTaskInfo:
        task = FULL.project(values, self._writer.rights)
        object.__setattr__(task, "_stop_requested", stop)
        return task

    def recover_stale(self) -> builtins.list[int]:
        """The work of BatchStore.recover_stale, whose docstring says what it does."""
        with self._engine.write("recover_stale") as tx:
            return self._recover(tx, _now())

    def _recover(self, tx: Transaction, now: dt.datetime) -> builtins.list[int]:
        # Claimed (SKIP LOCKED where the engine has it): two workers recovering at once never take the same task.
        stale = [r[0] for r in tx.all(STALE_CLAIMS + self._engine.claim, (timestamp(now),))]
        for task_id in stale:
            current, _, stop = self._writer.claimed_values(tx, task_id, "recover_stale")
            clear = {"worker": None, "lease_expires": None}
            if stop:
                # Someone asked the task to stop and its worker died first: the request is honoured, as
                # stop() does for a task not yet started, rather than handed to the next worker.
                changes = {"state": BatchTaskState.Failed, "result": stopped_result(current["cancellation_behaviour"])}
            elif current["start_count"] >= self._max_starts:
                result = f"Failed: its worker's lease expired after {current['start_count']} starts"
                changes = {"state": BatchTaskState.Failed, "result": coerce(BY_WIRE["Result"], result[:254])}
            else:
                changes = {"state": BatchTaskState.New}
            self._writer.change(tx, current, changes, "recover_stale", internal=clear, now=now)
        return stale

    def acquire(self, *, name: str | None = None, worker: str | None = None) -> BatchTaskInfo | None:
        """The work of BatchStore.acquire, whose docstring says what it does."""
        worker = default_worker() if worker is None else _worker(worker, "acquire")
        sql, params = (NEXT_NEW, ()) if name is None else (NEXT_NEW_BY_NAME, (coerce(BY_WIRE["Name"], name),))
        now = _now()
        with self._engine.write("acquire") as tx:
            # Expired claims are looked for at most every tenth of a lease (and every second at most): a busy
            # worker loop need not scan for them on every claim, and none waits longer than that for its turn.
            if now >= self._next_recovery:
                self._recover(tx, now)
                self._next_recovery = now + min(self._lease_length / 10, _RECOVERY_EVERY)
            # The oldest New task no other worker is claiming right now: on PostgreSQL, FOR UPDATE SKIP
            # LOCKED, so workers never wait on each other's claims; on SQLite, the write lock does it.
            row = tx.one(sql + self._engine.claim, params)
            if row is not None:
                current, _, stop = self._writer.claimed_values(tx, row[0], "acquire")
                values = self._writer.change(
                    tx, current, {"state": BatchTaskState.Aquired}, "acquire",
                    worker=worker, internal={"worker": worker, "lease_expires": self._lease_until(now)}, now=now,
                )
        return None if row is None else self._result(values, bool(stop))

    def start(self, task_id: int, *, worker: str | None = None) -> BatchTaskInfo:
        """The work of BatchStore.start, whose docstring says what it does."""
        task_id = _task_id(task_id, "start")
        worker = _worker(worker, "start")
        now = _now()
        with self._engine.write("start") as tx:
            current, stop = self._claimed(tx, task_id, "start", worker)
            if current["start_count"] >= INT32_MAX:
                raise InvalidTaskError(
                    f"start of task {task_id}: StartCount is {current['start_count']}, the largest an Int32 "
                    "holds; nothing was changed",
                    field="StartCount",
                )
            changes = {"state": BatchTaskState.Started, "start_count": current["start_count"] + 1,
                       "last_started": now, "progress_percent": 0}
            values = self._writer.change(tx, current, changes, "start", worker=worker,
                                  internal={"lease_expires": self._lease_until(now)}, now=now)
        return self._result(values, stop)

    def report_progress(
        self, task_id: int, percent: int, description: str | None = None, *, worker: str | None = None
    ) -> BatchTaskInfo:
        """The work of BatchStore.report_progress, whose docstring says what it does."""
        task_id = _task_id(task_id, "report_progress")
        worker = _worker(worker, "report_progress")
        percent = coerce(BY_WIRE["ProgressPercent"], percent)
        if percent is None:
            raise InvalidTaskError("report_progress needs a percentage", field="ProgressPercent")
        changes: dict[str, Any] = {"progress_percent": percent}
        if description is not None:
            changes["progress_description"] = coerce(BY_WIRE["ProgressDescription"], description)
        now = _now()
        with self._engine.write("report_progress") as tx:
            current, stop = self._claimed(tx, task_id, "report_progress", worker)
            if percent < (current["progress_percent"] or 0):
                raise InvalidTaskError(
                    f"progress never goes back: the last report was {current['progress_percent']}, not {percent}",
                    field="ProgressPercent",
                )
            values = self._writer.change(tx, current, changes, "report_progress", worker=worker,
                                  internal={"lease_expires": self._lease_until(now)}, now=now)
        return self._result(values, stop)

    def succeed(self, task_id: int, *, result: str | None, response: str | None, file_name: str | None,
                cleanup: bool, worker: str | None) -> BatchTaskInfo:
        """The work of BatchStore.succeed, whose docstring says what it does."""
        task_id = _task_id(task_id, "succeed")
        worker = _worker(worker, "succeed")
        state = BatchTaskState.SucceededManualCleanup if cleanup else BatchTaskState.Succeeded
        changes = self._outcome(state, result=result, response=response, file_name=file_name)
        changes["progress_percent"] = 100
        with self._engine.write("succeed") as tx:
            current, stop = self._claimed(tx, task_id, "succeed", worker)
            values = self._writer.change(tx, current, changes, "succeed", worker=worker,
                                  internal={"lease_expires": None})
        return self._result(values, stop)

    def fail(
        self, task_id: int, *, result: str | None = None, response: str | None = None, worker: str | None = None
    ) -> BatchTaskInfo:
        """The work of BatchStore.fail, whose docstring says what it does."""
        task_id = _task_id(task_id, "fail")
        worker = _worker(worker, "fail")
        changes = self._outcome(BatchTaskState.Failed, result=result, response=response)
        with self._engine.write("fail") as tx:
            current, stop = self._claimed(tx, task_id, "fail", worker)
            if stop and result is None:
                changes["result"] = stopped_result(current["cancellation_behaviour"])
            values = self._writer.change(tx, current, changes, "fail", worker=worker, internal={"lease_expires": None})
        return self._result(values, stop)

    @staticmethod
    def _outcome(state: BatchTaskState, **fields: str | None) -> dict[str, Any]:
        changes: dict[str, Any] = {"state": state}
        for attr, value in fields.items():
            if value is not None:
                changes[attr] = coerce(BY_ATTR[attr], value)
        return changes

    def stop(self, task_id: int) -> bool:
        """The work of BatchStore.stop, whose docstring says what it does."""
        task_id = _task_id(task_id, "stop")
        with self._engine.write("stop") as tx:
            current, _, already = self._writer.claimed_values(tx, task_id, "stop")
            behaviour, state = current["cancellation_behaviour"], current["state"]
            if behaviour is CancellationBehaviour.CannotCancel or state not in (
                BatchTaskState.New, *CLAIMED
            ):
                return False
            if state is BatchTaskState.Started:
                if not already:
                    self._writer.change(tx, current, {}, "stop", internal={"stop_requested": True})
                return True
            changes = {"state": BatchTaskState.Failed, "result": stopped_result(behaviour)}
            self._writer.change(tx, current, changes, "stop", internal={"lease_expires": None})
            return True

    def requeue(self, task_id: int, *, by: str | None = None) -> BatchTaskInfo:
        """The work of BatchStore.requeue, whose docstring says what it does."""
        task_id = _task_id(task_id, "requeue")
        by = default_worker() if by is None else _worker(by, "requeue")
        with self._engine.write("requeue") as tx:
            current, _, _ = self._writer.claimed_values(tx, task_id, "requeue")
            check_transition("requeue", task_id, current["state"])
            values = self._writer.change(
                tx, current, {"state": BatchTaskState.New, "progress_percent": 0}, "requeue", worker=by,
                internal={"worker": None, "lease_expires": None, "stop_requested": False},
            )
        return self._result(values, False)

    def stop_requested(self, task_id: int) -> bool:
        """The work of BatchStore.stop_requested, whose docstring says what it does."""
        task_id = _task_id(task_id, "stop_requested")
        row = self._engine.fetchone(SELECT_CLAIM, (task_id,), "stop_requested")
        if row is None:
            raise TaskNotFoundError(task_id, "stop_requested")
        return bool(row[1])


