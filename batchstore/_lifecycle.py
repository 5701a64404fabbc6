"""The lifecycle of a batch task: which step may follow which state.

::

    New ──acquire──> Aquired ──start──> Started ──succeed──> Succeeded (or SucceededManualCleanup)
     ^                  │                  │ report_progress (stays Started)
     │                  └──────fail────────┴──fail──> Failed
     └── recover_stale: an expired claim goes back to New (Failed after max_starts starts)

``stop`` fails a New or Aquired task at once and asks a Started one to stop (the worker sees it).
"""

from __future__ import annotations

from typing import Final

from ._enums import BatchTaskState
from ._exceptions import InvalidTransitionError

__all__ = ["ALLOWED", "FINISHED", "check_transition"]

S = BatchTaskState
FINISHED: Final = frozenset({S.Succeeded, S.Failed, S.SucceededManualCleanup})
CLAIMED: Final = frozenset({S.Aquired, S.Started})

#: The states each lifecycle step may be taken from.
ALLOWED: Final[dict[str, tuple[BatchTaskState, ...]]] = {
    "acquire": (S.New,),
    "start": (S.Aquired,),
    "report_progress": (S.Started,),
    "succeed": (S.Started,),
    "fail": (S.Aquired, S.Started),
}


def check_transition(step: str, task_id: int, state: BatchTaskState) -> None:
    """InvalidTransitionError naming the current state and the allowed ones, unless ``step`` may follow ``state``."""
    allowed = ALLOWED[step]
    if state not in allowed:
        names = " or ".join(s.name for s in allowed)
        raise InvalidTransitionError(
            f"{step} of task {task_id}: its State is {state.name}; {step} needs {names}", field="State"
        )
