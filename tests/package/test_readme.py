"""README.md's set-up commands are the ones CI runs, and its examples run.

The README is the front page; the rest of the documentation is under docs/ and tests/package/test_docs.py checks it
(its examples, its commands, and that the reference names every public name).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ci_runs_the_readme_test_command_word_for_word() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"```sh\n(python3 -m venv .venv && [^\n]+)\n```", readme)
    assert len(commands) == 2, commands  # install + demo, install + tests
    demo, tests = commands
    assert "batchstore demo" in demo
    assert tests in ci.splitlines()


def python_blocks(readme: str) -> list[tuple[int, str]]:
    """Every ```python block of the README, with the line it starts on."""
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```", readme, flags=re.S | re.M):
        blocks.append((readme.count("\n", 0, match.start()) + 2, match.group(1)))
    return blocks


def test_every_python_block_of_the_readme_runs_in_order(tmp_path: Path, monkeypatch: object) -> None:
    """The README's examples run as written, one after another, in one namespace, in an empty folder:
    an example can never break silently."""
    import os

    readme = (ROOT / "README.md").read_text()
    blocks = python_blocks(readme)
    assert len(blocks) >= 2  # the tour, and the worker
    namespace: dict[str, object] = {"__name__": "readme"}
    before = os.getcwd()
    os.chdir(tmp_path)
    try:
        for line, source in blocks:
            try:
                exec(compile(source, f"README.md:{line}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"the README's python block at line {line} fails: {exc!r}") from exc
    finally:
        for value in list(namespace.values()):
            close = getattr(value, "close", None)
            if type(value).__name__ in ("BatchStore", "AsyncBatchStore") and callable(close):
                close()
        os.chdir(before)
