"""PostgreSQL through psycopg 3, with a psycopg_pool connection pool per store.

Connections run in autocommit, so a single read holds no transaction open; every write runs in an explicit
transaction at READ COMMITTED. Atomic read-check-write comes from row locks: a write reads its task with
``FOR UPDATE OF t`` (:attr:`PostgresEngine.lock`), and a worker's claim picks the oldest New task with
``FOR UPDATE SKIP LOCKED``, so no two workers get the same task and none waits on another's claim.
Rows are always locked in Id order, so two writers never deadlock on each other.

Every session runs in UTC (time stamps come back as aware UTC datetimes, as on SQLite) and with
``lock_timeout`` set to the store's ``timeout``, so a writer waits for a row lock as long as a SQLite writer
waits for the file's write lock, then fails with StorageError.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from .._exceptions import StorageError, StoreClosedError
from .._migrations import (
    PG_LOCK_KEY,
    SCHEMA_VERSION,
    VERSION_TABLE,
    create_version_table,
    judge_postgres_version,
    not_a_database,
    read_only_upgrade,
    upgrade_postgres,
)
from .._queries import INSERT_CHANGE
from . import redact
from .base import CLOSED, POSTGRES_SCHEMES

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

__all__ = [
    "PostgresEngine",
    "conninfo_of",
    "driver_installed",
    "ensure_postgres_schema",
    "postgres_schema_version",
    "redact",
    "scratch_schema",
]

#: The LISTEN/NOTIFY channel on which a commit that changed tasks wakes the change feed's watchers.
CHANNEL: Final = "batchstore_changes"
_INSTALL: Final = 'PostgreSQL needs the postgres extra: pip install "batchstore[postgres]"'


def conninfo_of(url: str) -> str:
    """The libpq URL of a batchstore (or SQLAlchemy) PostgreSQL URL: ``postgresql+psycopg://`` is ``postgresql://``.

    >>> conninfo_of("postgresql+psycopg://u:p@127.0.0.1:5432/tasks")
    'postgresql://u:p@127.0.0.1:5432/tasks'
    """
    for scheme in POSTGRES_SCHEMES:
        if url.startswith(scheme):
            return "postgresql://" + url[len(scheme):]
    raise StorageError(f"open: {redact(url)!r} is not a PostgreSQL URL")


#: psycopg_pool's warnings about batchstore's pools (a server out of reach, a broken connection discarded) are
#: logged here instead of on psycopg's logger, where, with no logging set up, Python prints them to stderr.
#: ``batchstore`` has a NullHandler: silent unless the application configures logging.
POOL_LOG: Final = logging.getLogger("batchstore.pool")
#: The pools' name, and so the prefix of their worker threads' names.
_POOL_NAME: Final = "batchstore"
_POOLED: weakref.WeakSet[Any] = weakref.WeakSet()  # every connection batchstore's pools opened


class _OurPoolRecords(logging.Filter):
    """On psycopg_pool's logger: takes the records about batchstore's pools off it and logs them as batchstore's.

    A record is batchstore's when it comes from one of its pools' worker threads, names such a pool, or
    names one of their connections; other pools of the application keep logging as they did.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._ours(record):
            return True
        if POOL_LOG.isEnabledFor(record.levelno):
            moved = logging.makeLogRecord(record.__dict__)
            moved.name = POOL_LOG.name
            POOL_LOG.handle(moved)
        return False

    @staticmethod
    def _ours(record: logging.LogRecord) -> bool:
        if (record.threadName or "").startswith(_POOL_NAME + "-"):
            return True
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        for arg in args:
            if arg == _POOL_NAME:
                return True
            try:
                if arg in _POOLED:
                    return True
            except TypeError:  # an unhashable argument is no connection
                continue
        return False


logging.getLogger("psycopg.pool").addFilter(_OurPoolRecords())


def _driver() -> tuple[Any, Any]:
    try:
        import psycopg
        import psycopg_pool
    except ImportError:
        raise StorageError(f"open: {_INSTALL}") from None
    return psycopg, psycopg_pool


@lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    """Engine-neutral SQL for psycopg: ``?`` placeholders become ``%s`` (no statement has a literal ``?`` or ``%``)."""
    return sql.replace("?", "%s")


