"""The official SuperOffice WebAPI client (``@superoffice/webapi`` from npm) against a real ``batchstore serve``.

The package is installed once into pytest's cache folder; ``tests/js/superoffice_agent.mjs`` drives every
method of its ``BatchAgent`` against a server process on each engine, with a token, and prints what each
returned. The checks are here. Node and npm are prerequisites: without them the test skips, unless
BATCHSTORE_REQUIRE_ALL is set (CI, whose ``.ci/node.sh`` installs them), where it fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import Database
from server_process import missing, require_server_packages, running_server

#: The client's major version the test was written against (its BatchAgent has the fifteen methods).
PACKAGE = "@superoffice/webapi@12"
SCRIPT = Path(__file__).resolve().parents[1] / "js" / "superoffice_agent.mjs"
TOKEN = "js-client-token"


@pytest.fixture(scope="session")
def webapi_package(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder whose node_modules holds ``@superoffice/webapi`` (installed on first use, then reused).

    pytest's cache folder keeps it between runs; without the cache plugin (``-p no:cacheprovider``) a
    temporary folder serves this run.
    """
    require_server_packages()
    for program in ("node", "npm"):
        if shutil.which(program) is None:
            missing(f"needs {program} (Node 20 and npm; CI: bash .ci/node.sh)")
    cache = getattr(pytestconfig, "cache", None)
    folder = cache.mkdir("superoffice-webapi") if cache is not None else tmp_path_factory.mktemp("superoffice-webapi")
    if not (folder / "node_modules" / "@superoffice" / "webapi" / "package.json").exists():
        (folder / "package.json").write_text('{"private": true}\n')
        try:
            subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--prefer-offline", PACKAGE],
                cwd=folder, capture_output=True, text=True, timeout=600, check=True,
            )  # fmt: skip
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            missing(f"npm could not install {PACKAGE}: {getattr(exc, 'stderr', '') or exc}")
    return folder


def drive(folder: Path, url: str, name: str) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(SCRIPT), str(folder), url, TOKEN, name], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.full("Node running the official client; tests/server/test_server_superoffice.py covers the routes")
def test_every_batch_agent_method_of_the_official_client(webapi_package: Path, db: Database) -> None:
    with running_server(db.target, token=TOKEN) as server:
        out = drive(webapi_package, server.url, "FromJavaScript")
    first, system, other = out["start"], out["startSystem"], out["startOther"]
    assert all(isinstance(i, int) for i in (first, system, other)) and len({first, system, other}) == 3

    got = out["got"]
    assert (got["id"], got["name"], got["associateId"], got["request"]) == (first, "FromJavaScript", 41, "go")
    assert (got["state"], got["isSystemTask"]) == ("New", False)
    assert got["parameterObject"] == {"Report": "Q3", "Pages": 3, "Nested": {"Tags": ["a", "b"], "Ratio": 0.5}}
    # The round trip: JavaScript's Date kept Created to the millisecond; the whole object went back.
    updated = out["updated"]
    assert "failed" not in updated, updated
    assert (updated["state"], updated["description"]) == ("Started", "changed from JavaScript")
    assert updated["created"] == got["created"] and updated["parameterObject"] == got["parameterObject"]
    refused = out["readOnly"]
    assert refused["failed"] == 400 and refused["body"]["fields"] == ["Name"]
    assert out["missing"] is None

    assert out["byState"] == [first]  # user tasks only: the system task is New, the other task New
    assert out["byNameAndState"] == [first]  # user tasks only
    assert out["byAssociates"] == [first, other]
    assert out["byAssociatesAndState"] == [other]
    assert out["byNameAndAssociates"] == [first]
    assert out["allByName"] == [first, system]  # system and user
    assert out["allByNameAndState"] == [system]
    assert out["systemByName"] == [system]
    assert out["systemByNameAndState"] == [system]

    assert out["stopped"] is True
    assert out["afterStop"] == "Started"  # a Started task is asked to stop; its worker acts on it
    assert out["deleteOne"] in ("", None) and out["deleteMany"] in ("", None)
    assert out["left"] == []
