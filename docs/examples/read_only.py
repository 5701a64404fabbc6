from batchstore import BatchStore, StorageError

with BatchStore("tasks.db") as store:                    # a batchstore file to read
    store.create({"Name": "ERPSync"})

with BatchStore("tasks.db", read_only=True) as reader:
    print(sum(1 for _ in reader.list(select="Id")), "tasks")
    try:
        reader.create({"Name": "nope"})
    except StorageError as exc:
        print(exc)                   # create: the store is read-only (opened with read_only=True); ...
