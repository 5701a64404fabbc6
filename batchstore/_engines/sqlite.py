"""Connection and transaction setup for SQLite, in one place.

One connection per store, guarded by a lock, as huey does: SQLite runs one writer at a time anyway, and
the lock turns contention between a store's threads into plain waiting instead of "database is locked".
Between processes, WAL lets readers go on while one writes, and a writer waits for the lock, up to the
store's timeout, rather than fail. batchstore waits itself, in short jittered sleeps, rather than through
SQLite's busy handler: that one backs off to sleeps of 100 ms, and under a steady load from other
processes a writer that has fallen into them may not get a turn for seconds.

The driver runs with ``isolation_level=None`` so that batchstore, not the sqlite3 module, decides when a
transaction begins: every read-modify-write starts with ``BEGIN IMMEDIATE``, which takes the write lock
before the first read. A deferred transaction would read, then fail (or, under pysqlite's own
transaction handling, silently lose an update) when two writers race.

Opening looks before it writes: a file that is neither empty nor batchstore's (another application's
database, a newer schema) is refused before any pragma could change a byte of it, and a ``read_only``
store opens the file with SQLite's ``mode=ro`` and never writes at all.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from .. import _migrations as versions  # the version rules and Alembic; this module reads and creates
from .._exceptions import StorageError, StoreClosedError
from .._queries import INSERT_CHANGE
from .base import CLOSED, refuse_to_wait, wrote_at_once

__all__ = ["SQLiteEngine", "ensure_sqlite_schema", "has_version_table", "read_schema_version", "sqlite_schema_version"]

PAGE_SIZE: Final = 2048
#: A table of this many tasks or more gets statistics for SQLite's query planner, once (see _gather_statistics).
STATISTICS_FROM: Final = 10_000
_T = TypeVar("_T")
_BUSY: Final = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
#: The first and the longest sleep while another connection holds a lock (the sleeps double, jittered;
#: see SQLiteEngine._busy_retry for why 5 ms).
_FIRST_PAUSE: Final = 0.0001
_LONGEST_PAUSE: Final = 0.005


def _busy(exc: sqlite3.Error) -> bool:
    """Whether SQLite refused because another connection holds a lock (any extended BUSY or LOCKED code)."""
    return getattr(exc, "sqlite_errorcode", -1) & 0xFF in _BUSY


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


class _Transaction:
    """The statements of one transaction (or one read) on the store's connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._conn.execute(sql, params).fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._conn.execute(sql, params)

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def insert(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        """AUTOINCREMENT gives rows inserted one after another, by the one connection holding the write
        lock, consecutive ids: one larger than the largest ever used. So ids are counted, not queried.
        """
        if len(rows) == 1:  # the common create: lastrowid saves a statement
            first = self._conn.execute(sql, rows[0]).lastrowid
            assert first is not None
            return [first]
        self._conn.executemany(sql, rows)
        (last,) = self._conn.execute("SELECT last_insert_rowid()").fetchone()
        return list(range(int(last) - len(rows) + 1, int(last) + 1))


_CHANGES_AFTER: Final = (
    "SELECT id, task_id, at, operation, worker, changes FROM batchtaskchange WHERE id > ? ORDER BY id LIMIT ?"
)
_LATEST_CHANGE: Final = "SELECT COALESCE(MAX(id), 0) FROM batchtaskchange"
# AUTOINCREMENT's high-water mark: it never goes back, even when prune removes the newest rows.
_ISSUED_CHANGE: Final = (
    "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'batchtaskchange'), 0), "
    "(SELECT COALESCE(MAX(id), 0) FROM batchtaskchange))"
)
#: How often a watcher asks SQLite whether another connection committed (PRAGMA data_version).
_POLL_SECONDS: Final = 0.005


class _ChangeWaiter:
    """Sleeps until a write may have committed: one of this store's (signalled) or another connection's.

    Another connection's commit shows as a new ``PRAGMA data_version`` on a connection of the waiter's own:
    one cheap read of a number in shared memory every few milliseconds, never a scan of the table.
    """

    def __init__(self, engine: SQLiteEngine) -> None:
        self._engine = engine
        self._seen_commits = engine._commits
        self._conn: sqlite3.Connection | None = None
        self._seen_version = 0
        # close() may come from another thread while wait() reads (an async watch cancelled mid-wait:
        # asyncio marks the wait done at once, while its thread still runs). sqlite3 crashes the process
        # on a connection closed under a running statement, so the two take turns.
        self._using = threading.Lock()
        if not engine.in_memory:  # a private in-memory database has no other connections to hear from
            try:
                self._conn = sqlite3.connect(engine.path, uri=engine.path.startswith("file:"),
                                             check_same_thread=False, isolation_level=None)
                self._seen_version = self._data_version()
            except sqlite3.Error as exc:
                raise translate(exc, "watch") from exc

    def _data_version(self) -> int:
        with self._using:
            if self._conn is None:  # closed meanwhile: nothing more to hear
                return self._seen_version
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        committed = self._engine._committed
        while True:
            with committed:
                if self._engine._commits != self._seen_commits:
                    self._seen_commits = self._engine._commits
                    return
                committed.wait(_POLL_SECONDS)
            if self._conn is not None:
                try:
                    version = self._data_version()
                except sqlite3.Error as exc:
                    raise translate(exc, "watch") from exc
                if version != self._seen_version:
                    self._seen_version = version
                    return
            if time.monotonic() >= deadline:
                return

    def close(self) -> None:
        with self._using:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def read_schema_version(path: str) -> int:
    """The schema version of a SQLite file, read without writing (0: an empty database)."""
    try:
        conn = sqlite3.connect(_read_only_uri(path), uri=True)
    except sqlite3.Error as exc:
        raise translate(exc, f"open {path!r}") from exc
    try:
        return sqlite_schema_version(conn, f"open {path!r}")
    except sqlite3.Error as exc:
        raise translate(exc, f"open {path!r}") from exc
    finally:
        conn.close()


def sqlite_schema_version(conn: sqlite3.Connection, where: str) -> int:
    """The schema version of an open SQLite database: 0 for an empty one. Reads only; refuses a foreign one."""
    # One snapshot for both reads: another process may be creating the tables meanwhile.
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )]
        table = versions.VERSION_TABLE
        stamps = conn.execute(f"SELECT version_num FROM {table}").fetchall() if table in tables else []
    finally:
        if own:
            conn.execute("COMMIT")
    return versions.judge_sqlite_version(version, tables, stamps, where)


