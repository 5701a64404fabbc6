import asyncio

from batchstore import AsyncBatchStore


async def worker(store: AsyncBatchStore, name: str) -> None:
    while (task := await store.acquire(name="Resize", worker=name)) is not None:
        await store.start(task.id, worker=name)
        for percent in (50, 100):
            await asyncio.sleep(0.01)                                   # the real work goes here
            if (await store.report_progress(task.id, percent, worker=name)).stop_requested:
                await store.fail(task.id, worker=name)
                break
        else:
            await store.succeed(task.id, result="Resized", worker=name)


async def main() -> None:
    async with AsyncBatchStore("async-tasks.db") as store:
        await store.create_many({"Name": "Resize", "ParameterObject": {"image": i}} for i in range(6))
        await asyncio.gather(worker(store, "w1"), worker(store, "w2"))
        async for task in store.list("Succeeded", select="Name,State"):    # pages read off the loop
            print(task.id, task.name, task.state.name)


asyncio.run(main())
