"""Schema versions: create a new database, upgrade an older one in place, refuse a newer one untouched.

Version N of the schema is Alembic revision ``000N`` (scripts in ``alembic/versions/``, for both engines).
A database records its version in the table ``batchstore_version`` (Alembic's version table, named so it
never meets an application's own Alembic history); SQLite files mirror it in ``PRAGMA user_version``, which
costs nothing to read. Files written by batchstore 0.1.0 have ``user_version`` 1 and no version table.

Opening reads the version with the driver alone. Only a new or an older database loads SQLAlchemy and
Alembic, and then under a lock (SQLite's write lock, a PostgreSQL advisory lock), so that several processes
opening one database at once upgrade it once. A newer database, or another application's, is refused with
StorageError before anything is written.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .._exceptions import StorageError

if TYPE_CHECKING:
    import psycopg
    from sqlalchemy.engine import Connection

__all__ = [
    "SCHEMA_VERSION",
    "VERSION_TABLE",
    "ensure_postgres_schema",
    "ensure_sqlite_schema",
    "migrate",
    "migration_sql",
]

#: The schema this release reads and writes: Alembic revision "0004".
SCHEMA_VERSION: Final = 4
VERSION_TABLE: Final = "batchstore_version"
_SCRIPTS: Final = Path(__file__).resolve().parent / "alembic"
# pg_advisory_xact_lock key held while a PostgreSQL database is created or upgraded ("batchstr" in ASCII).
_PG_LOCK_KEY: Final = 0x6261746368737472
_OURS: Final = frozenset({
    "batchtask", "binaryobject", "batchtasktrace", "batchtaskchange", "batchstore_setting", VERSION_TABLE,
})


def _revision(version: int) -> str:
    return f"{version:04d}"


def _newer(version: int, where: str) -> StorageError:
    return StorageError(
        f"{where}: the database has schema version {version}, newer than this batchstore's "
        f"{SCHEMA_VERSION}; upgrade batchstore to use it (nothing was changed)"
    )


def _foreign(where: str, tables: list[str], version: int | None = None) -> StorageError:
    shown = ", ".join(sorted(tables)[:5]) or "none"
    stamp = "" if version is None else f"schema version {version}, "
    return StorageError(f"{where}: not a batchstore database ({stamp}tables: {shown}); nothing was changed")


def read_only_upgrade(version: int, where: str) -> StorageError:
    return StorageError(
        f"{where}: the database has schema version {version} and needs an upgrade to {SCHEMA_VERSION}, "
        "which a read-only store cannot do; open it once read-write or run `batchstore migrate --db ...`"
    )


# --- SQLite -----------------------------------------------------------------------------------------


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
        # The version table is what Alembic goes by: a newer release's scripts, run by Alembic's own
        # command line, may have stamped it; the newer of the two versions counts.
        stamps = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall() if VERSION_TABLE in tables else []
    finally:
        if own:
            conn.execute("COMMIT")
    if version == 0 and not tables:
        return 0
    for (stamp,) in stamps:
        if not str(stamp).isdigit():
            raise StorageError(f"{where}: the table {VERSION_TABLE} holds {stamp!r}, no batchstore schema version")
        version = max(version, int(stamp))
    if version > SCHEMA_VERSION:
        if "batchtask" in tables:
            raise _newer(version, where)
        raise _foreign(where, tables, version)
    if version == 0 or "batchtask" not in tables or not set(tables) <= _OURS:
        raise _foreign(where, tables, version)
    return int(version)


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
            _create_version_table(conn.execute)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if version not in (0, SCHEMA_VERSION):
        assert path is not None, "an in-memory database is always new"
        _upgrade_sqlite(path, where, timeout)


def _upgrade_sqlite(path: str, where: str, timeout: float) -> None:
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(path, timeout=timeout), poolclass=NullPool)

    # SQLAlchemy's recipe for SQLite transactions: the driver leaves BEGIN to us, and we take the write lock.
    @event.listens_for(engine, "connect")
    def _autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    with _upgrading(engine, where), engine.begin() as conn:
        (version,) = conn.exec_driver_sql("PRAGMA user_version").one()
        if version < SCHEMA_VERSION:  # else another process upgraded it while we waited for the lock
            _upgrade(conn, version)


# --- PostgreSQL ---------------------------------------------------------------------------------------


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
    if not has_versions:
        if has_tasks:
            raise _foreign(where, ["batchtask (without batchstore's version table)"])
        return 0
    found = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
    if found is None or not str(found[0]).isdigit():
        raise StorageError(f"{where}: the table {VERSION_TABLE} holds no batchstore schema version")
    version = int(found[0])
    if version > SCHEMA_VERSION:
        raise _newer(version, where)
    return version


def ensure_postgres_schema(conn: psycopg.Connection[Any], url: str, where: str, *, read_only: bool) -> None:
    """Check, create or upgrade batchstore's tables in the database (and schema) ``conn`` is connected to."""
    version = postgres_schema_version(conn, where)
    if version == SCHEMA_VERSION:
        return
    if read_only:
        if version == 0:
            raise StorageError(f"{where}: not a batchstore database (no batchstore tables); nothing was changed")
        raise read_only_upgrade(version, where)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,))
        version = postgres_schema_version(conn, where)  # another process may have done it while we waited
        if version == 0:
            from .._schema import ddl

            for statement in ddl("postgresql"):
                conn.execute(statement)
            _create_version_table(conn.execute)
            return
    if version < SCHEMA_VERSION:
        # The opening connection's lock_timeout (the store's timeout) bounds the wait for the lock there too.
        row = conn.execute("SHOW lock_timeout").fetchone()
        _upgrade_postgres(url, where, lock_timeout=str(row[0]) if row else "0")


