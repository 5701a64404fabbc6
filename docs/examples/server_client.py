# A client of a running `batchstore serve`, with the standard library only.
import json
import os
import urllib.request

BASE = os.environ.get("BATCHSTORE_URL", "http://127.0.0.1:8000")


def call(method: str, path: str, body: object = None, **headers: str) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(request) as response:
        text = response.read()
    return json.loads(text) if text else None


task_id = call("POST", "/api/v1/Agents/Batch/StartBatchJob",
               {"BatchTaskInfo": {"Name": "ERPSync", "ParameterObject": {"source": "SAP"}}})
task = call("POST", "/api/v1/Agents/Batch/GetBatchTaskInfo", {"Id": task_id})
print(task["Name"], task["State"])                                       # ERPSync New
task["State"] = "Started"                           # get, change, send back: only State changes
print(call("PUT", f"/api/v1/BatchTask/{task_id}", task)["State"])        # Started
status = call("GET", f"/task-status/v1/{task_id}")
print(status["uniqueName"], status["completionStatus"])                  # ERPSync None
call("DELETE", f"/api/v1/BatchTask/{task_id}")
