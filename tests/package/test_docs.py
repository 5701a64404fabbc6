"""The documentation tells the truth: every example runs, every command it shows exists, every route is listed.

The site (``mkdocs.yml``, ``docs/``) shows its examples from files under ``docs/examples/`` (pymdownx.snippets'
``--8<--``), so the code a reader sees is the code these tests run:

- each ``*.py`` example runs in an empty folder, on SQLite, and prints exactly its ``.out`` file when it has
  one; ``*.sh`` examples run with bash (``-euo pipefail``) and the ``batchstore`` of this environment;
  ``test_*.py`` examples run under pytest with batchstore's plugin, on each engine;
- examples that need a running server get one (a real process on loopback, its URL in ``BATCHSTORE_URL``),
  and the PostgreSQL example a fresh schema on ``BATCHSTORE_TEST_POSTGRES_URL``: without it they skip, or
  fail when ``BATCHSTORE_REQUIRE_ALL`` is set (CI);
- a Python block written inline on a page is refused (it would never run), and every command of an inline
  shell block is checked: a ``batchstore`` verb and its options are parsed by the real command line, a
  ``pip install`` names extras the package has, a ``python -m`` names a module that exists;
- the route table of the HTTP guide lists exactly the routes the app serves, and the reference page names
  every public name of the package.
"""

from __future__ import annotations

import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import click
import pytest
from server_process import missing, postgres_schema, require, require_postgres, require_server_packages, running_server

import batchstore

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
#: Every page a reader may open: the site's pages, and the Markdown files at the root that the site includes
#: or that stand beside it.
PAGES = sorted([*DOCS.rglob("*.md"), ROOT / "README.md", ROOT / "ARCHITECTURE.md"])
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$')

#: Examples that need more than an empty folder; every other example runs anywhere.
NEEDS_SERVER = {"server_client.py", "server_curl.sh"}
NEEDS_SERVER_PACKAGES = {"server_asgi.py"}
NEEDS_POSTGRES = {"postgresql.py"}


def fences(path: Path) -> Iterator[tuple[str, str, int]]:
    """Each fenced block of a page: its language, its text, and the line it starts on."""
    text = path.read_text()
    for match in FENCE.finditer(text):
        yield match.group(1), match.group(2), text.count("\n", 0, match.start()) + 1


def snippet_names(body: str) -> list[str]:
    return [m.group(1) for line in body.splitlines() if (m := SNIPPET.match(line.strip()))]


def examples(pattern: str) -> list[Path]:
    return sorted(p for p in EXAMPLES.glob(pattern) if p.is_file())


# --- the pages ------------------------------------------------------------------------------------


def test_every_example_file_is_shown_on_a_page_and_every_included_file_exists() -> None:
    included: set[str] = set()
    for page in PAGES:
        for _, body, line in fences(page):
            for name in snippet_names(body):
                assert (EXAMPLES / name).is_file() or (ROOT / name).is_file(), f"{page.name}:{line}: no file {name}"
                included.add(name)
    shown = {p.name for p in EXAMPLES.iterdir() if p.is_file()}
    assert shown - included == set(), "examples no page shows (include them with --8<--, or delete them)"


@pytest.mark.parametrize("page", [p for p in PAGES if p.name != "README.md"], ids=lambda p: p.name)
def test_python_on_a_page_comes_from_an_example_file(page: Path) -> None:
    """An inline Python block would never run: every one is a file of docs/examples/ the tests run.

    (README.md's own blocks run in tests/package/test_readme.py.)
    """
    for language, body, line in fences(page):
        if language in ("python", "py", "pycon"):
            lines = [text for text in body.splitlines() if text.strip()]
            assert lines and all(SNIPPET.match(text.strip()) for text in lines), (
                f"{page.relative_to(ROOT)}:{line}: a Python block written on the page; put it in docs/examples/"
            )


def shell_commands(body: str) -> Iterator[list[str]]:
    """The simple commands of a shell block, comments and continuation lines dealt with, split at && | ; &."""
    text = body.replace("\\\n", " ")
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        command: list[str] = []
        for token in lexer:
            if token in ("&&", "||", "|", ";", "&"):
                if command:
                    yield command
                command = []
            else:
                command.append(token)
        if command:
            yield command


def check_command(words: list[str]) -> None:
    """Fail unless ``words`` is a command the docs may show without running it, naming real things."""
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VARIABLE=value before the command
        words = words[1:]
    program, args = Path(words[0]).name, words[1:]
    if program == "batchstore":
        check_batchstore_command(args)
    elif program in ("pip", "pip3"):
        check_pip_command(args)
    elif program in ("python", "python3"):
        assert args[:1] == ["-m"] and len(args) >= 2, words
        module = args[1]
        if module != "venv":
            assert find_spec(module) is not None or (ROOT / module.replace(".", "/")).exists(), (
                f"python -m {module}: no such module"
            )
    elif program == "pytest":
        pass  # the plugin's options are checked where the plugin is tested
    elif program == "mkdocs":
        assert args[:1] in (["build"], ["serve"]), f"mkdocs {shlex.join(args)}: build or serve"
    else:
        raise AssertionError(f"{shlex.join(words)}: a command the tests cannot check; make it a docs/examples/ file")


