"""batchstore's own routes, beyond the two APIs it follows: under ``/batchstore/v1/``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from .._store import BatchStore
from .._trace import TraceEntry
from . import _schemas as schemas
from ._superoffice import json_response
from ._timezone import ResponseZone, in_zone, response_zone

__all__ = ["extras_router", "history_entry"]


def history_entry(entry: TraceEntry, zone: ResponseZone) -> dict[str, Any]:
    """One trace row as JSON: ``{"at", "operation", "worker", "changes": {field: [old, new]}}``."""
    return {
        "at": in_zone(entry.at, zone),
        "operation": entry.operation,
        "worker": entry.worker,
        "changes": {name: list(change) for name, change in entry.changes.items()},
    }


def extras_router(store: BatchStore) -> APIRouter:
    """batchstore's extra routes on ``store``: a task's history."""
    router = APIRouter(prefix="/batchstore/v1", tags=["batchstore"])

    @router.get(
        "/tasks/{task_id}/history",
        summary="Every change to a task, oldest first (empty for an internal task)",
        responses={
            200: schemas.json_content({"type": "array", "items": schemas.ref("HistoryEntry")}),
            **schemas.errors(404),
        },
    )
    def history(
        task_id: Annotated[int, Path(ge=-(2**31), le=2**31 - 1, description="The task's Id")],
        zone: Annotated[ResponseZone, Depends(response_zone)],
    ) -> Response:
        return json_response([history_entry(e, zone) for e in store.history(task_id)])

    return router
