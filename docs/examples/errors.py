from batchstore import BatchStore, InvalidTaskError, PatchConflictError, ReadOnlyFieldError

with BatchStore() as store:
    task_id = store.create({"Name": "ERPSync"})
    try:
        store.create({"Name": "ERPSync", "ProgressPercent": 762})
    except InvalidTaskError as exc:
        print(exc.field, "-", exc)                        # ProgressPercent - ...
    try:
        store.update({"Id": task_id, "Name": "Renamed"})  # Name is not writable
    except ReadOnlyFieldError as exc:
        print(exc.fields)                                 # ('Name',)
    try:
        store.patch(task_id, [{"op": "test", "path": "/State", "value": "Started"}])
    except PatchConflictError as exc:
        print(exc)
    print(store.count())                                  # 1: every refusal above wrote nothing
