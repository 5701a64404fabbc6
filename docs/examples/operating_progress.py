import time

from batchstore import BatchStore

with BatchStore("operations.db") as ops:
    task_id = ops.create({"Name": "Reindex"})
    ops.acquire(worker="indexer")
    ops.start(task_id, worker="indexer")
    time.sleep(0.05)                                 # the work between two reports
    ops.report_progress(task_id, 40, "4 of 10 shards", worker="indexer")
    estimate = ops.progress_estimate(task_id)
    print(estimate.percent)                          # 40
    print(estimate.rate is not None and estimate.rate > 0, estimate.eta is not None)   # True True
