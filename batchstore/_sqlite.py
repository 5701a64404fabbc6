"""Connection and transaction setup for SQLite, in one place.

One connection per store, guarded by a lock, as huey does: SQLite runs one writer at a time anyway, and
the lock turns contention between a store's threads into plain waiting instead of "database is locked".
Between processes, WAL lets readers go on while one writes, and the busy timeout makes a writer wait
for the lock rather than fail.

The driver runs with ``isolation_level=None`` so that batchstore, not the sqlite3 module, decides when a
transaction begins: every read-modify-write starts with ``BEGIN IMMEDIATE``, which takes the write lock
before the first read. A deferred transaction would read, then fail (or, under pysqlite's own
transaction handling, silently lose an update) when two writers race.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from ._exceptions import StorageError, StoreClosedError

__all__ = ["SCHEMA_VERSION", "SQLiteDatabase"]

#: PRAGMA user_version of a database whose tables this release created.
SCHEMA_VERSION: Final = 1
PAGE_SIZE: Final = 2048
_SYNCHRONOUS: Final = ("OFF", "NORMAL", "FULL", "EXTRA")


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


_OPEN: weakref.WeakSet[SQLiteDatabase] = weakref.WeakSet()
_INHERITED: list[sqlite3.Connection] = []


def _mark_forked() -> None:
    for database in list(_OPEN):
        database._after_fork()


os.register_at_fork(after_in_child=_mark_forked)


class SQLiteDatabase:
    """A SQLite database file (or a private in-memory one) with batchstore's tables.

    ``timeout`` is the busy timeout in seconds; ``synchronous`` is SQLite's PRAGMA of that name.
    WAL with ``NORMAL`` never corrupts the file and survives a killed process; a power cut may take
    back the last transactions. ``FULL`` trades speed for those too.
    """

    def __init__(self, path: str, *, timeout: float = 30.0, synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}, not {synchronous!r}")
        self.path = path
        self.in_memory = path in ("", ":memory:") or "mode=memory" in path
        self._timeout = timeout
        self._synchronous = synchronous.upper()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = self._connect()
        self._forked = False
        _OPEN.add(self)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path or ":memory:",
                timeout=self._timeout,
                isolation_level=None,
                check_same_thread=False,  # the store's lock serializes its threads
                uri=self.path.startswith("file:"),
                cached_statements=256,
            )
        except sqlite3.Error as exc:
            raise translate(exc, f"open {self.path!r}") from exc
        try:
            # For a new file only (SQLite ignores it once the file has pages): each commit writes every
            # page it changed to the WAL, and a create touches about eight (table, three indexes, blob,
            # trace and its index, sequence). Measured interleaved, create / create_many(1,000) / update:
            # 4 KiB 423 us / 95 ms / 327 us; 2 KiB 300 us / 114 ms / 307 us; 1 KiB 312 us / 127 ms / 328 us.
            # 2 KiB: a third off the common single create, a fifth on bulk loads; gets unchanged.
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            if not self.in_memory:
                # Outside any transaction: SQLite ignores (or refuses) a journal mode change inside one.
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            self._ensure_schema(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise translate(exc, f"open {self.path!r}") from exc
        return conn

    @staticmethod
    def _ensure_schema(conn: sqlite3.Connection) -> None:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version == SCHEMA_VERSION:
            return
        if version != 0:
            raise StorageError(
                f"the database has schema version {version}; this batchstore reads version {SCHEMA_VERSION}"
            )
        from ._schema import sqlite_ddl  # SQLAlchemy is loaded only to create a new database

        # Several processes may open a new file at once: the write lock lets one of them create
        # the tables and the others see them made.
        conn.execute("BEGIN IMMEDIATE")
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version == 0:
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
        self._lock = threading.Lock()  # another thread may have held it at the fork

    @contextmanager
    def write(self, operation: str) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): committed if the block ends, rolled back if it raises."""
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
