"""What ``--db`` names, checked before a store opens it: a file that will be kept, and exists when it must."""

from __future__ import annotations

from pathlib import Path

from .._api import check_not_an_engine_word, redact
from .._exceptions import BatchStoreError

__all__ = ["check_target", "shown_target", "sqlite_file"]

_MEMORY = "is an in-memory database: nothing would be kept; give a file (--db tasks.db or BATCHSTORE_DB)"


def sqlite_file(target: str) -> str | None:
    """The file a SQLite ``--db`` value names: '' for an in-memory database, None for another engine's URL.

    >>> sqlite_file("tasks.db"), sqlite_file("sqlite:///tasks.db"), sqlite_file("sqlite://")
    ('tasks.db', 'tasks.db', '')
    >>> sqlite_file("postgresql://host/tasks") is None
    True
    """
    if "mode=memory" in target:
        return ""
    if "://" in target:
        scheme, _, rest = target.partition("://")
        if scheme.split("+")[0].lower() != "sqlite":
            return None
        # SQLAlchemy's form: sqlite:// (memory), sqlite:///relative.db, sqlite:////absolute.db
        path = rest.partition("?")[0]
        path = path[1:] if path.startswith("/") else path
        return "" if path in ("", ":memory:") else path
    if target.startswith("file:"):  # a SQLite URI filename
        path = target[len("file:"):].partition("?")[0]
        return "" if path in ("", ":memory:") else path
    return "" if target.strip() in ("", ":memory:") else target


def check_target(target: str, *, must_exist: bool) -> None:
    """Refuse a database that would keep nothing, or a missing file when the verb must not create one.

    >>> check_target(":memory:", must_exist=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    batchstore._exceptions.BatchStoreError: --db ':memory:' is an in-memory database: nothing would be kept; ...
    """
    check_not_an_engine_word(target, "--db")  # BatchStore(...)'s rule, checked before a file is looked for
    path = sqlite_file(target)
    if path == "":
        raise BatchStoreError(f"--db {target!r} {_MEMORY}")
    if must_exist and path is not None and not Path(path).exists():
        raise BatchStoreError(f"no database at {path} (create one with 'batchstore create' or 'batchstore demo')")


def shown_target(target: str) -> str:
    """What a verb prints for its ``--db``: a SQLite file's absolute path, any other URL without its password.

    >>> shown_target("postgresql://user:secret@db-host/tasks")
    'postgresql://user:***@db-host/tasks'
    """
    path = sqlite_file(target)
    return redact(target) if not path else str(Path(path).resolve())
