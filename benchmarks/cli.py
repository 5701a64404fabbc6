"""Start-up of the ``batchstore`` command against importing the heavy dependencies.

Times the whole process ``batchstore get ID --db FILE`` (the console script next to
``sys.executable``, or ``python -m batchstore`` where there is none) on an existing database,
against ``python -c "import sqlmodel, jsonpatch, msgpack"``: what a command that loaded the
SQLModel schema on every call would pay before doing anything. ``python -c pass`` is shown as the
interpreter's own floor. Runs are interleaved after one warm-up each (children may write bytecode
caches, as on a user's machine); each time is the median of the runs. The target ratio (get / imports) is <= 0.6.

Run: ``python -m benchmarks.cli [--runs N]``. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python benchmarks/cli.py
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from batchstore import BatchStore
from benchmarks._common import fmt_ratio, fmt_seconds, markdown_table, sample_task, temp_dir

TARGET = 0.6


def batchstore_command() -> list[str]:
    """The console script installed beside this interpreter, else ``python -m batchstore``."""
    script = Path(sys.executable).parent / "batchstore"
    return [str(script)] if script.exists() else [sys.executable, "-m", "batchstore"]


# Children may cache bytecode, as on a user's machine: without it (PYTHONDONTWRITEBYTECODE set, as in
# some sandboxes) an editable batchstore is compiled on every run while site-packages has its .pyc.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _wall(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=_ENV, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.decode(errors='replace')}")
    return elapsed


def run(*, runs: int = 9) -> str:
    with temp_dir("cli") as tmp:
        db = tmp / "tasks.db"
        with BatchStore(str(db)) as store:
            ids = store.create_many([sample_task(i) for i in range(1_000)])
        task_id = ids[len(ids) // 2]
        get = [*batchstore_command(), "get", str(task_id), "--db", str(db)]
        # The command must work before it is timed: it prints the task as wire JSON.
        shown = subprocess.run(get, capture_output=True, text=True, env=_ENV, check=True).stdout
        assert json.loads(shown)["Id"] == task_id, shown
        commands = {
            "batchstore get": get,
            "import sqlmodel, jsonpatch, msgpack": [sys.executable, "-c", "import sqlmodel, jsonpatch, msgpack"],
            "python -c pass": [sys.executable, "-c", "pass"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for command in commands.values():
            _wall(command)  # warm-up: page cache, bytecode
        for r in range(runs):
            order = list(commands) if r % 2 == 0 else list(reversed(commands))
            for name in order:
                times[name].append(_wall(commands[name]))
    medians = {name: statistics.median(t) for name, t in times.items()}
    imports = medians["import sqlmodel, jsonpatch, msgpack"]
    shown_command = " ".join(Path(get[0]).name if i == 0 else part for i, part in enumerate(get[:3]))
    rows = [
        (f"`{shown_command} --db FILE`", fmt_seconds(medians["batchstore get"]),
         fmt_ratio(medians["batchstore get"] / imports)),
        ('`python -c "import sqlmodel, jsonpatch, msgpack"`', fmt_seconds(imports), "1.00"),
        ("`python -c pass`", fmt_seconds(medians["python -c pass"]),
         fmt_ratio(medians["python -c pass"] / imports)),
    ]  # fmt: skip
    return "\n".join([
        f"Whole-process wall time, median of {runs} interleaved runs (target: get / imports <= {TARGET})",
        "",
        markdown_table(["process", "median wall time", "ratio to imports"], rows),
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=9, help="runs of each process (at least 7)")
    args = parser.parse_args(argv)
    print(run(runs=max(7, args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
