"""Connection and transaction setup for SQLite, in one place.

One connection per store, guarded by a lock, as huey does: SQLite runs one writer at a time anyway, and
the lock turns contention between a store's threads into plain waiting instead of "database is locked".
Between processes, WAL lets readers go on while one writes, and the busy timeout makes a writer wait
for the lock rather than fail.

The driver runs with ``isolation_level=None`` so that batchstore, not the sqlite3 module, decides when a
transaction begins: every read-modify-write starts with ``BEGIN IMMEDIATE``, which takes the write lock
before the first read. A deferred transaction would read, then fail (or, under pysqlite's own
transaction handling, silently lose an update) when two writers race.

Opening looks before it writes: a file that is neither empty nor batchstore's (another application's
database, a newer schema) is refused before any pragma could change a byte of it, and a ``read_only``
store opens the file with SQLite's ``mode=ro`` and never writes at all.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from ._exceptions import StorageError, StoreClosedError

__all__ = ["SCHEMA_VERSION", "SQLiteDatabase"]

#: PRAGMA user_version of a database whose tables this release created.
SCHEMA_VERSION: Final = 1
PAGE_SIZE: Final = 2048
SYNCHRONOUS: Final = ("OFF", "NORMAL", "FULL", "EXTRA")
#: The tables of a batchstore database; a file holding other tables is another application's.
TABLES: Final = frozenset({"batchtask", "binaryobject", "batchtasktrace"})
_T = TypeVar("_T")


def translate(exc: sqlite3.Error, operation: str) -> StorageError:
    """A StorageError that says what the database refused and during which operation."""
    message = str(exc)
    if "locked" in message or "busy" in message:
        hint = "another connection held the write lock longer than the busy timeout"
    elif "readonly" in message or "read-only" in message:
        hint = "the database file or its folder is read-only"
    elif "full" in message:
        hint = "the disk or the database's page limit is full"
    elif "not a database" in message or "malformed" in message:
        hint = "the file is not a SQLite database or is damaged"
    else:
        hint = "the database refused the statement"
    return StorageError(f"{operation}: {message} ({hint}); nothing was written")


# Every open store, so that a fork() finds none of them mid-statement (see _before_fork). _REGISTRY
# guards the set and is held by _before_fork for the whole fork, so no store can open meanwhile either.
_OPEN: weakref.WeakSet[SQLiteDatabase] = weakref.WeakSet()
_REGISTRY = threading.Lock()
_INHERITED: list[sqlite3.Connection] = []
_HELD: list[SQLiteDatabase] = []


def _before_fork() -> None:
    # A child inherits SQLite's state as it is at the fork: a statement half run by another thread leaves
    # locks and mutexes the child can never release ("database is locked", or a hang). Taking every
    # store's lock waits for each statement in flight to end; the stores stay still until the fork is done.
    _REGISTRY.acquire()
    for database in list(_OPEN):
        # A thread that forks while it holds a store's lock (a fork inside a write) would wait on itself:
        # after the store's timeout that store is left as it is, and the child replaces it anyway.
        if database._lock.acquire(timeout=database._timeout):
            _HELD.append(database)


def _after_fork_in_parent() -> None:
    for database in _HELD:
        database._lock.release()
    _HELD.clear()
    _REGISTRY.release()


def _after_fork_in_child() -> None:
    global _REGISTRY
    _HELD.clear()
    _REGISTRY = threading.Lock()
    for database in list(_OPEN):
        database._after_fork()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)


def _read_only_uri(path: str) -> str:
    """The ``file:`` URI that opens ``path`` read-only: SQLite then never opens it for writing."""
    if path.startswith("file:"):
        return path + ("&" if "?" in path else "?") + "mode=ro"
    return "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"


class SQLiteDatabase:
    """A SQLite database file (or a private in-memory one) with batchstore's tables.

    ``timeout`` is the busy timeout in seconds; ``synchronous`` is SQLite's PRAGMA of that name.
    WAL with ``NORMAL`` never corrupts the file and survives a killed process; a power cut may take
    back the last transactions. ``FULL`` trades speed for those too. ``read_only`` opens an existing
    batchstore file without ever writing to it; its writes raise StorageError.
    """

    def __init__(
        self, path: str, *, timeout: float = 30.0, synchronous: str = "NORMAL", read_only: bool = False
    ) -> None:
        self.path = path
        self.in_memory = path in ("", ":memory:") or "mode=memory" in path
        self.read_only = read_only
        self._timeout = timeout
        self._synchronous = synchronous.upper()
        self._lock = threading.Lock()
        self._forked = False
        self._conn: sqlite3.Connection | None = None
        # Registered, with the lock held, before SQLite is called: a fork meanwhile waits for the open.
        with _REGISTRY:
            _OPEN.add(self)
            self._lock.acquire()
        try:
            self._conn = self._connect()
        except BaseException:
            _OPEN.discard(self)
            raise
        finally:
            self._lock.release()

    def _connect(self) -> sqlite3.Connection:
        where = f"open {self.path!r}"
        if self.read_only:
            if self.in_memory:
                raise StorageError(f"{where}: an in-memory database cannot be opened read-only: it would be empty")
            if not self.path.startswith("file:") and not os.path.isfile(self.path):
                raise StorageError(f"{where}: no such database file; a read-only store never creates one")
        try:
            conn = sqlite3.connect(
                _read_only_uri(self.path) if self.read_only else self.path or ":memory:",
                timeout=self._timeout,
                isolation_level=None,
                check_same_thread=False,  # the store's lock serializes its threads
                uri=self.read_only or self.path.startswith("file:"),
                cached_statements=256,
            )
        except sqlite3.Error as exc:
            if self.read_only:
                raise StorageError(f"{where}: no such database, or it cannot be read: {exc}") from exc
            raise translate(exc, where) from exc
        try:
            # synchronous is a setting of this connection, never written to the file.
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            if self._inspect(conn, where) == "new":
                if self.read_only:
                    raise StorageError(f"{where}: not a batchstore database (it has no tables); "
                                       "a read-only store never creates them")
                self._create(conn, where)
            elif not self.read_only and not self.in_memory:
                self._busy_retry(lambda: self._set_wal(conn))
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise translate(exc, where) from exc
            raise
        return conn

    @staticmethod
    def _inspect(conn: sqlite3.Connection, where: str) -> str:
        """``"new"`` for a database with no tables, ``"ours"`` for batchstore's; StorageError for any other.

        Only reads: a refused file is left exactly as it was.
        """
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        tables.discard("sqlite_sequence")
        if version == 0 and not tables:
            return "new"
        if version == SCHEMA_VERSION and tables >= TABLES:
            return "ours"
        if isinstance(version, int) and version > SCHEMA_VERSION and tables >= TABLES:
            raise StorageError(
                f"{where}: the database has schema version {version}, newer than this batchstore reads "
                f"({SCHEMA_VERSION}); nothing was changed"
            )
        shown = ", ".join(sorted(tables)[:5]) or "none"
        raise StorageError(
            f"{where}: not a batchstore database (user_version {version}, tables: {shown}); nothing was changed"
        )

    def _busy_retry(self, step: Callable[[], _T]) -> _T:
        """Run ``step``, retrying while the database is busy, until the busy timeout has passed.

        Changing the journal mode needs the file to itself, and SQLite answers SQLITE_BUSY at once rather
        than calling the busy handler: without this, processes opening a new file together fail in
        milliseconds whatever their timeout.
        """
        deadline = time.monotonic() + self._timeout
        pause = 0.001
        while True:
            try:
                return step()
            except sqlite3.OperationalError as exc:
                message = str(exc)
                if ("locked" not in message and "busy" not in message) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    @staticmethod
    def _set_wal(conn: sqlite3.Connection) -> None:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":
            # Outside any transaction: SQLite ignores (or refuses) a journal mode change inside one.
            (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError("database is locked (the journal mode stayed " + str(mode) + ")")

    def _create(self, conn: sqlite3.Connection, where: str) -> None:
        """Make batchstore's tables in a new, empty database."""
        from ._schema import sqlite_ddl  # SQLAlchemy is loaded only to create a new database

        # For a new file only (SQLite ignores it once the file has pages): each commit writes every
        # page it changed to the WAL, and a create touches about eight (table, three indexes, blob,
        # trace and its index, sequence). Measured interleaved, create / create_many(1,000) / update:
        # 4 KiB 423 us / 95 ms / 327 us; 2 KiB 300 us / 114 ms / 307 us; 1 KiB 312 us / 127 ms / 328 us.
        # 2 KiB: a third off the common single create, a fifth on bulk loads; gets unchanged.
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        if not self.in_memory:
            self._busy_retry(lambda: self._set_wal(conn))
        # Several processes may open a new file at once: the write lock lets one of them create
        # the tables and the others see them made.
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self._inspect(conn, where) == "new":
                for statement in sqlite_ddl():
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _connection(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is None:
            raise StoreClosedError("the store is closed; open a new BatchStore")
        if self._forked:
            # A connection inherited through fork() must not be used by the child: open its own.
            # Nor closed: SQLite would take the parent's open files for its own and could, on the last
            # close, checkpoint or unlink the parent's WAL. It is kept referenced for the child's life.
            if self.in_memory:
                raise StorageError("an in-memory store cannot be shared with a forked process")
            _INHERITED.append(conn)
            self._conn = conn = self._connect()
            self._forked = False
        return conn

    def _after_fork(self) -> None:
        self._forked = True
        self._lock = threading.Lock()  # held by the forking thread (or another) in the parent: a fresh one

    @contextmanager
    def write(self, operation: str) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): committed if the block ends, rolled back if it raises."""
        if self.read_only:
            raise StorageError(f"{operation}: the store is read-only (opened with read_only=True); nothing was written")
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise translate(exc, operation) from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise translate(exc, operation) from exc
                raise

    @contextmanager
    def read(self, operation: str) -> Iterator[sqlite3.Connection]:
        """The connection for reads of several statements; each statement sees one consistent snapshot."""
        with self._lock:
            conn = self._connection()
            try:
                yield conn
            except sqlite3.Error as exc:
                raise translate(exc, operation) from exc

    # One-statement reads are the hot path: plain methods, without a generator-based context manager.

    def fetchone(self, sql: str, params: tuple[Any, ...], operation: str) -> Any:
        """The first row of one read statement, or None."""
        return self._fetch(sql, params, operation, sqlite3.Cursor.fetchone)

    def fetchall(self, sql: str, params: tuple[Any, ...], operation: str) -> list[Any]:
        """Every row of one read statement."""
        rows: list[Any] = self._fetch(sql, params, operation, sqlite3.Cursor.fetchall)
        return rows

    def _fetch(
        self, sql: str, params: tuple[Any, ...], operation: str, fetch: Callable[[sqlite3.Cursor], Any]
    ) -> Any:
        with self._lock:
            # The open, unforked connection is the usual case: checked inline before _connection().
            conn = self._conn if self._conn is not None and not self._forked else self._connection()
            try:
                return fetch(conn.execute(sql, params))
            except sqlite3.Error as exc:
                raise translate(exc, operation) from exc

    @property
    def closed(self) -> bool:
        return self._conn is None

    def close(self) -> None:
        """Close the connection; further use raises StoreClosedError. Closing twice is harmless."""
        with self._lock:
            if self._conn is not None:
                if self._forked:
                    _INHERITED.append(self._conn)  # the parent's to close, not ours
                else:
                    self._conn.close()
                self._conn = None
            _OPEN.discard(self)
