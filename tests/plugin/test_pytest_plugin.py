"""batchstore's pytest plugin, tested as users meet it: pytest runs (through pytester) a test file that
uses the fixtures with no conftest, and the outcome is checked.
"""

from __future__ import annotations

import importlib.util
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from batchstore import BatchStore, StorageError, pytest_plugin
from batchstore._environment import environment_value
from batchstore._samples import SAMPLE_TASKS, sample_tasks
from batchstore.pytest_plugin import ENV_VAR
from tests.conftest import SEED_CREATE_001, SEED_GET_002, SEED_LIST_003, SEED_UPDATE_000, prerequisite

# The inner pytest runs as strictly as the outer one. Hypothesis's plugin is left out: pytester drops the
# modules an inner run imports, and hypothesis's end-of-run summary re-imports (and re-rewrites) ~150 of them.
# schemathesis and xdist are left out too: unused inside, they cost each inner run about a second of imports.
STRICT = (
    "-W", "error", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:schemathesis", "-p", "no:xdist",
    "--import-mode=importlib",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _no_engine_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    # CI may run this suite with an engine chosen for the outer fixtures; the inner runs choose their own.
    monkeypatch.delenv(ENV_VAR, raising=False)


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=textwrap.dedent(source))
    assert not list(pytester.path.rglob("conftest.py"))
    return pytester.runpytest(*STRICT, *args)


# --- the fixtures, with no conftest ------------------------------------------------------------------


def test_the_fixtures_work_without_a_conftest(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        from batchstore import BatchStore, BatchTaskState

        def test_store(batchstore):
            assert isinstance(batchstore, BatchStore) and not batchstore.closed
            task_id = batchstore.create({"Name": "ERPSync"})
            assert batchstore.get(task_id).state is BatchTaskState.New

        def test_factory(batchstore_factory):
            store = batchstore_factory(writable=["State", "Context"])
            assert store.writable == ("Context", "State")

        def test_seed(batchstore, batchstore_seed):
            assert batchstore_seed() == [1, 2, 3, 4]
            assert len(list(batchstore.list())) == 4
    """)
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize("engine", ["memory", "sqlite"])
def test_every_test_gets_a_fresh_store(pytester: pytest.Pytester, engine: str) -> None:
    result = run(pytester, f"""
        from pathlib import Path
        import pytest

        PATHS = []

        @pytest.mark.parametrize("n", range(3))
        def test_alone(batchstore, tmp_path, n):
            assert list(batchstore.list()) == []
            assert batchstore.create({{"Name": f"task {{n}}"}}) == 1
            PATHS.append(batchstore._engine.path)
            if {engine!r} == "sqlite":
                assert Path(batchstore._engine.path).parent == tmp_path and Path(batchstore._engine.path).exists()
            else:
                assert batchstore._engine.path == ":memory:"

        def test_paths():
            assert len(PATHS) == 3
            if {engine!r} == "sqlite":
                assert len(set(PATHS)) == 3
    """, "--batchstore-url", engine)
    result.assert_outcomes(passed=4)


def test_factory_stores_are_closed_at_teardown_even_when_the_test_fails(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        MADE = []

        def test_make(batchstore, batchstore_factory, tmp_path):
            shared = batchstore_factory()               # the test's database: same file as `batchstore`
            task_id = batchstore.create({"Name": "seen by both"})
            assert shared.get(task_id).name == "seen by both"
            other = batchstore_factory(tmp_path / "other.db", lease_seconds=5)
            assert list(other.list()) == []
            closed_early = batchstore_factory()
            closed_early.close()                        # closing again at teardown is harmless
            MADE.extend([batchstore, shared, other, closed_early])
            assert not any(s.closed for s in MADE[:3])

        def test_make_then_fail(batchstore_factory):
            MADE.append(batchstore_factory())
            assert False, "this test fails on purpose"

        def test_all_closed():
            assert len(MADE) == 5
            assert all(store.closed for store in MADE)
    """, "--batchstore-url", "sqlite")
    result.assert_outcomes(passed=2, failed=1)


