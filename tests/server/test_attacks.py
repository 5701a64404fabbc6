"""Issue 17, hardening round 3: each attack an adversary (or a newcomer's first hour) tried, as a test.

Every test here failed before its fix. The contracts they hold batchstore to:

- an error answer means nothing was written, and a success answer is complete (never a truncated 200);
- date-times lie a day inside the calendar, so every zone can show them; nesting has one limit and one
  message on every front; a change-feed cursor must be one the database handed out; one deadline per call;
- no 500 leaks a traceback, no front prints a password, no typo is taken silently;
- the server answers only to loopback host names (DNS rebinding) and says 405/406 when it means them.

Most run on SQLite and PostgreSQL, against real server processes. The differential check at the end sends
a catalogue of refused requests and compares the database before and after each: every row (PostgreSQL:
a digest of every row and sequence; SQLite: a full dump, and the bytes of the file and its WAL).
"""

from __future__ import annotations

import ast
import base64
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ENGINES, snapshot
from server_process import (
    LiveServer,
    free_port,
    postgres_schema,
    require_postgres,
    require_server_packages,
    running_server,
)

from batchstore import (
    BatchStore,
    BatchTaskInfo,
    ConfigurationError,
    InvalidTaskError,
    PatchError,
    StorageError,
    UnknownCursorError,
)
from batchstore._engines import redact
from batchstore._environment import environment_value

ROOT = Path(__file__).resolve().parents[2]
UTC = dt.UTC
#: A zone at UTC-12 and one at UTC+14: the farthest any clock is from UTC.
WEST, EAST = "Etc/GMT+12", "Pacific/Kiritimati"
TOKEN = "sésame-ouvre-toi-🔑"  # non-ASCII: browsers and curl send it as UTF-8


# --- databases and servers on both engines --------------------------------------------------------------


@contextlib.contextmanager
def database(engine: str, folder: Path) -> Iterator[Path | str]:
    """An empty database on ``engine``: a SQLite file in ``folder``, or a fresh PostgreSQL schema (dropped after)."""
    if engine == "sqlite":
        path = folder / "tasks.db"
        BatchStore(path).close()  # the schema exists before the server and the test open it
        yield path
        return
    with postgres_schema("attacks") as url:
        BatchStore(url).close()
        yield url


@pytest.fixture(scope="module", params=ENGINES)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server process without a token on a database of each engine, answering to tasks.example too."""
    require_server_packages()
    with database(request.param, tmp_path_factory.mktemp("site")) as target, running_server(
        target, allowed_hosts=("tasks.example",)
    ) as server:
        yield server


@pytest.fixture(scope="module", params=ENGINES)
def token_site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server process needing the non-ASCII token :data:`TOKEN`, on a database of each engine."""
    require_server_packages()
    with database(request.param, tmp_path_factory.mktemp("token-site")) as target, running_server(
        target, token=TOKEN
    ) as server:
        yield server


@pytest.fixture
def client(site: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=30) as opened:
        yield opened


def is_postgres(target: Path | str) -> bool:
    return str(target).startswith("postgresql")


def fingerprint(target: Path | str) -> str:
    """A digest of everything stored: every row and sequence (both engines) and, on SQLite, the file's bytes.

    Only a write changes it: a refused request must leave it as it was.
    """
    digest = hashlib.sha256(repr(snapshot(target)).encode())
    if not is_postgres(target):
        for suffix in ("", "-wal"):  # the -shm file holds readers' marks: reads change it, writes are elsewhere
            file = Path(f"{target}{suffix}")
            digest.update(file.read_bytes() if file.exists() else b"-")
    return digest.hexdigest()


@contextlib.contextmanager
def unchanged(target: Path | str) -> Iterator[None]:
    before = fingerprint(target)
    yield
    assert fingerprint(target) == before, "a refused request wrote to the database"


def behind_batchstores_back(target: Path | str, task_id: int, created: dt.datetime) -> None:
    """Give a task a Created that an earlier release could store: at the very edge of the calendar."""
    if is_postgres(target):
        import psycopg

        with psycopg.connect(str(target), autocommit=True) as conn:
            conn.execute("UPDATE batchtask SET created = %s WHERE id = %s", (created, task_id))
        return
    conn = sqlite3.connect(target)
    with conn:
        conn.execute("UPDATE batchtask SET created = ? WHERE id = ?", (created.isoformat(timespec="microseconds"),
                                                                        task_id))
    conn.close()


