"""``python -m benchmarks.server``: batchstore's HTTP routes against their floor, and ``serve --workers N``.

**The floor.** A bare FastAPI app (``floor_app``) on the very uvicorn settings ``batchstore serve`` uses
(:func:`batchstore.server.uvicorn_settings`) that answers each measured route with the bytes batchstore
answered, captured once from the real server at the start of the run, from memory. Whatever batchstore
costs beyond it (reading the body, the guard, the store, encoding the answer) shows as a ratio below 1.

**The client.** A small keep-alive HTTP/1.1 client on asyncio (uvloop when installed): one connection per
client, the requests pre-built, each answer read to its end and its status checked (a refusal stops the
run). Up to 8 clients run in one client process; more are spread over several processes, so on a machine
with cores to spare the client is not what limits a server with several workers.

**Rounds.** Every cell (route, clients) runs batchstore then the floor, or the floor first, alternating
from round to round; the table gives the median req/s of batchstore over ``--rounds`` rounds and the
median of the per-round ratios (batchstore / floor). The routes:

- POST ``Agents/Batch/GetBatchTaskInfo`` and ``UpdateBatchTask`` (a Description change, so a write
  with its trace row and feed row), cycling over 800 tasks;
- SailPoint ``GET /task-status/v1/{id}``, the versioned ``GET /v2025/task-status/{id}`` and
  ``PATCH /task-status/v1/{id}`` (a finished task moved between SUCCESS and ERROR: a write each time);
- ``GET /api/v1/BatchTask/Started`` (100 user tasks) and SailPoint's ``GET /task-status/v1?limit=100``.

Goals (issue 18): the single-task routes at 0.85 of the floor or more, the lists of 100 at 0.5 or more.

**Scaling** (``--workers 1,2,4,8 --clients 1,8,32``): for each worker count, ``batchstore serve --workers N``
(on SQLite, and on PostgreSQL with ``--postgres URL``) and a floor with as many workers, on the routes of
``--routes`` (default for several worker counts: GetBatchTaskInfo and UpdateBatchTask). Client and
server share the machine's cores: on 2 cores the client's own work is part of every number.

Run ``python -m benchmarks.server`` (about 3 minutes on 2 cores) or, for scaling on a bigger machine,
``python -m benchmarks.server --workers 1,2,4,8 --clients 1,8,32 --seconds 1.5`` (about 4 minutes).
Timings are reported, never asserted. Measured 2026-12-07 on 2 shared, heavily loaded cores (SQLite, uvloop and
httptools on both sides, medians of 5 rounds of 1.5 s), batchstore req/s and ratio at 1 / 8 clients:
GetBatchTaskInfo 1,693 (1.12) / 1,991 (0.97), UpdateBatchTask 956 (0.61) / 1,248 (0.49), BatchTask/Started
of 100 187 (0.25) / 163 (0.18); docs/speed.md's HTTP server section has the whole table, other runs, and
what stands in the way of the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from benchmarks._common import environment_note, fmt_rate, markdown_table, sample_task, temp_dir

URL_VARIABLE = "BATCHSTORE_BENCH_POSTGRES_URL"
#: Where a floor worker process finds the captured answers (uvicorn's workers import the app by name).
CAPTURE_VARIABLE = "BATCHSTORE_BENCH_FLOOR_ANSWERS"
LISTED = 100  # tasks in each measured list
SINGLE = 800  # tasks the single-task routes cycle over
PATCHED = 200  # finished tasks the SailPoint PATCH moves between SUCCESS and ERROR
CLIENTS_PER_PROCESS = 8
CLIENTS = (1, 8)
GOALS = {"single": 0.85, "list": 0.5}


@dataclass(frozen=True)
class Route:
    """One measured route: its label, method, path and the n-th request's body (None: no body)."""

    label: str
    method: str
    path: str
    kind: str  # "single" or "list": which goal applies
    body: Callable[[int, int], bytes] | None = None  # (n, task id) -> body
    ids: str = "single"  # which tasks the path's {id} or the body cycles over

    def request(self, n: int, task_ids: dict[str, list[int]], host: str) -> bytes:
        ids = task_ids[self.ids]
        task_id = ids[n % len(ids)]
        path = self.path.replace("{id}", str(task_id))
        head = f"{self.method} {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n"
        if self.body is None:
            return (head + "\r\n").encode()
        body = self.body(n, task_id)
        content_type = "application/json-patch+json" if self.method == "PATCH" else "application/json"
        return (head + f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def _patch_body(n: int, task_id: int) -> bytes:
    # Each pass over the tasks flips them all: SUCCESS, then ERROR, then SUCCESS... a write every time.
    status = ("ERROR", "SUCCESS")[(n // PATCHED) % 2]
    return json.dumps([
        {"op": "replace", "path": "/completionStatus", "value": status},
        {"op": "replace", "path": "/completed", "value": "2025-01-01T00:00:00Z"},
    ]).encode()


ROUTES = (
    Route("POST Agents/Batch/GetBatchTaskInfo", "POST", "/api/v1/Agents/Batch/GetBatchTaskInfo", "single",
          lambda n, task_id: b'{"Id":%d}' % task_id),
    Route("POST Agents/Batch/UpdateBatchTask", "POST", "/api/v1/Agents/Batch/UpdateBatchTask", "single",
          lambda n, task_id: b'{"BatchTaskInfo":{"Id":%d,"Description":"pass %d"}}' % (task_id, n)),
    Route("GET task-status/v1/{id}", "GET", "/task-status/v1/{id}", "single"),
    Route("GET v2025/task-status/{id}", "GET", "/v2025/task-status/{id}", "single"),
    Route("PATCH task-status/v1/{id}", "PATCH", "/task-status/v1/{id}", "single", _patch_body, ids="patched"),
    Route("GET BatchTask/Started (100 tasks)", "GET", "/api/v1/BatchTask/Started", "list"),
    Route("GET task-status/v1?limit=100", "GET", f"/task-status/v1?limit={LISTED}", "list"),
)
SCALING_ROUTES = ("POST Agents/Batch/GetBatchTaskInfo", "POST Agents/Batch/UpdateBatchTask")


# --- the client ------------------------------------------------------------------------------------------


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 answer: (status, body), with a Content-Length or chunked."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at != -1:
        end = lower.index(b"\r\n", at + 2)
        return status, await reader.readexactly(int(lower[at + 17 : end]))
    if b"\r\ntransfer-encoding: chunked" not in lower:
        raise RuntimeError(f"an answer with neither Content-Length nor chunks: {head!r}")
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, b"".join(parts)
        parts.append((await reader.readexactly(size + 2))[:-2])


async def _clients(port: int, requests: Callable[[int], bytes], first: int, count: int, step: int,
                   start_at: float, seconds: float) -> int:
    """``count`` connections (numbered ``first`` on, ``step`` apart): answers completed in the window."""
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]
    answered = 0

    async def drive(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        n = first + index
        end = start_at + seconds
        while time.time() < end:
            writer.write(requests(n))
            status, body = await _read_answer(reader)
            if status != 200:
                raise RuntimeError(f"status {status}: {body[:300]!r}")
            if time.time() <= end:
                answered += 1
            n += step

    await asyncio.sleep(max(0.0, start_at - time.time()))
    try:
        await asyncio.gather(*(drive(i, r, w) for i, (r, w) in enumerate(connections)))
    finally:
        for _, writer in connections:
            writer.close()
    return answered


def _run_clients(port: int, requests: Callable[[int], bytes], first: int, count: int, step: int,
                 start_at: float, seconds: float) -> int:
    coroutine = _clients(port, requests, first, count, step, start_at, seconds)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)  # type: ignore[no-any-return]


def _client_process(queue: Any, *args: Any) -> None:
    try:
        queue.put(_run_clients(*args))
    except BaseException as exc:
        queue.put(f"{type(exc).__name__}: {exc}")


def load(port: int, requests: Callable[[int], bytes], clients: int, seconds: float) -> float:
    """Requests/s of ``clients`` keep-alive connections for ``seconds``, in one or more client processes."""
    processes = max(1, -(-clients // CLIENTS_PER_PROCESS))
    start_at = time.time() + (0.05 if processes == 1 else 0.5)  # forks and connections are made before
    if processes == 1:
        return _run_clients(port, requests, 0, clients, clients, start_at, seconds) / seconds
    context = multiprocessing.get_context("fork")  # the request builders are closures: inherited, not pickled
    queue = context.Queue()
    shares = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    firsts = [sum(shares[:i]) for i in range(processes)]
    started = [context.Process(target=_client_process, args=(queue, port, requests, first, share, clients,
                                                             start_at, seconds), daemon=True)
               for first, share in zip(firsts, shares)]
    for process in started:
        process.start()
    results = [queue.get(timeout=seconds + 60) for _ in started]
    for process in started:
        process.join(timeout=10)
    failures = [r for r in results if isinstance(r, str)]
    if failures:
        raise RuntimeError("a client failed: " + "; ".join(failures))
    return sum(results) / seconds


# --- the servers -----------------------------------------------------------------------------------------


def floor_app() -> Any:
    """The floor: a bare FastAPI app answering each captured route with its captured bytes (an app factory)."""
    from fastapi import FastAPI, Response

    with open(os.environ[CAPTURE_VARIABLE], encoding="utf-8") as file:
        answers = json.load(file)
    app = FastAPI()
    for answer in answers:
        body = answer["body"].encode("utf-8")
        media_type = answer["media_type"]

        async def route(body: bytes = body, media_type: str = media_type) -> Response:
            return Response(body, media_type=media_type)

        # The captured path with its id made a path parameter, as batchstore's routes have one.
        app.add_api_route(answer["template"], route, methods=[answer["method"]])
    return app


def _serve_floor(port: int, workers: int) -> None:
    import uvicorn

    from batchstore.server._serving import uvicorn_settings

    settings = uvicorn_settings(host="127.0.0.1", port=port, workers=workers)
    uvicorn.run("benchmarks.server:floor_app", factory=True, **settings)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_up(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no server on port {port} after 60 s: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def _process(command: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[int]:
    with tempfile.NamedTemporaryFile(prefix="batchstore-bench-server-", suffix=".log") as log:
        root = str(Path(__file__).resolve().parent.parent)
        environment = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join(
            [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=environment)
        try:
            _wait_until_up(port, process, Path(log.name))
            yield port
        finally:
            process.terminate()  # SIGTERM: uvicorn's supervisor stops its workers too
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def batchstore_server(db: str, workers: int) -> contextlib.AbstractContextManager[int]:
    """``python -m batchstore.server`` on ``db`` with ``workers`` processes: its port."""
    port = _free_port()
    command = [sys.executable, "-m", "batchstore.server", "--db", db, "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    return _process(command, port)


def floor_server(answers: Path, workers: int) -> contextlib.AbstractContextManager[int]:
    port = _free_port()
    command = [sys.executable, "-m", "benchmarks.server", "--serve-floor", str(port), "--workers", str(workers)]
    return _process(command, port, {CAPTURE_VARIABLE: str(answers)})


def populate(db: str) -> dict[str, list[int]]:
    """The measured tasks: 100 Started user tasks (the lists), 800 New ones, 200 Succeeded ones (the PATCH)."""
    from batchstore import BatchStore

    with BatchStore(db) as store:
        listed = store.create_many(sample_task(i, state="Started") for i in range(LISTED))
        single = store.create_many(sample_task(i) for i in range(SINGLE))
        patched = store.create_many(sample_task(i, state="Succeeded") for i in range(PATCHED))
    return {"listed": listed, "single": single, "patched": patched}


def _template(route: Route) -> str:
    return route.path.split("?")[0].replace("{id}", "{task_id}")


def capture(port: int, routes: Sequence[Route], task_ids: dict[str, list[int]], target: Path) -> None:
    """Ask batchstore each route once (the first task) and keep its answer for the floor."""

    async def ask() -> list[dict[str, str]]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answers = []
        try:
            for route in routes:
                writer.write(route.request(0, task_ids, f"127.0.0.1:{port}"))
                status, body = await _read_answer(reader)
                if status != 200:
                    raise RuntimeError(f"{route.label}: status {status}: {body[:300]!r}")
                answers.append({"template": _template(route), "method": route.method,
                                "media_type": "application/json", "body": body.decode("utf-8")})
        finally:
            writer.close()
        return answers

    target.write_text(json.dumps(asyncio.run(ask())), encoding="utf-8")


# --- the run ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _database(engine: str, tmp: Path, postgres: str | None) -> Iterator[str]:
    if engine == "SQLite":
        yield str(tmp / "served.db")
        return
    from benchmarks.workers import postgres_target

    assert postgres is not None
    with postgres_target(postgres) as url:
        yield url


def _cell(port: int, route: Route, task_ids: dict[str, list[int]], clients: int, seconds: float) -> float:
    host = f"127.0.0.1:{port}"
    return load(port, lambda n: route.request(n, task_ids, host), clients, seconds)


def run(
    *,
    rounds: int = 3,
    seconds: float = 2.0,
    clients: Sequence[int] = CLIENTS,
    workers: Sequence[int] = (1,),
    routes: Sequence[Route] = ROUTES,
    postgres: str | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> str:
    """The Markdown report: per engine, worker count, route and clients, batchstore's req/s and its ratio."""
    engines = ["SQLite", *(["PostgreSQL"] if postgres else [])]
    rows = []
    with temp_dir("server") as tmp, contextlib.ExitStack() as databases:
        targets = {engine: databases.enter_context(_database(engine, tmp, postgres)) for engine in engines}
        ids = {engine: populate(target) for engine, target in targets.items()}
        answers = tmp / "answers.json"
        for n_workers in workers:
            with contextlib.ExitStack() as servers:
                ports = {e: servers.enter_context(batchstore_server(targets[e], n_workers)) for e in engines}
                capture(ports[engines[0]], routes, ids[engines[0]], answers)
                floor = servers.enter_context(floor_server(answers, n_workers))
                cells = [(route, n) for route in routes for n in clients]
                rates: dict[tuple[str, str, int], list[float]] = {}
                for r in range(rounds):
                    for route, n in cells:
                        sides = [("floor", floor), *((e, ports[e]) for e in engines)]
                        for side, port in sides if r % 2 else reversed(sides):
                            task_ids = ids[side] if side in ids else ids[engines[0]]
                            rate = _cell(port, route, task_ids, n, seconds)
                            rates.setdefault((side, route.label, n), []).append(rate)
                        progress(f"round {r + 1}, {n_workers} workers, {route.label}, {n} clients: " + ", ".join(
                            f"{side} {rates[side, route.label, n][-1]:,.0f}" for side, _ in sides))
                for engine in engines:
                    for route, n in cells:
                        mine, base = rates[engine, route.label, n], rates["floor", route.label, n]
                        ratio = statistics.median(a / b for a, b in zip(mine, base))
                        goal = GOALS[route.kind]
                        rows.append([route.label, engine, n_workers, n, fmt_rate(statistics.median(mine)),
                                     fmt_rate(statistics.median(base)), f"{ratio:.2f}",
                                     f"{goal:.2f} {'met' if ratio >= goal else 'not met'}"])
    header = ["route", "engine", "workers", "clients", "batchstore req/s", "floor req/s", "ratio", "goal"]
    return (f"{environment_note()}; medians of {rounds} interleaved rounds of {seconds:g} s\n\n"
            f"{markdown_table(header, rows)}")


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="per cell and side (default 2)")
    parser.add_argument("--clients", type=_counts, default=list(CLIENTS), help="client counts, e.g. 1,8,32")
    parser.add_argument("--workers", type=_counts, default=[1], help="worker process counts, e.g. 1,2,4,8")
    parser.add_argument("--routes", default=None,
                        help="a comma-separated list of words; the routes whose label holds one of them run "
                             "(default: every route with one worker count, GetBatchTaskInfo and UpdateBatchTask "
                             "with several)")
    parser.add_argument("--postgres", default=os.environ.get(URL_VARIABLE),
                        help=f"also on PostgreSQL: a URL whose user may CREATE DATABASE (default: ${URL_VARIABLE})")
    parser.add_argument("--serve-floor", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_floor is not None:
        _serve_floor(args.serve_floor, args.workers[0])
        return 0
    if args.routes:
        words = [w.strip().lower() for w in args.routes.split(",") if w.strip()]
        routes = [r for r in ROUTES if any(w in r.label.lower() for w in words)]
    elif len(args.workers) > 1:
        routes = [r for r in ROUTES if r.label in SCALING_ROUTES]
    else:
        routes = list(ROUTES)
    if not routes:
        parser.error(f"--routes {args.routes!r} names none of: {'; '.join(r.label for r in ROUTES)}")
    print(run(rounds=args.rounds, seconds=args.seconds, clients=args.clients, workers=args.workers, routes=routes,
              postgres=args.postgres, progress=lambda line: print(f"  {line}", file=sys.stderr, flush=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
