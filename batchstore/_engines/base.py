"""The seam between batchstore's rules and a database: what every engine provides.

Above this seam, :class:`~batchstore.BatchStore` keeps the rules (validation, whitelist, patch, the
lifecycle table, what a trace says) and speaks only engine-neutral SQL with ``?`` placeholders, written in
:mod:`batchstore._queries`. Below it, each engine keeps what differs between databases: connecting,
transactions and locks, placeholders, how new ids come back, and the few statements that differ (row
locks, ``SKIP LOCKED``). No module above this one imports a driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any, Final, Protocol

from .._exceptions import StorageError

#: The URL schemes that name PostgreSQL (libpq's two, and SQLAlchemy's with its driver): the one list.
POSTGRES_SCHEMES: Final = ("postgresql://", "postgresql+psycopg://", "postgres://")
#: SQLite's PRAGMA synchronous values a store accepts.
SYNCHRONOUS: Final = ("OFF", "NORMAL", "FULL", "EXTRA")
#: What every engine says when a closed store is used.
CLOSED: Final = "the store is closed; open a new BatchStore"

__all__ = [
    "ChangeWaiter", "Engine", "Transaction", "WouldWaitError", "at_once", "refuse_to_wait", "running_at_once",
    "wrote_at_once",
]  # fmt: skip


class WouldWaitError(StorageError):
    """A call made :func:`at_once` would have waited for a lock before its first write: nothing was written.

    Raised only inside :func:`at_once` (the HTTP front catches it and runs the call again on a thread).
    """


class _Attempt:
    """One :func:`at_once` call: whether a write of it committed (from then on it may no longer be refused)."""

    __slots__ = ("wrote",)

    def __init__(self) -> None:
        self.wrote = False


# The call running at once in this context, if any. A context variable, not a flag on the store: the
# executor's threads run other calls on the same store meanwhile, and must wait as they always did.
_AT_ONCE: ContextVar[_Attempt | None] = ContextVar("batchstore_at_once", default=None)


class _AtOnceBlock:
    """The context manager :func:`at_once` returns: a class, as it wraps every HTTP write (a generator-based
    one cost several microseconds more)."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _AT_ONCE.set(_Attempt())

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        _AT_ONCE.reset(self._token)


def at_once() -> _AtOnceBlock:
    """Run the block's store calls only if they can start at once: an engine that would wait for a lock
    (SQLite: another thread holds the store's connection, or another connection holds the write lock)
    raises :class:`WouldWaitError` instead, before anything of the block is written. Once a write of the
    block has committed, later waits of the block wait as usual: a refusal then could not leave the
    database as it was. PostgreSQL's engine ignores it (its waits are on the network anyway).

    >>> with at_once():
    ...     refuse_to_wait("update")
    Traceback (most recent call last):
    ...
    batchstore._engines.base.WouldWaitError: update: would wait for a lock (asked to run at once); nothing was written
    """
    return _AtOnceBlock()


def running_at_once() -> bool:
    """Whether this context runs an :func:`at_once` block: work that may wait (retention's turn) is left
    for later, where a wait costs no event loop."""
    return _AT_ONCE.get() is not None


def refuse_to_wait(operation: str) -> None:
    """Raise :class:`WouldWaitError` if this context runs :func:`at_once` and has written nothing yet; an
    engine calls it where it is about to wait for a lock."""
    attempt = _AT_ONCE.get()
    if attempt is not None and not attempt.wrote:
        raise WouldWaitError(f"{operation}: would wait for a lock (asked to run at once); nothing was written")


def wrote_at_once() -> None:
    """An engine calls it after a commit: an :func:`at_once` block that wrote may no longer be refused."""
    attempt = _AT_ONCE.get()
    if attempt is not None:
        attempt.wrote = True


class Transaction(Protocol):
    """The statements of one transaction (or of one consistent read), on one connection.

    Every method takes engine-neutral SQL with ``?`` placeholders.
    """

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first row of a query, or None."""

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Every row of a query."""

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement."""

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once for each row of parameters."""

    def insert(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        """Insert rows into a table whose ``id`` the database assigns; the new ids, in row order."""


class ChangeWaiter(Protocol):
    """Something a change-feed watcher sleeps on until a change may have been committed."""

    def wait(self, timeout: float) -> None:
        """Return when a change may have been committed, or after ``timeout`` seconds."""

    def close(self) -> None:
        """Release what the waiter holds (a connection of its own)."""


class Engine(Protocol):
    """One database: a SQLite file (or memory), or a PostgreSQL database reached through a pool.

    ``write`` is one atomic read-check-write: the rows it reads with :attr:`lock` appended stay
    unchanged by anyone else until it ends. ``claim`` ends a query that picks one row for this caller
    alone (``FOR UPDATE SKIP LOCKED`` where the database has it).
    """

    @property
    def name(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""

    @property
    def description(self) -> str:
        """What the store's repr shows: a path, or a URL without its password."""

    @property
    def read_only(self) -> bool:
        """Whether the engine refuses every write."""

    @property
    def lock(self) -> str:
        """Appended to a read of one task inside ``write`` to hold its row until the write ends."""

    @property
    def claim(self) -> str:
        """Appended to a query that picks tasks for this caller alone (the next New one, stale claims)."""

    @property
    def insert_change(self) -> str:
        """The INSERT of one change-feed row: (task_id, at, operation, worker, changes)."""

    @property
    def recheck_after(self) -> float:
        """How often a watcher rereads the feed without a signal, in seconds."""

    def changes_after(self, cursor: int, limit: int, operation: str) -> list[Any]:
        """Rows (id, task_id, at, operation, worker, changes) of the change feed after a cursor, in commit order."""

    def latest_cursor(self, operation: str) -> int:
        """The cursor of the newest committed change (0 when there is none)."""

    def issued_cursor(self, operation: str) -> int:
        """The largest cursor this database ever handed out (its id counter; 0 when none): no valid cursor is larger."""

    def change_waiter(self) -> ChangeWaiter:
        """A waiter armed now: a commit from now on wakes it."""

    def write(self, operation: str) -> AbstractContextManager[Transaction]:
        """One write transaction: committed when the block ends, rolled back (nothing written) if it raises."""

    def read(self, operation: str) -> AbstractContextManager[Transaction]:
        """Several reads that see one consistent state."""

    def fetchone(self, sql: str, params: Sequence[Any], operation: str) -> Any:
        """The first row of one read statement, or None: the hot path of get."""

    def fetchall(self, sql: str, params: Sequence[Any], operation: str) -> list[Any]:
        """Every row of one read statement: one page of a list."""


    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""

    def close(self) -> None:
        """Release the connection(s); further use raises StoreClosedError."""
