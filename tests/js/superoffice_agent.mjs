// Drives every method of the official SuperOffice WebAPI client's BatchAgent (@superoffice/webapi)
// against a running `batchstore serve`, and prints what each returned as one JSON object on stdout.
// tests/server/test_superoffice_client.py installs the package, starts the server, runs this and asserts.
//
//   node superoffice_agent.mjs <folder holding node_modules> <server URL> <token> <task name>
//
// The script only records: every check is in the Python test, so a failure reads as an assertion there.
import { createRequire } from "node:module";
import path from "node:path";

const [folder, serverUrl, token, name] = process.argv.slice(2);
const require = createRequire(path.join(folder, "package.json"));
const { BatchAgent, BatchTaskState } = require("@superoffice/webapi");

// The client appends "api/" and its own "v1/Agents/Batch/" to the base URL.
const agent = new BatchAgent(serverUrl + "/", { headers: { Authorization: `Bearer ${token}` } });
const ids = (tasks) => tasks.map((t) => t.id);
const out = {};

async function record(key, call) {
  try {
    out[key] = await call();
  } catch (err) {
    // An HTTP refusal: keep its status and body, so the test can say what the server answered.
    out[key] = { failed: err.response ? err.response.status : String(err), body: err.response?.data ?? null };
  }
}

const parameters = { Report: "Q3", Pages: 3, Nested: { Tags: ["a", "b"], Ratio: 0.5 } };
await record("start", () =>
  agent.startBatchJobAsync({ name, associateId: 41, request: "go", description: "new", parameterObject: parameters }));
await record("startSystem", () => agent.startBatchJobAsync({ name, isSystemTask: true, associateId: 0 }));
await record("startOther", () => agent.startBatchJobAsync({ name: name + "-other", associateId: 42 }));
const first = out.start;

// The everyday round trip: get a task, change it, send the whole object back.
await record("got", () => agent.getBatchTaskInfoAsync(first));
await record("updated", async () => {
  const task = await agent.getBatchTaskInfoAsync(first);
  task.description = "changed from JavaScript";
  task.state = BatchTaskState.Started;
  return agent.updateBatchTaskAsync(task);
});
await record("readOnly", async () => {
  const task = await agent.getBatchTaskInfoAsync(first);
  task.name = "renamed";
  return agent.updateBatchTaskAsync(task);
});
await record("missing", () => agent.getBatchTaskInfoAsync(2000000000));

await record("byState", async () => ids(await agent.getBatchTaskInfosByStateAsync(BatchTaskState.Started)));
await record("byNameAndState", async () =>
  ids(await agent.getBatchTaskInfosByNameAndStateAsync(name, BatchTaskState.All)));
await record("byAssociates", async () => ids(await agent.getBatchTaskInfosByAssociatesAsync([41, 42])));
await record("byAssociatesAndState", async () =>
  ids(await agent.getBatchTaskInfosByAssociatesAndStateAsync([41, 42], BatchTaskState.New)));
await record("byNameAndAssociates", async () =>
  ids(await agent.getBatchTaskInfosByNameAndAssociatesAsync(name, [41, 42])));
await record("allByName", async () => ids(await agent.getAllBatchTaskInfosByNameAsync(name)));
await record("allByNameAndState", async () =>
  ids(await agent.getAllBatchTaskInfosByNameAndStateAsync(name, BatchTaskState.New)));
await record("systemByName", async () => ids(await agent.getSystemBatchTaskInfosByNameAsync(name)));
await record("systemByNameAndState", async () =>
  ids(await agent.getSystemBatchTaskInfosByNameAndStateAsync(name, BatchTaskState.New)));

await record("stopped", () => agent.stopBatchJobAsync(first));
await record("afterStop", async () => (await agent.getBatchTaskInfoAsync(first)).state);
await record("deleteOne", async () => (await agent.deleteBatchTaskAsync(out.startOther)) ?? null);
await record("deleteMany", async () => (await agent.deleteBatchTasksAsync([first, out.startSystem])) ?? null);
await record("left", async () => ids(await agent.getAllBatchTaskInfosByNameAsync(name)));

process.stdout.write(JSON.stringify(out));
