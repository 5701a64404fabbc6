"""Helpers shared by the benchmark scripts: sample tasks, timing, medians, Markdown tables, peak RSS,
and the WAL frames a SQLite operation writes."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import sqlite3
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
    "truncate_wal",
    "wal_frames_per_op",
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


#: SQLite's default ``wal_autocheckpoint``: a commit that leaves the WAL at this many frames or more checkpoints it,
#: and the next write then starts the WAL over, so its size stops counting frames.
AUTOCHECKPOINT = 1000
#: Frames a chunk of several operations aims at: well under AUTOCHECKPOINT, since operations vary.
CHUNK_FRAMES = 600
WAL_HEADER = 32  # bytes before the first frame of a WAL file
FRAME_HEADER = 24  # bytes before each frame's page


def _wal_path(db: Path) -> Path:
    return db.with_name(db.name + "-wal")


def truncate_wal(checker: sqlite3.Connection, db: Path, *, timeout: float = 5.0) -> None:
    """Checkpoint the whole WAL into the database and truncate it to 0 bytes, retrying while busy.

    ``checker`` is a connection of its own to ``db`` (never the measured one, whose settings must stay as
    they are). A checkpoint reports busy while another connection reads or writes; the measured code
    runs in this thread, so that passes in a moment.
    """
    wal = _wal_path(db)
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            (busy, _log, _done) = checker.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            busy = 1
        size = wal.stat().st_size if wal.exists() else 0
        if not busy and size == 0:
            return
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{db}: the WAL could not be checkpointed and truncated (busy={busy}, {size} bytes)")
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _frames(db: Path, page_size: int) -> float:
    wal = _wal_path(db)
    size = wal.stat().st_size if wal.exists() else 0
    if size <= WAL_HEADER:
        return 0.0
    return (size - WAL_HEADER) / (page_size + FRAME_HEADER)


def wal_frames_per_op(db: Path | str, ops: Callable[[int], object], n: int) -> float:
    """WAL frames written per operation: ``ops(k)`` does k operations on the SQLite file ``db`` (in WAL mode).

    The WAL grows by one frame (page_size + 24 bytes, after a 32-byte header) for every page a commit
    writes, so the size of a WAL truncated beforehand counts the pages. The n operations run in chunks
    small enough that SQLite's autocheckpoint (at 1,000 frames) never starts the WAL over mid-chunk;
    between chunks a separate connection checkpoints and truncates it. A single operation may write
    more than that: the autocheckpoint then runs after its commit, which leaves the file's size alone.
    Reads write nothing: 0.0.

    >>> import sqlite3, tempfile, pathlib
    >>> db = pathlib.Path(tempfile.mkdtemp()) / "toy.db"
    >>> conn = sqlite3.connect(db, isolation_level=None)
    >>> conn.execute("PRAGMA journal_mode=WAL").fetchone()
    ('wal',)
    >>> _ = conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    >>> def insert(k):
    ...     for _ in range(k):
    ...         conn.execute("INSERT INTO t (v) VALUES ('x')")
    >>> wal_frames_per_op(db, insert, 100)
    1.0
    """
    db = Path(db)
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    checker = sqlite3.connect(str(db), isolation_level=None, timeout=5.0)
    try:
        (page_size,) = checker.execute("PRAGMA page_size").fetchone()
        (mode,) = checker.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":
            raise RuntimeError(f"{db}: journal_mode is {mode}, not WAL: there are no frames to count")
        total, done, chunk = 0.0, 0, 1  # the first chunk, one operation, sizes the others
        while done < n:
            k = min(chunk, n - done)
            truncate_wal(checker, db)
            ops(k)
            frames = _frames(db, page_size)
            if k > 1 and frames >= AUTOCHECKPOINT:
                raise RuntimeError(f"{db}: {k} operations wrote {frames:.0f} frames: an autocheckpoint may "
                                   "have restarted the WAL, so its size undercounts; the chunks are too big")
            total += frames
            done += k
            per_op = total / done
            chunk = max(1, int(CHUNK_FRAMES / per_op)) if per_op > 0 else n
        truncate_wal(checker, db)
    finally:
        checker.close()
    return total / n
