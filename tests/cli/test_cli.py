"""The ``batchstore`` command on a database file: in this process in the fast tier, as ``python -m batchstore``
in the full one (tests/cli_run.py); the tests about pipes, signals and terminals always start a process."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_run import COMMAND, ENV, cli

import batchstore
from batchstore import BatchStore
from batchstore._migrations import SCHEMA_VERSION

# The CLI's commands are run on a SQLite file here; the store under them is tested on both engines.
pytestmark = pytest.mark.sqlite_only("the CLI commands run on a SQLite file")


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
    """A real process in both tiers: the installed ``batchstore`` script, as a shell runs it."""
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


def test_get_wire_prints_exactly_the_api_wire_form(cli_db: Path) -> None:
    run = cli("get", "1", "--db", cli_db, "--wire")
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
    assert run.json() == {
        "Id": 1, "Name": "ContactExport", "State": "Succeeded",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("args", "ids"),
    [([], [1, 2]), (["New"], [2]), (["succeeded"], [1])],
)
def test_list_json_prints_a_json_array_by_id(cli_db: Path, args: list[str], ids: list[int]) -> None:
    run = cli("list", *args, "--db", cli_db, "--json")
    assert run.returncode == 0, run.stderr
    listed = run.json()
    assert [task["Id"] for task in listed] == ids
    assert all(len(task) == 22 and "TableRight" not in task for task in listed)
    wire = cli("list", *args, "--wire", "--db", cli_db).json()
    assert [task["Id"] for task in wire] == ids
    assert all(len(task) == 24 for task in wire)


def test_list_with_select(cli_db: Path) -> None:
    run = cli("list", "--db", cli_db, "--select", "State", "--json")
    assert run.json() == [
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


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (["create"], None, "no JSON given: standard input was empty; pass the task"),
        (["create", "-"], "  \n", "no JSON given: standard input was empty; pass the task"),
        (["create", ""], None, "no JSON given: the argument is empty; pass the task"),
        (["update", "-"], None, "no JSON given: standard input was empty; pass the task"),
        (["patch", "1"], None, "no JSON given: standard input was empty; pass the patch"),
    ],
)
def test_no_json_at_all_is_said_so_not_reported_as_bad_json(
    cli_db: Path, dump: Any, args: list[str], stdin: str | None, says: str
) -> None:
    before = dump(cli_db)
    run = cli(*args, "--db", cli_db, stdin=stdin)  # stdin None: an empty standard input, as </dev/null
    assert run.returncode == 1
    assert run.stderr == f"batchstore: {says} as an argument or on standard input\n"
    assert "Expecting value" not in run.stderr
    assert dump(cli_db) == before


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("abc", "'abc' is not a task id: ids are whole numbers, such as 1 or 42"),
        ("1.5", "'1.5' is not a task id: ids are whole numbers"),
        (str(2**63), f"{2**63} is not a task id: ids are 64-bit"),
    ],
)
def test_a_task_id_that_is_no_number_says_what_an_id_is(cli_db: Path, value: str, says: str) -> None:
    run = cli("get", value, "--db", cli_db)
    assert run.returncode == 2
    assert "Invalid value for 'ID': " + says in run.stderr
    assert "integer range" not in run.stderr
    assert len(run.stderr.splitlines()) == 1


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
    assert run.returncode == 2
    assert len(run.stderr.splitlines()) == 1, run.stderr
    assert dump(cli_db) == before


# --- forms of output ----------------------------------------------------------------------------


def test_a_pipe_gets_json_lines_without_the_shared_carriers(cli_db: Path) -> None:
    run = cli("list", "--db", cli_db)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    tasks = [json.loads(line) for line in lines]
    assert [t["Id"] for t in tasks] == [1, 2]
    assert all("TableRight" not in t and "FieldProperties" not in t for t in tasks)
    with BatchStore(str(cli_db)) as store:
        wire = json.loads(json.dumps(store.get(1).to_wire()))
    assert tasks[0] == {k: v for k, v in wire.items() if k not in ("TableRight", "FieldProperties")}


def test_select_naming_a_carrier_prints_it(cli_db: Path) -> None:
    printed = cli("get", "1", "--db", cli_db, "--select", "TableRight").json()
    assert set(printed) == {"Id", "TableRight"}
    assert printed["TableRight"]["Mask"] == "Select, Insert, Update, Delete"


def test_options_may_come_before_or_after_positionals(cli_db: Path) -> None:
    replace = '[{"op": "replace", "path": "/Description", "value": "%s"}]'
    assert cli("patch", "2", "--db", cli_db, replace % "a").json()["Description"] == "a"
    assert cli("patch", "--db", cli_db, "2", replace % "b").json()["Description"] == "b"
    assert cli("--version").stdout == f"batchstore {batchstore.__version__}\n"


def test_db_may_come_before_the_verb(cli_db: Path) -> None:
    other = cli_db.with_name("other.db")
    run = cli("--db", cli_db, "get", "2")
    assert run.returncode == 0, run.stderr
    assert run.json()["Name"] == "ERPSync"
    # The verb's own --db wins over one before it; one before it wins over BATCHSTORE_DB.
    assert cli("--db", other, "get", "2", "--db", cli_db).json()["Name"] == "ERPSync"
    assert cli("--db", cli_db, "count", env={"BATCHSTORE_DB": str(other)}).stdout == "2\n"
    assert not other.exists()
    # A sub-verb (`retention set`) sits a group further down, and still takes the --db before it.
    assert cli("--db", cli_db, "retention", "set", "--finished-older-than", "30d").returncode == 0
    assert cli("retention", "show", "--db", cli_db).json()["finished_older_than"] == 30 * 86400
    missing = cli("--db", cli_db)
    assert missing.returncode == 2
    assert "Missing command" in missing.stderr


def test_watch_json_is_described_as_json_lines() -> None:
    help_text = " ".join(cli("watch", "--help").stdout.split())
    assert "--json Print each change as one JSON line (JSON Lines, never an array)." in help_text
    assert "a list is an array" not in help_text


def test_batchstore_db_stands_in_for_db(cli_db: Path) -> None:
    run = cli("get", "2", env={"BATCHSTORE_DB": str(cli_db)})
    assert run.returncode == 0, run.stderr
    assert run.json()["Name"] == "ERPSync"
    assert cli("get", "2", env={"BATCHSTORE_DB": str(cli_db.with_name("other.db"))}).returncode == 1


# --- the lifecycle ------------------------------------------------------------------------------


def test_every_lifecycle_step_from_the_command_line(cli_db: Path) -> None:
    acquired = cli("acquire", "--name", "ERPSync", "--worker", "w1", "--db", cli_db, "--json").json()
    assert (acquired["Id"], acquired["State"]) == (2, "Aquired")
    assert cli("acquire", "--worker", "w2", "--db", cli_db, "--json").stdout == "null\n"
    assert cli("start", "2", "--worker", "w1", "--db", cli_db).json()["StartCount"] == 1
    shown = cli("progress", "2", "40", "200 of 500", "--worker", "w1", "--db", cli_db).json()
    assert (shown["ProgressPercent"], shown["ProgressDescription"]) == (40, "200 of 500")
    lost = cli("succeed", "2", "--worker", "w2", "--db", cli_db)
    assert lost.returncode == 1 and len(lost.stderr.splitlines()) == 1 and "w2" in lost.stderr
    done = cli("succeed", "2", "--result", "Success", "--file-name", "sync.log", "--worker", "w1", "--db", cli_db)
    assert done.returncode == 0, done.stderr
    assert {k: done.json()[k] for k in ("State", "Result", "FileName", "ProgressPercent")} == {
        "State": "Succeeded", "Result": "Success", "FileName": "sync.log", "ProgressPercent": 100,
    }  # fmt: skip
    history = cli("history", "2", "--db", cli_db, "--json").json()
    assert [e["operation"] for e in history] == ["create", "acquire", "start", "report_progress", "succeed"]
    assert all(list(e) == ["at", "operation", "worker", "changes"] for e in history)
    assert history[1]["worker"] == "w1"
    assert history[1]["changes"] == {"State": ["New", "Aquired"]}


def test_fail_and_stop(cli_db: Path, dump: Any) -> None:
    new = cli("create", '{"Name": "c"}', "--db", cli_db).stdout.strip()
    stopped = cli("stop", new, "--db", cli_db)
    assert stopped.returncode == 0, stopped.stderr
    assert (stopped.json()["State"], stopped.json()["Result"]) == ("Failed", "Stopped by request")
    before = dump(cli_db)
    refused = cli("stop", "1", "--db", cli_db)  # Succeeded already
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "Succeeded" in refused.stderr
    assert dump(cli_db) == before
    cli("acquire", "--worker", "w", "--db", cli_db)
    failed = cli("fail", "2", "--result", "no data", "--worker", "w", "--db", cli_db).json()
    assert (failed["State"], failed["Result"]) == ("Failed", "no data")


def test_prune_accepts_units_and_removes_old_finished_tasks(cli_db: Path, query: Any) -> None:
    with sqlite3.connect(cli_db) as conn:
        conn.execute("UPDATE batchtask SET state_changed = '2000-01-01T00:00:00.000000+00:00' WHERE id = 1")
    assert cli("prune", "--older-than", "1d12h", "--db", cli_db).stdout == "1\n"
    assert query("SELECT id FROM batchtask") == [(2,)]
    for age in ("30d", "2h", "90m", "45s"):
        assert cli("prune", "--older-than", age, "--db", cli_db).stdout == "0\n"
    bad = cli("prune", "--older-than", "30x", "--db", cli_db)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and "--older-than" in bad.stderr


def test_list_and_count_take_the_agent_queries(db_path: Path) -> None:
    with BatchStore(str(db_path)) as store:
        store.create_many([
            {"Name": "a", "AssociateId": 1}, {"Name": "b", "AssociateId": 2, "State": "Failed"},
            {"Name": "a", "AssociateId": 2, "State": "Started"},
            {"Name": "a", "AssociateId": 3, "IsSystemTask": True, "State": "Succeeded"},
        ])  # fmt: skip
    cases = {
        ("--name", "a"): [1, 3, 4],
        ("--name", "a", "started", "new"): [1, 3],
        ("--associate", "2", "--associate", "3"): [2, 3, 4],
        ("--associate", "2", "--name", "a"): [3],
        ("Failed", "Started"): [2, 3],
        ("--name", "a", "--system"): [4],
        ("--system", "All", "New"): [4],
    }
    for args, ids in cases.items():
        listed = cli("list", *args, "--db", db_path, "--select", "Id")
        assert [json.loads(line)["Id"] for line in listed.stdout.splitlines()] == ids, args
        assert cli("count", *args, "--db", db_path).stdout == f"{len(ids)}\n", args


def test_list_and_count_take_the_query_model(db_path: Path) -> None:
    with BatchStore(str(db_path)) as store:
        store.create_many([
            {"Name": "ERPSync", "Created": "2024-01-03T00:00:00Z"},
            {"Name": "ERPLoad", "State": "Failed", "Created": "2024-01-01T00:00:00Z"},
            {"Name": "2024", "AssociateId": 7, "Created": "2024-01-02T00:00:00Z", "IsSystemTask": True},
            {"Name": "Mail", "State": "Started", "Created": "2024-01-04T00:00:00Z"},
        ])  # fmt: skip
    listed = {
        ("--where", "Name__startswith=ERP"): [1, 2],
        ("--where", "Name__startswith=ERP", "--where", "State__in=New,Started"): [1],
        ("--where", "Name=2024"): [3],
        ("--where", "AssociateId__ge=7"): [3],
        ("--where", "Created__lt=2024-01-03T00:00:00+00:00", "--order-by", "-Created"): [3, 2],
        ("--user", "--order-by", "name desc"): [4, 1, 2],
        ("--order-by", "-Created", "--offset", "1", "--limit", "2"): [1, 3],
    }
    for args, ids in listed.items():
        run = cli("list", *args, "--db", db_path, "--select", "Id")
        assert [json.loads(line)["Id"] for line in run.stdout.splitlines()] == ids, (args, run.stderr)
        counted = [a for a in args if a not in ("--order-by", "--offset", "--limit")]
        if len(counted) == len(args):
            assert cli("count", *args, "--db", db_path).stdout == f"{len(ids)}\n", args
    refused = cli("list", "--where", "Colour=red", "--db", db_path)
    assert refused.returncode != 0 and "Colour" in refused.stderr and refused.stdout == ""
    refused = cli("count", "--where", "Name", "--db", db_path)
    assert refused.returncode != 0 and "FIELD[__OP]=VALUE" in refused.stderr


# --- what --db may name -------------------------------------------------------------------------


@pytest.mark.parametrize("target", [":memory:", "", "sqlite://", "sqlite:///:memory:", "file::memory:"])
def test_a_database_that_keeps_nothing_is_refused(tmp_path: Path, target: str) -> None:
    run = cli("create", '{"Name": "a"}', "--db", target, cwd=tmp_path)
    assert run.returncode == 1
    assert run.stdout == ""
    assert len(run.stderr.splitlines()) == 1 and "nothing would be kept" in run.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("verb", [["get", "1"], ["list"], ["count"], ["history", "1"]])
@pytest.mark.parametrize("url", [False, True])
def test_read_verbs_never_create_a_database(tmp_path: Path, verb: list[str], url: bool) -> None:
    target = "sqlite:///missing.db" if url else "missing.db"
    run = cli(*verb, "--db", target, cwd=tmp_path)
    assert run.returncode == 1
    assert len(run.stderr.splitlines()) == 1 and "missing.db" in run.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("verb", [["get", "1"], ["list"], ["count"], ["history", "1"]])
def test_read_verbs_leave_a_foreign_sqlite_file_alone(tmp_path: Path, verb: list[str]) -> None:
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    conn.close()
    before = foreign.read_bytes()
    run = cli(*verb, "--db", foreign)
    assert run.returncode == 1
    assert len(run.stderr.splitlines()) == 1 and "not a batchstore database" in run.stderr
    assert foreign.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_an_id_beyond_64_bits_is_a_usage_error(cli_db: Path) -> None:
    run = cli("get", "99999999999999999999", "--db", cli_db)
    assert run.returncode == 2
    assert len(run.stderr.splitlines()) == 1 and "ID" in run.stderr


# --- pipes, Ctrl-C and terminals ----------------------------------------------------------------


@pytest.fixture
def many_db(db_path: Path) -> Path:
    with BatchStore(str(db_path), synchronous="OFF") as store:
        store.create_many({"Name": f"task {i}", "ParameterObject": {"i": i}} for i in range(20_000))
    return db_path


@pytest.mark.full("20,000 tasks and a process per verb")
@pytest.mark.parametrize("verb", [["list"], ["list", "--json"], ["list", "--wire"], ["get", "1", "--wire"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(many_db: Path, verb: list[str]) -> None:
    process = subprocess.Popen([*COMMAND, *verb, "--db", str(many_db)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=ENV)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline()  # as `| head -1` does: read a line, then close the pipe
    process.stdout.close()
    stderr = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=60) in (0, 141)
    assert stderr == b""


@pytest.mark.full("20,000 tasks and a process")
def test_ctrl_c_during_a_long_list_prints_no_traceback(many_db: Path) -> None:
    process = subprocess.Popen([*COMMAND, "list", "--db", str(many_db)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=ENV)
    assert process.stdout is not None
    assert process.stdout.readline()  # it is listing; the full pipe holds it mid-write
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert b"Traceback" not in stderr and b"KeyboardInterrupt" not in stderr


def test_a_terminal_gets_a_table_with_colour_and_progress_bars(cli_db: Path) -> None:
    with BatchStore(str(cli_db)) as store:
        store.acquire(worker="w")
        store.start(2, worker="w")
        store.report_progress(2, 60, worker="w")
    leader, follower = pty.openpty()
    env = {k: v for k, v in ENV.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    process = subprocess.Popen([*COMMAND, "list", "--db", str(cli_db)], stdout=follower, stderr=subprocess.DEVNULL,
                               env={**env, "TERM": "xterm-256color", "COLUMNS": "100"})
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 0
    text = shown.decode()
    assert "\x1b[" in text  # colour
    assert "━" in text  # progress bars
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    for word in ("Id", "Name", "State", "Progress", "Created", "ContactExport", "ERPSync", "Started", "60%"):
        assert word in plain, word
    assert "{" not in plain  # a table, not JSON


# --- migrate ------------------------------------------------------------------------------------

V1_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "schema_v1.db"


def test_migrate_upgrades_a_0_1_0_file_once_and_says_so(tmp_path: Path) -> None:
    import shutil

    db = tmp_path / "v1.db"
    shutil.copyfile(V1_FIXTURE, db)
    run = cli("migrate", "--db", db)
    # Alembic stays quiet
    assert (run.returncode, run.stdout, run.stderr) == (0, f"schema version 1 -> {SCHEMA_VERSION}\n", "")
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("SELECT version_num FROM batchstore_version").fetchall() == [(f"{SCHEMA_VERSION:04d}",)]
        assert [i for (i,) in conn.execute("SELECT id FROM batchtask ORDER BY id")] == [1, 2, 3, 5]
    run = cli("migrate", "--db", f"sqlite:///{db}")
    assert (run.returncode, run.stdout, run.stderr) == (0, f"already at schema version {SCHEMA_VERSION}\n", "")
    assert cli("get", "1", "--json", "--db", db).json()["ParameterObject"] == {"source": "SAP", "rows": [1, 2, 3]}


def test_migrate_sql_prints_the_upgrade_and_changes_nothing(tmp_path: Path) -> None:
    import shutil

    db = tmp_path / "v1.db"
    shutil.copyfile(V1_FIXTURE, db)
    before = db.read_bytes(), db.stat().st_mtime_ns
    run = cli("migrate", "--sql", "--db", db)
    assert run.returncode == 0 and run.stderr == ""
    assert "CREATE TABLE batchtaskchange" in run.stdout and f"PRAGMA user_version = {SCHEMA_VERSION}" in run.stdout
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v1.db"]
    # The DBA runs it by hand; the file is then current.
    with sqlite3.connect(db) as conn:
        conn.executescript(run.stdout)
    run = cli("migrate", "--db", db)
    assert (run.returncode, run.stdout) == (0, f"already at schema version {SCHEMA_VERSION}\n")
    assert cli("migrate", "--sql", "--db", db).stdout == ""


def test_migrate_sql_never_creates_a_missing_file(tmp_path: Path) -> None:
    db = tmp_path / "missing.db"
    run = cli("migrate", "--sql", "--db", db)
    assert run.returncode == 0 and "CREATE TABLE batchtask " in run.stdout
    assert not db.exists() and list(tmp_path.iterdir()) == []
    run = cli("migrate", "--db", db)  # without --sql, it makes the database, as opening a store would
    assert (run.returncode, run.stdout) == (0, f"schema version 0 -> {SCHEMA_VERSION}\n")
    assert db.exists()


def test_migrate_refuses_a_newer_file_and_leaves_it_alone(tmp_path: Path) -> None:
    db = tmp_path / "newer.db"
    BatchStore(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = db.read_bytes(), db.stat().st_mtime_ns
    for args in (("migrate",), ("migrate", "--sql")):
        run = cli(*args, "--db", db)
        assert run.returncode == 1 and run.stdout == ""
        assert run.stderr.startswith("batchstore: ") and f"schema version {SCHEMA_VERSION + 1}, newer" in run.stderr
        assert run.stderr.count("\n") == 1
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before


def test_migrate_needs_a_database_that_keeps_something(tmp_path: Path) -> None:
    run = cli("migrate", "--db", ":memory:", cwd=tmp_path)
    assert run.returncode == 1 and "in-memory" in run.stderr
    run = cli("migrate", cwd=tmp_path, env={"BATCHSTORE_DB": ""})
    assert run.returncode == 2 and "--db" in run.stderr
    assert list(tmp_path.iterdir()) == []


# --- watch and serve ---------------------------------------------------------------------------


def _read_until(stream: Any, needle: bytes, limit: float = 30.0) -> bytes:
    """What a pseudo-terminal or pipe shows until ``needle`` appears (or ``limit`` seconds pass)."""
    import select
    import time

    shown, deadline = b"", time.monotonic() + limit
    while needle not in shown and time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(stream if isinstance(stream, int) else stream.fileno(), 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    return shown


def test_watch_prints_changes_of_other_processes_as_json_lines(cli_db: Path) -> None:
    process = subprocess.Popen([*COMMAND, "watch", "--db", str(cli_db)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=ENV)
    try:
        import time

        time.sleep(1.5)  # let it start watching: only changes from then on are printed
        with BatchStore(str(cli_db)) as store:
            new = store.create({"Name": "Watched", "IsInternalTask": True})
            store.stop(new)
        shown = _read_until(process.stdout, b'"stop"')
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    changes = [json.loads(line) for line in shown.decode().splitlines()]
    assert [(c["task_id"], c["operation"]) for c in changes] == [(new, "create"), (new, "stop")]
    assert changes[1]["changes"]["State"] == ["New", "Failed"]
    assert set(changes[0]) == {"cursor", "task_id", "operation", "worker", "at", "changes"}
    assert process.returncode == 130 and b"Traceback" not in stderr


def test_watch_on_a_terminal_redraws_a_table_as_progress_is_reported(cli_db: Path) -> None:
    leader, follower = pty.openpty()
    env = {k: v for k, v in ENV.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    process = subprocess.Popen([*COMMAND, "watch", "New", "Started", "--db", str(cli_db)], stdout=follower,
                               stderr=subprocess.DEVNULL, env={**env, "TERM": "xterm-256color", "COLUMNS": "100"})
    os.close(follower)
    try:
        first = _read_until(leader, b"ERPSync")
        with BatchStore(str(cli_db)) as store:
            store.acquire(worker="w")
            store.start(2, worker="w")
            store.report_progress(2, 70, "seven of ten", worker="w")
        later = _read_until(leader, b"70%")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        os.close(leader)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", (first + later).decode())
    assert "ERPSync" in plain and "ContactExport" not in plain  # task 1 is Succeeded: not watched
    assert "Started" in plain and "70%" in plain


def test_serve_binds_loopback_and_refuses_other_addresses_without_a_token(cli_db: Path) -> None:
    pytest.importorskip("uvicorn")
    refused = cli("serve", "--db", cli_db, "--host", "0.0.0.0")
    assert refused.returncode != 0 and "token" in refused.stderr and len(refused.stderr.splitlines()) == 1
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([*COMMAND, "serve", "--db", str(cli_db), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV)
    try:
        body = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/Agents/Batch/GetBatchTaskInfo",
                                           data=b'{"Id": 2}', headers={"Content-Type": "application/json"}),
                    timeout=5,
                ) as response:
                    body = json.loads(response.read())
                break
            except OSError:
                import time

                time.sleep(0.1)
        assert body is not None and body["Name"] == "ERPSync"
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


@pytest.mark.postgresql
def test_the_verbs_work_on_postgresql_through_batchstore_db() -> None:
    from server_process import postgres_schema

    with postgres_schema("cli") as url:
        env = {"BATCHSTORE_DB": url}
        created = cli("create", '{"Name": "ERPSync", "ParameterObject": {"source": "SAP"}}', env=env)
        assert created.returncode == 0, created.stderr
        task_id = created.stdout.strip()
        assert cli("acquire", "--worker", "w", "--json", env=env).json()["Id"] == int(task_id)
        assert cli("start", task_id, "--worker", "w", env=env).returncode == 0
        assert cli("progress", task_id, "40", "two of five", "--worker", "w", env=env).returncode == 0
        got = cli("get", task_id, "--json", env=env).json()
        assert (got["State"], got["ProgressPercent"], got["ParameterObject"]) == ("Started", 40, {"source": "SAP"})
        assert [e["operation"] for e in cli("history", task_id, "--json", env=env).json()] == [
            "create", "acquire", "start", "report_progress"]
        assert cli("count", "Started", env=env).stdout.strip() == "1"
        refused = cli("get", "99", env=env)
        assert refused.returncode == 1 and len(refused.stderr.splitlines()) == 1
        assert "password" not in refused.stderr and url.split("@")[0].split(":")[-1] not in refused.stderr


# --- the demo and the README --------------------------------------------------------------------


def test_the_demo_shows_what_its_labels_say(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    lines = cli("demo", "--db", db).stdout.splitlines()
    label = next(i for i, line in enumerate(lines) if line.startswith("Task ") and "batchstore get" in line)
    task_id = lines[label].split()[1].rstrip(",")
    assert f"'batchstore get {task_id} --db {db}'" in lines[label]
    assert lines[label + 1] == cli("get", task_id, "--db", db).stdout.rstrip("\n")
    label = next(i for i, line in enumerate(lines) if "'batchstore list --db" in line)
    listed = cli("list", "--db", db).stdout.splitlines()
    assert lines[label + 1 : label + 1 + len(listed)] == listed


def test_the_docs_document_every_verb_and_the_env_var() -> None:
    import batchstore.cli._verbs
    from batchstore.cli._main import cli as group

    section = (Path(batchstore.__file__).resolve().parent.parent / "docs" / "guide" / "cli.md").read_text()
    for name in group.commands:
        assert f"batchstore {name}" in section, name
    assert "BATCHSTORE_DB" in section and "--wire" in section