def refusal(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    if field is not None:
        assert body["field"] == field, body
    return body


# --- an error after a commit; dates at the edges of the calendar ------------------------------------------


def test_an_update_answered_in_a_zone_commits_and_succeeds_even_on_an_edge_date(
    site: LiveServer, client: httpx.Client
) -> None:
    """The update committed, then converting Created into SO-TimeZone overflowed: a 500 after a write."""
    task_id = client.post("/api/v1/BatchTask", json={"Name": "EdgeOfTime"}).json()
    behind_batchstores_back(site.db_path, task_id, dt.datetime(1, 1, 1, tzinfo=UTC))
    response = client.post(
        "/api/v1/Agents/Batch/UpdateBatchTask",
        json={"BatchTaskInfo": {"Id": task_id, "State": "Started"}},
        headers={"SO-TimeZone": "America/New_York"},
    )
    assert response.status_code == 200, response.text
    task = response.json()
    assert task["State"] == "Started"
    assert task["Created"] == "0001-01-01T00:00:00+00:00"  # the same instant, in UTC where no zone can show it
    with BatchStore(site.db_path) as store:
        assert store.get(task_id).state.name == "Started"  # the answer says what was written
    single = client.post("/api/v1/Agents/Batch/GetBatchTaskInfo", json={"Id": task_id},
                         headers={"SO-TimeZone": "America/New_York"})
    assert single.status_code == 200 and single.json()["Created"] == "0001-01-01T00:00:00+00:00"


def test_a_streamed_list_is_complete_json_or_an_error_never_a_truncated_200(
    site: LiveServer, client: httpx.Client
) -> None:
    ids = [client.post("/api/v1/BatchTask", json={"Name": f"Stream{i}"}).json() for i in range(3)]
    behind_batchstores_back(site.db_path, ids[1], dt.datetime(9999, 12, 31, 23, 59, tzinfo=UTC))
    response = client.get("/api/v1/BatchTask/All", headers={"SO-TimeZone": EAST})
    assert response.status_code == 200
    listed = {task["Id"]: task for task in response.json()}  # the whole array: it parses
    assert set(ids) <= set(listed)
    assert listed[ids[1]]["Created"] == "9999-12-31T23:59:00+00:00"
    assert listed[ids[0]]["Created"].endswith("+14:00")
    # What can be refused is refused before the first byte: an error answer, not a 200 cut short.
    refusal(client.get("/api/v1/BatchTask/NoSuchState"), 400, "state")


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T23:59:59Z", "0001-01-02T00:00:00+00:01", "9999-12-31T00:00:00Z", "9999-12-30T23:00:00-01:00"],
)
def test_date_times_outside_the_range_every_zone_can_show_are_refused_at_the_door(
    site: LiveServer, client: httpx.Client, value: str
) -> None:
    with unchanged(site.db_path):
        body = refusal(client.post("/api/v1/BatchTask", json={"Name": "TooEarlyOrLate", "Created": value}),
                       400, "Created")
    assert "0001-01-02T00:00:00Z .. 9999-12-30T23:59:59.999999Z" in body["message"]


def test_the_first_and_last_instants_accepted_show_in_the_farthest_zones(client: httpx.Client) -> None:
    first = client.post("/api/v1/BatchTask", json={"Name": "First", "Created": "0001-01-02T00:00:00Z"}).json()
    last = client.post("/api/v1/BatchTask", json={"Name": "Last", "Created": "9999-12-30T23:59:59.9999999Z"}).json()
    shown = {}
    for task_id, zone in ((first, WEST), (last, EAST)):
        response = client.post("/api/v1/Agents/Batch/GetBatchTaskInfo", json={"Id": task_id},
                               headers={"SO-TimeZone": zone})
        assert response.status_code == 200, response.text
        shown[task_id] = response.json()["Created"]
    assert shown == {first: "0001-01-01T12:00:00-12:00", last: "9999-12-31T13:59:59.999999+14:00"}


@pytest.mark.parametrize(
    "expression",
    ["Created after '9999-12-31'", "Created between('2020-01-01','9999-12-31')", "Created before '0001-01-01'"],
)
def test_a_day_filter_at_the_calendars_edge_is_a_400_not_an_overflow(client: httpx.Client, expression: str) -> None:
    """The OData list took the next midnight of 9999-12-31, past what a datetime can hold: a 500."""
    refusal(client.get("/api/v1/BatchTask", params={"$filter": expression}), 400, "$filter")


def test_the_store_and_the_model_keep_the_same_date_rule(store: BatchStore, db: Any) -> None:
    for value in (dt.datetime(1, 1, 1, 12), "9999-12-31T00:00:00Z", dt.datetime(9999, 12, 31, tzinfo=UTC)):
        with pytest.raises(InvalidTaskError, match="outside 0001-01-02") as info:
            BatchTaskInfo(created=value)
        assert info.value.field == "Created"
    task_id = store.create({"Name": "a"})
    with unchanged(db.target):
        with pytest.raises(InvalidTaskError, match="outside"):
            store.create({"Name": "b", "LastStarted": "0001-01-01T00:00:00Z"})
        with pytest.raises(InvalidTaskError, match="outside"):
            store.update({"Id": task_id, "State": "Started", "LastStarted": "9999-12-31T00:00:00Z"})


