"""``python -m benchmarks``: run every benchmark and print Markdown tables.

By default everything runs in a few minutes at most on two cores; ``--full`` runs the large scale
checks (1,000,000 tasks); ``--only NAME`` runs one section (ops, peers, scale or cli).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python benchmarks/__main__.py
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from benchmarks._common import environment_note

SECTIONS = ("ops", "peers", "scale", "cli")
TITLES = {
    "ops": "Operations: batchstore vs raw sqlite3",
    "peers": "Peers: one tracking cycle on SQLite",
    "scale": "Scale: growth with the number of tasks",
    "cli": "Command line start-up",
}


def _section(name: str, full: bool) -> Callable[[], str]:
    # Imported on demand: --only cli never loads what ops needs, and a peer's absence stays local.
    if name == "ops":
        from benchmarks import ops

        return lambda: ops.run(rounds=9 if full else 7)
    if name == "peers":
        from benchmarks import peers

        return lambda: peers.run(rounds=9 if full else 7)
    if name == "scale":
        from benchmarks import scale

        return lambda: scale.run(full=full)
    from benchmarks import cli

    return lambda: cli.run(runs=11 if full else 9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--full", action="store_true", help="the large scale checks (1,000,000 tasks), more rounds")
    parser.add_argument("--only", choices=SECTIONS, metavar="NAME", help=f"run one section: {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    names = [args.only] if args.only else list(SECTIONS)
    print(f"# batchstore benchmarks{' (--full)' if args.full else ''}\n")
    print(f"{environment_note()}\n")
    began = time.perf_counter()
    for name in names:
        start = time.perf_counter()
        report = _section(name, args.full)()
        print(f"## {TITLES[name]}\n\n{report}\n\n_{name}: {time.perf_counter() - start:.0f} s_\n", flush=True)
    print(f"_total: {time.perf_counter() - began:.0f} s_")
    return 0


if __name__ == "__main__":
    sys.exit(main())
