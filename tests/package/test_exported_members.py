"""The public API: ``batchstore.__all__`` is pinned, so adding or removing a name is a deliberate change."""

from __future__ import annotations

import batchstore

EXPORTED = [
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


def test_all_is_pinned() -> None:
    assert sorted(batchstore.__all__) == EXPORTED
    assert len(set(batchstore.__all__)) == len(batchstore.__all__)


def test_every_exported_name_exists() -> None:
    for name in batchstore.__all__:
        assert getattr(batchstore, name) is not None, name


def test_the_contracts_names_are_exported() -> None:
    contract = {
        "BatchStore", "BatchTaskInfo", "BatchTaskState", "CancellationBehaviour", "BatchStoreError",
        "TaskNotFoundError", "InvalidTaskError", "ReadOnlyFieldError", "PatchError", "PatchConflictError",
        "StoreClosedError",
    }  # fmt: skip
    assert contract <= set(batchstore.__all__)


def test_every_exported_error_is_a_batch_store_error() -> None:
    errors = [getattr(batchstore, n) for n in batchstore.__all__ if n.endswith("Error")]
    assert errors
    assert all(issubclass(e, batchstore.BatchStoreError) for e in errors)
