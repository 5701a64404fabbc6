"""The two enumerations of the BatchTask API, with SuperOffice's names and numbers."""

from __future__ import annotations

import enum
from typing import Final, TypeVar

__all__ = [
    "CLAIMED",
    "FINISHED",
    "SUCCEEDED",
    "UNFINISHED",
    "BatchTaskState",
    "CancellationBehaviour",
    "coerce_enum",
]


class BatchTaskState(enum.IntEnum):
    """The state of a batch task. ``All`` is a filter for :meth:`BatchStore.list`, never a stored state.

    SuperOffice spells ``Aquired`` so on the wire; ``"Acquired"`` is accepted as input too.

    >>> BatchTaskState.Succeeded.value, BatchTaskState(4).name
    (4, 'Succeeded')
    """

    Unknown = 0
    New = 1
    Aquired = 2
    Started = 3
    Succeeded = 4
    Failed = 5
    SucceededManualCleanup = 6
    All = 99999


#: The state groups, the one definition every layer uses (SQL statements included): a finished task is
#: done for good (retention prunes it, ``wait`` returns on it); a claimed one has a worker.
FINISHED: Final = frozenset({BatchTaskState.Succeeded, BatchTaskState.Failed, BatchTaskState.SucceededManualCleanup})
SUCCEEDED: Final = frozenset({BatchTaskState.Succeeded, BatchTaskState.SucceededManualCleanup})
CLAIMED: Final = frozenset({BatchTaskState.Aquired, BatchTaskState.Started})
#: Every stored state but the finished ones, in number order (``All`` is a filter, never stored).
UNFINISHED: Final = tuple(s for s in BatchTaskState if s not in FINISHED and s is not BatchTaskState.All)


class CancellationBehaviour(enum.IntEnum):
    """Whether, and how, a running task may be stopped.

    >>> CancellationBehaviour["CannotCancel"].value
    2
    """

    CanCancel = 0
    CancelWithWarning = 1
    CannotCancel = 2


E = TypeVar("E", BatchTaskState, CancellationBehaviour)

# Names are matched in any case; SuperOffice's misspelling "Aquired" has a correctly spelled alias.
_BY_NAME: dict[type[enum.IntEnum], dict[str, enum.IntEnum]] = {
    cls: {member.name.lower(): member for member in cls} for cls in (BatchTaskState, CancellationBehaviour)
}
_BY_NAME[BatchTaskState]["acquired"] = BatchTaskState.Aquired


def coerce_enum(cls: type[E], value: object) -> E:
    """Return the member of ``cls`` that ``value`` names: a member, a name in any case, or a number.

    Raises ValueError with a readable message; callers turn it into the error of their field.
    """
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        member = _BY_NAME[cls].get(value.strip().lower())
        if member is None and value.strip().lstrip("-").isdigit():
            return coerce_enum(cls, int(value.strip()))
        if member is None:
            raise ValueError(f"{value!r} is not one of {', '.join(m.name for m in cls)}")
        return member  # type: ignore[return-value]
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"{value} is not a {cls.__name__} number") from None
    raise ValueError(f"expected a {cls.__name__} name or number, got {type(value).__name__}")
