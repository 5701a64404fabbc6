"""batchstore: batch tasks in an embedded SQLite database, after SuperOffice's BatchTask API.

>>> from batchstore import BatchStore
>>> with BatchStore() as store:
...     task_id = store.create({"Name": "ERPSync", "ParameterObject": {"source": "SAP"}})
...     store.get(task_id).parameter_object
{'source': 'SAP'}
"""

import logging
from typing import TYPE_CHECKING, Any

from ._enums import BatchTaskState, CancellationBehaviour
from ._exceptions import (
    BatchStoreError,
    ClaimLostError,
    ConfigurationError,
    InvalidTaskError,
    InvalidTransitionError,
    PatchConflictError,
    PatchError,
    ReadOnlyFieldError,
    StorageError,
    StoreClosedError,
    TaskNotFoundError,
    UnknownCursorError,
    WaitTimeoutError,
)
from ._feed import Change
from ._model import BatchTaskInfo, TaskFields
from ._progress import ProgressEstimate
from ._query import Q
from ._retention import RetentionPolicy
from ._store import BatchStore
from ._trace import TraceEntry

if TYPE_CHECKING:
    from ._async import AsyncBatchStore

__version__ = "0.3.0"

# A library logs, the application decides what is shown: without logging set up, batchstore's records
# (batchstore.pool, batchstore.server) go nowhere, instead of Python's last-resort print to stderr.
logging.getLogger("batchstore").addHandler(logging.NullHandler())

__all__ = [
    "AsyncBatchStore",
    "BatchStore",
    "BatchStoreError",
    "BatchTaskInfo",
    "BatchTaskState",
    "CancellationBehaviour",
    "Change",
    "ClaimLostError",
    "ConfigurationError",
    "InvalidTaskError",
    "InvalidTransitionError",
    "PatchConflictError",
    "PatchError",
    "ProgressEstimate",
    "Q",
    "ReadOnlyFieldError",
    "RetentionPolicy",
    "StorageError",
    "StoreClosedError",
    "TaskFields",
    "TaskNotFoundError",
    "TraceEntry",
    "UnknownCursorError",
    "WaitTimeoutError",
]


def __getattr__(name: str) -> Any:
    # AsyncBatchStore brings asyncio, half the import time of batchstore: loaded on first use, so the
    # command line and sync users do not pay for it.
    if name == "AsyncBatchStore":
        from ._async import AsyncBatchStore

        return AsyncBatchStore
    raise AttributeError(f"module 'batchstore' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