@pytest.mark.parametrize("engine", ["memory", "sqlite"])
def test_async_batchstore_needs_no_event_loop_and_is_closed_after_the_test(
    pytester: pytest.Pytester, engine: str
) -> None:
    result = run(pytester, f"""
        import asyncio
        from batchstore import AsyncBatchStore

        MADE = []

        def test_async(async_batchstore, batchstore, batchstore_seed):
            assert isinstance(async_batchstore, AsyncBatchStore)
            MADE.append(async_batchstore)
            ids = batchstore_seed()

            async def main():
                await async_batchstore.create({{"Name": "async"}})
                return [t.name async for t in async_batchstore.list()]

            names = asyncio.run(main())
            if {engine!r} == "sqlite":  # one database for both fixtures
                assert len(names) == len(ids) + 1 and names[-1] == "async"
            else:
                assert names == ["async"]

        def test_closed():
            assert MADE and MADE[0].closed and MADE[0]._store().closed
    """, "--batchstore-url", engine)
    result.assert_outcomes(passed=2)


def test_the_module_named_batchstore_stays_importable(pytester: pytest.Pytester) -> None:
    # In a test that asks for the fixture, the name is the store; elsewhere in the file, the module.
    result = run(pytester, """
        import batchstore

        def test_module():
            assert batchstore.BatchTaskState.New.name == "New"

        def test_fixture(batchstore):
            assert batchstore.create({"Name": "x"}) == 1
    """)
    result.assert_outcomes(passed=2)


