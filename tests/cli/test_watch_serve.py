"""``batchstore watch`` on a terminal and ``batchstore serve``'s first lines, as a newcomer sees them; both engines.

Also the server's one follower of the change feed (``ChangeHub``), shared by every listener.
"""

from __future__ import annotations

import asyncio
import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import Database
from server_process import free_port, require_server_packages

import batchstore
from batchstore._engines.postgres import redact

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
    str(Path(batchstore.__file__).resolve().parent.parent), os.environ.get("PYTHONPATH"),
]))}  # fmt: skip
LONG_NAME = "Synchronize every customer, order and invoice from the SAP ERP system into SuperOffice"


def read_until(fd: int, wanted: bytes, timeout: float = 30.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", seen):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{wanted!r} never came; got {seen[-2000:]!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def plain(raw: bytes) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw.decode("utf-8", "replace"))


def test_watch_shows_the_database_a_live_indicator_progress_description_and_eta(db: Database) -> None:
    with db.open() as store:
        task_id = store.create({"Name": LONG_NAME, "Created": "2014-07-15T14:34:02+02:00"})
        leader, follower = pty.openpty()
        env = {k: v for k, v in ENV.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
        process = subprocess.Popen([sys.executable, "-m", "batchstore", "watch", "--db", db.url], stdout=follower,
                                   stderr=subprocess.DEVNULL, env={**env, "TERM": "xterm-256color", "COLUMNS": "160"})
        os.close(follower)
        try:
            first = plain(read_until(leader, b"years ago"))
            store.acquire(worker="w")
            store.start(task_id, worker="w")
            store.report_progress(task_id, 1, "7 of 650 records", worker="w")
            time.sleep(1.0)
            store.report_progress(task_id, 2, "13 of 650 records", worker="w")
            later = plain(read_until(leader, b"13 of 650 records"))
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
            os.close(leader)
    assert store.database in first and "● live" in first
    if db.is_postgres:
        assert ":pw@" not in first + later and redact(db.url) in first  # the password never shows
    assert re.search(r"1[0-9] years ago", first)  # not "created 4525 d ago"
    name_line = next(line for line in first.splitlines() if "Synchronize" in line)
    assert LONG_NAME not in name_line and "…" in name_line  # the Name column no longer takes the line
    assert "13 of 650 records" in later and "Started" in later and "2%" in later and "%/min" in later
    assert process.returncode == 130


def test_serve_prints_the_database_and_the_dashboard_url_at_start(db: Database) -> None:
    require_server_packages()
    db.open().close()
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "batchstore", "serve", "--db", db.url, "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV)
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while not any("dashboard http://" in line for line in lines):
            assert time.monotonic() < deadline and process.poll() is None, lines
            lines.append(process.stdout.readline().decode())
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()
    text = "".join(lines)
    shown = str(db.target) if not db.is_postgres else redact(db.url)
    assert f"batchstore serve: database {shown}\n" in text
    assert f"batchstore serve: dashboard http://127.0.0.1:{port}/" in text
    assert ":pw@" not in text


def test_one_follower_serves_every_listener(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    require_server_packages()
    from batchstore.server import _changes

    monkeypatch.setattr(_changes, "WATCH_SECONDS", 0.2)

    def followers() -> int:
        return sum(1 for t in threading.enumerate() if t.name == "batchstore-feed")

    async def scenario() -> None:
        with db.open() as store:
            hub = _changes.ChangeHub(store)
            async with hub.listen() as first, hub.listen() as second:
                assert followers() == 1
                task_id = await asyncio.to_thread(store.create, {"Name": "a"})
                for queue in (first, second):
                    batch = await asyncio.wait_for(queue.get(), 30)
                    assert batch is not None and [c.task_id for c in batch] == [task_id]
            deadline = time.monotonic() + 30
            while followers() and time.monotonic() < deadline:  # the last listener out stops it
                await asyncio.sleep(0.05)
            assert followers() == 0

    asyncio.run(scenario())
