"""``python -m benchmarks.server``: the HTTP server's requests/s and p99 latency, beside the in-process rate.

GetBatchTaskInfo and UpdateBatchTask (a Description change: a write with its trace row) are sent by
1, 8 and 32 concurrent clients (httpx's AsyncClient, one connection each) to a real server process on
loopback, for a fixed time per cell; the same calls made in-process on a BatchStore give the rate
without HTTP. Rounds are interleaved; the table shows medians. Client and server share the machine's
cores, so on two cores the client's own work is part of every number.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from benchmarks._common import environment_note, fmt_rate, markdown_table, sample_task, temp_dir

TASKS = 1000
CONCURRENCY = (1, 8, 32)
OPERATIONS = ("GetBatchTaskInfo", "UpdateBatchTask")


def _request(operation: str, task_id: int, n: int) -> dict[str, Any]:
    if operation == "GetBatchTaskInfo":
        return {"Id": task_id}
    return {"BatchTaskInfo": {"Id": task_id, "Description": f"pass {n}"}}


async def _load(url: str, operation: str, clients: int, ids: list[int], seconds: float) -> tuple[float, float]:
    """(requests/s, p99 latency in ms) of ``clients`` concurrent clients for ``seconds``."""
    import httpx

    latencies: list[float] = []
    path = f"/api/v1/Agents/Batch/{operation}"
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        deadline = time.perf_counter() + seconds

        async def worker(offset: int) -> None:
            n = offset
            while time.perf_counter() < deadline:
                body = _request(operation, ids[n % len(ids)], n)
                start = time.perf_counter()
                response = await client.post(path, json=body)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise RuntimeError(f"{operation}: {response.status_code} {response.text}")
                n += clients

        began = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, p99 * 1000


def _in_process(db: Path, operation: str, ids: list[int], seconds: float) -> float:
    from batchstore import BatchStore

    with BatchStore(str(db)) as store:
        call: Callable[[int], object]
        if operation == "GetBatchTaskInfo":
            call = lambda n: store.get(ids[n % len(ids)])  # noqa: E731
        else:
            call = lambda n: store.update({"Id": ids[n % len(ids)], "Description": f"pass {n}"})  # noqa: E731
        n = 0
        began = time.perf_counter()
        deadline = began + seconds
        while time.perf_counter() < deadline:
            call(n)
            n += 1
        return n / (time.perf_counter() - began)


def run(rounds: int = 3, seconds: float = 2.0) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from server_process import running_server

    from batchstore import BatchStore

    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    local: dict[str, list[float]] = {op: [] for op in OPERATIONS}
    with temp_dir("server") as tmp:
        for name in ("served.db", "local.db"):
            with BatchStore(str(tmp / name)) as store:
                ids = store.create_many(sample_task(i) for i in range(TASKS))
        with running_server(tmp / "served.db") as server:
            for _ in range(rounds):
                for operation in OPERATIONS:
                    local[operation].append(_in_process(tmp / "local.db", operation, ids, seconds))
                    for clients in CONCURRENCY:
                        cell = asyncio.run(_load(server.url, operation, clients, ids, seconds))
                        results.setdefault((operation, clients), []).append(cell)
    rows = []
    for operation in OPERATIONS:
        for clients in CONCURRENCY:
            cells = results[(operation, clients)]
            rate = statistics.median(c[0] for c in cells)
            p99 = statistics.median(c[1] for c in cells)
            in_process = statistics.median(local[operation])
            ratio = f"{rate / in_process:.2f}"
            rows.append([operation, clients, fmt_rate(rate), f"{p99:.1f}", fmt_rate(in_process), ratio])
    header = ["call", "clients", "HTTP requests/s", "p99 ms", "in-process calls/s", "HTTP / in-process"]
    return f"{environment_note()}; medians of {rounds} rounds of {seconds:g} s\n\n{markdown_table(header, rows)}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    print(run(rounds=args.rounds, seconds=args.seconds))


if __name__ == "__main__":
    main()