def ensure_sqlite_schema(conn: sqlite3.Connection, where: str, *, path: str | None, timeout: float) -> None:
    """Create batchstore's tables in an empty database, or upgrade an older one; ``conn`` is in autocommit.

    ``path`` is the file (None: an in-memory database, which is always new). Call it only after
    :func:`sqlite_schema_version` said the database is new or older, and only when the store may write.
    """
    conn.execute("BEGIN IMMEDIATE")  # the write lock: one process creates, the others find it made
    try:
        version = sqlite_schema_version(conn, where)
        if version == 0:
            from .._schema import ddl

            for statement in ddl("sqlite"):
                conn.execute(statement)
            versions.create_version_table(conn.execute)
            conn.execute(f"PRAGMA user_version = {versions.SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if version not in (0, versions.SCHEMA_VERSION):
        assert path is not None, "an in-memory database is always new"
        versions.upgrade_sqlite(lambda: sqlite3.connect(path, timeout=timeout), where)


def has_version_table(path: str) -> bool:
    """Whether the SQLite file has batchstore's version table (a file of 0.1.0 has none), read only."""
    conn = sqlite3.connect(_read_only_uri(path), uri=True)
    try:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return conn.execute(query, (versions.VERSION_TABLE,)).fetchone() is not None
    except sqlite3.Error as exc:
        raise StorageError(f"migrate: could not read {path!r}: {exc}") from exc
    finally:
        conn.close()


# Every open store, so that a fork() finds none of them mid-statement (see _before_fork). _REGISTRY
# guards the set and is held by _before_fork for the whole fork, so no store can open meanwhile either.
_OPEN: weakref.WeakSet[SQLiteEngine] = weakref.WeakSet()
_REGISTRY = threading.Lock()
_INHERITED: list[sqlite3.Connection] = []
_HELD: list[SQLiteEngine] = []


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


def _begin_read(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN")
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # takes the read snapshot now
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class _Write:
    """One write transaction of a :class:`SQLiteEngine` (see its ``write``).

    A class rather than a generator-based context manager: every write goes through it, and this saves
    a few microseconds on each.
    """

    __slots__ = ("_conn", "_engine", "_operation")

    def __init__(self, engine: SQLiteEngine, operation: str) -> None:
        self._engine = engine
        self._operation = operation

    def __enter__(self) -> _Transaction:
        engine = self._engine
        # One deadline for the call: the wait for the store's connection (another thread may hold it) and
        # the wait for the database's write lock share the timeout, rather than take it each.
        deadline = time.monotonic() + engine._timeout
        engine._acquire(deadline, self._operation)
        try:
            conn = self._conn = engine._connection()
            engine._busy_retry(lambda: conn.execute("BEGIN IMMEDIATE"), deadline, self._operation)
        except BaseException as exc:
            engine._lock.release()
            if isinstance(exc, sqlite3.Error):
                raise translate(exc, self._operation) from exc
            raise
        return _Transaction(conn)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        conn = self._conn
        try:
            if exc is None:
                try:
                    conn.execute("COMMIT")
                except BaseException as failed:  # a full disk, or Ctrl-C: the next write must find no transaction
                    _roll_back(conn)
                    if isinstance(failed, sqlite3.Error):
                        raise translate(failed, self._operation) from failed
                    raise
                self._engine._committed_one()
                wrote_at_once()
                return
            _roll_back(conn)
            if isinstance(exc, sqlite3.Error):
                raise translate(exc, self._operation) from exc
        finally:
            self._engine._lock.release()


def _roll_back(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        # SQLite may have rolled back already (a full disk, say); the first error says more.
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _gather_statistics(conn: sqlite3.Connection) -> None:
    """Give SQLite's planner statistics, once, when a large task table has none.

    Without them the planner takes an equality or IN on State as the most selective condition: "New or
    Started, newest first, 50" then reads and sorts every New and Started task (measured on 100,000
    tasks: 90 ms a page), where walking the Created index, or the Name index for a prefix, reads a few
    hundred (13 ms). A sampled ANALYZE (``analysis_limit``) costs milliseconds even on a million tasks.
    The statistics stay representative as the table grows, since they are ratios; ``ANALYZE`` run by
    hand refreshes them.
    """
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone() is not None:
        return
    (top,) = conn.execute("SELECT max(id) FROM batchtask").fetchone()
    if top is None or top < STATISTICS_FROM:
        return
    conn.execute("PRAGMA analysis_limit = 1000")
    conn.execute("ANALYZE")


class SQLiteEngine:
    """A SQLite database file (or a private in-memory one) with batchstore's tables.

    ``timeout`` is the busy timeout in seconds; ``synchronous`` is SQLite's PRAGMA of that name.
    WAL with ``NORMAL`` never corrupts the file and survives a killed process; a power cut may take
    back the last transactions. ``FULL`` trades speed for those too. ``read_only`` opens an existing
    batchstore file without ever writing to it; its writes raise StorageError.
    """

    name: Final = "sqlite"
    lock: Final = ""  # every write holds the whole database (BEGIN IMMEDIATE): no row lock needed
    claim: Final = ""
    # Writers take turns, so the feed's id order is commit order: no transaction id is needed.
    insert_change: Final = INSERT_CHANGE + "NULL)"
    #: A watcher with nothing new rereads the feed this often even without a signal (a safety net only).
    recheck_after: Final = 1.0

    def __init__(
        self, path: str, *, timeout: float = 30.0, synchronous: str = "NORMAL", read_only: bool = False
    ) -> None:
        self.path = path
        self.description = path
        self.in_memory = path in ("", ":memory:") or "mode=memory" in path
        self.read_only = read_only
        self._timeout = timeout
        self._synchronous = synchronous.upper()
        self._lock = threading.Lock()
        self._forked = False
        self._conn: sqlite3.Connection | None = None
        # Counted and signalled at every commit, for the change feed's watchers in this process.
        self._commits = 0
        self._committed = threading.Condition(threading.Lock())
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
            version = sqlite_schema_version(conn, where)  # reads only: a refused file stays as it was
            if self.read_only:
                if version == 0:
                    raise StorageError(f"{where}: not a batchstore database (it has no tables); "
                                       "a read-only store never creates them")
                if version != versions.SCHEMA_VERSION:
                    raise versions.read_only_upgrade(version, where)
            else:
                if version == 0:
                    # For a new file only (SQLite ignores it once the file has pages): each commit writes
                    # every page it changed to the WAL, and a create touches about eight (table, three
                    # indexes, blob, trace and its index, sequence). Measured interleaved, create /
                    # create_many(1,000) / update: 4 KiB 423 us / 95 ms / 327 us; 2 KiB 300 us / 114 ms /
                    # 307 us; 1 KiB 312 us / 127 ms / 328 us. 2 KiB: a third off the common single create.
                    conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
                if not self.in_memory:
                    self._busy_retry(lambda: self._set_wal(conn))
                if version != versions.SCHEMA_VERSION:
                    # Several processes may open a new or older file at once: under the write lock one
                    # of them creates (or upgrades) the tables and the others find them made.
                    ensure_sqlite_schema(conn, where, path=None if self.in_memory else self.path,
                                         timeout=self._timeout)
                elif not self.in_memory:
                    self._busy_retry(lambda: _gather_statistics(conn))
            # From here on batchstore waits for locks itself (_busy_retry), not SQLite's busy handler.
            conn.execute("PRAGMA busy_timeout = 0")
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise translate(exc, where) from exc
            raise
        return conn

    def _acquire(self, deadline: float, operation: str) -> None:
        """Take the store's connection (its lock), waiting for another thread of this process until ``deadline``."""
        if self._lock.acquire(False):
            return
        refuse_to_wait(operation)  # a call made at_once() does not wait: it goes to a thread instead
        if self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return
        raise StorageError(f"{operation}: other threads of this process held the store's connection past the "
                           f"timeout ({self._timeout:g} s); nothing was written")

    def _busy_retry(self, step: Callable[[], _T], deadline: float | None = None, operation: str = "open") -> _T:
        """Run ``step``, retrying while another connection holds a lock it needs, until ``deadline``
        (``time.monotonic()``; by default the store's timeout from now).

        The sleeps start at a tenth of a millisecond and double up to five, jittered so that waiting
        processes do not wake in step: a waiter tries again soon after the lock is let go, however long it
        has waited, where SQLite's busy handler would have it sleep 100 ms at a time. Fairness costs some
        throughput when many processes write at once (the lock changes hands more often); measured with
        worker processes on 2 cores, the cap of 5 ms kept every worker's share of the tasks above half of
        an even share (SQLite's handler let one of four go without a single task), at 0.85 (4 workers) and
        0.72 (8) of the handler's rate, where 2 ms gave 0.80 and 0.62 and 20 ms let one of 8 workers fall
        to 51 tasks of 750. Changing the
        journal mode needs this too: SQLite answers it with SQLITE_BUSY at once, whatever its timeout.

        Inside :func:`~batchstore._engines.base.at_once` the first busy answer raises WouldWaitError
        instead: the step (a BEGIN) has changed nothing, and the caller's lock is released by its caller.
        """
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
        refuse_to_wait(operation)
        if deadline is None:
            deadline = time.monotonic() + self._timeout
        pause = _FIRST_PAUSE
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return step()  # a last try: its error says why
            time.sleep(min(left, pause * random.uniform(0.5, 1.5)))
            pause = min(pause * 2, _LONGEST_PAUSE)
            try:
                return step()
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise

    @staticmethod
    def _set_wal(conn: sqlite3.Connection) -> None:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":
            # Outside any transaction: SQLite ignores (or refuses) a journal mode change inside one.
            (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError("database is locked (the journal mode stayed " + str(mode) + ")")

    def _connection(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is None:
            raise StoreClosedError(CLOSED)
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

    def write(self, operation: str) -> _Write:
        """One write transaction (``BEGIN IMMEDIATE``): committed if the block ends, rolled back if it raises."""
        if self.read_only:
            raise StorageError(f"{operation}: the store is read-only (opened with read_only=True); nothing was written")
        return _Write(self, operation)

    def _committed_one(self) -> None:
        with self._committed:
            self._commits += 1
            self._committed.notify_all()

    @contextmanager
    def read(self, operation: str) -> Iterator[_Transaction]:
        """Reads of several statements that see one consistent state (a read transaction)."""
        deadline = time.monotonic() + self._timeout  # one deadline for both waits, as in a write
        self._acquire(deadline, operation)
        try:
            conn = self._connection()
            try:
                # The snapshot is taken here, where a busy database can be waited for, not at the block's
                # first statement, which could only fail.
                self._busy_retry(lambda: _begin_read(conn), deadline, operation)
                try:
                    yield _Transaction(conn)
                finally:
                    if conn.in_transaction:
                        conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise translate(exc, operation) from exc
        finally:
            self._lock.release()

    # One-statement reads are the hot path: plain methods, without a generator-based context manager.

    def fetchone(self, sql: str, params: Sequence[Any], operation: str) -> Any:
        """The first row of one read statement, or None."""
        return self._fetch(sql, params, operation, sqlite3.Cursor.fetchone)

    def fetchall(self, sql: str, params: Sequence[Any], operation: str) -> list[Any]:
        """Every row of one read statement."""
        rows: list[Any] = self._fetch(sql, params, operation, sqlite3.Cursor.fetchall)
        return rows

    def _fetch(
        self, sql: str, params: Sequence[Any], operation: str, fetch: Callable[[sqlite3.Cursor], Any]
    ) -> Any:
        # The usual case is inline (a free lock, an open connection, no busy database): a get of two
        # fields spends about 14 µs in all, and the deadline, the closure and the retry loop were 2 of them.
        deadline = None
        if not self._lock.acquire(False):
            deadline = time.monotonic() + self._timeout  # one deadline for both waits, as in a write
            self._acquire(deadline, operation)
        try:
            conn = self._conn if self._conn is not None and not self._forked else self._connection()
            try:
                try:
                    return fetch(conn.execute(sql, params))
                except sqlite3.OperationalError as exc:
                    if not _busy(exc):
                        raise
                return self._busy_retry(lambda: fetch(conn.execute(sql, params)), deadline, operation)
            except sqlite3.Error as exc:
                raise translate(exc, operation) from exc
        finally:
            self._lock.release()

    # --- the change feed -------------------------------------------------------------------------

    def changes_after(self, cursor: int, limit: int, operation: str) -> list[Any]:
        """Rows of the change feed after ``cursor``: writers take turns, so id order is commit order."""
        return self.fetchall(_CHANGES_AFTER, (cursor, limit), operation)

    def latest_cursor(self, operation: str) -> int:
        """The cursor of the newest committed change (0 when there is none)."""
        return int(self.fetchone(_LATEST_CHANGE, (), operation)[0])

    def issued_cursor(self, operation: str) -> int:
        """The largest cursor ever handed out (AUTOINCREMENT's high-water mark), 0 when none."""
        return int(self.fetchone(_ISSUED_CHANGE, (), operation)[0])

    def change_waiter(self) -> _ChangeWaiter:
        """Something to sleep on until a change may have been committed."""
        if self.closed:
            raise StoreClosedError(CLOSED)
        return _ChangeWaiter(self)

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
