"""Fuzzing: random task mappings, JSON patches and select strings against a real file.

Only batchstore's own errors may escape, and a refused call leaves the database exactly as it was.
BATCHSTORE_FUZZ_EXAMPLES sets the number of cases: 10,000 in the full tier (CI), 300 in the fast one
(BATCHSTORE_FUZZ_POSTGRES_EXAMPLES: 1,500 on PostgreSQL, full tier only).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conftest import FULL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchstore import BatchStore, BatchStoreError
from batchstore._fields import FIELDS

if TYPE_CHECKING:
    from conftest import Database

TABLES = ("batchtask", "binaryobject", "batchtaskchange", "batchstore_version")

EXAMPLES = int(os.environ.get("BATCHSTORE_FUZZ_EXAMPLES", "10000" if FULL else "300"))
# Each PostgreSQL example costs round trips to a server: fewer of them keep the suite within its time.
POSTGRES_EXAMPLES = int(os.environ.get("BATCHSTORE_FUZZ_POSTGRES_EXAMPLES", "1500"))
NAMES = [f.wire for f in FIELDS] + [f.attr for f in FIELDS] + ["state", "STATE", "Bogus", "", "Id ", "parameterObject"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=300),
    st.sampled_from(["New", "aquired", "Acquired", "All", "InProgress", "CanCancel", "4", "99999",
                     "2024-11-27T14:00:00+01:00", "2018-06-01T14:34:02.7132229+02:00", "2024-11-27", "Z"]),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
    st.binary(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
valid_fields = {
    "Name": st.text(max_size=20), "Description": st.text(max_size=20) | st.none(), "Response": st.text(max_size=5),
    "Request": st.text(max_size=5), "State": st.sampled_from(["New", "Started", "Failed", 4, "succeeded"]),
    "ProgressPercent": st.integers(0, 100), "AssociateId": st.integers(0, 2**31 - 1),
    "ParameterObject": values, "Created": st.datetimes(timezones=st.just(dt.UTC)),
    "IsSystemTask": st.booleans(), "CancellationBehaviour": st.sampled_from(["CanCancel", 2, "cancelwithwarning"]),
}
mostly_valid = st.fixed_dictionaries({}, optional=valid_fields)
tasks = mostly_valid | st.dictionaries(st.sampled_from(NAMES), values, max_size=8)
writable_ops = st.lists(st.fixed_dictionaries({
    "op": st.sampled_from(["replace", "test", "add", "remove"]),
    "path": st.sampled_from(["/State", "/description", "/Response", "/Request"]),
    "value": st.sampled_from(["New", "Started", "x", "", None, 4, True, "Failed"]),
}), max_size=3)
paths = st.sampled_from(
    [f"/{n}" for n in NAMES] + ["", "/", "/ParameterObject/a", "/ParameterObject/0", "/State/x", "nope"]
)
operations = st.lists(
    st.fixed_dictionaries(
        {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"]), "path": paths},
        optional={"value": values, "from": paths},
    ),
    max_size=4,
)
selects = st.one_of(st.none(), st.text(max_size=20), st.lists(st.sampled_from(NAMES), max_size=4).map(",".join),
                    st.lists(st.sampled_from(NAMES), max_size=4))


class Watcher:
    """A second connection to the file: PRAGMA data_version changes exactly when another connection commits."""

    def __init__(self, path: Path | str) -> None:
        self.conn = sqlite3.connect(path)

    def version(self) -> object:
        (version,) = self.conn.execute("PRAGMA data_version").fetchone()
        return int(version)

    def close(self) -> None:
        assert self.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        self.conn.close()


class PostgresWatcher:
    """A second connection to the schema: a digest of every row of every table and of every id sequence."""

    DIGEST = " UNION ALL ".join(
        [f"SELECT '{t}', md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM {t} x" for t in TABLES]
        + ["SELECT sequencename::text, last_value::text FROM pg_sequences WHERE schemaname = current_schema()"]
    )

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)

    def version(self) -> object:
        return sorted(self.conn.execute(self.DIGEST).fetchall())

    def close(self) -> None:
        self.conn.close()


calls = st.one_of(
    st.tuples(st.just("create"), tasks),
    st.tuples(st.just("create_many"), st.lists(tasks, max_size=3)),
    st.tuples(st.just("update"), tasks, st.integers(0, 4), selects),
    st.tuples(st.just("patch"), st.integers(0, 4), writable_ops | operations | st.text(max_size=30), selects),
    st.tuples(st.just("get"), st.integers(-1, 4) | st.booleans() | st.text(max_size=3), selects),
    st.tuples(st.just("list"), values, selects),
)


def test_only_batchstore_errors_escape_and_refusals_write_nothing(db: Database) -> None:
    counts = {"ok": 0, "refused": 0}
    with BatchStore(db.url, max_blob_bytes=4096) as store:
        store.create_many([{"Name": f"seed{i}", "ParameterObject": {"i": i}} for i in range(4)])
        watcher = PostgresWatcher(db.url) if db.is_postgres else Watcher(db.url)

        @settings(max_examples=POSTGRES_EXAMPLES if db.is_postgres else EXAMPLES, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(call=calls)
        def run(call: tuple[Any, ...]) -> None:
            before = watcher.version()
            verb = call[0]
            try:
                if verb == "create":
                    store.create(call[1])
                elif verb == "create_many":
                    store.create_many(call[1])
                elif verb == "update":
                    store.update({**call[1], "Id": call[2]} if call[2] else call[1], select=call[3])
                elif verb == "patch":
                    store.patch(call[1], call[2], select=call[3])
                elif verb == "get":
                    store.get(call[1], select=call[2])
                else:
                    list(store.list(call[1], select=call[2]))
            except BatchStoreError:
                counts["refused"] += 1
                assert watcher.version() == before, f"{verb} was refused but committed a write"
                return
            counts["ok"] += 1
            if verb in ("get", "list"):
                assert watcher.version() == before

        run()
        watcher.close()
    print(f"\nfuzz: {sum(counts.values())} cases, {counts['ok']} accepted, {counts['refused']} refused")