def _check_idle(conn: psycopg.Connection[Any]) -> None:
    """Raise if a pooled connection is dead, asking the server only when the socket says something happened.

    An idle connection's socket has nothing to read unless the server closed it (a restart, an
    administrator's pg_terminate_backend) or sent it a notice. psycopg_pool's own check costs a round
    trip on every checkout, which doubled the time of a get; a poll of the socket costs about a microsecond.
    """
    import psycopg
    import psycopg_pool

    if conn.closed:
        raise psycopg.OperationalError("the connection is closed")  # the pool discards it and tries another
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    if poller.poll(0):
        psycopg_pool.ConnectionPool.check_connection(conn)


def translate(exc: Exception, operation: str, url: str) -> StorageError:
    """A StorageError saying what PostgreSQL (or the pool) refused, during which operation."""
    import psycopg
    import psycopg_pool

    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, psycopg_pool.PoolTimeout):
        hint = "no connection to the server could be had within the timeout"
    elif isinstance(exc, psycopg.errors.LockNotAvailable | psycopg.errors.QueryCanceled):
        hint = "another writer held the task's row longer than the timeout"
    elif isinstance(exc, psycopg.errors.SerializationFailure | psycopg.errors.DeadlockDetected):
        hint = "it collided with a concurrent transaction; try again"
    elif isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        hint = "the store is read-only"
    elif isinstance(exc, psycopg.errors.InsufficientPrivilege):
        hint = "the database user lacks a privilege"
    elif isinstance(exc, psycopg.OperationalError):
        hint = "the server could not be reached or went away; the next call reconnects"
    else:
        hint = "the database refused the statement"
    return StorageError(f"{operation} on {redact(url)}: {message} ({hint}); nothing was written")


class _Transaction:
    """The statements of one transaction, on one pooled connection's cursor.

    Statements whose results nobody reads (``run``, ``run_many``: the UPDATE, the trace and feed rows) wait
    and go out together, in one pipeline, before the next read or with the COMMIT: a write costs a round
    trip per read rather than one per statement. The order of the statements is kept.
    """

    __slots__ = ("_conn", "_cursor", "_deadline", "_lock_ms", "_pending")

    def __init__(
        self, conn: psycopg.Connection[Any], cursor: psycopg.Cursor[Any], deadline: float | None = None,
        lock_ms: int = 0,
    ) -> None:
        self._conn = conn
        self._cursor = cursor
        self._pending: list[tuple[str, Sequence[Any]]] = []
        # A write's deadline, and the lock_timeout its session has now: before a read that may wait for a
        # row lock, a lock_timeout longer than what is left of the call is cut down to it (one deadline).
        self._deadline = deadline
        self._lock_ms = lock_ms

    def _keep_deadline(self) -> None:
        if self._deadline is None:
            return
        left = _milliseconds_left(self._deadline)
        if left < self._lock_ms - _LOCK_SLACK_MS:  # time went by waiting: only then is a statement added
            self._pending.append((_SET_LOCK_TIMEOUT, (f"{left}ms",)))
            self._lock_ms = left

    def _send_pending(self) -> None:
        # Inside the caller's pipeline: a nested one would sync on exit, a round trip of its own.
        pending, self._pending = self._pending, []
        for sql, params in pending:
            self._cursor.execute(sql, params)

    def _flush(self) -> None:
        if self._pending:
            with self._conn.pipeline():
                self._send_pending()

    def commit(self) -> None:
        """Send what waits and COMMIT, in one round trip."""
        with self._conn.pipeline():
            self._send_pending()
            self._conn.execute("COMMIT")

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self._keep_deadline()
        self._flush()
        return self._cursor.execute(_pg(sql), params).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        self._keep_deadline()
        self._flush()
        return self._cursor.execute(_pg(sql), params).fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._pending.append((_pg(sql), params))

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        query = _pg(sql)
        self._pending.extend((query, row) for row in rows)

    def insert(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        self._flush()
        query = _pg(sql) + " RETURNING id"
        cursor = self._cursor
        if len(rows) == 1:
            return [cursor.execute(query, rows[0]).fetchone()[0]]  # type: ignore[index]
        # One round trip for all rows (psycopg pipelines them) and one result set each.
        cursor.executemany(query, rows, returning=True)
        ids = []
        while True:
            ids.append(cursor.fetchone()[0])  # type: ignore[index]
            if not cursor.nextset():
                return ids


def read_schema_version(url: str, timeout: float = 30.0) -> int:
    """The schema version of the PostgreSQL database at ``url`` (0: no batchstore tables), read without writing."""
    psycopg, _ = _driver()
    try:
        with psycopg.connect(conninfo_of(url), autocommit=True, connect_timeout=max(2, int(timeout))) as conn:
            return postgres_schema_version(conn, f"open {redact(url)}")
    except psycopg.Error as exc:
        raise translate(exc, "open", url) from None


def postgres_schema_version(conn: psycopg.Connection[Any], where: str) -> int:
    """The schema version of a PostgreSQL database (its search path): 0 when it has none of our tables."""
    # pg_class read through the statement's snapshot, not to_regclass(): that one consults the backend's
    # catalog cache, which inside a transaction begun before another process created the tables (while we
    # waited for the advisory lock) still says they do not exist.
    row = conn.execute(
        "SELECT bool_or(c.relname = %s), bool_or(c.relname = 'batchtask') FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relname IN (%s, 'batchtask')",
        (VERSION_TABLE, VERSION_TABLE),
    ).fetchone()
    assert row is not None
    has_versions, has_tasks = (bool(v) for v in row)
    stamp = None
    if has_versions:
        found = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
        stamp = None if found is None else found[0]
    return judge_postgres_version(has_versions, has_tasks, stamp, where)


def ensure_postgres_schema(conn: psycopg.Connection[Any], url: str, where: str, *, read_only: bool) -> None:
    """Check, create or upgrade batchstore's tables in the database (and schema) ``conn`` is connected to."""
    version = postgres_schema_version(conn, where)
    if version == SCHEMA_VERSION:
        return
    if read_only:
        if version == 0:
            raise not_a_database(where)
        raise read_only_upgrade(version, where)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (PG_LOCK_KEY,))
        version = postgres_schema_version(conn, where)  # another process may have done it while we waited
        if version == 0:
            from .._schema import ddl

            for statement in ddl("postgresql"):
                conn.execute(statement)
            create_version_table(conn.execute)
            return
    if version < SCHEMA_VERSION:
        # The opening connection's lock_timeout (the store's timeout) bounds the wait for the lock there too.
        row = conn.execute("SHOW lock_timeout").fetchone()
        upgrade_postgres(sqlalchemy_url_of(url), where, lock_timeout=str(row[0]) if row else "0")


