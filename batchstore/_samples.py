"""Sample tasks: the bodies of SuperOffice's BatchTask pages, made valid, for tests and demos.

The pages' samples are generated and partly invalid; each value batchstore would refuse is replaced,
and nothing else is changed:

- POST /api/v1/BatchTask (the create body): State "All" is a filter, not a state, so the State is left
  to create's default, New; ProgressPercent 762 is out of range, so it is left out too (0).
- UpdateBatchTask's response: State "InProgress" is no BatchTaskState; the task is running: Started.
- GetBatchTaskInfo's response: valid as it is (a Succeeded export).
- GET /api/v1/BatchTask/{state}'s element: State "All" and ProgressPercent 416, as in the create body.

Their Ids are the pages' own and are ignored by create; TableRight and FieldProperties are left out, as
every store computes its own. Two of the four are internal tasks (IsInternalTask true): they add no trace.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

__all__ = ["SAMPLE_TASKS", "sample_tasks"]

_SAMPLES: Final[tuple[dict[str, Any], ...]] = (
    {  # POST /api/v1/BatchTask, request body
        "Id": 254,
        "Name": "Lubowitz, Balistreri and Hermann",
        "AssociateId": 602,
        "DetailsTable": 239,
        "DetailsRecord": 63,
        "IsSystemTask": True,
        "IsInternalTask": False,
        "ParameterObject": {"ParameterObject1": "iusto", "ParameterObject2": "dolorem"},
        "LastStarted": "2018-06-01T14:34:02.7132229+02:00",
        "Created": "2014-07-15T14:34:02.7132229+02:00",
        "StartCount": 475,
        "DatabaseSerialNumber": "706323",
        "Context": "quia",
        "Result": "ratione",
        "Description": "Mandatory asynchronous capacity",
        "Response": "vero",
        "Request": "aperiam",
        "ProgressDescription": "Quality-focused encompassing synergy",
        "FileName": "Hodkiewicz, Green and Klein",
        "CancellationBehaviour": "CanCancel",
    },
    {  # POST /api/v1/Agents/Batch/UpdateBatchTask, response
        "Id": 226,
        "Name": "ERPSync",
        "AssociateId": 820,
        "DetailsTable": 220,
        "DetailsRecord": 751,
        "IsSystemTask": False,
        "IsInternalTask": True,
        "ParameterObject": {"ParameterObject1": "source=SAP", "ParameterObject2": "syncType=incremental"},
        "LastStarted": "2024-11-27T14:00:00+01:00",
        "Created": "2024-11-27T14:00:00+01:00",
        "StartCount": 1,
        "DatabaseSerialNumber": "374817",
        "Context": "ERP Integration",
        "Result": "In Progress",
        "State": "Started",
        "Description": "Synchronize customer and order data from SAP ERP system",
        "Response": "Syncing data from ERP",
        "Request": "Sync updated customer records from SAP",
        "ProgressDescription": "Synchronizing records: 450 of 650 processed",
        "ProgressPercent": 69,
        "FileName": "erp_sync_2024-11-27.log",
        "CancellationBehaviour": "CanCancel",
    },
    {  # POST /api/v1/Agents/Batch/GetBatchTaskInfo, response
        "Id": 547,
        "Name": "ContactExport",
        "AssociateId": 426,
        "DetailsTable": 202,
        "DetailsRecord": 91,
        "IsSystemTask": False,
        "IsInternalTask": False,
        "ParameterObject": {"ParameterObject1": "format=xlsx", "ParameterObject2": "includePersons=true"},
        "LastStarted": "2024-11-27T09:15:00+01:00",
        "Created": "2024-11-27T09:00:00+01:00",
        "StartCount": 1,
        "DatabaseSerialNumber": "459952",
        "Context": "User Export Request",
        "Result": "Success",
        "State": "Succeeded",
        "Description": "Export contact list to Excel with related person records",
        "Response": "Successfully exported 1,245 contacts",
        "Request": "Export all active contacts from North region",
        "ProgressDescription": "Export completed - file ready for download",
        "ProgressPercent": 100,
        "FileName": "ContactExport_2024-11-27.xlsx",
        "CancellationBehaviour": "CanCancel",
    },
    {  # GET /api/v1/BatchTask/{state}, one element of the response
        "Id": 878,
        "Name": "Grimes-Jacobi",
        "AssociateId": 53,
        "DetailsTable": 574,
        "DetailsRecord": 546,
        "IsSystemTask": False,
        "IsInternalTask": True,
        "ParameterObject": {"ParameterObject1": "quia", "ParameterObject2": "et"},
        "LastStarted": "2020-01-22T17:54:08.6793184+01:00",
        "Created": "2016-10-29T17:54:08.6793184+02:00",
        "StartCount": 859,
        "DatabaseSerialNumber": "146286",
        "Context": "sapiente",
        "Result": "sint",
        "Description": "Multi-tiered clear-thinking service-desk",
        "Response": "a",
        "Request": "rerum",
        "ProgressDescription": "Distributed context-sensitive implementation",
        "FileName": "Mayert, Roob and Corkery",
        "CancellationBehaviour": "CanCancel",
    },
)

#: The samples, read-only (wire names as keys); :func:`sample_tasks` gives copies to change.
SAMPLE_TASKS: Final[tuple[Mapping[str, Any], ...]] = tuple(MappingProxyType(s) for s in _SAMPLES)


def sample_tasks() -> list[dict[str, Any]]:
    """Fresh deep copies of the four sample tasks, in the order of the seed pages.

    >>> [t.get("State", "New") for t in sample_tasks()]
    ['New', 'Started', 'Succeeded', 'New']
    """
    return copy.deepcopy(list(_SAMPLES))