def test_the_plugin_turns_off_and_on_by_name(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    source = "def test_store(batchstore):\n    assert batchstore.create({'Name': 'x'}) == 1\n"
    run(pytester, source, "-p", "no:batchstore").assert_outcomes(errors=1)  # fixture 'batchstore' not found
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    run(pytester, source, "-p", "batchstore.pytest_plugin").assert_outcomes(passed=1)


# --- choosing the engine -------------------------------------------------------------------------------

ENGINE_PROBE = """
    from pathlib import Path

    def test_engine(batchstore, tmp_path):
        on_file = batchstore._engine.path != ":memory:"
        assert on_file is {on_file}
        if on_file:
            assert Path(batchstore._engine.path).parent == tmp_path
"""


@pytest.mark.parametrize(
    ("option", "env", "ini", "on_file", "source"),
    [
        (None, None, None, False, None),
        ("sqlite:///ignored.db", None, None, True, "--batchstore-url"),
        (None, "sqlite", None, True, f"the environment variable {ENV_VAR}"),
        (None, None, "sqlite", True, "the ini option batchstore_url"),
        (None, "tests.db", "memory", True, f"the environment variable {ENV_VAR}"),  # env over ini
        ("memory", "sqlite", "sqlite", False, "--batchstore-url"),  # the option over both
    ],
)
def test_the_option_the_environment_and_the_ini_choose_the_engine(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
    option: str | None, env: str | None, ini: str | None, on_file: bool, source: str | None,
) -> None:
    if env is not None:
        monkeypatch.setenv(ENV_VAR, env)
    if ini is not None:
        pytester.makeini(f"[pytest]\nbatchstore_url = {ini}\n")
    args = ("--batchstore-url", option) if option is not None else ()
    result = run(pytester, ENGINE_PROBE.format(on_file=on_file), *args)
    result.assert_outcomes(passed=1)
    header = [line for line in result.outlines if line.startswith("batchstore fixtures:")]
    if source is None:
        assert header == []  # the default engine adds no line to every pytest run
    else:
        where = "SQLite, a fresh file per test in tmp_path" if on_file else "in memory, a private database per store"
        assert header == [f"batchstore fixtures: {where} (from {source})"]


@pytest.mark.parametrize("via", ["option", "env"])
def test_an_unknown_engine_is_one_usage_error_without_the_password(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    url = "mysql://tester:s3cret@127.0.0.1/tests"
    args: tuple[str, ...] = ("--batchstore-url", url) if via == "option" else ()
    if via == "env":
        monkeypatch.setenv(ENV_VAR, url)
    result = run(pytester, "def test_nothing():\n    pass\n", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = "\n".join(result.errlines)
    assert "names no engine" in errors and ("--batchstore-url" if via == "option" else ENV_VAR) in errors
    assert "postgresql://" in errors  # says what would work
    assert "s3cret" not in errors + "\n".join(result.outlines)


def test_an_unreachable_postgresql_fails_the_tests_that_use_it_clearly(pytester: pytest.Pytester) -> None:
    url = "postgresql://tester:s3cret@127.0.0.1:1/tests"  # port 1: nothing listens there
    result = run(pytester, """
        def test_uses_the_store(batchstore):
            pass

        def test_does_not():
            pass
    """, "--batchstore-url", url)
    result.assert_outcomes(passed=1, errors=1)
    output = "\n".join(result.outlines + result.errlines)
    if importlib.util.find_spec("psycopg") is None:
        result.stdout.fnmatch_lines(["*--batchstore-url names PostgreSQL, which needs psycopg: pip install*"])
    else:
        result.stdout.fnmatch_lines(["*cannot reach PostgreSQL at postgresql://tester:***@127.0.0.1:1/tests*"])
    assert "s3cret" not in output


# --- seeding ------------------------------------------------------------------------------------------


def test_batchstore_seed(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        import pytest
        from batchstore import BatchTaskState

        def test_the_four_samples(batchstore, batchstore_seed):
            ids = batchstore_seed()
            tasks = [batchstore.get(i) for i in ids]
            assert [t.state.name for t in tasks] == ["New", "Started", "Succeeded", "New"]
            assert [t.name for t in tasks] == [s["Name"] for s in batchstore_seed.samples]
            assert tasks[1].parameter_object == {"ParameterObject1": "source=SAP",
                                                 "ParameterObject2": "syncType=incremental"}
            assert [len(batchstore.history(i)) for i in ids] == [1, 0, 1, 0]  # two internal tasks

        def test_n_and_fields(batchstore, batchstore_seed):
            ids = batchstore_seed(10, State="New", associate_id=7)
            assert ids == list(range(1, 11))
            assert [t.id for t in batchstore.list_by_associates_and_state([7], "New")] == ids
            assert len(list(batchstore.list_by_name("ERPSync"))) == 3  # the samples, taken in turn
            assert batchstore_seed(0) == []

        def test_another_store(batchstore_factory, batchstore_seed, tmp_path):
            other = batchstore_factory(tmp_path / "other.db")
            assert batchstore_seed(2, store=other) == [1, 2]
            assert len(list(other.list())) == 2

        def test_samples_are_copies(batchstore_seed):
            batchstore_seed.samples[0]["Name"] = "changed"
            assert batchstore_seed.samples[0]["Name"] != "changed"

        def test_refusals(batchstore, batchstore_seed):
            with pytest.raises(TypeError, match="n is how many"):
                batchstore_seed(-1)
            from batchstore import InvalidTaskError
            with pytest.raises(InvalidTaskError, match="ProgressPercent"):
                batchstore_seed(ProgressPercent=762)
            assert list(batchstore.list()) == []  # all or none

        def test_an_async_store_is_refused_with_a_hint(async_batchstore, batchstore_seed):
            with pytest.raises(TypeError, match="await store.create_many"):
                batchstore_seed(store=async_batchstore)
    """)
    result.assert_outcomes(passed=6)


def test_the_samples_are_the_seed_pages_with_only_the_invalid_values_replaced() -> None:
    replaced = {"State", "ProgressPercent"}
    carriers = {"TableRight", "FieldProperties"}  # computed by every store
    for sample, page in zip(SAMPLE_TASKS, [SEED_CREATE_001, SEED_UPDATE_000, SEED_GET_002, SEED_LIST_003], strict=True):
        kept = {k: v for k, v in page.items() if k not in replaced | carriers}
        assert {k: v for k, v in sample.items() if k not in replaced} == kept
        for key in replaced & set(page):
            if key in sample:
                assert sample[key] == page[key] or page[key] in ("InProgress",), key
    assert [s.get("State") for s in SAMPLE_TASKS] == [None, "Started", "Succeeded", None]
    assert sample_tasks() == [dict(s) for s in SAMPLE_TASKS]
    assert sample_tasks()[0] is not sample_tasks()[0]


# --- PostgreSQL: a schema per test -------------------------------------------------------------------


def postgres_url() -> str:
    """The test server's URL (CI's .ci/postgres.sh exports it), with psycopg installed; else skip or fail."""
    url = environment_value("BATCHSTORE_TEST_POSTGRES_URL")  # set but empty is unset, as in server_process.py
    prerequisite(url is not None, "PostgreSQL (BATCHSTORE_TEST_POSTGRES_URL)")
    prerequisite(importlib.util.find_spec("psycopg") is not None, "psycopg")
    assert url is not None
    return url


def left_over(url: str, schemas: list[str]) -> list[Any]:
    psycopg: Any = importlib.import_module("psycopg")
    with psycopg.connect(url) as conn:
        return list(conn.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", (schemas,)).fetchall())


@pytest.mark.postgresql
def test_postgresql_gives_each_test_a_schema_of_its_own_and_drops_it(pytester: pytest.Pytester) -> None:
    url = postgres_url()
    result = run(pytester, """
        import psycopg
        import pytest
        from urllib.parse import parse_qs, urlsplit

        SCHEMAS = []

        @pytest.mark.parametrize("n", range(2))
        def test_alone(batchstore_database, n):
            options = parse_qs(urlsplit(batchstore_database).query)["options"][-1]
            assert options.startswith("-csearch_path=bs_")
            schema = options.split("=", 1)[1]
            SCHEMAS.append(schema)
            # libpq reads the URL as the store will: its tables go to the test's schema.
            with psycopg.connect(batchstore_database) as conn:
                assert conn.execute("SELECT current_schema()").fetchone() == (schema,)
                conn.execute("CREATE TABLE batchtask (id integer)")

        def test_schemas():
            assert len(set(SCHEMAS)) == 2
            with open("schemas.txt", "w") as out:
                out.write("\\n".join(SCHEMAS))
    """, "--batchstore-url", url)
    result.assert_outcomes(passed=3)
    assert result.outlines and any("PostgreSQL at" in line and "***@" in line for line in result.outlines)
    schemas = (pytester.path / "schemas.txt").read_text().split()
    assert len(schemas) == 2 and left_over(url, schemas) == [], "the per-test schemas were not dropped"


@pytest.mark.postgresql
def test_postgresql_stores_are_fresh_per_test(pytester: pytest.Pytester) -> None:
    url = postgres_url()
    try:
        BatchStore(url).close()
        engine = True
    except StorageError as exc:
        engine = "not supported" not in str(exc)
    prerequisite(engine, "batchstore's PostgreSQL engine")
    result = run(pytester, """
        import pytest

        @pytest.mark.parametrize("n", range(2))
        def test_alone(batchstore, batchstore_factory, batchstore_seed, n):
            assert list(batchstore.list()) == []
            assert batchstore_seed() == [1, 2, 3, 4]
            assert len(list(batchstore_factory().list())) == 4  # the factory's stores share the schema

        def test_async(async_batchstore, batchstore_seed):
            import asyncio

            ids = batchstore_seed()

            async def main():
                task = await async_batchstore.acquire(worker="w1")
                await async_batchstore.start(task.id, worker="w1")
                return task.id, [t.id async for t in async_batchstore.list("Started")]

            first, started = asyncio.run(main())
            assert first == ids[0] and started == [ids[0], ids[1]]  # the second sample is Started already
    """, "--batchstore-url", url)
    result.assert_outcomes(passed=3)


# --- the docs ------------------------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("engine", ["memory", "sqlite"])
def test_the_docs_test_file_passes(pytester: pytest.Pytester, engine: str) -> None:
    # docs/guide/pytest-plugin.md shows this file; tests/package/test_docs.py also runs it in a pytest of its own.
    source = (DOCS / "examples" / "test_tasks.py").read_text()
    tests = len(re.findall(r"^def test_", source, re.M))
    run(pytester, source, "--batchstore-url", engine).assert_outcomes(passed=tests)


def test_every_fixture_is_documented_in_the_docs() -> None:
    section = (DOCS / "guide" / "pytest-plugin.md").read_text()
    fixtures = [name for name, value in vars(pytest_plugin).items() if hasattr(value, "_pytestfixturefunction")
                or type(value).__name__ == "FixtureFunctionDefinition"]
    assert set(fixtures) == {
        "batchstore", "batchstore_factory", "batchstore_seed", "batchstore_database", "async_batchstore",
        "batchstore_server",
    }
    for name in fixtures:
        assert f"`{name}`" in section, name
    for words in ("--batchstore-url", ENV_VAR, "batchstore_url"):
        assert words in section, words


def test_batchstore_server_serves_the_tests_database_over_http(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        import json
        import urllib.request


        def test_client(batchstore_server, batchstore_factory, batchstore_seed):
            store = batchstore_factory()
            (task_id,) = batchstore_seed(1, store=store)
            request = urllib.request.Request(
                batchstore_server.url + "/api/v1/Agents/Batch/GetBatchTaskInfo",
                data=json.dumps({"Id": task_id}).encode(), headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert json.loads(response.read())["Id"] == task_id
            assert batchstore_server.url.startswith("http://127.0.0.1:")
    """, "--batchstore-url", "sqlite")
    result.assert_outcomes(passed=1)