def sqlalchemy_url_of(url: str) -> str:
    """The SQLAlchemy URL of a PostgreSQL target (for Alembic): ``postgresql+psycopg://...``."""
    return "postgresql+psycopg://" + conninfo_of(url)[len("postgresql://"):]


def driver_installed() -> bool:
    """Whether psycopg and psycopg_pool can be imported (the postgres extra), without importing them."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("psycopg", "psycopg_pool"))


@contextmanager
def scratch_schema(url: str, *, connect_timeout: int = 10) -> Iterator[str]:
    """A new, empty schema in the PostgreSQL database at ``url``, dropped with everything in it afterwards.

    For test fixtures (the pytest plugin's ``batchstore_database``); yields the schema's name. Every
    failure, reaching the server or dropping the schema, raises StorageError.
    """
    psycopg, _ = _driver()
    schema = f"bs_{uuid.uuid4().hex}"
    try:
        conn = psycopg.connect(conninfo_of(url), autocommit=True, connect_timeout=connect_timeout)
    except psycopg.Error as exc:
        raise StorageError(f"cannot reach PostgreSQL at {redact(url)}: {str(exc).strip()}") from None
    try:
        conn.execute(f'CREATE SCHEMA "{schema}"')  # a uuid's hex digits: nothing to quote
        yield schema
        # A connection the test left open inside a transaction would make the drop wait for ever.
        conn.execute("SET lock_timeout = '10s'")
        try:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        except psycopg.Error as exc:
            raise StorageError(f"cannot drop the schema {schema} ({str(exc).strip()}); "
                               "close every store and connection opened on it") from None
    finally:
        conn.close()


# The feed in commit order. A transaction's id (xid) is taken when it first writes and rows are read by
# (xid, id), but xids are not commit order: a reader must not pass a row while a transaction with a smaller
# xid may still add one. So every batchstore write first takes a shared advisory lock (FEED_WRITER_KEY and
# its schema's hash: stores of other schemas in the database never hold this one's feed back), and
# a reader first asks, in a statement of its own, for the horizon: the smallest xid among the transactions
# holding that lock, or else the first xid not yet handed out. A later statement then reads only rows below
# the horizon: each transaction below it has ended (and is seen by the later snapshot), and any that starts
# writing later gets a larger xid. Unrelated long transactions elsewhere on the server never hold it back.
FEED_WRITER_KEY: Final = 0x62617463  # "batc"
# pg_locks shows 32-bit transaction ids; the rows hold 64-bit ones (the epoch above them). A holder's id is put
# in the epoch of the snapshot's xmax (or the one before, when that would be past xmax), so the feed keeps
# working after the 32-bit counter wraps around.
_FEED_HORIZON: Final = f"""
WITH s AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax),
holders AS (
  SELECT ((s.xmax >> 32) << 32) + x.transactionid::text::bigint AS xid, s.xmax FROM s, pg_locks a
    JOIN pg_locks x ON x.pid = a.pid AND x.locktype = 'transactionid'
  WHERE a.locktype = 'advisory' AND a.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND a.classid = {FEED_WRITER_KEY} AND a.objid = hashtext(current_schema())::oid AND a.objsubid = 2)
