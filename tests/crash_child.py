"""The child process of tests/core/test_reliability.py's crash test: works on a store until it is killed.

It prints "ready" once the store is open, "created ID" after each create has committed, and "deleting ID"
before a delete; it loops
over patch, update and lifecycle steps whose effects a checker can verify as all-or-nothing.
"""

from __future__ import annotations

import sys

from batchstore import BatchStore


def main(path: str) -> None:
    with BatchStore(path, lease_seconds=0.5) as store:
        print("ready", flush=True)
        n = 0
        while True:
            n += 1
            token = f"tok-{n}"
            task_id = store.create({"Name": "crash", "ParameterObject": {"n": n, "blob": "x" * 2000}})
            print(f"created {task_id}", flush=True)
            # Each write sets two fields to one token: a half-applied write would leave them unequal.
            store.patch(task_id, [
                {"op": "replace", "path": "/Description", "value": token},
                {"op": "replace", "path": "/Response", "value": token},
            ])
            store.update({"Id": task_id, "Description": token + "u", "Response": token + "u"})
            claimed = store.acquire(name="crash", worker="child")
            if claimed is not None and claimed.id is not None:
                store.start(claimed.id, worker="child")
                store.report_progress(claimed.id, 50, "half", worker="child")
                if n % 3:
                    store.succeed(claimed.id, result="ok", worker="child")
                else:
                    store.fail(claimed.id, result="no", worker="child")
            if n % 7 == 0:
                # Said before, not after: a kill between the delete's commit and a later line would
                # leave the parent expecting a task that is rightly gone.
                print(f"deleting {task_id}", flush=True)
                store.delete(task_id)


if __name__ == "__main__":
    main(sys.argv[1])
