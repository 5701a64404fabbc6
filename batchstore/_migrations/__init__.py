"""Schema versions: create a new database, upgrade an older one in place, refuse a newer one untouched.

Version N of the schema is Alembic revision ``000N`` (scripts in ``alembic/versions/``, for both engines).
A database records its version in the table ``batchstore_version`` (Alembic's version table, named so it
never meets an application's own Alembic history); SQLite files mirror it in ``PRAGMA user_version``, which
costs nothing to read. Files written by batchstore 0.1.0 have ``user_version`` 1 and no version table.

This module knows Alembic and SQLAlchemy, never a driver: the engines (``_engines/``) read a database's
version with their own connections and hand what they read to ``judge_*_version``; they create the tables
(``_schema.ddl``) and call ``upgrade_*`` here for an older database. ``migrate`` and ``migration_sql``,
which start from a target, live with the engines (``_engines/__init__.py``).

Opening reads the version with the driver alone. Only a new or an older database loads SQLAlchemy and
Alembic, and then under a lock (SQLite's write lock, a PostgreSQL advisory lock), so that several processes
opening one database at once upgrade it once. A newer database, or another application's, is refused with
StorageError before anything is written.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .._exceptions import StorageError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = [
    "PG_LOCK_KEY",
    "SCHEMA_VERSION",
    "VERSION_TABLE",
    "create_version_table",
    "judge_postgres_version",
    "judge_sqlite_version",
    "not_a_database",
    "read_only_upgrade",
    "upgrade_postgres",
    "upgrade_sql",
    "upgrade_sqlite",
]

#: The schema this release reads and writes: Alembic revision "0004".
SCHEMA_VERSION: Final = 4
VERSION_TABLE: Final = "batchstore_version"
_SCRIPTS: Final = Path(__file__).resolve().parent / "alembic"
# pg_advisory_xact_lock key held while a PostgreSQL database is created or upgraded ("batchstr" in ASCII).
PG_LOCK_KEY: Final = 0x6261746368737472
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


# --- what the engines read, judged -------------------------------------------------------------------


def judge_sqlite_version(version: int, tables: list[str], stamps: list[Any], where: str) -> int:
    """The schema version of a SQLite database, from what its engine read in one snapshot.

    ``version`` is ``PRAGMA user_version``, ``tables`` the tables' names, ``stamps`` the rows of the version
    table (empty without one). 0 for an empty database; StorageError for a newer or a foreign one.
    """
    if version == 0 and not tables:
        return 0
    for (stamp,) in stamps:
        if not str(stamp).isdigit():
            raise StorageError(f"{where}: the table {VERSION_TABLE} holds {stamp!r}, no batchstore schema version")
        # The version table is what Alembic goes by: a newer release's scripts, run by Alembic's own
        # command line, may have stamped it; the newer of the two versions counts.
        version = max(version, int(stamp))
    if version > SCHEMA_VERSION:
        if "batchtask" in tables:
            raise _newer(version, where)
        raise _foreign(where, tables, version)
    if version == 0 or "batchtask" not in tables or not set(tables) <= _OURS:
        raise _foreign(where, tables, version)
    return int(version)


def judge_postgres_version(has_versions: bool, has_tasks: bool, stamp: Any, where: str) -> int:
    """The schema version of a PostgreSQL database, from what its engine read: 0 when it has none of our tables.

    ``stamp`` is the version table's value (None when the table is empty or missing).
    """
    if not has_versions:
        if has_tasks:
            raise _foreign(where, ["batchtask (without batchstore's version table)"])
        return 0
    if stamp is None or not str(stamp).isdigit():
        raise StorageError(f"{where}: the table {VERSION_TABLE} holds no batchstore schema version")
    version = int(stamp)
    if version > SCHEMA_VERSION:
        raise _newer(version, where)
    return version


def not_a_database(where: str) -> StorageError:
    """A read-only store found no batchstore tables: it never creates them."""
    return StorageError(f"{where}: not a batchstore database (no batchstore tables); nothing was changed")


# --- upgrades, through SQLAlchemy and Alembic ---------------------------------------------------------


def upgrade_sqlite(connect: Callable[[], Any], where: str) -> None:
    """Upgrade an older SQLite database to this release's schema; ``connect`` opens a DB-API connection to it."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    engine = create_engine("sqlite://", creator=connect, poolclass=NullPool)

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


def upgrade_postgres(sqlalchemy_url: str, where: str, *, lock_timeout: str = "0") -> None:
    """Upgrade an older PostgreSQL database (SQLAlchemy's URL of it) under the schema lock."""
    # Alembic speaks SQLAlchemy: a connection of its own, inside a transaction holding the same advisory lock.
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(sqlalchemy_url, poolclass=NullPool)
    with _upgrading(engine, where), engine.begin() as conn:
        conn.exec_driver_sql("SET TIME ZONE 'UTC'")
        conn.exec_driver_sql("SELECT set_config('lock_timeout', %(t)s, true)", {"t": lock_timeout})
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})")
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


def create_version_table(execute: Any, version: int = SCHEMA_VERSION) -> None:
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


def upgrade_sql(sqlalchemy_url: str, before: int, *, sqlite: bool, stamp_version_table: bool) -> str:
    """The SQL that brings a database from version ``before`` to this release's, as one transaction.

    ``sqlite``: Alembic writes no transaction for SQLite, so one is written around it;
    ``stamp_version_table``: a file of batchstore 0.1.0, which knows its version only by user_version.
    """
    from alembic import command

    if before == SCHEMA_VERSION:
        return ""
    buffer = io.StringIO()
    config = _config(output_buffer=buffer)
    # Config is a ConfigParser: a "%" in the URL (an escaped libpq option) would read as interpolation.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url.replace("%", "%%"))
    start = "base" if before == 0 else _revision(before)
    try:
        command.upgrade(config, f"{start}:{_revision(SCHEMA_VERSION)}", sql=True)
    except Exception as exc:
        raise StorageError(f"migrate: could not write the upgrade SQL: {exc}") from exc
    script = buffer.getvalue()
    if sqlite:
        # Alembic writes no transaction for SQLite (it thinks DDL is not transactional there), but SQLite's
        # DDL and user_version are: one transaction, so that a script stopped half-way leaves no half schema.
        stamp = ""
        if stamp_version_table:
            # A file of batchstore 0.1.0 knows its version only by user_version: record it Alembic's way.
            statements: list[str] = []
            create_version_table(statements.append, before)
            stamp = "".join(f"{statement};\n\n" for statement in statements)
        script = f"BEGIN;\n\n{stamp}{script}COMMIT;\n"
    return script
