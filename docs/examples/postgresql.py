# Needs the postgres extra (pip install ".[postgres]") and a server where this user may create tables.
import os

from batchstore import BatchStore

url = os.environ.get("BATCHSTORE_URL", "postgresql://user:password@127.0.0.1:5432/tasks")

with BatchStore(url, pool_size=4) as store:      # the same calls as on SQLite
    task_id = store.create({"Name": "ERPSync", "ParameterObject": {"source": "SAP"}})
    task = store.acquire(name="ERPSync", worker="host-a")      # FOR UPDATE SKIP LOCKED
    store.start(task.id, worker="host-a")
    store.succeed(task.id, result="Success", worker="host-a")
    print(store.get(task_id).state.name, [e.operation for e in store.history(task_id)])
