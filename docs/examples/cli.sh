export BATCHSTORE_DB=tasks.db          # stands in for --db on every verb

batchstore create '{"Name": "ERPSync", "ParameterObject": {"source": "SAP"}}'     # prints the new Id: 1
echo '{"Name": "ContactExport", "AssociateId": 7}' | batchstore create           # JSON on stdin: 2
batchstore get 1 --select Name,State                  # in a pipe: one JSON line per task
batchstore --db tasks.db count --where Name=ERPSync  # --db may also come before the verb: 1

# A worker's steps, each refused (exit status 1, one line on stderr) unless the State allows it.
batchstore acquire --name ERPSync --worker w1        # the task it claimed (null with --json if none)
batchstore start 1 --worker w1
batchstore progress 1 60 "390 of 650 rows" --worker w1
batchstore succeed 1 --result Success --worker w1

batchstore update '{"Id": 2, "Description": "Every contact, as Excel"}' --select Description
batchstore patch 2 '[{"op": "replace", "path": "/State", "value": "Failed"}]' --select State

# Queries: done in SQL, however large the table.
batchstore list Succeeded Failed --select Name,State
batchstore list --where Name__startswith=ERP --order-by -Created --limit 10 --select Name
batchstore count --where AssociateId=7
batchstore history 1                                  # every change, oldest first, one JSON line each
batchstore get 99 || echo "exit status $?"             # batchstore: get: no batch task has Id 99
