"""batchstore's pytest plugin: a fresh store per test, on the engine you choose.

pytest loads it through the ``pytest11`` entry point, so installing batchstore is enough: no conftest.

Fixtures:

- ``batchstore``: a fresh :class:`~batchstore.BatchStore` per test, closed after it.
- ``batchstore_factory``: ``batchstore_factory(database=..., **options)`` takes BatchStore's arguments
  and returns a new store; every store it made is closed after the test.
- ``batchstore_seed``: ``batchstore_seed(n=None, *, store=None, **fields)`` creates the sample tasks (the
  bodies of SuperOffice's BatchTask pages, made valid) and returns their ids.
- ``async_batchstore``: a fresh :class:`~batchstore.AsyncBatchStore` per test, closed after it.
- ``batchstore_database``: what the fixtures pass as ``database`` in this test.
- ``batchstore_server``: ``batchstore serve`` running on the test's database on 127.0.0.1 and a free
  port (``.url``, ``.database``), stopped after the test; needs ``batchstore[server]``.

The engine: in memory by default; ``--batchstore-url URL``, else the environment variable
``BATCHSTORE_TEST_URL``, else the ini option ``batchstore_url`` names another one:

- ``memory`` (or ``:memory:``, ``sqlite://``): a private in-memory database per store;
- ``sqlite`` (or any SQLite path or ``sqlite:///`` URL): a fresh file in the test's ``tmp_path``; the
  path given only chooses the engine, so tests never see each other's tasks;
- ``postgresql://user:password@host:port/db``: a fresh schema ``bs_<hex>`` per test in that database,
  dropped with everything in it after the test (needs psycopg: ``pip install 'batchstore[postgres]'``).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

from ._api import POSTGRES_SCHEMES, check_not_an_engine_word, postgres_driver_installed, redact, scratch_postgres_schema
from ._environment import environment_value
from ._exceptions import ConfigurationError, StorageError
from ._fields import resolve
from ._samples import sample_tasks

if TYPE_CHECKING:
    from ._async import AsyncBatchStore
    from ._store import BatchStore

__all__ = ["BatchStoreFactory", "BatchStoreSeeder", "BatchStoreServer", "Engine", "parse_engine"]

ENV_VAR: Final = "BATCHSTORE_TEST_URL"
_ENGINE_KEY: Final = pytest.StashKey["Engine"]()
_MEMORY: Final = frozenset({"", "memory", ":memory:", "sqlite://", "sqlite:///:memory:"})


# --- which engine -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Engine:
    """The engine the fixtures use: its kind, the URL given (for PostgreSQL) and where the choice came from.

    >>> parse_engine("sqlite:///tests.db", "--batchstore-url").kind
    'sqlite'
    """

    kind: Literal["memory", "sqlite", "postgresql"]
    url: str | None = None
    source: str = "default"

    def describe(self) -> str:
        where = {"memory": "in memory, a private database per store",
                 "sqlite": "SQLite, a fresh file per test in tmp_path",
                 "postgresql": f"PostgreSQL at {redact(self.url or '')}, a fresh schema per test"}[self.kind]
        return f"batchstore fixtures: {where} (from {self.source})"


def parse_engine(value: str, source: str) -> Engine:
    """The engine a ``--batchstore-url`` value names; ``pytest.UsageError`` naming ``source`` if none.

    >>> parse_engine("postgresql+psycopg://u:pw@127.0.0.1:5432/tests", "BATCHSTORE_TEST_URL").kind
    'postgresql'
    """
    text = value.strip()
    if text.lower() in _MEMORY:
        return Engine("memory", None, source)
    if "://" not in text:
        if text.lower() in ("sqlite", "sqlite3"):
            return Engine("sqlite", None, source)  # the documented way to choose SQLite
        try:
            check_not_an_engine_word(text, source)  # "postgres" is no SQLite file of that name
        except ConfigurationError as exc:
            raise pytest.UsageError(str(exc)) from None
        return Engine("sqlite", None, source)  # a path to a SQLite file
    scheme = text.split("://", 1)[0].lower().split("+", 1)[0]
    if scheme == "sqlite":
        return Engine("sqlite", None, source)
    if text.startswith(POSTGRES_SCHEMES):  # the schemes a store opens
        return Engine("postgresql", text, source)
    raise pytest.UsageError(
        f"{source}: {redact(text)!r} names no engine batchstore's fixtures know; use memory, sqlite "
        f"(or a SQLite path or sqlite:/// URL), or postgresql://user:password@host:port/database"
    )


def _chosen_engine(config: pytest.Config) -> Engine:
    option = config.getoption("batchstore_url")
    if option is not None:
        return parse_engine(option, "--batchstore-url")
    from_environment = environment_value(ENV_VAR)  # set but empty is unset, as everywhere in batchstore
    if from_environment is not None:
        return parse_engine(from_environment, f"the environment variable {ENV_VAR}")
    ini = config.getini("batchstore_url")
    if ini:
        return parse_engine(str(ini), "the ini option batchstore_url")
    return Engine("memory")


def with_search_path(url: str, schema: str) -> str:
    """The URL with libpq's ``options=-csearch_path=<schema>`` added to its query (kept options first).

    >>> with_search_path("postgresql://u@h/db?sslmode=disable", "bs_1")
    'postgresql://u@h/db?sslmode=disable&options=-csearch_path%3Dbs_1'
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = [value for key, value in query if key == "options"]
    query = [(key, value) for key, value in query if key != "options"]
    query.append(("options", " ".join([*options, f"-csearch_path={schema}"])))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


