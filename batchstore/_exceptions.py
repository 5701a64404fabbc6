"""Everything batchstore raises, rooted in one class.

The tree::

    BatchStoreError
    ├── TaskNotFoundError       (also LookupError)   no task has that id
    ├── InvalidTaskError        (also ValueError)    a field value, key or select name is refused
    │   ├── ReadOnlyFieldError                       an update or patch changes a field outside the whitelist
    │   ├── InvalidTransitionError                   a lifecycle step the task's state does not allow
    │   └── UnknownCursorError                       a change-feed cursor this database never handed out
    ├── PatchError              (also ValueError)    a JSON Patch document is malformed or cannot apply
    │   └── PatchConflictError                       a patch ``test`` operation failed
    ├── ConfigurationError      (also ValueError)    an option of BatchStore or prune is refused
    ├── ClaimLostError                               a worker acts on a task it no longer holds
    ├── StoreClosedError                             the store was used after ``close()``
    ├── WaitTimeoutError        (also TimeoutError)  ``wait`` ran out of time before the task finished
    └── StorageError                                 the database itself refused: locked too long,
                                                     read-only, full, corrupt, or not a batchstore file

Errors of the layers below (sqlite3, SQLAlchemy, msgpack, jsonpatch) are translated where those layers
are called and chained with ``raise ... from exc``, so the original stays reachable as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "BatchStoreError",
    "ClaimLostError",
    "ConfigurationError",
    "InvalidTaskError",
    "InvalidTransitionError",
    "PatchConflictError",
    "PatchError",
    "ReadOnlyFieldError",
    "StorageError",
    "StoreClosedError",
    "TaskNotFoundError",
    "UnknownCursorError",
    "WaitTimeoutError",
]


class BatchStoreError(Exception):
    """The root of every error batchstore raises."""


class TaskNotFoundError(BatchStoreError, LookupError):
    """No task has the given id.

    >>> TaskNotFoundError(42).task_id
    42
    """

    def __init__(self, task_id: int, operation: str = "get") -> None:
        self.task_id = task_id
        self.operation = operation
        super().__init__(f"{operation}: no batch task has Id {task_id}")


class InvalidTaskError(BatchStoreError, ValueError):
    """A value, key or name given to batchstore is refused.

    ``field`` holds the wire name of the field at fault (``"ProgressPercent"``), or None when the
    fault is not one field's (a mapping that is not a mapping, say).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class ReadOnlyFieldError(InvalidTaskError):
    """An update or patch would change fields that are not writable; ``fields`` names them (wire names)."""

    def __init__(self, fields: Iterable[str], *, writable: Iterable[str]) -> None:
        self.fields = tuple(fields)
        allowed = ", ".join(writable)
        super().__init__(
            f"read-only field(s) {', '.join(self.fields)} cannot be changed; only {allowed} may change",
            field=self.fields[0] if len(self.fields) == 1 else None,
        )


class InvalidTransitionError(InvalidTaskError):
    """A lifecycle step was asked of a task whose state does not allow it."""


class UnknownCursorError(InvalidTaskError):
    """A change-feed cursor past the newest this database ever handed out: from another database, or from
    before a restore. Going on from it would skip every change until the feed caught up, so it is refused;
    take ``last_cursor()`` (or ``after=0``) and read the tasks again.

    >>> UnknownCursorError(90, 12).latest
    12
    """

    def __init__(self, cursor: int, latest: int) -> None:
        self.cursor = cursor
        self.latest = latest
        super().__init__(
            f"cursor {cursor} was never handed out by this database (its newest is {latest}): it comes from another "
            f"database or from before a restore; start again from last_cursor() or after=0",
            field="after",
        )


class PatchError(BatchStoreError, ValueError):
    """A JSON Patch document is malformed or one of its operations cannot be applied."""


class PatchConflictError(PatchError):
    """A ``test`` operation of a JSON Patch did not match the task; nothing was written."""


class ConfigurationError(BatchStoreError, ValueError):
    """An option given to BatchStore (or to prune) is refused; ``option`` names it.

    >>> ConfigurationError("must be positive", option="lease_seconds").option
    'lease_seconds'
    """

    def __init__(self, message: str, *, option: str) -> None:
        self.option = option
        super().__init__(f"{option}: {message}")


class ClaimLostError(BatchStoreError):
    """A worker acted on a task that it no longer holds (its lease expired and the task moved on)."""


class StoreClosedError(BatchStoreError):
    """The store was used after ``close()``."""


class StorageError(BatchStoreError):
    """The database refused the operation: busy for too long, read-only, full, corrupt or foreign."""


class WaitTimeoutError(BatchStoreError, TimeoutError):
    """``wait`` ran out of time before the task reached a finished state; ``task`` is how it stood then.

    >>> WaitTimeoutError(7, 2.5).timeout
    2.5
    """

    def __init__(self, task_id: int, timeout: float, state: str | None = None) -> None:
        self.task_id = task_id
        self.timeout = timeout
        self.state = state
        now = f" (its State is {state})" if state else ""
        super().__init__(f"wait: task {task_id} did not finish within {timeout:g} s{now}")
