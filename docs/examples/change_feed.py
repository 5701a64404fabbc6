from batchstore import BatchStore

with BatchStore("tasks.db") as store:
    cursor = store.last_cursor()                 # take the cursor, then read what to show
    task_id = store.create({"Name": "Nightly", "IsInternalTask": True})
    store.stop(task_id)
    for change in store.changes(after=cursor):   # committed since the cursor, oldest first
        print(change.cursor, change.task_id, change.operation, change.changes.get("State"))
    for change in store.watch(after=cursor, timeout=0.1):   # as they commit, from any process
        cursor = change.cursor
