# A failed task, waited for, requeued, and a retention policy, from a shell (in a pipe: JSON lines).
export BATCHSTORE_DB=operations.db
batchstore create '{"Name": "NightlyExport"}'
batchstore acquire --worker w1 > /dev/null
batchstore start 1 --worker w1 > /dev/null
batchstore fail 1 --result "disk full" --worker w1 > /dev/null
batchstore wait 1 --timeout 5 || echo "exit $?: it failed"                 # exit 1: it failed
batchstore requeue 1 --by "ops on call"
batchstore wait 1 --timeout 0.2 > /dev/null || echo "exit $?: timed out"   # exit 124: New, not finished
batchstore retention set --finished-older-than 30d --keep-failed-for 90d
batchstore retention show
batchstore retention off
