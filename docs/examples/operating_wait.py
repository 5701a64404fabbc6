import threading

from batchstore import BatchStore, WaitTimeoutError

with BatchStore("operations.db") as ops:
    job = ops.create({"Name": "ContactExport"})

    def worker() -> None:
        task = ops.acquire(worker="exporter")
        ops.start(task.id, worker="exporter")
        ops.succeed(task.id, result="1,245 contacts", worker="exporter")

    threading.Thread(target=worker).start()
    print(ops.wait(job, timeout=30).result)          # 1,245 contacts
    try:
        ops.wait(ops.create({"Name": "Idle"}), timeout=0.1)
    except WaitTimeoutError as exc:
        print(exc)                                   # wait: task 2 did not finish within 0.1 s (its State is New)
