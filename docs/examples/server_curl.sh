URL=${BATCHSTORE_URL:-http://127.0.0.1:8000}   # where `batchstore serve` listens

# The sample body of SuperOffice's POST /api/v1/BatchTask page; the answer is the new Id.
curl -s "$URL/api/v1/BatchTask" -H 'Content-Type: application/json' -d '{
  "Name": "Lubowitz, Balistreri and Hermann", "AssociateId": 602, "IsSystemTask": true,
  "ParameterObject": {"ParameterObject1": "iusto", "ParameterObject2": "dolorem"},
  "Created": "2014-07-15T14:34:02.7132229+02:00", "DatabaseSerialNumber": "706323",
  "Description": "Mandatory asynchronous capacity", "CancellationBehaviour": "CanCancel"}'
echo

# The task back, three fields of it, its date-times in Oslo time.
curl -s "$URL/api/v1/Agents/Batch/GetBatchTaskInfo?\$select=Name,State,Created" \
     -H 'Content-Type: application/json' -H 'SO-TimeZone: Europe/Oslo' -d '{"Id": 1}' | head -c 80
echo

# A refusal: 400, a JSON body naming the field, nothing written.
curl -s "$URL/api/v1/BatchTask" -H 'Content-Type: application/json' -d '{"Name": "x", "ProgressPercent": 762}'
echo
