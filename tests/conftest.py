"""Shared fixtures: a database per test on each engine, stores on it, and a plain view of what is stored.

The ``engine`` fixture is parametrized over SQLite and PostgreSQL (as huey runs one storage test class on
every backend): ``db`` is the test's own empty database (a SQLite file, or a fresh schema on the server named
by BATCHSTORE_TEST_POSTGRES_URL, dropped afterwards), and ``store`` a BatchStore on it. Without that variable
the PostgreSQL runs skip, unless BATCHSTORE_REQUIRE_ALL is set (CI), where they fail. A test about SQLite
itself (its files, pragmas, sqlite3 hooks) is marked ``sqlite_only`` and runs once.

Every check of "what was written" reads the database with plain ``sqlite3`` or plain ``psycopg``, never
through batchstore: :func:`snapshot` dumps every table (and, on PostgreSQL, every id sequence), and
``refuses`` asserts that a call raised the expected error, that the message names the field or operation,
and that the dump did not change.

Two tiers (docs/contributing.md). ``pytest`` alone runs the fast tier: every behaviour once, on SQLite,
Hypothesis at a small example count, the CLI's verbs in-process through click's runner. With
``BATCHSTORE_TESTS=full`` (CI: ``.ci/run``) it runs the full tier: every store-level suite on SQLite and
PostgreSQL, fuzzing at full strength, the CLI as real processes, and the tests marked ``full``.
"""

from __future__ import annotations

import contextlib
import copy
import signal
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase
from server_process import postgres_schema, require_postgres

from batchstore import BatchStore
from batchstore._environment import environment_value

# Imported here, once: pytester's in-process runs (tests/plugin/test_pytest_plugin.py) drop from sys.modules what they
# import, and a driver imported a second time is a second set of classes (its errors no longer match).
for _module in ("psycopg", "psycopg_pool", "batchstore._engines.postgres", "batchstore._migrations"):
    with contextlib.suppress(ImportError):
        __import__(_module)

# pytester runs pytest inside pytest: tests/plugin/test_pytest_plugin.py tests batchstore's plugin with it.
pytest_plugins = ["pytester"]

#: The environment variable that picks the tier: ``full`` runs the full tier, anything else (or nothing) the fast.
TIER_VARIABLE = "BATCHSTORE_TESTS"
_tier = environment_value(TIER_VARIABLE)
if _tier not in (None, "fast", "full"):
    raise pytest.UsageError(f"{TIER_VARIABLE}={_tier!r}: the tiers are 'fast' (the default) and 'full'")
#: True in the full tier (CI), False in the fast one (a plain ``pytest``).
FULL = _tier == "full"


