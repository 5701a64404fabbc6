"""A task read and sent back is unchanged, whatever precision and offset the client keeps date-times in.

JavaScript's Date holds milliseconds, .NET's DateTime 100 ns ticks, some clients whole seconds; batchstore
stores microseconds. A read-only date-time sent back at the client's precision (truncated or rounded) is
the stored value, not a change; one that differs at that precision is still refused.
"""

from __future__ import annotations

from typing import Any

import pytest

from batchstore import BatchStore, ReadOnlyFieldError

STORED = "2024-05-01T10:00:00.123456+00:00"


@pytest.fixture
def task_id(store: BatchStore) -> int:
    return store.create({"Name": "RoundTrip", "Created": STORED, "LastStarted": "2024-05-01T10:00:59.999600Z"})


@pytest.mark.parametrize(
    ("created", "last_started"),
    [
        ("2024-05-01T10:00:00.123Z", "2024-05-01T10:00:59.999Z"),  # JavaScript: milliseconds, truncated
        ("2024-05-01T10:00:00.123Z", "2024-05-01T10:01:00.000Z"),  # milliseconds, rounded
        ("2024-05-01T12:00:00.123+02:00", "2024-05-01T05:00:59.999-05:00"),  # the same in other offsets
        ("2024-05-01T10:00:00.1234560+00:00", "2024-05-01T10:00:59.9996000Z"),  # .NET: 7 digits
        ("2024-05-01T10:00:00Z", "2024-05-01T10:01:00Z"),  # whole seconds
        ("2024-05-01T10:00:00.123456Z", "2024-05-01T10:00:59.999600Z"),  # the stored value itself
    ],
)
def test_a_read_only_date_time_at_the_clients_precision_is_unchanged(
    store: BatchStore, task_id: int, created: str, last_started: str
) -> None:
    sent = {"Id": task_id, "Created": created, "LastStarted": last_started, "State": "Started"}
    updated = store.update(sent)
    assert updated.state.name == "Started"
    assert updated.created.isoformat() == STORED  # what was stored stays, to the microsecond
    patched = store.patch(
        task_id,
        [
            {"op": "replace", "path": "/Created", "value": created},
            {"op": "replace", "path": "/Description", "value": "patched"},
        ],
    )
    assert patched.description == "patched" and patched.created.isoformat() == STORED


@pytest.mark.parametrize(
    "created",
    [
        "2024-05-01T10:00:00.124Z",  # a millisecond later
        "2024-05-01T10:00:00.122Z",  # a millisecond earlier
        "2024-05-01T10:00:01Z",  # rounded the wrong way
        "2024-05-01T10:00:00.123457Z",  # a microsecond off, at microsecond precision
        "2024-05-01T10:00:00.123+01:00",  # the right digits in the wrong offset: another instant
    ],
)
def test_a_read_only_date_time_that_differs_at_the_clients_precision_is_refused(
    store: BatchStore, task_id: int, refuses: Any, created: str
) -> None:
    with refuses(ReadOnlyFieldError, "Created"):
        store.update({"Id": task_id, "Created": created, "State": "Started"})
    with refuses(ReadOnlyFieldError, "Created"):
        store.patch(task_id, [{"op": "replace", "path": "/Created", "value": created}])