def _upgrade_postgres(url: str, where: str, *, lock_timeout: str = "0") -> None:
    # Alembic speaks SQLAlchemy: a connection of its own, inside a transaction holding the same advisory lock.
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from .._engines import sqlalchemy_url

    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    with _upgrading(engine, where), engine.begin() as conn:
        conn.exec_driver_sql("SET TIME ZONE 'UTC'")
        conn.exec_driver_sql("SELECT set_config('lock_timeout', %(t)s, true)", {"t": lock_timeout})
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
        found = conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar()
        version = int(found or 0)
        if version < SCHEMA_VERSION:
            _upgrade(conn, version)


# --- both --------------------------------------------------------------------------------------------


@contextmanager
def _upgrading(engine: Any, where: str) -> Iterator[None]:
    """Any failure of an upgrade (its transaction rolled back) as StorageError; the engine disposed of after."""
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"{where}: upgrading the schema failed, nothing was changed: {exc}") from exc
    finally:
        engine.dispose()


def _create_version_table(execute: Any, version: int = SCHEMA_VERSION) -> None:
    # The very table Alembic makes, so that Alembic's own commands work on a batchstore database too.
    execute(
        f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL, "
        f"CONSTRAINT {VERSION_TABLE}_pkc PRIMARY KEY (version_num))"
    )
    execute(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES ('{_revision(version)}')")


def _config(**attributes: Any) -> Any:
    from alembic.config import Config

    config = Config(output_buffer=attributes.pop("output_buffer", None))
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes.update(attributes)
    return config


def _upgrade(conn: Connection, version: int) -> None:
    """Run the migration scripts from ``version`` to this release's, on a connection inside a transaction."""
    from alembic import command
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = _config(connection=conn)
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    if context.get_current_revision() is None:
        # A file of batchstore 0.1.0: its version lives only in user_version. Record it Alembic's way first.
        context.stamp(ScriptDirectory.from_config(config), _revision(version))
    command.upgrade(config, _revision(SCHEMA_VERSION))


def migrate(target: str) -> tuple[int, int]:
    """Bring the database at ``target`` (a SQLite path or a URL) to this release's schema: (before, after).

    Opening a store does the same on its own; this is for deployments that upgrade as a separate step.

    >>> import tempfile, os
    >>> migrate(os.path.join(tempfile.mkdtemp(), "new.db")) == (0, SCHEMA_VERSION)
    True
    """
    from .._engines import open_engine, schema_version

    before = schema_version(target)
    open_engine(target).close()
    return before, SCHEMA_VERSION


def migration_sql(target: str) -> str:
    """The SQL that would bring the database at ``target`` to this release's schema, for a DBA to run by hand.

    The database is only read (for its current version); nothing is written, and a missing SQLite file is
    not created. The SQL is one transaction; it is empty for a database already at this release's schema.

    >>> import tempfile, os
    >>> sql = migration_sql(os.path.join(tempfile.mkdtemp(), "missing.db"))
    >>> sql.startswith("BEGIN;"), "CREATE TABLE batchtaskchange" in sql
    (True, True)
    """
    from alembic import command

    from .._engines import engine_name, schema_version, sqlalchemy_url, sqlite_path

    before = schema_version(target)
    if before == SCHEMA_VERSION:
        return ""
    buffer = io.StringIO()
    config = _config(output_buffer=buffer)
    # Config is a ConfigParser: a "%" in the URL (an escaped libpq option) would read as interpolation.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(target).replace("%", "%%"))
    start = "base" if before == 0 else _revision(before)
    try:
        command.upgrade(config, f"{start}:{_revision(SCHEMA_VERSION)}", sql=True)
    except Exception as exc:
        raise StorageError(f"migrate: could not write the upgrade SQL: {exc}") from exc
    script = buffer.getvalue()
    if engine_name(target) == "sqlite":
        # Alembic writes no transaction for SQLite (it thinks DDL is not transactional there), but SQLite's
        # DDL and user_version are: one transaction, so that a script stopped half-way leaves no half schema.
        stamp = ""
        if before and not _sqlite_has_version_table(sqlite_path(target)):
            # A file of batchstore 0.1.0 knows its version only by user_version: record it Alembic's way.
            statements: list[str] = []
            _create_version_table(statements.append, before)
            stamp = "".join(f"{statement};\n\n" for statement in statements)
        script = f"BEGIN;\n\n{stamp}{script}COMMIT;\n"
    return script


def _sqlite_has_version_table(path: str) -> bool:
    from .._engines.sqlite import _read_only_uri

    conn = sqlite3.connect(_read_only_uri(path), uri=True)
    try:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return conn.execute(query, (VERSION_TABLE,)).fetchone() is not None
    except sqlite3.Error as exc:
        raise StorageError(f"migrate: could not read {path!r}: {exc}") from exc
    finally:
        conn.close()
