import copy
import json
import pickle

from batchstore import BatchStore, InvalidTaskError, TaskNotFoundError

with BatchStore() as store:
    for bad in ({"Name": "a\ud800"}, {"ParameterObject": {"ratio": float("nan")}}, {"ParameterObject": {1: "a"}}):
        try:
            store.create(bad)
        except InvalidTaskError as exc:
            print(exc.field)
    try:
        store.get(2**63)
    except TaskNotFoundError as exc:
        print(exc)
    task = store.get(store.create({"Name": "ERPSync", "ParameterObject": {"rows": [1, 2.5]}}))
    assert pickle.loads(pickle.dumps(task)) == copy.deepcopy(task) == task
    print(json.dumps(task.to_wire(), allow_nan=False)[:40])
