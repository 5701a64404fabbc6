"""Helpers shared by the benchmark scripts: sample tasks, timing, medians, Markdown tables, peak RSS."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "PARAMS",
    "fmt_bytes",
    "fmt_rate",
    "fmt_ratio",
    "fmt_seconds",
    "interleaved",
    "markdown_table",
    "peak_rss_bytes",
    "sample_task",
    "temp_dir",
]

#: The ParameterObject every benchmark stores: a small, realistic one (SuperOffice's ERP sync sample).
PARAMS: dict[str, Any] = {
    "ParameterObject1": "source=SAP",
    "ParameterObject2": "syncType=incremental",
    "tables": ["customer", "order", "invoice"],
    "batchSize": 500,
    "dryRun": False,
}


def sample_task(index: int = 0, state: str = "New") -> dict[str, Any]:
    """A wire-form task with a ParameterObject, as a caller would pass it to ``BatchStore.create``."""
    return {
        "Name": f"ERPSync-{index}",
        "AssociateId": 602,
        "ParameterObject": PARAMS,
        "DatabaseSerialNumber": "706323",
        "Context": "ERP Integration",
        "Description": "Synchronize customer and order data from SAP ERP system",
        "Request": "Sync updated customer records from SAP",
        "State": state,
    }


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A fresh directory under the system temp dir, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"batchstore-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def timed(fn: Callable[[], int]) -> float:
    """Operations per second of one call of ``fn``, which returns how many operations it did."""
    start = time.perf_counter()
    count = fn()
    elapsed = time.perf_counter() - start
    return count / elapsed


def interleaved(sides: Sequence[Callable[[], int]], rounds: int) -> list[list[float]]:
    """Run each side's round in turn, ``rounds`` times; ops/s of every round, per side.

    The starting side alternates from one round to the next, so neither side always runs first
    (after the other's writes, with a warmer or colder page cache).
    """
    rates: list[list[float]] = [[] for _ in sides]
    for r in range(rounds):
        order = range(len(sides)) if r % 2 == 0 else reversed(range(len(sides)))
        for i in order:
            rates[i].append(timed(sides[i]))
    return rates


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """Median over rounds of a[i] / b[i]: each round's pair ran back to back, so drift cancels."""
    return statistics.median(x / y for x, y in zip(a, b))


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (VmHWM), in bytes."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    # ru_maxrss is KiB on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def current_rss_bytes() -> int:
    """Resident set size of this process now (VmRSS), in bytes; 0 where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}"


def fmt_seconds(value: float) -> str:
    if value < 1e-3:
        return f"{value * 1e6:,.0f} µs"
    if value < 1:
        return f"{value * 1e3:,.1f} ms"
    return f"{value:,.2f} s"


def fmt_bytes(value: float) -> str:
    return f"{value / 2**20:,.1f} MiB"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table; the first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        parts = [row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:]))]
        return "| " + " | ".join(parts) + " |"

    rule = "| " + " | ".join([":" + "-" * (widths[0] - 1), *("-" * (w - 1) + ":" for w in widths[1:])]) + " |"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def environment_note() -> str:
    """One line naming the machine the numbers came from."""
    import platform
    import sqlite3

    return (
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}"
    )