def examples(full: int) -> int:
    """A Hypothesis test's example count: ``full`` in the full tier, a tenth of it (at least 10) in the fast.

    The fast tier still runs every property, with enough examples to hit the common shapes; the full tier's
    counts find the rare ones.
    """
    return full if FULL else max(10, full // 10)


#: Where Hypothesis keeps the examples that failed, so the next run (CI caches the folder) tries them first.
HYPOTHESIS_EXAMPLES = Path(__file__).resolve().parent.parent / ".hypothesis" / "examples"
# Also in CI, where Hypothesis's own "ci" profile (loaded when CI is set) would drop the database and
# derandomize: a flaky fuzz failure is kept, and its blob printed, so the CI log can replay it
# (@reproduce_failure) on any machine. A test that sets no max_examples of its own takes the tier's count.
settings.register_profile(
    "batchstore", parent=settings.default, database=DirectoryBasedExampleDatabase(HYPOTHESIS_EXAMPLES),
    derandomize=False, print_blob=True, max_examples=examples(100),
)
settings.load_profile("batchstore")

#: The 24 keys of the wire form, in the order of the seed pages (SuperOffice's BatchTaskInfo).
WIRE_ORDER = (
    "Id", "Name", "AssociateId", "DetailsTable", "DetailsRecord", "IsSystemTask", "IsInternalTask",
    "ParameterObject", "LastStarted", "Created", "StartCount", "DatabaseSerialNumber", "Context", "Result",
    "State", "Description", "Response", "Request", "ProgressDescription", "ProgressPercent", "FileName",
    "CancellationBehaviour", "TableRight", "FieldProperties",
)  # fmt: skip

#: Sample request body of POST /api/v1/BatchTask (seed 001): State "All" and ProgressPercent 762 are invalid.
SEED_CREATE_001: dict[str, Any] = {
    "Id": 254,
    "Name": "Lubowitz, Balistreri and Hermann",
    "AssociateId": 602,
    "DetailsTable": 239,
    "DetailsRecord": 63,
    "IsSystemTask": True,
    "IsInternalTask": False,
    "ParameterObject": {"ParameterObject1": "iusto", "ParameterObject2": "dolorem"},
    "LastStarted": "2018-06-01T14:34:02.7132229+02:00",
    "Created": "2014-07-15T14:34:02.7132229+02:00",
    "StartCount": 475,
    "DatabaseSerialNumber": "706323",
    "Context": "quia",
    "Result": "ratione",
    "State": "All",
    "Description": "Mandatory asynchronous capacity",
    "Response": "vero",
    "Request": "aperiam",
    "ProgressDescription": "Quality-focused encompassing synergy",
    "ProgressPercent": 762,
    "FileName": "Hodkiewicz, Green and Klein",
    "CancellationBehaviour": "CanCancel",
}

#: Sample response of UpdateBatchTask (seed 000): State "InProgress" is no BatchTaskState.
SEED_UPDATE_000: dict[str, Any] = {
    "Id": 226,
    "Name": "ERPSync",
    "AssociateId": 820,
    "DetailsTable": 220,
    "DetailsRecord": 751,
    "IsSystemTask": False,
    "IsInternalTask": True,
    "ParameterObject": {"ParameterObject1": "source=SAP", "ParameterObject2": "syncType=incremental"},
    "LastStarted": "2024-11-27T14:00:00+01:00",
    "Created": "2024-11-27T14:00:00+01:00",
    "StartCount": 1,
    "DatabaseSerialNumber": "374817",
    "Context": "ERP Integration",
    "Result": "In Progress",
    "State": "InProgress",
    "Description": "Synchronize customer and order data from SAP ERP system",
    "Response": "Syncing data from ERP",
    "Request": "Sync updated customer records from SAP",
    "ProgressDescription": "Synchronizing records: 450 of 650 processed",
    "ProgressPercent": 69,
    "FileName": "erp_sync_2024-11-27.log",
    "CancellationBehaviour": "CanCancel",
    "TableRight": None,
    "FieldProperties": {"fieldName": {"FieldRight": None, "FieldType": "System.Int32", "FieldLength": 323}},
}

#: Sample response of GetBatchTaskInfo (seed 002): a valid task.
SEED_GET_002: dict[str, Any] = {
    "Id": 547,
    "Name": "ContactExport",
    "AssociateId": 426,
    "DetailsTable": 202,
    "DetailsRecord": 91,
    "IsSystemTask": False,
    "IsInternalTask": False,
    "ParameterObject": {"ParameterObject1": "format=xlsx", "ParameterObject2": "includePersons=true"},
    "LastStarted": "2024-11-27T09:15:00+01:00",
    "Created": "2024-11-27T09:00:00+01:00",
    "StartCount": 1,
    "DatabaseSerialNumber": "459952",
    "Context": "User Export Request",
    "Result": "Success",
    "State": "Succeeded",
    "Description": "Export contact list to Excel with related person records",
    "Response": "Successfully exported 1,245 contacts",
    "Request": "Export all active contacts from North region",
    "ProgressDescription": "Export completed - file ready for download",
    "ProgressPercent": 100,
    "FileName": "ContactExport_2024-11-27.xlsx",
    "CancellationBehaviour": "CanCancel",
    "TableRight": None,
    "FieldProperties": {"fieldName": {"FieldRight": None, "FieldType": "System.Int32", "FieldLength": 300}},
}

#: One element of the sample response of GET /api/v1/BatchTask/{state} (seed 003): State "All", 416 percent.
SEED_LIST_003: dict[str, Any] = {
    "Id": 878,
    "Name": "Grimes-Jacobi",
    "AssociateId": 53,
    "DetailsTable": 574,
    "DetailsRecord": 546,
    "IsSystemTask": False,
    "IsInternalTask": True,
    "ParameterObject": {"ParameterObject1": "quia", "ParameterObject2": "et"},
    "LastStarted": "2020-01-22T17:54:08.6793184+01:00",
    "Created": "2016-10-29T17:54:08.6793184+02:00",
    "StartCount": 859,
    "DatabaseSerialNumber": "146286",
    "Context": "sapiente",
    "Result": "sint",
    "State": "All",
    "Description": "Multi-tiered clear-thinking service-desk",
    "Response": "a",
    "Request": "rerum",
    "ProgressDescription": "Distributed context-sensitive implementation",
    "ProgressPercent": 416,
    "FileName": "Mayert, Roob and Corkery",
    "CancellationBehaviour": "CanCancel",
    "TableRight": None,
    "FieldProperties": {"fieldName": {"FieldRight": None, "FieldType": "System.Int32", "FieldLength": 57}},
}

SEEDS = {"001": SEED_CREATE_001, "000": SEED_UPDATE_000, "002": SEED_GET_002, "003": SEED_LIST_003}


POSTGRES_URL_VARIABLE = "BATCHSTORE_TEST_POSTGRES_URL"
#: The engines every store-level test runs on: both in the full tier, SQLite alone in the fast one.
ENGINES: tuple[str, ...] = ("sqlite", "postgresql") if FULL else ("sqlite",)
#: Every table batchstore writes; on PostgreSQL a snapshot also reads each table's id sequence.
TABLES = ("batchtask", "binaryobject", "batchtaskchange", "batchstore_version")


def is_postgres(target: Path | str) -> bool:
    return str(target).startswith(("postgresql://", "postgresql+psycopg://", "postgres://"))


def _pg_sql(sql: str) -> str:
    # The tests write engine-neutral SQL with ``?`` placeholders, as batchstore/_queries.py does.
    return sql.replace("%", "%%").replace("?", "%s")


def _pg_connect(target: Path | str) -> Any:
    import psycopg

    return psycopg.connect(str(target), autocommit=True)


def snapshot(target: Path | str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read with plain sqlite3 or plain psycopg (never through batchstore).

    On SQLite: every table (sqlite_sequence included) and ``PRAGMA user_version``. On PostgreSQL: every row
    of batchstore's tables in the store's schema and the ``last_value`` of each id sequence, so a refused
    call that consumed an id shows too. Two snapshots compare equal when nothing was written in between.
    """
    if is_postgres(target):
        with _pg_connect(target) as conn:
            schema = conn.execute("SELECT current_schema()").fetchone()[0]
            present = {name for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))}
            pg_dump = {name: sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr)
                       for name in TABLES if name in present}
            pg_dump["sequences"] = conn.execute(
                "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = %s ORDER BY sequencename",
                (schema,)).fetchall()
            return pg_dump
    conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    try:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        dump = {name: sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr) for name in tables}
        dump["PRAGMA user_version"] = conn.execute("PRAGMA user_version").fetchall()
        return dump
    finally:
        conn.close()


def rows(target: Path | str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The rows of one query (``?`` placeholders) on the database, read with plain sqlite3 or psycopg."""
    if is_postgres(target):
        with _pg_connect(target) as conn:
            return list(conn.execute(_pg_sql(sql), params).fetchall())
    conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def execute(target: Path | str, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Write behind batchstore's back (to damage a row, say), with plain sqlite3 or psycopg."""
    if is_postgres(target):
        with _pg_connect(target) as conn:
            conn.execute(_pg_sql(sql), params)
        return
    conn = sqlite3.connect(target)
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()


@dataclass
class Database:
    """One test's own empty database on one engine: a SQLite file, or a fresh schema on a PostgreSQL server.

    ``target`` is what ``BatchStore(...)`` takes (a ``Path`` or a ``postgresql://`` URL whose ``options``
    put the test's schema first on the search path); ``url`` is the same as a string.
    """

    engine: str
    target: Path | str

    @property
    def url(self) -> str:
        return str(self.target)

    @property
    def is_postgres(self) -> bool:
        return self.engine == "postgresql"

    def open(self, **options: Any) -> BatchStore:
        """A store on this database; on SQLite without fsyncs unless ``synchronous`` is given."""
        if not self.is_postgres:
            options.setdefault("synchronous", "OFF")
        return BatchStore(self.url, **options)

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        return snapshot(self.target)

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return rows(self.target, sql, params)

    def execute(self, sql: str, *params: Any) -> None:
        execute(self.target, sql, params)

    def tables(self) -> set[str]:
        """The names of the tables in the database (its schema, on PostgreSQL); none when it does not exist."""
        if self.is_postgres:
            return {name for (name,) in self.rows(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}
        if not Path(self.target).exists():
            return set()
        return {name for (name,) in self.rows("SELECT name FROM sqlite_master WHERE type = 'table'")}


# --- fixtures -----------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist's workers ignore SIGINT, and a child process inherits an ignored signal: the tests that
    # press Ctrl-C on a CLI or server process would send it to a process that cannot hear it. A handler of
    # our own is reset to the default in a child, so the child hears Ctrl-C as a terminal's would.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    config.addinivalue_line(
        "markers", "sqlite_only(reason): the test is about SQLite itself (files, pragmas, sqlite3 hooks); "
        "it runs on the sqlite engine only")
    config.addinivalue_line(
        "markers", "postgresql: the test needs the PostgreSQL server (BATCHSTORE_TEST_POSTGRES_URL); full tier only")
    config.addinivalue_line(
        "markers", "full(reason): slow or process-heavy (SIGKILLs, terminals, signals, 10,000-task loads); "
        "full tier only")


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """A set's id in sorted order: pytest-xdist's workers (each its own hash seed) must collect the same names."""
    if isinstance(val, set | frozenset):
        return "{" + ", ".join(sorted(map(repr, val))) + "}"
    return None


def needs_postgres(item: pytest.Item) -> bool:
    """Whether a test runs on PostgreSQL: marked ``postgresql``, or given "postgresql" as its ``engine``
    parameter or as the parameter of a fixture parametrized by engine (a server's, say).

    A parameter of another name that happens to say "postgresql" (a SQL dialect to print) needs no server.
    """
    if item.get_closest_marker("postgresql") is not None:
        return True
    callspec = getattr(item, "callspec", None)
    for name, value in (callspec.params.items() if callspec is not None else ()):
        if value != "postgresql":
            continue
        if name == "engine":
            return True
        definitions = item._fixtureinfo.name2fixturedefs.get(name, ())  # type: ignore[attr-defined]
        if definitions and definitions[-1].params is not None:  # a fixture of its own, not a parametrize name
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The fast tier leaves out (deselects, so no SKIPPED line each) what only the full tier runs."""
    if FULL:
        return
    kept, left_out = [], []
    for item in items:
        (left_out if item.get_closest_marker("full") is not None or needs_postgres(item) else kept).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


def pytest_report_header(config: pytest.Config) -> str:
    if FULL:
        postgres = environment_value(POSTGRES_URL_VARIABLE)
        return f"batchstore tests: full tier (SQLite and PostgreSQL: {'set' if postgres else 'NOT SET'})"
    return f"batchstore tests: fast tier (SQLite; {TIER_VARIABLE}=full runs the full tier)"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """A skip is reported where it was decided (the helper that found a prerequisite missing), not per test.

    pytest 8 reports a skip raised in a fixture at the test's own line, so ``-ra`` printed one SKIPPED line
    per test (189 without PostgreSQL). Reported at the line that raised it, skips for one reason fold into
    one line again: ``SKIPPED [n] tests/server_process.py:78: needs /usr/bin/chromium ...``.
    """
    report: pytest.TestReport = yield
    excinfo = call.excinfo
    if (report.skipped and excinfo is not None and isinstance(report.longrepr, tuple)
            and excinfo.errisinstance(pytest.skip.Exception)):
        crash = excinfo._getreprcrash()  # the last frame outside pytest's own: where pytest.skip() was called
        # A skip mark is raised by pytest itself: it keeps the test's line.
        if crash is not None and Path(pytest.__file__).parent.parent / "_pytest" not in Path(crash.path).parents:
            report.longrepr = (crash.path, crash.lineno, report.longrepr[2])
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """In a full-tier run without a PostgreSQL server, its tests skip here, before any fixture opens a database.

    ``require_postgres`` skips them all from one line for one reason (so ``-ra`` prints one line for the
    hundreds of them); with BATCHSTORE_REQUIRE_ALL set (CI) it fails them instead.
    """
    if needs_postgres(item):
        require_postgres()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that asks (directly or through ``db``/``store``) for ``engine`` runs once per engine.

    A test that parametrizes a name ``engine`` itself (the plugin's tests do: its engines) keeps its own.
    """
    own = {name.strip() for mark in metafunc.definition.iter_markers("parametrize")
           for name in (mark.args[0].split(",") if isinstance(mark.args[0], str) else mark.args[0])}
    if "engine" in metafunc.fixturenames and "engine" not in own:
        only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("engine", ("sqlite",) if only_sqlite else ENGINES, scope="function")


@pytest.fixture
def db(engine: str, tmp_path: Path) -> Iterator[Database]:
    """The test's own empty database, on each engine in turn."""
    if engine == "sqlite":
        yield Database("sqlite", tmp_path / "tasks.db")
        return
    with postgres_schema() as url:
        yield Database("postgresql", url)


@pytest.fixture
def db_path(db: Database) -> Path:
    """The SQLite file of a ``sqlite_only`` test."""
    assert isinstance(db.target, Path), "a test that needs the SQLite file must be marked sqlite_only"
    return db.target


@pytest.fixture
def store(db: Database) -> Iterator[BatchStore]:
    """A BatchStore on the test's database, closed after the test.

    On SQLite ``synchronous="OFF"`` skips the fsyncs (a test's file need not survive a power cut), which
    makes a test ten times faster; tests that open their own store use the default, NORMAL.
    """
    with db.open() as opened:
        yield opened


@pytest.fixture
def memory_store() -> Iterator[BatchStore]:
    """A BatchStore on a private in-memory database."""
    with BatchStore() as opened:
        yield opened


@pytest.fixture
def seed() -> Callable[[str], dict[str, Any]]:
    """A fresh deep copy of a seed page's sample body, by page number ("000".."003")."""
    return lambda number: copy.deepcopy(SEEDS[number])


@pytest.fixture
def wire_order() -> tuple[str, ...]:
    return WIRE_ORDER


@pytest.fixture
def dump() -> Callable[[Path | str], dict[str, list[tuple[Any, ...]]]]:
    """:func:`snapshot`, for tests that compare dumps themselves."""
    return snapshot


@pytest.fixture
def query(db: Database) -> Callable[..., list[tuple[Any, ...]]]:
    """Run one SQL query (``?`` placeholders) on the test's database with plain sqlite3 or psycopg."""
    return db.rows


Refuses = Callable[..., AbstractContextManager[pytest.ExceptionInfo[BaseException]]]


@pytest.fixture
def refuses(db: Database) -> Refuses:
    """``with refuses(ErrorClass, "Field", ...):`` -- the block raises ErrorClass (exactly that class or a
    subclass), its message names every given word, and the database is unchanged (every row, every sequence).
    """

    @contextmanager
    def check(
        error: type[BaseException], *names: str, path: Path | str = db.target
    ) -> Iterator[pytest.ExceptionInfo[BaseException]]:
        before = snapshot(path)
        with pytest.raises(error) as info:
            yield info
        message = str(info.value)
        for name in names:
            assert name in message, f"{name!r} not named in {message!r}"
        assert snapshot(path) == before, "a refused call wrote to the database"

    return check


@pytest.fixture
def sql_trace(store: BatchStore, engine: str) -> Iterator[list[str]]:
    """The SQL statements the ``store`` fixture runs from now on, with their parameters filled in.

    Observes the store's own connection through sqlite3's trace hook; it changes nothing it runs.
    """
    assert engine == "sqlite", "sql_trace uses sqlite3's trace hook: mark the test sqlite_only"
    statements: list[str] = []
    conn = store._engine._conn  # type: ignore[attr-defined]  # the one connection (batchstore/_engines/sqlite.py)
    assert isinstance(conn, sqlite3.Connection)
    conn.set_trace_callback(statements.append)
    yield statements
    if store._engine._conn is conn:  # type: ignore[attr-defined]
        conn.set_trace_callback(None)


# --- HTTP server processes (tests/server_process.py) ----------------------------------------------


@contextmanager
def server_database(engine: str, folder: Path) -> Iterator[Path | str]:
    """What a server process is started on: a SQLite file in ``folder``, or a fresh PostgreSQL schema's URL."""
    if engine == "sqlite":
        yield folder / "tasks.db"
        return
    with postgres_schema("server") as url:
        yield url


@pytest.fixture(scope="session", params=ENGINES)
def live_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real server process (no token) per engine, shared by the session's HTTP tests."""
    from server_process import running_server

    with server_database(request.param, tmp_path_factory.mktemp("server")) as target, running_server(target) as server:
        yield server


@pytest.fixture(scope="session", params=ENGINES)
def token_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real server process per engine that needs the token ``s3cret-token`` on every route."""
    from server_process import running_server

    with server_database(request.param, tmp_path_factory.mktemp("token-server")) as target, running_server(
        target, token="s3cret-token"
    ) as server:
        yield server


@pytest.fixture
def dashboard_server(tmp_path: Path) -> Iterator[Any]:
    """A server process of its own on a fresh SQLite file (no token): the dashboard tests count tasks."""
    from server_process import running_server

    db = tmp_path / "tasks.db"
    BatchStore(db).close()  # the schema exists before this process and the server open the file
    with running_server(db) as server:
        yield server


@pytest.fixture
def dashboard_token_server(tmp_path: Path) -> Iterator[Any]:
    """Like ``dashboard_server``, needing the token ``s3cret-token``."""
    from server_process import running_server

    db = tmp_path / "tasks.db"
    BatchStore(db).close()
    with running_server(db, token="s3cret-token") as server:
        yield server


def prerequisite(available: bool, what: str) -> None:
    """Skip the calling test when ``what`` is missing, or fail it when CI demands every prerequisite.

    CI sets ``BATCHSTORE_REQUIRE_ALL=1``: there a missing browser or package is a broken set-up, not a
    reason to test less.
    """
    if available:
        return
    if environment_value("BATCHSTORE_REQUIRE_ALL") is not None:
        pytest.fail(f"{what} is required (BATCHSTORE_REQUIRE_ALL is set)")
    pytest.skip(f"{what} is not available")
