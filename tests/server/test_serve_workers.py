"""``batchstore serve --workers N``: several processes answering on one port, one database, Ctrl-C ends them all.

Which worker accepts a connection is the kernel's choice, so each test picks it: a worker stopped with
SIGSTOP accepts nothing, and the other one answers every new connection until it is continued.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_process import free_port, require_server_packages

from batchstore import BatchStore

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads worker processes from /proc")

TOKEN = "workers-s3cret"


def children(pid: int) -> list[int]:
    """The worker processes of a supervisor: its children that run multiprocessing's spawn (not its tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue  # ended meanwhile
        parent = int(stat.rpartition(")")[2].split()[1])
        if parent == pid and b"multiprocessing" in command and b"resource_tracker" not in command:
            found.append(int(entry.name))
    return sorted(found)


def alive(pid: int) -> bool:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie has ended; its parent has not reaped it yet


@contextmanager
def workers_server(target: Path | str, workers: int, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``batchstore serve --workers N`` in a session of its own (as a terminal's job), once every worker is up."""
    require_server_packages()
    port = free_port()
    with log.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "batchstore", "serve", "--db", str(target), "--port", str(port),
             "--workers", str(workers), "--token", TOKEN],
            stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while log.read_text(errors="replace").count("Application startup complete") < workers:
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, f"the workers did not start: {log.read_text(errors='replace')}"
            time.sleep(0.1)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def fresh(url: str) -> httpx.Client:
    """A client whose every request opens a new connection, so the kernel hands it to a worker anew."""
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}", "Connection": "close"},
                        timeout=30, limits=httpx.Limits(max_keepalive_connections=0))


class WorkerReplaced(Exception):
    """uvicorn's supervisor killed a stopped worker (it had not answered a health check for 5 s) and
    started another: an artifact of stopping workers to steer connections, not of batchstore."""


@contextmanager
def only(worker: int, others: list[int]) -> Iterator[None]:
    """Only ``worker`` accepts connections meanwhile: the others are stopped, and continued afterwards."""
    stopped = [pid for pid in others if pid != worker]
    try:
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
    except ProcessLookupError as exc:
        raise WorkerReplaced(str(exc)) from exc


def test_every_worker_answers_and_sees_the_others_writes(db: Any, tmp_path: Path) -> None:
    # A stopped worker can hold up a new connection the kernel woke it for (the other worker is not woken),
    # until the supervisor's health check replaces it; on a loaded machine that happens now and then. Such a
    # run starts again on a fresh server; a wrong answer fails at once.
    for attempt in range(3):
        try:
            return check_every_worker(db, tmp_path / f"serve-{attempt}.log")
        except WorkerReplaced:
            continue
    pytest.fail("three servers in a row had a stopped worker replaced by uvicorn's supervisor")


def check_every_worker(db: Any, log: Path) -> None:
    with workers_server(db.target, 2, log) as (process, url), fresh(url) as client:
        workers = children(process.pid)
        assert len(workers) == 2, workers
        written: dict[int, int] = {}
        for writer in workers:
            with only(writer, workers):
                response = client.post("/api/v1/Agents/Batch/StartBatchJob",
                                       json={"BatchTaskInfo": {"Name": f"by {writer}", "State": "New"}})
                assert response.status_code == 200, response.text
                written[writer] = response.json()
        # One request per stop: uvicorn's supervisor kills a worker that has not answered its health check
        # for 5 s, which a stopped one cannot, and a loaded machine could stretch several requests that long.
        for reader in workers:
            for writer, task_id in written.items():
                with only(reader, workers):
                    answer = client.post("/api/v1/Agents/Batch/GetBatchTaskInfo", json={"Id": task_id})
                assert answer.status_code == 200 and answer.json()["Name"] == f"by {writer}", answer.text
                with only(reader, workers):
                    status = client.get(f"/task-status/v1/{task_id}")
                assert status.status_code == 200 and status.json()["uniqueName"] == f"by {writer}"
            # A write through this worker, seen by the other: an update of the task the other created.
            other = next(task for writer, task in written.items() if writer != reader)
            with only(reader, workers):
                changed = client.post("/api/v1/Agents/Batch/UpdateBatchTask",
                                      json={"BatchTaskInfo": {"Id": other, "Description": f"seen by {reader}"}})
            assert changed.status_code == 200, changed.text
        with BatchStore(str(db.target)) as store:
            assert {store.get(task_id).description for task_id in written.values()} == {
                f"seen by {pid}" for pid in workers}
        # Every worker keeps the guard: no token, a 401; a foreign Host, a 400.
        for pid in workers:
            with only(pid, workers):
                bare = httpx.post(f"{url}/api/v1/Agents/Batch/GetBatchTaskInfo", json={"Id": 1},
                                  headers={"Connection": "close"}, timeout=30)
            assert bare.status_code == 401, bare.text
            with only(pid, workers):
                foreign = client.get("/task-status/v1/1", headers={"Host": "evil.example"})
            assert foreign.status_code == 400 and foreign.json()["field"] == "Host"


@pytest.mark.full("a server with worker processes and a signal")
def test_ctrl_c_ends_every_worker_and_exits_130_without_a_traceback(tmp_path: Path) -> None:
    target = tmp_path / "tasks.db"
    with workers_server(target, 2, tmp_path / "serve.log") as (process, _url):
        workers = children(process.pid)
        assert len(workers) == 2
        os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends: the whole group
        assert process.wait(timeout=30) == 130
    text = (tmp_path / "serve.log").read_text(errors="replace")
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers):
        assert time.monotonic() < deadline, f"workers left running: {[p for p in workers if alive(p)]}"
        time.sleep(0.05)
    assert "Uvicorn running on" in text and text.count("Application startup complete") == 2


def test_workers_are_refused_for_a_store_object_and_below_one() -> None:
    require_server_packages()
    from batchstore.server import ServerConfigurationError, serve

    with BatchStore() as store, pytest.raises(ServerConfigurationError) as info:
        serve(store, workers=2)
    assert info.value.option == "workers"
    with pytest.raises(ServerConfigurationError) as info:
        serve("tasks.db", workers=0)
    assert info.value.option == "workers"
    done = subprocess.run([sys.executable, "-m", "batchstore", "serve", "--db", "x.db", "--workers", "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--workers" in done.stderr
