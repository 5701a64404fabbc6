"""A real batchstore server process on a free loopback port, for the HTTP tests (and the dashboard's).

``running_server(db_path)`` starts ``python -m batchstore.server`` on a SQLite file, waits until it
answers, yields a :class:`LiveServer`, and stops it. ``require_server_packages()`` skips a test when
the server extra is missing, unless BATCHSTORE_REQUIRE_ALL is set (CI), where it fails instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import pytest

from batchstore._environment import environment_value

SERVER_PACKAGES = ("fastapi", "uvicorn", "fastapi_offline", "prometheus_client", "httpx")


def require(*modules: str) -> None:
    """Skip (or, with BATCHSTORE_REQUIRE_ALL set, fail) when any of ``modules`` is not installed."""
    absent = [m for m in modules if find_spec(m) is None]
    if absent:
        missing(f"needs {', '.join(absent)} (pip install -e '.[test]')")


def require_program(path: str, hint: str) -> None:
    """Like :func:`require`, for a program outside Python (the browser): ``hint`` says how to install it."""
    if not os.access(path, os.X_OK):
        missing(f"needs {path} ({hint})")


def require_postgres() -> str:
    """The test PostgreSQL server's URL (BATCHSTORE_TEST_POSTGRES_URL, set by .ci/postgres.sh), and its driver.

    Skips (or, with BATCHSTORE_REQUIRE_ALL set, fails) when either is missing.
    """
    require("psycopg", "psycopg_pool")
    url = environment_value("BATCHSTORE_TEST_POSTGRES_URL")  # set but empty is unset: batchstore's one rule
    if url is None:
        missing("needs a PostgreSQL server: set BATCHSTORE_TEST_POSTGRES_URL (CI: . .ci/postgres.sh)")
    return str(url)


@contextmanager
def postgres_schema(prefix: str = "pgtests") -> Iterator[str]:
    """The URL of a fresh, empty schema on the test PostgreSQL server (dropped afterwards, with its tables)."""
    import uuid

    import psycopg

    url = require_postgres()
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(url, autocommit=True)
    except psycopg.Error as exc:
        pytest.fail(f"BATCHSTORE_TEST_POSTGRES_URL is set but the server refused: {exc}")
    try:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()


def missing(message: str) -> None:
    """Skip the test, or fail it when BATCHSTORE_REQUIRE_ALL is set (CI): a prerequisite is missing."""
    if environment_value("BATCHSTORE_REQUIRE_ALL") is not None:
        pytest.fail(f"BATCHSTORE_REQUIRE_ALL is set: {message}")
    pytest.skip(message)


def require_server_packages() -> None:
    require(*SERVER_PACKAGES)


@dataclass(frozen=True)
class LiveServer:
    url: str
    db_path: Path | str  # a SQLite file, or the postgresql:// URL of the server's schema
    token: str | None
    process: subprocess.Popen[bytes]

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header this server needs (none without a token)."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"the server exited with {process.returncode}: {output}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the server did not answer on port {port} within {timeout} s")


@contextmanager
def running_server(
    db_path: Path | str, *, token: str | None = None, max_body_bytes: int | None = None,
    allowed_hosts: tuple[str, ...] = (),
) -> Iterator[LiveServer]:
    """A server process on ``db_path`` (a SQLite file or a database URL), on 127.0.0.1, stopped afterwards.

    ``allowed_hosts``: its ``--allowed-host`` names (besides loopback ones)."""
    require_server_packages()
    port = free_port()
    command = [sys.executable, "-m", "batchstore.server", "--db", str(db_path), "--port", str(port)]
    if token is not None:
        command += ["--token", token]
    if max_body_bytes is not None:
        command += ["--max-body-bytes", str(max_body_bytes)]
    for host in allowed_hosts:
        command += ["--allowed-host", host]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_up(port, process)
        yield LiveServer(f"http://127.0.0.1:{port}", db_path, token, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
