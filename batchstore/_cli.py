"""The ``batchstore`` command: a demo, and one verb per store operation, speaking wire JSON.

Loaded by ``python -m batchstore`` and the console script. It imports only what each verb needs, so a
``get`` on an existing database starts in a fraction of the time SQLModel takes to import.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._exceptions import BatchStoreError

__all__ = ["main"]

DEMO_DB = "batchstore-demo.db"


def _read_json(text: str | None, what: str) -> Any:
    raw = sys.stdin.read() if text in (None, "-") else text
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BatchStoreError(f"{what} is not valid JSON: {exc}") from None


def _print(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def _demo(db: str) -> None:
    from ._store import BatchStore

    path = Path(db).resolve()
    print(f"batchstore demo: database {path}")
    with BatchStore(str(path)) as store:
        # The create sample of SuperOffice's POST /api/v1/BatchTask, with its invalid State and
        # ProgressPercent left out: batchstore would refuse them (try it with `batchstore create`).
        sample = {
            "Name": "ERPSync",
            "AssociateId": 602,
            "IsSystemTask": True,
            "ParameterObject": {"ParameterObject1": "source=SAP", "ParameterObject2": "syncType=incremental"},
            "Created": "2014-07-15T14:34:02.7132229+02:00",
            "DatabaseSerialNumber": "706323",
            "Context": "ERP Integration",
            "Description": "Synchronize customer and order data from SAP ERP system",
            "Request": "Sync updated customer records from SAP",
            "CancellationBehaviour": "CanCancel",
        }
        first = store.create(sample)
        second = store.create({"Name": "ContactExport", "Description": "Export contacts to Excel"})
        print(f"created tasks {first} and {second}")
        store.update({"Id": second, "State": "Aquired", "Response": "picked up by the demo"})
        print(f"updated task {second}: State -> Aquired")
        store.patch(first, [
            {"op": "test", "path": "/State", "value": "New"},
            {"op": "replace", "path": "/State", "value": "Started"},
            {"op": "replace", "path": "/Response", "value": "Syncing data from ERP"},
        ])
        print(f"patched task {first}: State New -> Started (test-and-set)")
        print("\nEvery task in the database:")
        print(f"  {'Id':>5}  {'Name':<16} {'State':<12} {'Created':<26} ParameterObject")
        for task in store.list("All", select="Id,Name,State,Created,ParameterObject"):
            created = task.created.isoformat(timespec="seconds") if task.created else ""
            state = task.state.name if task.state is not None else ""
            print(f"  {task.id:>5}  {task.name or '':<16} {state:<12} {created:<26} {task.parameter_object}")
        print(f"\nOne task as wire JSON (batchstore get {first} --db {db}):")
        _print(store.get(first, select="Id,Name,State,Response,ParameterObject").to_wire())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batchstore", description=__doc__.splitlines()[0] if __doc__ else None)
    verbs = parser.add_subparsers(dest="verb", required=True)

    def verb(name: str, help: str, *, db_default: str | None = None) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help)
        sub.add_argument("--db", default=db_default, required=db_default is None, help="SQLite file (or URL)")
        return sub

    verb("demo", f"run a few tasks through every operation (database: ./{DEMO_DB})", db_default=DEMO_DB)
    verb("create", "create a task from wire JSON (argument or stdin); prints the new id").add_argument(
        "task", nargs="?", help="BatchTaskInfo JSON; '-' or nothing reads stdin"
    )
    get = verb("get", "print one task as wire JSON")
    get.add_argument("id", type=int)
    get.add_argument("--select", help="comma-separated field names")
    lst = verb("list", "print the tasks in a state as a JSON array")
    lst.add_argument("state", nargs="?", default="All")
    lst.add_argument("--select", help="comma-separated field names")
    upd = verb("update", "update a task from wire JSON (with its Id); prints it")
    upd.add_argument("task", nargs="?", help="BatchTaskInfo JSON; '-' or nothing reads stdin")
    pat = verb("patch", "apply an RFC 6902 JSON Patch to a task; prints it")
    pat.add_argument("id", type=int)
    pat.add_argument("operations", nargs="?", help="JSON Patch array; '-' or nothing reads stdin")
    verb("delete", "delete a task").add_argument("id", type=int)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 refused, 2 usage)."""
    args = _parser().parse_args(argv)
    try:
        if args.verb == "demo":
            _demo(args.db)
            return 0
        from ._store import BatchStore

        if args.verb != "create" and not Path(args.db).exists() and "://" not in args.db:
            raise BatchStoreError(f"no database at {args.db}")
        if args.verb == "create":
            from ._model import BatchTaskInfo

            # Checked before the database is opened, so a refused task leaves no new empty file behind.
            task = BatchTaskInfo.from_wire(_read_json(args.task, "the task"))
        with BatchStore(args.db) as store:
            if args.verb == "create":
                print(store.create(task))
            elif args.verb == "get":
                _print(store.get(args.id, select=args.select).to_wire())
            elif args.verb == "list":
                tasks = store.list(args.state, select=args.select)  # refuses a bad state before any output
                sys.stdout.write("[")
                for index, task in enumerate(tasks):
                    sys.stdout.write(("," if index else "") + "\n" + json.dumps(task.to_wire(), ensure_ascii=False))
                sys.stdout.write("\n]\n")
            elif args.verb == "update":
                _print(store.update(_read_json(args.task, "the task")).to_wire())
            elif args.verb == "patch":
                _print(store.patch(args.id, _read_json(args.operations, "the patch")).to_wire())
            elif args.verb == "delete":
                store.delete(args.id)
                print(f"deleted task {args.id}")
    except BatchStoreError as exc:
        print(f"batchstore: {exc}", file=sys.stderr)
        return 1
    return 0
