"""batchstore's benchmarks: plain scripts, each comparing one thing, and ``python -m benchmarks`` to run them all.

- ``ops``: each store operation against raw ``sqlite3`` doing the same work, with the WAL frames each writes
  (target ratio >= 0.8 on issue 11's goal rows)
- ``frames``: the WAL frames (pages) each write commits, by the table or index owning each page
- ``peers``: a create / read / finish cycle against litequeue, persist-queue and huey on SQLite, with the WAL
  frames per cycle (goal: >= 1.2 x the faster of litequeue and persist-queue)
- ``scale``: listing, iterating and create_many as the database grows, with peak memory
- ``cli``: start-up of ``batchstore get`` against importing SQLModel (target ratio <= 0.6)
- ``feed``: the change feed's delay to a watcher in another process, and what it costs a write
- ``server``: the HTTP server's requests/s and p99 latency, beside the in-process rate
- ``ops-postgres``: the operations on PostgreSQL against raw psycopg (with ``--postgres URL``)
- ``workers``: several worker processes on one task table, on SQLite and PostgreSQL

``--full`` runs ``ops`` and ``scale`` on 1,000,000 tasks (populating them takes a few minutes).

They report timings; they never assert them.
"""
