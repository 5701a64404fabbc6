batchstore migrate --db tasks.db                       # creates or upgrades the schema: "... schema version N"
batchstore migrate --db tasks.db                       # already at schema version N: nothing to do
batchstore migrate --sql --db other.db > upgrade.sql   # prints the SQL, changes nothing, creates no file
test ! -e other.db && grep -c "CREATE TABLE" upgrade.sql
