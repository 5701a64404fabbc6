"""schemathesis (4.x) against a real server process: no 5xx, and no response outside /openapi.json.

It generates requests for every operation from the schema (coverage, fuzzing and stateful phases),
valid and invalid, and checks each response's status code, content type, headers and body. Fuzzing: the
full tier only (CI).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from server_process import require, require_server_packages, running_server

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)


@pytest.mark.full("fuzzing every route: 10-40 s")
def test_schemathesis_finds_no_server_error_and_no_response_outside_the_schema(tmp_path: Path) -> None:
    require_server_packages()
    require("schemathesis")
    with running_server(tmp_path / "fuzz.db") as server:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "from schemathesis.cli import schemathesis; schemathesis()",
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                "10",
                "--seed",
                "20261123",  # the same requests every run: a failure can be replayed
                "--request-timeout",
                "30",
                "--no-color",
                # The dashboard's event stream never ends by design: a fuzzer's request would only time out.
                "--exclude-path",
                "/batchstore/v1/events",
                # A wait is a long poll: it answers when the task finishes or its timeout (up to 60 s) runs
                # out, so most fuzzed requests would only time out. tests/lifecycle/test_wait_requeue.py covers it.
                "--exclude-path",
                "/batchstore/v1/tasks/{task_id}/wait",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
    report = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    assert "passed" in done.stdout and "failed" not in done.stdout.split("SUMMARY")[-1], report
