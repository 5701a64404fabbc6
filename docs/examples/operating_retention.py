from datetime import timedelta

from batchstore import BatchStore

with BatchStore("operations.db") as ops:
    ops.set_retention(timedelta(days=30), keep_failed_for=timedelta(days=90))
    print(ops.retention.failed_older_than.days)      # 90
    print(ops.apply_retention())                     # 0: now, rather than at the next turn
    ops.set_retention(None)                          # off again: finished tasks stay until deleted or pruned
    print(ops.retention)                             # None
