"""Which engine a database target names, and opening it.

A target is a SQLite file path, ``None`` or ``":memory:"`` (a private in-memory database), a ``sqlite://``
URL, or a ``postgresql://`` / ``postgresql+psycopg://`` URL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from .._exceptions import ConfigurationError, StorageError
from .._migrations import SCHEMA_VERSION, upgrade_sql
from .base import POSTGRES_SCHEMES, SYNCHRONOUS, Engine, Transaction

__all__ = [
    "POSTGRES_SCHEMES",
    "SYNCHRONOUS",
    "Engine",
    "Transaction",
    "check_not_an_engine_word",
    "check_synchronous",
    "engine_name",
    "migrate",
    "migration_sql",
    "open_engine",
    "postgres_driver_installed",
    "redact",
    "schema_version",
    "scratch_postgres_schema",
    "sqlalchemy_url",
]

#: What each engine's URL looks like, for a value that names an engine without being one.
_EXPECTED_FORM: Final = {
    "postgresql": "a URL such as postgresql://user:password@host:5432/dbname",
    "sqlite": "a file path such as tasks.db, or a URL such as sqlite:///tasks.db",
}
_ENGINE_WORDS: Final = {"postgresql": "postgresql", "postgres": "postgresql", "pgsql": "postgresql",
                        "sqlite": "sqlite", "sqlite3": "sqlite"}


def redact(target: str) -> str:
    """A database target fit to print or log: a URL's password (its user part, or ``password=``) as ``***``.

    The one place every front masks credentials (messages, logs, the command line, the pytest plugin).

    >>> redact("postgresql://user:secret@host:5432/db?sslmode=require")
    'postgresql://user:***@host:5432/db?sslmode=require'
    >>> redact("postgresql://host/db?user=u&password=secret"), redact("tasks.db")
    ('postgresql://host/db?user=u&password=***', 'tasks.db')
    """
    scheme, sep, rest = target.partition("://")
    if not sep:
        return target
    if "@" in rest:
        # Everything before the last "@" is the user part, so a password holding an "@" or a "?" is hidden too.
        credentials, _, rest = rest.rpartition("@")
        user, colon, _ = credentials.partition(":")
        rest = f"{user}{':***' if colon else ''}@{rest}"
    return scheme + sep + re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", rest)


def check_not_an_engine_word(target: str, option: str = "database") -> None:
    """ConfigurationError when ``target`` names an engine without being a URL (``postgres``, ``postgresql:x``).

    Taken as a path, ``postgres`` would silently become a SQLite file of that name; the error gives the form
    expected. ``BatchStore(...)``, ``--db`` and the pytest plugin apply this one rule.

    >>> check_not_an_engine_word("tasks.db")
    >>> check_not_an_engine_word("postgres")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    batchstore._exceptions.ConfigurationError: database: 'postgres' names an engine, not a database; give a URL ...
    """
    text = target.strip()
    if "://" in text:
        return
    scheme, colon, _ = text.partition(":")
    engine = _ENGINE_WORDS.get(scheme.lower().split("+", 1)[0])
    if engine is not None and (not colon or text.lower().startswith(scheme.lower() + ":")):
        raise ConfigurationError(
            f"{redact(target)!r} names an engine, not a database; give {_EXPECTED_FORM[engine]}", option=option
        )


def engine_name(target: str) -> str:
    """``"postgresql"`` or ``"sqlite"``: the engine a target names.

    >>> engine_name("postgresql://u@127.0.0.1/tasks"), engine_name("tasks.db")
    ('postgresql', 'sqlite')
    """
    if target.startswith(POSTGRES_SCHEMES):
        return "postgresql"
    check_not_an_engine_word(target)
    if "://" not in target or target.startswith("sqlite"):
        return "sqlite"
    scheme = target.split("://", 1)[0]
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        raise ConfigurationError(f"open: {redact(target)!r} is not a database URL (no scheme)", option="database")
    raise StorageError(f"open: the {scheme!r} backend is not supported; use a SQLite path or URL, or postgresql://")


def sqlite_path(target: str) -> str:
    """The file (or ``:memory:``) a SQLite target names."""
    if "://" not in target:
        return target
    from sqlalchemy.engine import make_url  # only a URL needs SQLAlchemy's parser

    try:
        url = make_url(target)
    except Exception as exc:  # ArgumentError, or ValueError for a bad port ("sqlite://h:abc/x.db")
        raise ConfigurationError(f"open: {redact(target)!r} is not a database URL: {exc}", option="database") from None
    if url.host or url.port:
        raise ConfigurationError(f"open: a SQLite URL names a file, not a host: {redact(target)!r}", option="database")
    return url.database or ":memory:"


def sqlalchemy_url(target: str) -> str:
    """The SQLAlchemy URL of a target (for Alembic): ``postgresql+psycopg://...`` or ``sqlite:///path``."""
    if engine_name(target) == "postgresql":
        from .postgres import sqlalchemy_url_of

        return sqlalchemy_url_of(target)
    return f"sqlite:///{os.path.abspath(sqlite_path(target))}"


