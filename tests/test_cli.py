"""The ``batchstore`` command, run as a subprocess (``python -m batchstore``) on a database file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import batchstore
from batchstore import BatchStore

#: Run the batchstore package the tests import, wherever the subprocess starts.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
    str(Path(batchstore.__file__).resolve().parent.parent), os.environ.get("PYTHONPATH"),
]))}  # fmt: skip


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def cli(*args: str | Path, stdin: str | None = None, cwd: Path | None = None, program: list[str] | None = None) -> Run:
    command = [*(program or [sys.executable, "-m", "batchstore"]), *map(str, args)]
    done = subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=60, cwd=cwd, env=ENV, check=False
    )
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def cli_db(db_path: Path) -> Path:
    """A database file with two tasks: 1 (seed 002, Succeeded, with a ParameterObject) and 2 (New)."""
    with BatchStore(str(db_path), synchronous="OFF") as store:
        store.create(
            {
                "Name": "ContactExport",
                "ParameterObject": {"format": "xlsx"},
                "Created": "2024-11-27T09:00:00+01:00",
                "State": "Succeeded",
                "Description": "Export contact list",
                "ProgressPercent": 100,
            }
        )
        store.create({"Name": "ERPSync"})
    return db_path


# --- demo ---------------------------------------------------------------------------------------


def test_demo_runs_every_operation_on_the_given_file(tmp_path: Path, query: Any) -> None:
    db = tmp_path / "tasks.db"
    run = cli("demo", "--db", db, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert "ERPSync" in run.stdout
    assert str(db.resolve()) in run.stdout
    names = query("SELECT name FROM batchtask ORDER BY id")
    assert len(names) >= 2
    assert query("SELECT count(*) FROM binaryobject")[0][0] >= 1
    assert not (tmp_path / "batchstore-demo.db").exists()


def test_the_console_script_runs_the_demo(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("batchstore")
    if not script.exists():
        pytest.skip("the batchstore console script is not installed next to this Python")
    run = cli("demo", "--db", tmp_path / "demo.db", cwd=tmp_path, program=[str(script)])
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "demo.db").exists()


# --- the verbs ----------------------------------------------------------------------------------


def test_create_reads_wire_json_from_the_argument(cli_db: Path, query: Any) -> None:
    run = cli("create", '{"Id": 254, "Name": "from argument", "State": "Started"}', "--db", cli_db)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout) == 3
    assert query("SELECT name, state FROM batchtask WHERE id = 3") == [("from argument", 3)]


@pytest.mark.parametrize("args", [[], ["-"]])
def test_create_reads_wire_json_from_stdin(cli_db: Path, query: Any, args: list[str]) -> None:
    run = cli("create", *args, "--db", cli_db, stdin='{"Name": "from stdin", "ParameterObject": [1, 2]}')
    assert run.returncode == 0, run.stderr
    task_id = int(run.stdout)
    assert query("SELECT name, details_table FROM batchtask WHERE id = ?", task_id) == [("from stdin", 205)]


def test_create_makes_a_new_database_file(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    run = cli("create", '{"Name": "first"}', "--db", db)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "1"
    with BatchStore(str(db)) as store:
        assert store.get(1).name == "first"


def test_get_prints_the_wire_form(cli_db: Path) -> None:
    run = cli("get", "1", "--db", cli_db)
    assert run.returncode == 0, run.stderr
    printed = run.json()
    with BatchStore(str(cli_db)) as store:
        expected = json.loads(json.dumps(store.get(1).to_wire()))
    assert printed == expected
    assert list(printed)[:3] == ["Id", "Name", "AssociateId"]
    assert len(printed) == 24
    assert printed["State"] == "Succeeded"
    assert printed["Created"] == "2024-11-27T08:00:00+00:00"
    assert printed["ParameterObject"] == {"format": "xlsx"}


def test_get_with_select(cli_db: Path) -> None:
    run = cli("get", "1", "--db", cli_db, "--select", "name,State")
    assert run.returncode == 0, run.stderr
    assert {k: v for k, v in run.json().items() if v is not None} == {
        "Id": 1, "Name": "ContactExport", "State": "Succeeded",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("args", "ids"),
    [([], [1, 2]), (["New"], [2]), (["succeeded"], [1])],
)
def test_list_prints_a_json_array_by_id(cli_db: Path, args: list[str], ids: list[int]) -> None:
    run = cli("list", *args, "--db", cli_db)
    assert run.returncode == 0, run.stderr
    listed = run.json()
    assert [task["Id"] for task in listed] == ids
    assert all(len(task) == 24 for task in listed)


def test_list_with_select(cli_db: Path) -> None:
    run = cli("list", "--db", cli_db, "--select", "State")
    assert [{k: v for k, v in t.items() if v is not None} for t in run.json()] == [
        {"Id": 1, "State": "Succeeded"}, {"Id": 2, "State": "New"},
    ]  # fmt: skip


def test_update_changes_the_task_and_prints_it(cli_db: Path, query: Any) -> None:
    run = cli("update", '{"Id": 2, "State": "Aquired", "Response": "picked up"}', "--db", cli_db)
    assert run.returncode == 0, run.stderr
    assert (run.json()["State"], run.json()["Response"]) == ("Aquired", "picked up")
    assert query("SELECT state, response FROM batchtask WHERE id = 2") == [(2, "picked up")]


def test_get_then_update_round_trips_through_the_command_line(cli_db: Path, query: Any) -> None:
    task = cli("get", "2", "--db", cli_db).json()
    task["State"] = "Started"
    run = cli("update", "-", "--db", cli_db, stdin=json.dumps(task))
    assert run.returncode == 0, run.stderr
    assert query("SELECT state FROM batchtask WHERE id = 2") == [(3,)]


@pytest.mark.parametrize("from_stdin", [False, True])
def test_patch_applies_and_prints(cli_db: Path, query: Any, from_stdin: bool) -> None:
    operations = json.dumps(
        [
            {"op": "test", "path": "/State", "value": "New"},
            {"op": "replace", "path": "/State", "value": "Started"},
        ]
    )
    if from_stdin:
        run = cli("patch", "2", "--db", cli_db, stdin=operations)
    else:
        run = cli("patch", "2", operations, "--db", cli_db)
    assert run.returncode == 0, run.stderr
    assert run.json()["State"] == "Started"
    assert query("SELECT state FROM batchtask WHERE id = 2") == [(3,)]


def test_delete_removes_the_task_and_its_blob(cli_db: Path, query: Any) -> None:
    run = cli("delete", "1", "--db", cli_db)
    assert run.returncode == 0, run.stderr
    assert "1" in run.stdout
    assert query("SELECT id FROM batchtask") == [(2,)]
    assert query("SELECT count(*) FROM binaryobject") == [(0,)]


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin", "named"),
    [
        (["create", '{"Name": "x", "State": "All"}'], None, "State"),
        (["create", '{"Name": "x", "Colour": "red"}'], None, "Colour"),
        (["create", "not json"], None, "JSON"),
        (["create", "-"], '{"Name": "x", "IsSystemTask": 1}', "IsSystemTask"),
        (["get", "99"], None, "99"),
        (["get", "1", "--select", "Nope"], None, "Nope"),
        (["update", '{"Id": 1, "Name": "renamed"}'], None, "Name"),
        (["update", '{"State": "Failed"}'], None, "Id"),
        (["patch", "1", '[{"op": "test", "path": "/State", "value": "New"}]'], None, "test"),
        (["patch", "1", '[{"op": "replace", "path": "/Name", "value": "x"}]'], None, "Name"),
        (["patch", "1", '{"op": "replace", "path": "/State", "value": "Failed"}'], None, "list"),
        (["delete", "99"], None, "99"),
    ],
)
def test_bad_input_prints_one_line_exits_non_zero_and_writes_nothing(
    cli_db: Path, dump: Any, args: list[str], stdin: str | None, named: str
) -> None:
    before = dump(cli_db)
    run = cli(*args, "--db", cli_db, stdin=stdin)
    assert run.returncode != 0
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert named in lines[0]
    assert "Traceback" not in run.stderr
    assert dump(cli_db) == before


@pytest.mark.parametrize("verb", [["patch", "1", "[]"]])
def test_a_missing_database_is_reported_not_created(tmp_path: Path, verb: list[str]) -> None:
    db = tmp_path / "missing.db"
    run = cli(*verb, "--db", db)
    assert run.returncode != 0
    assert len(run.stderr.splitlines()) == 1
    assert "missing.db" in run.stderr
    assert not db.exists()


@pytest.mark.parametrize(("state", "named"), [("InProgress", "State"), ("All --select department", "department")])
def test_list_refusals_print_one_line(cli_db: Path, state: str, named: str) -> None:
    run = cli("list", *state.split(), "--db", cli_db)
    assert run.returncode == 1
    assert len(run.stderr.splitlines()) == 1
    assert named in run.stderr


def test_a_list_refusal_prints_nothing_on_stdout(cli_db: Path) -> None:
    run = cli("list", "InProgress", "--db", cli_db)
    assert run.returncode == 1
    assert run.stdout == ""


@pytest.mark.parametrize(
    "args",
    [["get", "1"], ["get", "one", "--db", "{db}"]],
)
def test_usage_errors_exit_non_zero_and_write_nothing(cli_db: Path, dump: Any, args: list[str]) -> None:
    before = dump(cli_db)
    run = cli(*(a.format(db=cli_db) for a in args))
    assert run.returncode != 0
    assert "usage" in run.stderr
    assert dump(cli_db) == before
