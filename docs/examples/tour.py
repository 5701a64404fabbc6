from batchstore import BatchStore, BatchTaskState

with BatchStore("tasks.db") as store:          # a SQLite file, created if missing
    # The sample body of POST /api/v1/BatchTask. Its State "All" and ProgressPercent 762 would be
    # refused (InvalidTaskError), so they are left out; the Id sent is ignored.
    task_id = store.create({
        "Id": 254,
        "Name": "Lubowitz, Balistreri and Hermann",
        "AssociateId": 602,
        "IsSystemTask": True,
        "ParameterObject": {"ParameterObject1": "iusto", "ParameterObject2": "dolorem"},
        "Created": "2014-07-15T14:34:02.7132229+02:00",
        "DatabaseSerialNumber": "706323",
        "Description": "Mandatory asynchronous capacity",
        "CancellationBehaviour": "CanCancel",
    })

    task = store.get(task_id)                  # every field; the ParameterObject read back
    print(task.details_table, task.details_record)   # 205 and its binaryobject row
    store.get(task_id, select="Name,State")    # $select: the rest is None, Id always there

    task.state = "Started"                     # names in any case, numbers, or members
    store.update(task)                         # only State, Description, Response, Request change

    store.patch(task_id, [                     # RFC 6902, atomically: test-and-set
        {"op": "test", "path": "/State", "value": "Started"},
        {"op": "replace", "path": "/State", "value": "Succeeded"},
    ])

    for t in store.list(BatchTaskState.Succeeded, select="Id,Name"):   # by Id, a page at a time
        print(t.id, t.name)
    print(store.get(task_id).to_wire()["State"])                       # the wire form: "Succeeded"
    store.delete(task_id)                      # with its ParameterObject row
