"""Running the ``batchstore`` command in a test: in this process (fast tier) or as a real process (full tier).

In the fast tier :func:`cli` calls :func:`batchstore.cli.main` here, inside click's ``CliRunner`` isolation
(stdin, stdout, stderr and the environment swapped for the call): the same code a process runs after
``python -m batchstore``, without the ~0.3 s each interpreter takes to start. In the full tier
(``BATCHSTORE_TESTS=full``, CI) every call is ``python -m batchstore``, a real process: its exit status, its
streams and its environment are the ones a shell sees. ``process=True`` asks for a real process in both.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from conftest import FULL

import batchstore

#: Run the batchstore package the tests import, wherever the subprocess starts.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
    str(Path(batchstore.__file__).resolve().parent.parent), os.environ.get("PYTHONPATH"),
]))}  # fmt: skip

COMMAND = [sys.executable, "-m", "batchstore"]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def cli(
    *args: str | Path,
    stdin: str | None = None,
    cwd: Path | None = None,
    program: list[str] | None = None,
    env: dict[str, str] | None = None,
    process: bool = False,
) -> Run:
    """Run ``batchstore ARGS``: a real process in the full tier, for ``program`` or with ``process=True``."""
    if FULL or process or program is not None:
        command = [*(program or COMMAND), *map(str, args)]
        done = subprocess.run(
            command, input=stdin or "", capture_output=True, text=True, timeout=90, cwd=cwd,
            env={**ENV, **(env or {})}, check=False,
        )
        return Run(done.returncode, done.stdout, done.stderr)
    from batchstore.cli import main

    runner = CliRunner()  # click >= 8.2 keeps stderr apart from stdout
    with contextlib.chdir(cwd or Path.cwd()), runner.isolation(input=stdin or "", env=env) as (out, err, _):
        status = main([str(arg) for arg in args])
        sys.stdout.flush()
        sys.stderr.flush()
    return Run(status, out.getvalue().decode(), err.getvalue().decode())