def check_batchstore_command(args: list[str]) -> None:
    from batchstore.cli import _verbs  # noqa: F401  (registers the verbs on the group)
    from batchstore.cli._main import cli

    if args in (["--version"], ["--help"], ["-h"]):
        return
    if args[:1] == ["--db"]:  # the database may come before the verb
        args = args[2:]
    assert args, "batchstore without a verb"
    verb = cli.commands.get(args[0])
    assert verb is not None, f"batchstore {args[0]}: no such verb"
    words = args
    with cli.make_context("batchstore", [args[0]], resilient_parsing=True) as parent:
        # A group of sub-verbs (`retention set`): the sub-verb's own options are the ones to check.
        while isinstance(verb, click.Group):
            words = words[1:]
            assert words, f"batchstore {shlex.join(args)}: which {verb.name} verb?"
            group, verb = verb, verb.commands.get(words[0])
            assert verb is not None, f"batchstore {shlex.join(args)}: no such verb {words[0]!r}"
            parent = group.make_context(group.name or "", [words[0]], parent=parent, resilient_parsing=True)
        try:
            with verb.make_context(words[0], words[1:], parent=parent):
                pass  # parsed and converted, never run
        except click.ClickException as exc:  # UsageError, BadParameter, NoSuchOption, ...
            raise AssertionError(f"batchstore {shlex.join(args)}: {exc.format_message()}") from None


def check_pip_command(args: list[str]) -> None:
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    assert args[:1] == ["install"], args
    for arg in args[1:]:
        if arg.startswith("-"):
            continue
        target = re.fullmatch(r"(\.|batchstore)(?:\[([\w,-]+)\])?", arg)
        if target is None:
            assert re.fullmatch(r"[A-Za-z0-9_.-]+", arg), f"pip install {arg}: not a package name"
            continue
        assert target.group(1) == ".", (
            f"pip install {arg}: batchstore is not on a package index; install it from the checkout (pip install .)"
        )
        for extra in (target.group(2) or "").split(","):
            assert not extra or extra in extras, f"pip install {arg}: the package has no extra {extra!r}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_on_a_page_names_real_verbs_options_extras_and_modules(page: Path) -> None:
    for language, body, line in fences(page):
        if language not in ("sh", "bash", "shell", "console"):
            continue
        if snippet_names(body):
            continue  # an example file: it runs below
        for words in shell_commands(body):
            try:
                check_command(words)
            except AssertionError as exc:
                raise AssertionError(f"{page.relative_to(ROOT)}:{line}: {exc}") from None


def test_the_command_check_catches_what_a_newcomer_tripped_on() -> None:
    """The check itself can fail: an install from the index, an unknown extra, a verb or option that is not there."""
    for wrong in (
        'pip install "batchstore[server]"',
        'pip install ".[servers]"',
        "batchstore lsit --db tasks.db",
        "batchstore list --where-not x --db tasks.db",
        "batchstore get abc --db tasks.db",
        "batchstore retention set --older-than 30d --db tasks.db",
        "batchstore retention sett --db tasks.db",
        "curl -s http://127.0.0.1:8000/",
    ):
        with pytest.raises(AssertionError):
            for words in shell_commands(wrong):
                check_command(words)
    for right in ('pip install ".[server]" httpx', "batchstore list Started --limit 5 --db tasks.db",
                  "batchstore retention set --finished-older-than 30d --keep-failed-for 90d --db tasks.db"):
        for words in shell_commands(right):
            check_command(words)


def test_the_route_table_lists_every_route_the_server_serves() -> None:
    require_server_packages()
    from batchstore.server import create_app

    def shape(method: str, path: str) -> tuple[str, str]:
        return method.upper(), re.sub(r"\{[^}]*\}", "{}", path)

    with batchstore.BatchStore() as store:
        paths = create_app(store).openapi()["paths"]
    served = {shape(method, path) for path, operations in paths.items() for method in operations}
    table = (DOCS / "guide" / "server.md").read_text()
    listed = {shape(m, p) for m, p in re.findall(r"^\| `(GET|HEAD|POST|PUT|PATCH|DELETE) (/[^`\s,]*)", table, re.M)}
    listed -= {("GET", "/docs")}  # the interactive docs, outside the schema
    assert served - listed == set(), "routes the server serves that docs/guide/server.md does not list"
    assert listed - served == set(), "routes docs/guide/server.md lists that the server does not serve"


