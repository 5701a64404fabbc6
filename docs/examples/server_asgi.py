# Needs httpx besides the server extra: pip install ".[server]" httpx
import asyncio

import httpx

from batchstore import BatchStore
from batchstore.server import create_app


async def try_the_api() -> None:
    with BatchStore() as store:
        app = create_app(store)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            task_id = (await client.post("/api/v1/BatchTask", json={"Name": "ERPSync"})).json()
            status = (await client.get(f"/task-status/v1/{task_id}")).json()
            print(status["uniqueName"], status["completionStatus"])          # ERPSync None


asyncio.run(try_the_api())
