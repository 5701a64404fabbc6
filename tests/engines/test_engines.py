"""Opening engines: what the seam below BatchStore promises whatever the database."""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Iterator

import pytest
from server_process import postgres_schema

from batchstore import BatchStore, ConfigurationError, StorageError


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """The URL of an empty schema on the test PostgreSQL server."""
    with postgres_schema("engines") as url:
        yield url


@pytest.mark.postgresql
def test_threads_opening_a_new_postgresql_database_at_once_all_succeed(fresh_postgres: str) -> None:
    """One creates the tables under the advisory lock; the others, once they get it, find them made."""
    errors: list[BaseException] = []
    ids: list[int] = []
    start = threading.Barrier(6)

    def open_and_create() -> None:
        try:
            start.wait()
            with BatchStore(fresh_postgres) as store:
                ids.append(store.create({"Name": "a"}))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_and_create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(ids) == [1, 2, 3, 4, 5, 6]


@pytest.mark.postgresql
def test_the_postgresql_url_forms_name_the_same_database(fresh_postgres: str) -> None:
    with BatchStore(fresh_postgres) as store:
        task_id = store.create({"Name": "a"})
    with BatchStore(fresh_postgres.replace("postgresql://", "postgresql+psycopg://", 1)) as store:
        assert store.get(task_id).name == "a"
        password = urllib.parse.urlsplit(fresh_postgres).password
        assert password is None or password not in repr(store)  # never shown


@pytest.mark.parametrize("url", ["mysql://u@h/d", "oracle://scott@db"])
def test_an_unsupported_backend_is_a_storage_error_naming_it(url: str) -> None:
    with pytest.raises(StorageError, match="not supported"):
        BatchStore(url)


def test_a_url_without_a_scheme_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="database"):
        BatchStore("://nothing")