# --- pytest hooks -----------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("batchstore", "batchstore fixtures")
    group.addoption(
        "--batchstore-url", dest="batchstore_url", default=None, metavar="URL",
        help=f"engine of the batchstore fixtures: memory (default), sqlite, or postgresql://user:pw@host:port/db; "
             f"overrides ${ENV_VAR} and the ini option batchstore_url",
    )
    parser.addini("batchstore_url", "engine of the batchstore fixtures (see --batchstore-url)", default="")


def pytest_configure(config: pytest.Config) -> None:
    # Checked once, at start-up: a misspelt URL is one usage error, not an error in every test.
    config.stash[_ENGINE_KEY] = _chosen_engine(config)


def pytest_report_header(config: pytest.Config) -> str | None:
    engine = config.stash.get(_ENGINE_KEY, None)
    return None if engine is None or engine.source == "default" else engine.describe()


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture
def batchstore_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path | None]:
    """What the fixtures pass BatchStore as ``database`` in this test.

    None (in memory), a fresh SQLite file in ``tmp_path``, or the PostgreSQL URL whose ``search_path``
    is a schema made for this test (dropped, with everything in it, after the test).
    """
    engine = request.config.stash.get(_ENGINE_KEY, None) or _chosen_engine(request.config)
    if engine.kind == "memory":
        yield None
    elif engine.kind == "sqlite":
        yield tmp_path / "batchstore.db"
    else:
        assert engine.url is not None
        yield from _postgres_schema(engine)


def _postgres_schema(engine: Engine) -> Iterator[str]:
    assert engine.url is not None
    if not postgres_driver_installed():  # only PostgreSQL users install it
        pytest.fail(f"{engine.source} names PostgreSQL, which needs psycopg: pip install 'batchstore[postgres]'",
                    pytrace=False)
    try:
        with scratch_postgres_schema(engine.url) as schema:
            yield with_search_path(engine.url, schema)
    except StorageError as exc:  # reaching the server, or dropping the schema after the test
        pytest.fail(f"batchstore fixtures: {exc} (from {engine.source})", pytrace=False)


class BatchStoreFactory(Protocol):
    """The type of ``batchstore_factory``, for annotations: BatchStore's arguments, a new store."""

    def __call__(self, database: str | os.PathLike[str] | None = ..., **options: Any) -> BatchStore: ...


_UNSET: Final[Any] = object()


@pytest.fixture
def batchstore_factory(
    request: pytest.FixtureRequest, batchstore_database: str | Path | None
) -> Iterator[BatchStoreFactory]:
    """A callable taking BatchStore's arguments and returning a new store; each is closed after the test.

    ``database`` defaults to the test's database (see ``batchstore_database``): in memory, every store
    is a database of its own; on SQLite and PostgreSQL, the stores of one test share the test's database.
    On SQLite the files skip fsync (``synchronous="OFF"``) unless ``synchronous`` is given: a test's
    file need not survive a power cut, and tests run several times faster.
    """
    from ._store import BatchStore

    engine = request.config.stash.get(_ENGINE_KEY, None) or _chosen_engine(request.config)
    made: list[BatchStore] = []

    def factory(database: str | os.PathLike[str] | None = _UNSET, **options: Any) -> BatchStore:
        if database is _UNSET:
            database = batchstore_database
            if engine.kind == "sqlite":
                options.setdefault("synchronous", "OFF")
        store = BatchStore(database, **options)
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()  # closing twice is harmless: a test may have closed it


@pytest.fixture
def batchstore(batchstore_factory: BatchStoreFactory) -> BatchStore:
    """A fresh BatchStore for this test, on the chosen engine, closed after the test.

    Inside a test that asks for it, ``batchstore`` is the store, not the module: import names from the
    module (``from batchstore import BatchTaskState``) or import it under another name.
    """
    return batchstore_factory()


