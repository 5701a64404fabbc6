# test_tasks.py: run with `pytest`; the fixtures come with batchstore, no conftest needed.
import asyncio
import json
import urllib.request

from batchstore import BatchTaskState


def test_a_worker_takes_the_oldest_new_task(batchstore, batchstore_seed):
    first, *_ = batchstore_seed(3, State="New", Name="ERPSync")
    task = batchstore.acquire(name="ERPSync", worker="w1")
    assert task.id == first
    assert task.state is BatchTaskState.Aquired


def test_each_test_starts_empty(batchstore):
    assert list(batchstore.list()) == []


def test_two_stores_on_the_tests_database(batchstore_factory, batchstore_database):
    writer, reader = batchstore_factory(), batchstore_factory(writable=["State", "Context"])
    task_id = writer.create({"Name": "ContactExport"})
    # In memory (batchstore_database None) every store is its own database; on SQLite or
    # PostgreSQL they share the test's.
    assert [t.id for t in reader.list()] == ([] if batchstore_database is None else [task_id])


def test_async(async_batchstore):
    async def main():
        task_id = await async_batchstore.create({"Name": "ERPSync"})
        return (await async_batchstore.get(task_id)).name

    assert asyncio.run(main()) == "ERPSync"


def test_over_http(batchstore_server):
    # A real `batchstore serve` on the test's database, on 127.0.0.1 and a free port.
    request = urllib.request.Request(
        f"{batchstore_server.url}/api/v1/BatchTask", data=json.dumps({"Name": "ERPSync"}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request) as response:
        task_id = json.load(response)
    with urllib.request.urlopen(f"{batchstore_server.url}/task-status/v1/{task_id}") as response:
        assert json.load(response)["uniqueName"] == "ERPSync"