# --- unhashable and deeply nested values: one limit, one message, every front ------------------------------


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("status", [["SUCCESS"], {"SUCCESS": 1}])
def test_a_completion_status_that_is_no_string_is_a_400(
    site: LiveServer, client: httpx.Client, status: Any
) -> None:
    task_id = client.post("/api/v1/BatchTask", json={"Name": "Unhashable"}).json()
    with unchanged(site.db_path):
        response = client.patch(
            f"/task-status/v1/{task_id}",
            content=json.dumps([{"op": "replace", "path": "/completionStatus", "value": status},
                                {"op": "replace", "path": "/completed", "value": "2026-01-01T00:00:00Z"}]),
            headers={"Content-Type": "application/json-patch+json"},
        )
        refusal(response, 400, "completionStatus")


def test_deep_json_is_refused_with_the_same_words_on_every_front(
    site: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    task_id = client.post("/api/v1/BatchTask", json={"Name": "Deep"}).json()
    words = "nests deeper than"
    with unchanged(site.db_path):
        patch = client.patch(
            f"/task-status/v1/{task_id}", content=json.dumps([{"op": "test", "path": "/id", "value": nested(900)}]),
            headers={"Content-Type": "application/json-patch+json"},
        )
        assert words in refusal(patch, 400, "body")["message"]
        create = client.post("/api/v1/BatchTask", content="[" * 100_000 + "]" * 100_000,
                             headers={"Content-Type": "application/json"})
        assert words in refusal(create, 400, "body")["message"]
        task = client.post("/api/v1/BatchTask", json={"Name": "x", "ParameterObject": nested(65)})
        assert words in refusal(task, 400, "ParameterObject")["message"]
    # The library: a patch given as text, and a patch value.
    with BatchStore(tmp_path / "deep.db") as store:
        own = store.create({"Name": "Deep"})
        with pytest.raises(PatchError, match=words):
            store.patch(own, "[" * 100_000 + "]" * 100_000)
        with pytest.raises(PatchError, match=words):
            store.patch(own, [{"op": "test", "path": "/ParameterObject", "value": nested(900)}])
    # The command line: one line, batchstore's words, not "unexpected RecursionError (please report)".
    done = subprocess.run(
        [sys.executable, "-m", "batchstore", "create", "-", "--db", str(tmp_path / "c.db")],
        input="[" * 100_000 + "]" * 100_000, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and words in done.stderr and "unexpected" not in done.stderr
    assert not (tmp_path / "c.db").exists()


# --- tokens with non-ASCII characters -----------------------------------------------------------------------


def test_a_non_ascii_token_sent_as_utf_8_opens_every_route_bearer_and_basic(token_site: LiveServer) -> None:
    secret = TOKEN.encode("utf-8")
    bearer = {"Authorization": b"Bearer " + secret}
    basic = {"Authorization": b"Basic " + base64.b64encode(b"anyone:" + secret)}
    with httpx.Client(base_url=token_site.url, timeout=30) as web:
        for headers in (bearer, basic):
            created = web.post("/api/v1/BatchTask", json={"Name": "Unicode"}, headers=headers)
            assert created.status_code == 200, created.text
            assert web.get("/api/v1/BatchTask/All", headers=headers).status_code == 200
        with unchanged(token_site.db_path):
            for wrong in (b"Bearer " + secret[:-1], b"Bearer " + TOKEN.encode("latin-1", "replace"),
                          b"Basic " + base64.b64encode(b"anyone:" + secret + b"!")):
                refusal(web.post("/api/v1/BatchTask", json={"Name": "x"}, headers={"Authorization": wrong}),
                        401, "Authorization")


# --- status codes that mislead ------------------------------------------------------------------------------


def test_a_wrong_method_is_405_with_allow_whatever_the_body(site: LiveServer, client: httpx.Client) -> None:
    with unchanged(site.db_path):
        for method, path, allowed in (
            ("PUT", "/api/v1/Agents/Batch/GetBatchTaskInfo", {"POST"}),
            ("DELETE", "/api/v1/BatchTask", {"POST"}),
            ("PUT", "/task-status/v1/1", {"GET", "PATCH"}),
            ("POST", "/batchstore/v1/tasks/1/history", {"GET"}),
        ):
            response = client.request(method, path)  # no body, no Content-Type: not a 415
            refusal(response, 405)
            assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}, response.headers
        refusal(client.post("/api/v1/NoSuchRoute", content=b"<xml/>", headers={"Content-Type": "text/xml"}), 404)


def test_every_json_route_honours_accept_and_head_answers_like_get(client: httpx.Client) -> None:
    task_id = client.post("/api/v1/BatchTask", json={"Name": "Accept"}).json()
    history = client.get(f"/batchstore/v1/tasks/{task_id}/history", headers={"Accept": "text/html"})
    refusal(history, 406, "Accept")
    assert client.get(f"/batchstore/v1/tasks/{task_id}/history", headers={"Accept": "application/json"}).json()
    assert client.get("/", headers={"Accept": "text/html"}).status_code == 200  # the page is no JSON route
    for path, media in (("/", "text/html"), ("/api/v1/BatchTask/All", "application/json"),
                        (f"/task-status/v1/{task_id}", "application/json"),
                        ("/batchstore/v1/events", "text/event-stream")):  # an endless stream ends at its headers
        head = client.head(path)
        assert head.status_code == 200 and head.content == b"", path
        assert head.headers["content-type"].startswith(media), path


# --- cross-site forms: a POST without a body must not carry a form's type -----------------------------------

#: The types a form on another site can send without a CORS preflight (multipart's boundary included).
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain;charset=UTF-8")


def test_a_cross_site_form_post_stops_and_requeues_nothing(site: LiveServer, client: httpx.Client) -> None:
    """A page on another site can make a visitor's browser POST a form to a server without a token, with no
    preflight: an empty body (``<form method=post>`` without fields), or fields. SuperOffice's bodyless Stop and
    batchstore's requeue refuse a form's type (415) and write nothing; without a type (what SuperOffice's
    clients send) or with JSON's, they work; the token route takes forms by design."""
    new = client.post("/api/v1/BatchTask", json={"Name": "Victim"}).json()
    failed = client.post("/api/v1/BatchTask", json={"Name": "Victim", "State": "Failed"}).json()
    targets = (f"/api/v1/BatchTask/{new}/Stop", f"/batchstore/v1/tasks/{failed}/requeue")
    cross_site = {"Origin": "https://evil.example", "Referer": "https://evil.example/"}
    with unchanged(site.db_path):
        for path in targets:
            for media_type in FORM_TYPES:
                empty = client.post(path, content=b"", headers={**cross_site, "Content-Type": media_type})
                assert empty.request.headers["content-length"] == "0"
                refusal(empty, 415, "Content-Type")
            refusal(client.post(path, data={"confirm": "yes"}, headers=cross_site), 415, "Content-Type")
            refusal(client.post(path, files={"confirm": (None, "yes")}, headers=cross_site), 415, "Content-Type")

    stopped = client.post(f"/api/v1/BatchTask/{new}/Stop")  # no body, no type: as SuperOffice's clients send it
    assert stopped.status_code == 200 and stopped.json() is True
    assert client.get(f"/api/v1/BatchTask/{new}").json()["State"] == "Failed"
    requeued = client.post(f"/batchstore/v1/tasks/{failed}/requeue", content=b"", headers=JSON)
    assert requeued.status_code == 200 and client.get(f"/api/v1/BatchTask/{failed}").json()["State"] == "New"
    empty_form = client.post("/oauth/token", content=b"", headers={"Content-Type": FORM_TYPES[0]})
    refusal(empty_form, 400)  # its own refusal (no grant_type), not the guard's 415


# --- a cursor never issued by this database -------------------------------------------------------------------


def test_a_cursor_this_database_never_handed_out_is_refused_by_changes_and_watch(
    store: BatchStore, db: Any, tmp_path: Path
) -> None:
    task_id = store.create({"Name": "Feed"})
    store.patch(task_id, [{"op": "replace", "path": "/State", "value": "Started"}])
    newest = store.last_cursor()
    assert [c.operation for c in store.changes(after=0)] == ["create", "patch"]
    assert store.changes(after=newest) == []  # the newest is fine: nothing after it yet
    for call in (lambda: store.changes(after=newest + 1000), lambda: store.watch(after=newest + 1000, timeout=0)):
        with pytest.raises(UnknownCursorError) as info:
            call()  # watch raises at the call, not at the first next()
        assert info.value.field == "after" and info.value.latest >= newest and "never handed out" in str(info.value)


@pytest.mark.sqlite_only
def test_a_cursor_from_before_a_restore_is_refused_not_silently_skipped(tmp_path: Path) -> None:
    path, backup = tmp_path / "tasks.db", tmp_path / "backup.db"
    with BatchStore(path) as store:
        store.create({"Name": "Before the backup"})
        with sqlite3.connect(path) as source, sqlite3.connect(backup) as copy:
            source.backup(copy)
        for n in range(3):
            store.create({"Name": f"After the backup {n}"})
        cursor = store.last_cursor()
    os.replace(backup, path)  # restored: the three creates are gone, and so are their cursors
    for leftover in ("-wal", "-shm"):
        Path(f"{path}{leftover}").unlink(missing_ok=True)
    with BatchStore(path) as store:
        with pytest.raises(UnknownCursorError):
            store.changes(after=cursor)
        store.create({"Name": "After the restore"})
        # Until the feed passes the old cursor every change would have been skipped; now it is an error.
        with pytest.raises(UnknownCursorError):
            store.watch(after=cursor, timeout=0)


@pytest.mark.sqlite_only
def test_a_cursor_whose_rows_were_pruned_stays_valid(tmp_path: Path) -> None:
    with BatchStore(tmp_path / "pruned.db") as store:
        task_id = store.create({"Name": "Old", "IsInternalTask": True})
        store.delete(task_id)
        cursor = store.last_cursor()
        store.prune(dt.timedelta(0))  # removes the changes of deleted tasks: the newest rows are gone
        assert store.last_cursor() < cursor
        assert store.changes(after=cursor) == []  # handed out by this database: still a valid cursor


def test_an_unknown_cursor_is_a_400_over_http() -> None:
    from starlette.requests import Request

    from batchstore.server._errors import refusal as answer

    request = Request({"type": "http", "method": "GET", "path": "/batchstore/v1/changes", "headers": []})
    response = answer(request, UnknownCursorError(99, 3))
    assert response.status_code == 400
    assert json.loads(bytes(response.body))["field"] == "after"


# --- timeouts that add up -------------------------------------------------------------------------------------


@contextlib.contextmanager
def lock_held(db: Any, task_id: int) -> Iterator[None]:
    """Another connection holds what an update of ``task_id`` needs: SQLite's write lock, or the task's row."""
    if db.is_postgres:
        import psycopg

        with psycopg.connect(db.url) as conn:  # a transaction until the block ends
            conn.execute("SELECT id FROM batchtask WHERE id = %s FOR UPDATE", (task_id,))
            yield
            conn.rollback()
        return
    conn = sqlite3.connect(db.target, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def test_one_deadline_covers_the_wait_for_a_connection_and_the_wait_for_the_lock(db: Any) -> None:
    timeout = 1.5
    with db.open(timeout=timeout, pool_size=1) as store:
        task_id = store.create({"Name": "Contended"})
        before = db.snapshot()
        failures: list[BaseException] = []

        def update() -> None:
            try:
                store.update({"Id": task_id, "State": "Started"})
            except BaseException as exc:
                failures.append(exc)

        with lock_held(db, task_id):
            first = threading.Thread(target=update)  # takes the store's (only) connection, then waits for the lock
            first.start()
            time.sleep(0.2)
            started = time.monotonic()
            update()  # waits for the connection, then for the lock: one timeout in all, not one each
            waited = time.monotonic() - started
            first.join()
        assert len(failures) == 2 and all(isinstance(f, StorageError) for f in failures), failures
        # Each wait with a timeout of its own took about 2 x 1.5 s here; the one deadline gives about 1.5 s.
        assert waited < timeout * 1.5, f"the call waited {waited:.2f} s with timeout={timeout}"
        assert db.snapshot() == before


# --- noise and leaks ------------------------------------------------------------------------------------------

PROXY_SCRIPT = textwrap.dedent('''
    import logging, socket, sys, threading, time
    from batchstore import BatchStore, StorageError

    if sys.argv[3] == "logging":
        logging.basicConfig(level=logging.WARNING, format="LOGGED %(name)s %(message)s", stream=sys.stdout)
    host, port = sys.argv[2].rsplit(":", 1)
    sockets = []
    cut = threading.Event()

    def pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def forward(listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if cut.is_set():
                client.close()
                return
            upstream = socket.create_connection((host, int(port)))
            sockets.extend((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    # A real TCP hop between the store and the server, cut as a network outage (or a stopped server) would be.
    listener = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=forward, args=(listener,), daemon=True).start()
    url = sys.argv[1].replace(sys.argv[2], "127.0.0.1:%d" % listener.getsockname()[1])
    store = BatchStore(url, pool_size=2, timeout=1)
    task_id = store.create({"Name": "Outage"})
    cut.set()
    try:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept, which a close alone would not
    except OSError:
        pass
    listener.close()
    for s in sockets:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    for _ in range(2):
        try:
            store.get(task_id)
        except StorageError as exc:
            print("refused:", type(exc).__name__)
    time.sleep(2)  # the pool's workers try to reconnect meanwhile, and fail
    store.close()
''')


@pytest.mark.postgresql
@pytest.mark.parametrize("logging_set_up", [False, True])
def test_the_pools_warnings_go_to_batchstores_logger_silent_by_default(tmp_path: Path, logging_set_up: bool) -> None:
    with postgres_schema("attacks") as url:
        hostport = urllib.parse.urlsplit(url).netloc.rpartition("@")[2]
        script = tmp_path / "outage.py"
        script.write_text(PROXY_SCRIPT)
        done = subprocess.run([sys.executable, str(script), url, hostport, "logging" if logging_set_up else "quiet"],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "refused: StorageError" in done.stdout
    assert "error connecting" not in done.stderr, done.stderr  # nothing printed on its own
    pool_lines = [line for line in done.stdout.splitlines() if line.startswith("LOGGED")]
    if logging_set_up:
        assert pool_lines and all(line.startswith("LOGGED batchstore.pool ") for line in pool_lines), done.stdout
    else:
        assert pool_lines == [] and done.stderr == ""


def test_a_500_answers_json_with_an_error_id_and_logs_the_traceback_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    require_server_packages()
    import asyncio

    from batchstore.server import create_app

    app = create_app(BatchStore(tmp_path / "boom.db"))

    @app.get("/api/v1/boom")
    def boom() -> None:  # a bug of the server's own, the only way to a 500
        raise RuntimeError("kaboom")

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as web:
            return await web.get("/api/v1/boom")

    with caplog.at_level(logging.ERROR, logger="batchstore.server"):
        response = asyncio.run(call())
    body = refusal(response, 500)
    assert body["error"] == "InternalError" and body["errorId"] in body["message"]
    assert "kaboom" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if r.name == "batchstore.server"]
    assert len(logged) == 1 and body["errorId"] in logged[0].getMessage() and logged[0].exc_info is not None
    app.state.store.close()


# --- shutdown with a client attached --------------------------------------------------------------------------


@pytest.mark.full("two server processes and a signal")
@pytest.mark.parametrize("front", ["batchstore serve", "python -m batchstore.server"])
def test_ctrl_c_with_a_dashboard_open_exits_130_at_once_without_a_traceback(
    engine: str, tmp_path: Path, front: str
) -> None:
    require_server_packages()
    command = [sys.executable, "-m", "batchstore", "serve"] if front == "batchstore serve" else [
        sys.executable, "-m", "batchstore.server"]
    with database(engine, tmp_path) as target:
        port = free_port()
        process = subprocess.Popen([*command, "--db", str(target), "--port", str(port)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    stream = socket.create_connection(("127.0.0.1", port), timeout=30)
                    break
                except OSError:
                    assert time.monotonic() < deadline and process.poll() is None, "the server did not start"
                    time.sleep(0.05)
            with stream:
                stream.sendall(b"GET /batchstore/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                received = b""
                while b"event: snapshot" not in received:
                    received += stream.recv(65536)
                process.send_signal(signal.SIGINT)
                while chunk := stream.recv(65536):  # the server ends the open stream itself
                    received += chunk
            _, errors = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    text = errors.decode(errors="replace")
    assert process.returncode == 130, text
    assert "Traceback" not in text and "CancelledError" not in text, text
    assert "graceful shutdown exceeded" not in text, text  # the stream did not hold the shutdown up


# --- secrets in output; --db the same way everywhere; a typo taken silently ---------------------------------


@pytest.mark.postgresql
def test_demo_on_postgresql_never_prints_the_password(tmp_path: Path) -> None:
    with postgres_schema("attacks") as url:
        password = urllib.parse.urlsplit(url).password
        assert password
        done = subprocess.run([sys.executable, "-m", "batchstore", "demo", "--db", url],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f":{password}@" not in output and ":***@" in output
    assert output.startswith(f"batchstore demo: database {redact(url)}")  # no local path built from the URL
    assert list(tmp_path.iterdir()) == []  # and no file either
    shown = subprocess.run([sys.executable, "-m", "batchstore", "demo", "--help"], capture_output=True, text=True,
                           timeout=60)
    assert "postgresql://" in shown.stdout and "PATH|URL" in shown.stdout


def test_redact_hides_a_password_wherever_a_url_carries_it() -> None:
    assert redact("postgresql://u:s3cret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("postgresql://u:p@ss?w0rd@h/db?sslmode=require") == "postgresql://u:***@h/db?sslmode=require"
    assert redact("postgresql://h/db?user=u&password=s3cret&sslmode=require") == (
        "postgresql://h/db?user=u&password=***&sslmode=require")
    assert redact("tasks.db") == "tasks.db"


@pytest.mark.parametrize("word", ["postgres", "postgresql", "POSTGRES", "sqlite", "postgresql:tasks", "postgres:"])
def test_an_engine_named_without_a_url_is_refused_everywhere_with_the_expected_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], word: str
) -> None:
    monkeypatch.chdir(tmp_path)
    expected = "sqlite:///" if word.lower().startswith("sqlite") else "postgresql://user:password@host"
    with pytest.raises(ConfigurationError, match="names an engine") as info:
        BatchStore(word)
    assert info.value.option == "database" and expected in str(info.value)
    from batchstore.cli import main

    assert main(["list", "--db", word]) == 1
    assert main(["create", '{"Name": "x"}', "--db", word]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all("--db" in line and expected in line for line in errors), errors
    assert list(tmp_path.iterdir()) == []  # no SQLite file named after the engine


def run_inner_pytest(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner="def test_engine(batchstore_database):\n    print('ENGINE', batchstore_database)\n")
    from tests.plugin.test_pytest_plugin import STRICT  # the inner runs' options: one home

    return pytester.runpytest(*STRICT, "-s", *args)


def test_the_plugin_refuses_postgres_without_a_url_and_takes_an_empty_variable_as_unset(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BATCHSTORE_TEST_URL", raising=False)
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\nbatchstore_url = "postgres"\n')
    refused = run_inner_pytest(pytester)
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    assert "names an engine" in "\n".join(refused.errlines) and "postgresql://" in "\n".join(refused.errlines)
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    monkeypatch.setenv("BATCHSTORE_TEST_URL", "")
    empty = run_inner_pytest(pytester)
    empty.assert_outcomes(passed=1)
    assert "ENGINE None" in empty.stdout.str()  # the default, in memory: as if the variable were not set


def test_an_empty_postgres_url_variable_is_unset_for_every_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHSTORE_TEST_POSTGRES_URL", "")
    monkeypatch.delenv("BATCHSTORE_REQUIRE_ALL", raising=False)
    assert environment_value("BATCHSTORE_TEST_POSTGRES_URL") is None
    from tests.plugin.test_pytest_plugin import postgres_url

    for helper in (require_postgres, postgres_url):
        with pytest.raises(pytest.skip.Exception):
            helper()  # both skip, rather than one running the PostgreSQL case against --batchstore-url ""


# --- DNS rebinding ------------------------------------------------------------------------------------------


def test_only_loopback_and_allowed_host_names_are_answered(site: LiveServer, client: httpx.Client) -> None:
    port = urllib.parse.urlsplit(site.url).port
    with unchanged(site.db_path):
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.nip.io", "localhost.evil.example", "[::2]"):
            refusal(client.post("/api/v1/BatchTask", json={"Name": "Rebound"}, headers={"Host": host}), 400, "Host")
            listed = client.get("/api/v1/BatchTask/All", headers={"Host": host})
            refusal(listed, 400, "Host")
            assert "Rebound" not in listed.text
    for host in (f"localhost:{port}", "LOCALHOST", f"127.0.0.1:{port}", f"[::1]:{port}", "tasks.example:8000"):
        assert client.get("/api/v1/BatchTask/All", headers={"Host": host}).status_code == 200, host


def test_an_allowed_host_must_be_a_host_name() -> None:
    require_server_packages()
    from batchstore.server import ServerConfigurationError, create_app

    for bad in ("evil.example/path", "user@evil.example", ""):
        with pytest.raises(ServerConfigurationError, match="not a host name"):
            create_app(BatchStore(), allowed_hosts=[bad])


# --- tests write only under their tmp paths; Hypothesis keeps its examples in CI -----------------------------


def test_no_test_names_a_fixed_absolute_path_to_write_to() -> None:
    """The browser test copied its screenshot to /work/wt/...: every file a test writes is under tmp_path."""
    allowed = ("/usr/bin/", "/dev/null", "/proc")  # /proc: read to find processes; nothing is written there
    for test_file in sorted((ROOT / "tests").rglob("*.py")):
        tree = ast.parse(test_file.read_text(), str(test_file))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Path"
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                    and node.args[0].value.startswith("/") and not node.args[0].value.startswith(allowed)):
                raise AssertionError(f"{test_file.name}:{node.lineno} names the fixed path {node.args[0].value}")


def test_hypothesis_keeps_its_example_database_and_prints_blobs_in_ci() -> None:
    code = ("import sys; sys.path.insert(0, 'tests'); import conftest; from hypothesis import settings; "
            "s = settings.default; print(type(s.database).__name__, s.print_blob, s.derandomize)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "CI": "true"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["DirectoryBasedExampleDatabase", "True", "False"]


# --- the differential check: every refusal leaves the database exactly as it was -----------------------------

Send = Callable[[httpx.Client, int], httpx.Response]
JSON = {"Content-Type": "application/json"}
PATCH = {"Content-Type": "application/json-patch+json"}


def _sp_patch(operations: Any) -> Send:
    return lambda web, task_id: web.patch(f"/task-status/v1/{task_id}", content=json.dumps(operations), headers=PATCH)


REFUSALS: dict[str, tuple[int, Send]] = {
    "foreign Host": (400, lambda web, _: web.post("/api/v1/BatchTask", json={"Name": "x"},
                                                 headers={"Host": "evil.example"})),
    "wrong method": (405, lambda web, _: web.put("/api/v1/Agents/Batch/UpdateBatchTask", json={"BatchTaskInfo": {}})),
    "XML body": (415, lambda web, _: web.post("/api/v1/BatchTask", content=b"<BatchTaskInfo/>",
                                             headers={"Content-Type": "application/xml"})),
    "Accept without JSON": (406, lambda web, _: web.post("/api/v1/BatchTask", json={"Name": "x"},
                                                        headers={"Accept": "text/html"})),
    "body over the limit": (413, lambda web, _: web.post("/api/v1/BatchTask", content=b"{" + b" " * 1_100_000 + b"}",
                                                        headers=JSON)),
    "malformed JSON": (400, lambda web, _: web.post("/api/v1/BatchTask", content=b'{"Name": ', headers=JSON)),
    "JSON nested too deep": (400, lambda web, _: web.post("/api/v1/BatchTask", content="[" * 5000 + "]" * 5000,
                                                         headers=JSON)),
    "unknown member": (400, lambda web, _: web.post("/api/v1/BatchTask", json={"Name": "x", "Colour": "red"})),
    "State All": (400, lambda web, _: web.post("/api/v1/BatchTask", json={"Name": "x", "State": "All"})),
    "percent out of range": (400, lambda web, _: web.post("/api/v1/BatchTask", json={"ProgressPercent": 762})),
    "NaN in ParameterObject": (400, lambda web, _: web.post("/api/v1/BatchTask", content=b'{"ParameterObject": NaN}',
                                                           headers=JSON)),
    "date before the range": (400, lambda web, _: web.post("/api/v1/BatchTask", json={"Created": "0001-01-01T00:00Z"})),
    "date after the range": (400, lambda web, task_id: web.post(
        "/api/v1/Agents/Batch/UpdateBatchTask",
        json={"BatchTaskInfo": {"Id": task_id, "State": "Started", "Created": "9999-12-31T00:00:00Z"}})),
    "read-only field": (400, lambda web, task_id: web.post(
        "/api/v1/Agents/Batch/UpdateBatchTask", json={"BatchTaskInfo": {"Id": task_id, "Name": "renamed"}})),
    "unknown Id": (404, lambda web, _: web.post("/api/v1/Agents/Batch/UpdateBatchTask",
                                               json={"BatchTaskInfo": {"Id": 2**31 - 1, "State": "Started"}})),
    "bad SO-TimeZone": (400, lambda web, task_id: web.post(
        "/api/v1/Agents/Batch/UpdateBatchTask", json={"BatchTaskInfo": {"Id": task_id, "State": "Started"}},
        headers={"SO-TimeZone": "Mars/Olympus_Mons"})),
    "completionStatus as an array": (400, _sp_patch([{"op": "replace", "path": "/completionStatus", "value": [1]},
                                                     {"op": "replace", "path": "/completed", "value": "2026-01-01"}])),
    "failed test": (409, _sp_patch([{"op": "test", "path": "/uniqueName", "value": "someone else"},
                                    {"op": "replace", "path": "/completionStatus", "value": "SUCCESS"},
                                    {"op": "replace", "path": "/completed", "value": "2026-01-01T00:00:00Z"}])),
    "deep test value": (400, _sp_patch([{"op": "test", "path": "/id", "value": nested(900)}])),
    "delete an unknown Id": (404, lambda web, _: web.post("/api/v1/Agents/Batch/DeleteBatchTask",
                                                         json={"BatchTaskId": 2**31 - 2})),
    "stop without an Id": (400, lambda web, _: web.post("/api/v1/Agents/Batch/StopBatchJob", json={})),
}


def test_every_refused_request_leaves_the_database_byte_identical(site: LiveServer, client: httpx.Client) -> None:
    task_id = client.post("/api/v1/BatchTask", json={"Name": "Target", "ParameterObject": {"rows": [1, 2]}}).json()
    for name, (status, send) in REFUSALS.items():
        before = fingerprint(site.db_path)
        response = send(client, task_id)
        assert response.status_code == status, f"{name}: {response.status_code} {response.text[:300]}"
        assert response.json()["status"] == status, name
        assert fingerprint(site.db_path) == before, f"{name}: refused, yet the database changed"