def open_engine(
    target: str | None,
    *,
    timeout: float = 30.0,
    synchronous: str = "NORMAL",
    read_only: bool = False,
    pool_size: int = 10,
) -> Engine:
    """Open (and create or upgrade, unless ``read_only``) the database a target names."""
    if target is None or engine_name(target) == "sqlite":
        from .sqlite import SQLiteEngine

        path = ":memory:" if target is None else sqlite_path(target)
        return SQLiteEngine(path, timeout=timeout, synchronous=synchronous, read_only=read_only)
    from .postgres import PostgresEngine

    return PostgresEngine(target, timeout=timeout, read_only=read_only, pool_size=pool_size)


def schema_version(target: str) -> int:
    """The schema version of the database at ``target`` (0: empty or missing), read without writing anything."""
    if engine_name(target) == "postgresql":
        from .postgres import read_schema_version as read_postgres_version

        return read_postgres_version(target)
    from .sqlite import read_schema_version

    path = sqlite_path(target)
    if path == ":memory:" or not os.path.exists(path):
        return 0
    return read_schema_version(path)


def check_synchronous(value: object) -> str:
    """``value`` if it is one of SQLite's ``synchronous`` settings (any case), else ConfigurationError."""
    if not isinstance(value, str) or value.upper() not in SYNCHRONOUS:
        raise ConfigurationError(f"must be one of {', '.join(SYNCHRONOUS)}, not {value!r}", option="synchronous")
    return value


def migrate(target: str) -> tuple[int, int]:
    """Bring the database at ``target`` (a SQLite path or a URL) to this release's schema: (before, after).

    Opening a store does the same on its own; this is for deployments that upgrade as a separate step.

    >>> import tempfile, os
    >>> migrate(os.path.join(tempfile.mkdtemp(), "new.db")) == (0, SCHEMA_VERSION)
    True
    """
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
    before = schema_version(target)
    if before == SCHEMA_VERSION:
        return ""
    sqlite = engine_name(target) == "sqlite"
    stamp = False
    if sqlite and before:
        from .sqlite import has_version_table

        stamp = not has_version_table(sqlite_path(target))
    return upgrade_sql(sqlalchemy_url(target), before, sqlite=sqlite, stamp_version_table=stamp)


def postgres_driver_installed() -> bool:
    """Whether the postgres extra (psycopg, psycopg_pool) is installed; nothing is imported to find out."""
    from .postgres import driver_installed

    return driver_installed()


@contextmanager
def scratch_postgres_schema(url: str) -> Iterator[str]:
    """A new schema in the PostgreSQL database at ``url``, dropped with its contents after; yields its name.

    For test fixtures; every failure raises StorageError.
    """
    from .postgres import scratch_schema

    with scratch_schema(url) as schema:
        yield schema
