from batchstore import BatchStore

store = BatchStore("tasks.db", lease_seconds=300, max_starts=3)
store.create({"Name": "ERPSync", "ParameterObject": {"source": "SAP"}})
task = store.acquire(name="ERPSync", worker="worker-1")   # oldest New task -> Aquired, or None
if task is not None:
    store.start(task.id, worker="worker-1")               # StartCount + 1, LastStarted = now
    if store.report_progress(task.id, 50, "450 of 900 rows", worker="worker-1").stop_requested:
        store.fail(task.id, worker="worker-1")            # Result: "Stopped by request"
    else:
        store.succeed(task.id, result="Success", file_name="sync.log", worker="worker-1")
    for entry in store.history(task.id):                  # every change: time, operation, worker, old -> new
        print(entry.operation, entry.worker, entry.changes.get("State"))
store.close()
