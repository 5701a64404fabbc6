"""README.md's set-up commands are the ones CI runs, and its examples name real API."""

from __future__ import annotations

import re
from pathlib import Path

import batchstore

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command_word_for_word() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"```sh\n(python3 -m venv .venv && [^\n]+)\n```", readme)
    assert len(commands) == 2, commands  # install + demo, install + tests
    demo, tests = commands
    assert "batchstore demo" in demo
    assert tests in ci.splitlines()


def test_every_public_name_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in batchstore.__all__:
        if name.endswith("Error") or name in ("BatchStore", "BatchTaskState"):
            assert name in readme, name
