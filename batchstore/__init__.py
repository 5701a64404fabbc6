"""batchstore: batch tasks in an embedded SQLite database, after SuperOffice's BatchTask API.

>>> from batchstore import BatchStore
>>> with BatchStore() as store:
...     task_id = store.create({"Name": "ERPSync", "ParameterObject": {"source": "SAP"}})
...     store.get(task_id).parameter_object
{'source': 'SAP'}
"""

from ._async import AsyncBatchStore
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
)
from ._model import BatchTaskInfo, TaskFields
from ._store import BatchStore
from ._trace import TraceEntry

__version__ = "0.1.0"

__all__ = [
    "AsyncBatchStore",
    "BatchStore",
    "BatchStoreError",
    "BatchTaskInfo",
    "BatchTaskState",
    "CancellationBehaviour",
    "ClaimLostError",
    "ConfigurationError",
    "InvalidTaskError",
    "InvalidTransitionError",
    "PatchConflictError",
    "PatchError",
    "ReadOnlyFieldError",
    "StorageError",
    "StoreClosedError",
    "TaskFields",
    "TaskNotFoundError",
    "TraceEntry",
]