SELECT LEAST((SELECT MIN(CASE WHEN xid > xmax THEN xid - 4294967296 ELSE xid END) FROM holders), (SELECT xmax FROM s))
"""
_CHANGES_AFTER: Final = """
WITH c AS (SELECT COALESCE(
  (SELECT xid FROM batchtaskchange WHERE id = %(cursor)s),
  -- a cursor whose row is gone (pruned) or never was: after the rows up to it, as on SQLite
  (SELECT MAX(xid) FROM batchtaskchange WHERE id <= %(cursor)s),
  -1) AS xid)
SELECT f.id, f.task_id, f.at, f.operation, f.worker, f.changes FROM batchtaskchange f, c
WHERE f.xid < %(horizon)s AND (f.xid > c.xid OR (f.xid = c.xid AND f.id > %(cursor)s))
ORDER BY f.xid, f.id LIMIT %(limit)s
"""
_BEGIN_WRITE: Final = (
    "BEGIN; SET LOCAL lock_timeout = '{}ms'; "
    f"SELECT pg_advisory_xact_lock_shared({FEED_WRITER_KEY}, hashtext(current_schema()))"
)
_SET_LOCK_TIMEOUT: Final = "SELECT set_config('lock_timeout', %s, true)"
#: A lock_timeout is cut down to what is left of the call's deadline once it is this much too long.
_LOCK_SLACK_MS: Final = 20


def _milliseconds_left(deadline: float) -> int:
    """What is left until ``deadline`` (``time.monotonic()``), in whole milliseconds, at least 1 (0 means no limit)."""
    return max(1, int((deadline - time.monotonic()) * 1000))
_LATEST_CHANGE: Final = "SELECT id FROM batchtaskchange WHERE xid < %(horizon)s ORDER BY xid DESC, id DESC LIMIT 1"
# The id sequence's last value: never lower than a cursor handed out, unless the database was restored from
# before it (pg_dump sets the sequence back with the rows).
_ISSUED_CHANGE: Final = (
    "SELECT GREATEST(COALESCE(pg_sequence_last_value(pg_get_serial_sequence('batchtaskchange', 'id')::regclass), 0), "
    "(SELECT COALESCE(MAX(id), 0) FROM batchtaskchange))"
)


class _ChangeWaiter:
    """Sleeps on a connection of its own that LISTENs for the commits of batchstore's writers."""

    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine
        driver, _ = _driver()
        try:
            self._conn: psycopg.Connection[Any] | None = driver.connect(
                engine._conninfo, autocommit=True, connect_timeout=engine._connect_timeout()
            )
            self._conn.execute(f"LISTEN {CHANNEL}")
        except driver.Error as exc:
            raise translate(exc, "watch", engine.url) from None

    def wait(self, timeout: float) -> None:
        import psycopg

        if self._conn is None:
            return
        try:
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                pass
        except psycopg.Error as exc:
            raise translate(exc, "watch", self._engine.url) from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_OPEN: weakref.WeakSet[PostgresEngine] = weakref.WeakSet()
_INHERITED: list[Any] = []


def _mark_forked() -> None:
    for engine in list(_OPEN):
        engine._after_fork()


os.register_at_fork(after_in_child=_mark_forked)


