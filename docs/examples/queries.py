from batchstore import BatchStore, Q

with BatchStore("tasks.db") as store:
    store.create_many([
        {"Name": "ERPSync", "AssociateId": 7},
        {"Name": "ERPLoad", "AssociateId": 9, "State": "Started"},
        {"Name": "ERPSync", "IsSystemTask": True},
        {"Name": "ContactExport", "AssociateId": 7, "State": "Failed", "Created": "2023-05-01T08:00:00Z"},
    ])
    newest = store.list(
        where=Q(State__in=["New", "Started"]) & Q(Name__startswith="ERP") & ~Q(IsSystemTask=True),
        order_by="-Created",          # or "created desc", ["-Created", "Name"]; Id breaks ties
        offset=0, limit=50,           # limit None: every match, read a page at a time
        select="Id,Name,State",
    )
    print([(t.name, t.state.name) for t in newest])                      # ERPLoad, then ERPSync
    print(store.count(where={"AssociateId__in": [7, 9]}))               # a mapping of lookups works too: 3
    print(store.count("Failed", where=Q(Created__lt="2024-01-01T00:00:00Z")))   # 1