@pytest.fixture
def async_batchstore(
    request: pytest.FixtureRequest, batchstore_database: str | Path | None
) -> Iterator[AsyncBatchStore]:
    """A fresh AsyncBatchStore for this test, on the chosen engine, closed after the test.

    A plain fixture: it needs no event loop, so it serves ``asyncio.run`` in a test as well as an async
    test runner. On SQLite and PostgreSQL it shares the test's database with ``batchstore``.
    """
    from ._async import AsyncBatchStore, close_now, open_now

    engine = request.config.stash.get(_ENGINE_KEY, None) or _chosen_engine(request.config)
    # As batchstore_factory: SQLite files without fsync; elsewhere BatchStore's default.
    store = AsyncBatchStore(batchstore_database, synchronous="OFF" if engine.kind == "sqlite" else "NORMAL")
    # Opened before the test starts, as the other fixtures' stores are: the test sees the database made,
    # and an error opening it is an error of this fixture.
    open_now(store)
    yield store
    close_now(store)  # the test's loop is gone: wait for the worker thread to close it


class BatchStoreSeeder:
    """``batchstore_seed``: creates the sample tasks and returns their ids.

    ``batchstore_seed()`` creates the four samples once each (States New, Started, Succeeded, New; two of
    them internal tasks); ``batchstore_seed(10)`` creates ten tasks, going round the samples; keyword
    arguments replace fields in every task (``batchstore_seed(3, State="New", Name="ERPSync")``, wire or
    attribute names); ``store=`` seeds another store than the test's ``batchstore``. One transaction.
    ``batchstore_seed.samples`` gives fresh copies of the samples' fields.
    """

    def __init__(self, default_store: Callable[[], BatchStore]) -> None:
        self._default_store = default_store

    @property
    def samples(self) -> list[dict[str, Any]]:
        """Fresh copies of the four sample tasks (wire names as keys)."""
        return sample_tasks()

    def __call__(self, n: int | None = None, *, store: BatchStore | None = None, **fields: Any) -> list[int]:
        samples = sample_tasks()
        count = len(samples) if n is None else n
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise TypeError(f"batchstore_seed(n): n is how many tasks to create, a whole number >= 0, not {n!r}")
        from ._store import BatchStore

        target = self._default_store() if store is None else store
        if not isinstance(target, BatchStore):
            raise TypeError(
                f"batchstore_seed(store=...) seeds a BatchStore, not {type(target).__name__}; for an "
                f"AsyncBatchStore: await store.create_many(batchstore_seed.samples)"
            )
        # Keyed by wire name, so an override named either way (State, state) replaces the sample's value.
        overrides = {resolve(name, where="batchstore_seed field").wire: value for name, value in fields.items()}
        tasks = ({**samples[i % len(samples)], **overrides} for i in range(count))
        return target.create_many(tasks)


@pytest.fixture
def batchstore_seed(request: pytest.FixtureRequest) -> BatchStoreSeeder:
    """Creates the sample tasks in the test's ``batchstore`` (or ``store=``) and returns their ids.

    The samples are the bodies of SuperOffice's BatchTask pages, with the values batchstore would refuse
    (State All or InProgress, ProgressPercent 762) replaced by valid ones.
    """
    # The store is looked up when first needed: seeding another store does not open the default one.
    return BatchStoreSeeder(lambda: request.getfixturevalue("batchstore"))


# --- batchstore_server --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchStoreServer:
    """A running ``batchstore serve``: its base ``url`` (http://127.0.0.1:PORT) and the ``database`` it serves."""

    url: str
    database: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def batchstore_server(batchstore_database: str | Path | None, tmp_path: Path) -> Iterator[BatchStoreServer]:
    """``batchstore serve`` in a process of its own on 127.0.0.1 and a free port, for HTTP client tests.

    It serves the test's database (an in-memory engine gets a file in ``tmp_path``, since another
    process cannot share memory); stores from ``batchstore_factory()`` see what the server writes.
    Stopped after the test. Needs ``batchstore[server]``.
    """
    if importlib.util.find_spec("uvicorn") is None or importlib.util.find_spec("fastapi") is None:
        pytest.fail('batchstore_server needs the server extra: pip install "batchstore[server]"', pytrace=False)
    database = str(tmp_path / "batchstore-server.db" if batchstore_database is None else batchstore_database)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "batchstore", "serve", "--db", database, "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                error = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
                pytest.fail(f"batchstore_server: batchstore serve exited: {error}", pytrace=False)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"batchstore_server: no answer on 127.0.0.1:{port} within 30 s", pytrace=False)
                time.sleep(0.05)
        yield BatchStoreServer(f"http://127.0.0.1:{port}", database)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