class PostgresEngine:
    """A PostgreSQL database at ``url`` (``postgresql://`` or ``postgresql+psycopg://``), through a pool.

    Threads of one store draw connections from the pool (up to ``pool_size`` at once) rather than queue
    behind one. Query parameters of the URL go to libpq unchanged (``?sslmode=require``,
    ``?options=-csearch_path%3Dmyschema``).
    """

    name: Final = "postgresql"
    lock: Final = " FOR UPDATE OF t"
    claim: Final = " FOR UPDATE SKIP LOCKED"
    # The transaction's id orders the feed (see FEED_WRITER_KEY); the notification wakes watchers at commit.
    insert_change: Final = (
        f"WITH c AS ({INSERT_CHANGE}pg_current_xact_id()::text::bigint) RETURNING 1) "
        f"SELECT pg_notify('{CHANNEL}', '')"
    )

    def __init__(self, url: str, *, timeout: float = 30.0, read_only: bool = False, pool_size: int = 10) -> None:
        psycopg, pool_module = _driver()
        self.url = url
        self.description = redact(url)
        self.read_only = read_only
        self._conninfo = conninfo_of(url)
        self._timeout = timeout
        self._pool_size = pool_size
        self._pool_module = pool_module
        self._psycopg = psycopg
        self._lock = threading.Lock()
        self._forked = False
        with self._connect("open") as conn:
            ensure_postgres_schema(conn, url, f"open {self.description}", read_only=read_only)
        self._pool: psycopg_pool.ConnectionPool[Any] | None = self._open_pool()
        _OPEN.add(self)

    # --- connections ------------------------------------------------------------------------------

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        _POOLED.add(conn)  # the pool's warnings about it are batchstore's (see _OurPoolRecords)
        # lock_timeout bounds waits for row locks; statement_timeout is left to the server's setting.
        lock_ms = max(1, int(self._timeout * 1000))
        conn.execute(f"SET TIME ZONE 'UTC'; SET lock_timeout = {lock_ms}")
        if self.read_only:
            conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")

    @contextmanager
    def _connect(self, operation: str) -> Iterator[psycopg.Connection[Any]]:
        """One connection outside the pool, for opening and migrating."""
        try:
            conn = self._psycopg.connect(self._conninfo, autocommit=True, connect_timeout=self._connect_timeout())
        except self._psycopg.Error as exc:
            raise translate(exc, operation, self.url) from None
        try:
            self._configure(conn)
            yield conn
        except self._psycopg.Error as exc:
            raise translate(exc, operation, self.url) from None
        finally:
            conn.close()

    def _connect_timeout(self) -> int:
        return max(2, min(30, int(self._timeout)))

    def _open_pool(self) -> psycopg_pool.ConnectionPool[Any]:
        pool: psycopg_pool.ConnectionPool[Any] = self._pool_module.ConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=self._pool_size,
            kwargs={"autocommit": True, "connect_timeout": self._connect_timeout()},
            configure=self._configure,
            # A connection that died while idle (a restarted server) is replaced before it is handed out.
            check=_check_idle,
            timeout=self._timeout,
            name=_POOL_NAME,
            open=False,
        )
        try:
            pool.open(wait=True, timeout=max(self._timeout, 1.0))
        except Exception as exc:
            pool.close()
            raise translate(exc, "open", self.url) from None
        return pool

    def _after_fork(self) -> None:
        # The parent's pool and its sockets belong to the parent: closing them here would end the parent's
        # sessions. Keep them referenced for the child's life and open a pool of the child's own on first use.
        self._lock = threading.Lock()
        if self._pool is not None:
            _INHERITED.append(self._pool)
            self._pool = None
            self._forked = True

    def _pool_or_raise(self) -> psycopg_pool.ConnectionPool[Any]:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    if not self._forked:
                        raise StoreClosedError(CLOSED)
                    self._pool = self._open_pool()
                    self._forked = False
                pool = self._pool
        return pool

    # --- transactions ------------------------------------------------------------------------------

    @contextmanager
    def write(self, operation: str) -> Iterator[_Transaction]:
        # One deadline for the call: the wait for a pooled connection and the waits for locks (the feed's
        # writer lock, then the task's row) share the timeout, rather than take it each.
        deadline = time.monotonic() + self._timeout
        pool = self._pool_or_raise()
        try:
            with pool.connection(timeout=self._timeout) as conn:
                # BEGIN, the call's lock_timeout and the change feed's writer lock (taken first, before the
                # transaction has an id: see _FEED_HORIZON) go in one round trip, as one simple query.
                lock_ms = _milliseconds_left(deadline)
                conn.execute(_BEGIN_WRITE.format(lock_ms))
                try:
                    with conn.cursor() as cursor:
                        tx = _Transaction(conn, cursor, deadline, lock_ms)
                        yield tx
                        tx.commit()
                except BaseException:
                    if not conn.broken and conn.info.transaction_status != self._psycopg.pq.TransactionStatus.IDLE:
                        conn.execute("ROLLBACK")
                    raise
        except (self._psycopg.Error, self._pool_module.PoolTimeout) as exc:
            raise translate(exc, operation, self.url) from None

    @contextmanager
    def read(self, operation: str) -> Iterator[_Transaction]:
        pool = self._pool_or_raise()
        try:
            # REPEATABLE READ: the reads of the block see one snapshot, as one SQLite read does. Reads take no
            # lock: the pool's wait is the call's only one.
            with pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                yield _Transaction(conn, cursor)
        except (self._psycopg.Error, self._pool_module.PoolTimeout) as exc:
            raise translate(exc, operation, self.url) from None

    # The hot reads take and return the connection by hand: pool.connection() also enters the connection's
    # own context, whose commit (nothing to commit in autocommit) costs a few microseconds a call.
    def fetchone(self, sql: str, params: Sequence[Any], operation: str) -> Any:
        pool = self._pool_or_raise()
        try:
            conn = pool.getconn()
            try:
                return conn.execute(_pg(sql), params).fetchone()
            finally:
                pool.putconn(conn)
        except (self._psycopg.Error, self._pool_module.PoolTimeout) as exc:
            raise translate(exc, operation, self.url) from None

    def fetchall(self, sql: str, params: Sequence[Any], operation: str) -> list[Any]:
        pool = self._pool_or_raise()
        try:
            conn = pool.getconn()
            try:
                rows: list[Any] = conn.execute(_pg(sql), params).fetchall()
                return rows
            finally:
                pool.putconn(conn)
        except (self._psycopg.Error, self._pool_module.PoolTimeout) as exc:
            raise translate(exc, operation, self.url) from None

    # --- the change feed -------------------------------------------------------------------------

    #: Every batchstore commit notifies; a watcher with nothing new rereads this often all the same.
    recheck_after: Final = 1.0

    def _read_feed(self, sql: str, params: dict[str, Any], operation: str) -> list[Any]:
        pool = self._pool_or_raise()
        try:
            with pool.connection() as conn:
                # Two statements, two snapshots, in this order: see FEED_WRITER_KEY.
                (horizon,) = conn.execute(_FEED_HORIZON).fetchone()
                rows: list[Any] = conn.execute(sql, {**params, "horizon": horizon}).fetchall()
                return rows
        except (self._psycopg.Error, self._pool_module.PoolTimeout) as exc:
            raise translate(exc, operation, self.url) from None

    def changes_after(self, cursor: int, limit: int, operation: str) -> list[Any]:
        """Rows of the change feed after ``cursor``, in commit order (see FEED_WRITER_KEY)."""
        return self._read_feed(_CHANGES_AFTER, {"cursor": cursor, "limit": limit}, operation)

    def latest_cursor(self, operation: str) -> int:
        """The cursor of the newest change every reader can see (0 when there is none)."""
        rows = self._read_feed(_LATEST_CHANGE, {}, operation)
        return int(rows[0][0]) if rows else 0

    def issued_cursor(self, operation: str) -> int:
        """The largest cursor ever handed out (the id sequence's last value), 0 when none."""
        return int(self.fetchone(_ISSUED_CHANGE, (), operation)[0])

    def change_waiter(self) -> _ChangeWaiter:
        """Something to sleep on until a change may have been committed."""
        self._pool_or_raise()
        return _ChangeWaiter(self)

    # --- the store's lifetime ---------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._pool is None and not self._forked

    def close(self) -> None:
        """Close the pool and its connections; further use raises StoreClosedError. Closing twice is harmless."""
        with self._lock:
            pool, self._pool, self._forked = self._pool, None, False
        if pool is not None:
            pool.close()
        _OPEN.discard(self)