@pytest.mark.parametrize(
    ("module", "page"),
    [("batchstore", "batchstore.md"), ("batchstore.server", "server.md"), ("batchstore.pytest_plugin",
                                                                           "pytest-plugin.md")],
)
def test_the_reference_shows_every_public_name(module: str, page: str) -> None:
    if module == "batchstore.server":
        require_server_packages()
    names = __import__(module, fromlist=["__all__"]).__all__
    reference = (DOCS / "reference" / page).read_text()
    absent = [name for name in names if f"::: {module}.{name}\n" not in reference]
    assert absent == [], f"docs/reference/{page} leaves out {absent}"


def test_docstrings_reach_the_reference_as_markdown() -> None:
    """The griffe extension mkdocs.yml loads fences doctests (else their output reads as links) and
    turns reST roles into code."""
    import doctest
    import importlib.util

    spec = importlib.util.spec_from_file_location("docstrings_hook", DOCS / "hooks" / "docstrings.py")
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    assert doctest.testmod(hook).failed == 0
    rendered = hook.markdown(batchstore.BatchStore.changes.__doc__ or "")
    assert "```pycon" in rendered
    assert "[('create', (None, 'New'))" in rendered.split("```pycon", 1)[1]
    assert hook.markdown("see :meth:`BatchStore.watch` and :class:`~batchstore.Q`") == "see `BatchStore.watch` and `Q`"


# --- the examples ---------------------------------------------------------------------------------


@pytest.fixture
def server_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real ``batchstore serve`` on a fresh SQLite file, its URL in BATCHSTORE_URL as the examples read it."""
    with running_server(tmp_path / "server.db") as server:
        monkeypatch.setenv("BATCHSTORE_URL", server.url)
        yield server.url


def prerequisites(name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if name in NEEDS_SERVER:
        request.getfixturevalue("server_url")
    if name in NEEDS_SERVER_PACKAGES:
        require_server_packages()
    if name in NEEDS_POSTGRES:
        require_postgres()
        schema = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("BATCHSTORE_URL", schema)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_schema("docs") as url:
        yield url


@pytest.mark.parametrize("example", [
    pytest.param(p, marks=[pytest.mark.postgresql] if p.name in NEEDS_POSTGRES else [])
    for p in examples("*.py") if not p.name.startswith("test_")
], ids=lambda p: p.name)
def test_python_example_runs_and_prints_what_the_page_shows(
    example: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    prerequisites(example.name, request, monkeypatch)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    runpy.run_path(str(example), run_name="__main__")
    printed = capsys.readouterr().out
    expected = example.with_suffix(".out")
    if expected.exists():
        assert printed == expected.read_text(), f"{example.name} no longer prints {expected.name}"


def batchstore_on_path() -> dict[str, str]:
    """The environment with this interpreter's scripts (the ``batchstore`` being tested) first on PATH."""
    scripts = Path(sys.executable).parent
    if not (scripts / "batchstore").exists():
        missing(f"needs the batchstore command beside {sys.executable} (pip install -e .)")
    return {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}


# Dozens of batchstore processes each: the full tier (CI) runs them; tests/cli runs every verb in the fast one.
@pytest.mark.full("a shell running the example's batchstore commands as processes")
@pytest.mark.parametrize("example", examples("*.sh"), ids=lambda p: p.name)
def test_shell_example_runs(
    example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    if "curl " in example.read_text() and shutil.which("curl") is None:
        missing("needs curl (apt-get install curl)")
    prerequisites(example.name, request, monkeypatch)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", str(example)], cwd=tmp_path, env=batchstore_on_path(),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"{example.name} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr


# SQLite in-process: tests/plugin/test_pytest_plugin.py runs the same file with pytester (in both tiers).
@pytest.mark.full("a pytest process running the example, a server process among its tests")
@pytest.mark.parametrize("engine", ["memory", "postgresql"])
@pytest.mark.parametrize("example", examples("test_*.py"), ids=lambda p: p.name)
def test_pytest_example_passes_with_the_plugin(example: Path, engine: str, tmp_path: Path) -> None:
    require_server_packages()  # the example's batchstore_server test
    env = {key: value for key, value in os.environ.items() if key != "BATCHSTORE_TEST_URL"}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", example.name]
    if engine == "postgresql":
        require("psycopg", "psycopg_pool")
        env["BATCHSTORE_TEST_URL"] = require_postgres()
    elif engine == "sqlite":
        args += ["--batchstore-url", "sqlite"]
    shutil.copy(example, tmp_path / example.name)
    result = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    tests = len(re.findall(r"^def test_", example.read_text(), re.M))
    assert re.search(rf"\b{tests} passed\b", result.stdout), result.stdout
