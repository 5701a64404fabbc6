"""batchstore's benchmarks: plain scripts, each comparing one thing, and ``python -m benchmarks`` to run them all.

- ``ops``: each store operation against raw ``sqlite3`` doing the same work (target ratio >= 0.7)
- ``peers``: a create / read / finish cycle against litequeue, persist-queue and huey on SQLite
- ``scale``: listing, iterating and create_many as the database grows, with peak memory
- ``cli``: start-up of ``batchstore get`` against importing SQLModel (target ratio <= 0.6)

They report timings; they never assert them.
"""
