"""Every verb of the ``batchstore`` command, one function each.

To add a verb, write one function here::

    @verb(reads=True, prints=True)                 # reads: opens read-only; prints: --json and --wire
    @click.argument("task_id", metavar="ID", type=TASK_ID)
    def show(s: Session, task_id: int) -> None:
        \"\"\"One line of help.\"\"\"
        s.out.task(s.store.get(task_id), detail=True)

and add a line for it to the "Verbs" of docs/guide/cli.md (a test checks that every verb is there).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar

import click

from .._api import migrate as run_migrations
from .._api import migration_sql, why_not_stopped
from .._enums import BatchTaskState
from .._exceptions import BatchStoreError, InvalidTaskError, TaskNotFoundError, WaitTimeoutError
from .._fields import FIELDS
from .._model import BatchTaskInfo
from .._query import OPERATORS, Q
from .._retention import RetentionPolicy
from .._store import BatchStore
from ._args import TASK_ID, format_duration, parse_duration, parse_seconds, parse_states, read_json
from ._main import Session, cli, verb
from ._target import shown_target

__all__: list[str] = []

DEMO_DB: Final = "batchstore-demo.db"
F = TypeVar("F", bound=Callable[..., None])

_select = click.option("--select", metavar="FIELDS", help="Comma-separated field names (Id is always there).")
_worker = click.option("--worker", metavar="W", help="The worker acting; refused if another holds the task.")


def _filters(function: F) -> F:
    """The filters of list and count, compiled by the store's query model (no filtering here)."""
    for option in reversed([
        click.argument("states", metavar="[STATE]...", nargs=-1),
        click.option("--name", metavar="N", help="Only tasks with this Name."),
        click.option("--associate", "associates", metavar="A", type=int, multiple=True,
                     help="Only tasks of this AssociateId (repeatable)."),
        click.option("--system", is_flag=True, help="Only system tasks (IsSystemTask)."),
        click.option("--user", is_flag=True, help="Only user tasks (IsSystemTask false)."),
        click.option("--where", "where", metavar="FIELD[__OP]=VALUE", multiple=True,
                     help="Only tasks where this holds (repeatable, all must hold), e.g. Name__startswith=ERP, "
                          "Created__gt=2024-01-01T00:00:00Z, State__in=New,Started. OP: "
                          f"{', '.join(OPERATORS)}. VALUE is JSON when it parses as JSON, else text."),
    ]):
        function = option(function)
    return function


def _paging(function: F) -> F:
    for option in reversed([
        click.option("--order-by", metavar="FIELDS", help="Sort keys, - for descending: -Created,Name (default Id)."),
        click.option("--offset", type=click.IntRange(0), default=0, help="Skip this many tasks."),
        click.option("--limit", type=click.IntRange(0), default=None, help="Print at most this many tasks."),
    ]):
        function = option(function)
    return function


#: Fields whose --where values are text even when they look like JSON numbers or true/false (Name=2024).
_TEXT_FIELDS: Final = frozenset(f.wire.lower() for f in FIELDS if f.kind in ("str", "datetime"))


def _condition(text: str) -> Q:
    """One ``--where`` condition: ``FIELD[__OP]=VALUE``, the value JSON when it reads as JSON, else text.

    >>> _condition("State__in=New,Started"), _condition("Name=2024")
    (Q(State__in=((1, 3), False)), Q(Name__eq='2024'))
    """
    key, equals, raw = text.partition("=")
    key = key.strip()
    if not equals or not key:
        raise InvalidTaskError(f"{text!r} is not FIELD[__OP]=VALUE, e.g. Name__startswith=ERP", field="--where")
    field, _, op = key.lower().partition("__")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    if op == "in" and not isinstance(value, list):
        value = [part.strip() for part in raw.split(",")]
    elif field in _TEXT_FIELDS and op != "isnull" and not isinstance(value, (str, list)):
        value = raw
    return Q(**{key: value})


def _where(
    states: tuple[str, ...], name: str | None, associates: tuple[int, ...], system: bool, user: bool = False,
    where: tuple[str, ...] = (),
) -> Q:
    """The filter the options ask for."""
    wanted = parse_states(states)
    query = Q() if BatchTaskState.All in wanted else Q(State__in=wanted)
    if name is not None:
        query &= Q(Name=name)
    if associates:
        query &= Q(AssociateId__in=associates)
    if system or user:
        if system and user:
            raise InvalidTaskError("--system and --user exclude each other", field="IsSystemTask")
        query &= Q(IsSystemTask=system)
    for condition in where:
        query &= _condition(condition)
    return query


def _query(
    store: BatchStore, states: tuple[str, ...], name: str | None, associates: tuple[int, ...], system: bool,
    select: str | None,
) -> Iterator[BatchTaskInfo]:
    """The tasks the agent-query filters ask for, by Id, streamed."""
    return store.list(where=_where(states, name, associates, system), select=select)


# --- tasks ---------------------------------------------------------------------------------------


@verb(creates=True)
@click.argument("task", required=False, metavar="[JSON|-]")
def create(s: Session, task: str | None) -> None:
    """Create a task from wire JSON (argument, or stdin with - or nothing); print its id."""
    # Checked before the database is opened, so a refused task leaves no new empty file behind.
    info = BatchTaskInfo.from_wire(read_json(task, "the task"))
    click.echo(s.store.create(info))


@verb(reads=True, prints=True)
@click.argument("task_id", metavar="ID", type=TASK_ID)
@_select
def get(s: Session, task_id: int, select: str | None) -> None:
    """Print one task."""
    s.out.task(s.store.get(task_id, select=select), detail=True)


@verb("list", reads=True, prints=True)
@_filters
@_paging
@_select
def list_(s: Session, states: tuple[str, ...], name: str | None, associates: tuple[int, ...], system: bool,
          user: bool, where: tuple[str, ...], order_by: str | None, offset: int, limit: int | None,
          select: str | None) -> None:
    """Print the tasks in these states (default: all) that match the filters, by Id or --order-by."""
    query = _where(states, name, associates, system, user, where)
    s.out.tasks(s.store.list(where=query, order_by=order_by, offset=offset, limit=limit, select=select))


@verb(reads=True)
@_filters
def count(s: Session, states: tuple[str, ...], name: str | None, associates: tuple[int, ...], system: bool,
          user: bool, where: tuple[str, ...]) -> None:
    """Print how many tasks list would print (counted by the database)."""
    click.echo(s.store.count(where=_where(states, name, associates, system, user, where)))


@verb(prints=True)
@click.argument("task", required=False, metavar="[JSON|-]")
@_select
def update(s: Session, task: str | None, select: str | None) -> None:
    """Update a task from wire JSON with its Id (argument or stdin); print it."""
    s.out.task(s.store.update(read_json(task, "the task"), select=select))


@verb(prints=True)
@click.argument("task_id", metavar="ID", type=TASK_ID)
@click.argument("operations", required=False, metavar="[JSON|-]")
@_select
def patch(s: Session, task_id: int, operations: str | None, select: str | None) -> None:
    """Apply an RFC 6902 JSON Patch (argument or stdin) to a task; print it."""
    s.out.task(s.store.patch(task_id, read_json(operations, "the patch"), select=select))


@verb()
@click.argument("task_id", metavar="ID", type=TASK_ID)
def delete(s: Session, task_id: int) -> None:
    """Delete a task, its ParameterObject and its trace."""
    s.store.delete(task_id)
    click.echo(f"deleted task {task_id}")


# --- the lifecycle -------------------------------------------------------------------------------


@verb(prints=True)
@click.option("--name", metavar="N", help="Only a task with this Name.")
@_worker
def acquire(s: Session, name: str | None, worker: str | None) -> None:
    """Claim the oldest New task for a worker; print it (null with --json when there is none)."""
    s.out.task(s.store.acquire(name=name, worker=worker), none="no New task to acquire")


@verb(prints=True)
@click.argument("task_id", metavar="ID", type=TASK_ID)
@_worker
def start(s: Session, task_id: int, worker: str | None) -> None:
    """Start an acquired task; print it."""
    s.out.task(s.store.start(task_id, worker=worker))


@verb(prints=True)
@click.argument("task_id", metavar="ID", type=TASK_ID)
@click.argument("percent", type=int)
@click.argument("description", required=False)
@_worker
def progress(s: Session, task_id: int, percent: int, description: str | None, worker: str | None) -> None:
    """Report progress (0..100) of a started task; print it."""
    task = s.store.report_progress(task_id, percent, description, worker=worker)
    s.out.task(task)
    if task.stop_requested:
        s.out.message(f"task {task_id}: a stop was requested")


@verb(prints=True)
@click.argument("task_id", metavar="ID", type=TASK_ID)
@click.option("--result", metavar="R", help="The Result to record.")
@click.option("--response", metavar="R", help="The Response to record.")
@click.option("--file-name", metavar="F", help="The FileName of what the task made.")
@click.option("--cleanup", is_flag=True, help="SucceededManualCleanup instead of Succeeded.")
@_worker
def succeed(s: Session, task_id: int, result: str | None, response: str | None, file_name: str | None,
            cleanup: bool, worker: str | None) -> None:
    """Finish a started task as Succeeded; print it."""
    s.out.task(s.store.succeed(task_id, result=result, response=response, file_name=file_name, cleanup=cleanup,
                               worker=worker))


@verb(prints=True)
@click.argument("task_id", metavar="ID", type=TASK_ID)
@click.option("--result", metavar="R", help="The Result to record.")
@click.option("--response", metavar="R", help="The Response to record.")
@_worker
def fail(s: Session, task_id: int, result: str | None, response: str | None, worker: str | None) -> None:
    """Finish an acquired or started task as Failed; print it."""
    s.out.task(s.store.fail(task_id, result=result, response=response, worker=worker))


@verb(prints=True)
@click.argument("task_id", metavar="ID", type=TASK_ID)
@click.option("--worker", metavar="W", help="Who asks (accepted for symmetry; the store records no worker).")
def stop(s: Session, task_id: int, worker: str | None) -> None:
    """Stop a task: a New or Aquired one fails now, a Started one is asked to stop; print it."""
    del worker  # BatchStore.stop takes none: a stop is a request, not a step of the worker holding the task
    if not s.store.stop(task_id):
        why = why_not_stopped(s.store.get(task_id, select="State,CancellationBehaviour"))
        raise BatchStoreError(f"stop: task {task_id} was not stopped: {why}")
    try:
        task = s.store.get(task_id)
    except BatchStoreError as exc:
        # The stop is committed: the verb succeeded, whatever happens to the task (or the database) since.
        click.echo(f"batchstore: task {task_id} was stopped; it cannot be shown now: {exc}", err=True)
        return
    s.out.task(task)


@verb(prints=True)
@click.argument("task_id", metavar="ID", type=TASK_ID)
@click.option("--by", metavar="WHO", help="Who requeues, for the history (default: host:pid).")
def requeue(s: Session, task_id: int, by: str | None) -> None:
    """Send a Failed (or stopped) task back to New for a worker to run again; print it."""
    s.out.task(s.store.requeue(task_id, by=by))


#: The exit status of a wait that ran out of time, as timeout(1) has it.
WAIT_TIMED_OUT: Final = 124


@verb(reads=True, prints=True)
@click.argument("task_id", metavar="ID", type=TASK_ID)
@click.option("--timeout", "timeout", metavar="S", help="Give up after S seconds (30, 90s, 5m); default: never.")
def wait(s: Session, task_id: int, timeout: str | None) -> int:
    """Wait until a task is finished and print it: exit 0 Succeeded, 1 Failed or stopped, 124 timed out."""
    seconds = None if timeout is None else parse_seconds(timeout, "--timeout")
    try:
        task = s.store.wait(task_id, timeout=seconds)
    except WaitTimeoutError as exc:
        click.echo(f"batchstore: {exc}", err=True)
        return WAIT_TIMED_OUT
    s.out.task(task, detail=True)
    return 0 if task.state in (BatchTaskState.Succeeded, BatchTaskState.SucceededManualCleanup) else 1


@verb(reads=True, prints=True)
@click.argument("task_id", metavar="ID", type=TASK_ID)
def history(s: Session, task_id: int) -> None:
    """Print every change to a task: when, operation, worker, old -> new."""
    s.out.history(s.store.history(task_id))


@verb()
@click.option("--older-than", "older_than", required=True, metavar="AGE",
              help="Age of the last State change: 30d, 12h, 90m, 45s (combined: 1d12h).")
def prune(s: Session, older_than: str) -> None:
    """Delete finished tasks whose State last changed longer ago than AGE; print how many."""
    removed = s.store.prune(parse_duration(older_than))
    if s.out.form == "table":
        click.echo(f"pruned {removed} finished task(s) older than {older_than}")
    else:
        click.echo(removed)


@cli.group()
def retention() -> None:
    """Expire finished tasks by themselves: a policy kept in the database, applied by every process that writes."""


def _describe(policy: RetentionPolicy | None) -> str:
    if policy is None:
        return "retention is off: finished tasks are kept until deleted or pruned"
    failed = "" if policy.keep_failed_for is None else f", Failed ones {format_duration(policy.keep_failed_for)}"
    kept = format_duration(policy.finished_older_than)
    return f"finished tasks are kept {kept} after their last State change{failed}"


def _policy_object(policy: RetentionPolicy | None) -> dict[str, Any] | None:
    return None if policy is None else policy.to_json()


@verb("set", group=retention)
@click.option("--finished-older-than", "finished", required=True, metavar="AGE",
              help="Remove finished tasks this long after their last State change: 30d, 12h, 1d12h.")
@click.option("--keep-failed-for", "failed", metavar="AGE", help="Keep Failed tasks this long instead.")
def retention_set(s: Session, finished: str, failed: str | None) -> None:
    """Store the retention policy in the database; every process that writes applies it from now on."""
    policy = s.store.set_retention(
        parse_duration(finished, "--finished-older-than"),
        keep_failed_for=None if failed is None else parse_duration(failed, "--keep-failed-for"),
    )
    _say(s, policy)


@verb("off", group=retention)
def retention_off(s: Session) -> None:
    """Turn retention off: finished tasks stay until deleted or pruned."""
    _say(s, s.store.set_retention(None))


@verb("show", group=retention, reads=True)
def retention_show(s: Session) -> None:
    """Print the retention policy in force (JSON in a pipe: null when off)."""
    _say(s, s.store.retention)


def _say(s: Session, policy: RetentionPolicy | None) -> None:
    if s.out.form == "table":
        click.echo(_describe(policy))
    else:
        click.echo(json.dumps(_policy_object(policy)))


# --- the change feed, the server and the schema ------------------------------------------------

_WATCHED: Final = "Id,Name,State,ProgressPercent,ProgressDescription,Created"
#: With nothing new this long, the table is redrawn all the same: ages, ETAs and the live clock move on.
_REDRAW_SECONDS: Final = 5.0


@verb(reads=True, prints=True, json_lines_help="Print each change as one JSON line (JSON Lines, never an array).")
@click.argument("states", metavar="[STATE]...", nargs=-1)
def watch(s: Session, states: tuple[str, ...]) -> None:
    """Show the tasks in these states live (default: all), as any process changes them, until Ctrl-C.

    On a terminal, a table redrawn at each change, with the database, a live indicator, each task's
    ProgressDescription, rate and ETA; otherwise (or with --json) one JSON line per change.
    """
    wanted = set(parse_states(states))
    store = s.store
    cursor = store.last_cursor()  # before the tasks are read: no change falls in between
    if s.out.form != "table":
        for change in store.watch(after=cursor):
            s.out.change(change)
        return
    everything = BatchTaskState.All in wanted
    shown = {t.id: t for t in _query(store, tuple(states), None, (), False, _WATCHED) if t.id is not None}
    estimates = {i: store.progress_estimate(i) for i, t in shown.items() if t.state is BatchTaskState.Started}

    def updates() -> Iterator[object]:
        nonlocal cursor
        while True:
            for change in store.watch(after=cursor, timeout=_REDRAW_SECONDS):
                cursor = change.cursor
                estimates.pop(change.task_id, None)
                try:
                    task = store.get(change.task_id, select=_WATCHED)
                except TaskNotFoundError:
                    shown.pop(change.task_id, None)
                else:
                    if everything or task.state in wanted:
                        shown[change.task_id] = task
                        if task.state is BatchTaskState.Started:
                            estimates[change.task_id] = store.progress_estimate(change.task_id)
                    else:
                        shown.pop(change.task_id, None)
                yield change
            yield None  # nothing new for a while: redraw, so the ages and the live clock move on

    s.out.live(shown, updates(), database=store.database, estimates=estimates)


@verb(creates=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--token", envvar="BATCHSTORE_TOKEN", show_envvar=True, metavar="SECRET",
              help="Require 'Authorization: Bearer SECRET' (needed to listen beyond loopback).")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="A host name clients may use besides localhost, 127.0.0.1 and [::1] (repeatable; '*': any).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 1024), metavar="N",
              help="Worker processes answering on the same port, each with its own store (up to the cores).")
def serve(
    s: Session, host: str, port: int, token: str | None, allowed_hosts: tuple[str, ...], workers: int
) -> None:
    """Serve the SuperOffice and SailPoint task APIs and the dashboard over HTTP, until Ctrl-C."""
    from ..server import serve as run_server  # without the [server] extra: one line saying how to install it

    run_server(s.target(), host=host, port=port, token=token, allowed_hosts=allowed_hosts, workers=workers)


@verb(creates=True)
@click.option("--sql", is_flag=True, help="Print the upgrade's SQL for a DBA to run; change nothing.")
def migrate(s: Session, sql: bool) -> None:
    """Upgrade the database's schema to this release's (opening a store does it too); --sql prints it."""
    target = s.target()
    if sql:
        # Reads the version only: a missing file stays missing, and the script creates every table.
        click.echo(migration_sql(target), nl=False)
        return
    before, after = run_migrations(target)
    if before == after:
        click.echo(f"already at schema version {after}")
    else:
        click.echo(f"schema version {before} -> {after}")


# --- the demo ------------------------------------------------------------------------------------


@verb(creates=True, db_default=DEMO_DB)
def demo(s: Session) -> None:
    """Run a few tasks through create, the lifecycle, update, patch and list, in a SQLite file or a database URL."""
    store, out = s.store, s.out
    db = shown_target(str(s.db))  # a file's full path; a URL without its password
    click.echo(f"batchstore demo: database {db}")
    # The create sample of SuperOffice's POST /api/v1/BatchTask, with its invalid State and
    # ProgressPercent left out: batchstore would refuse them (try it with `batchstore create`).
    sample: dict[str, Any] = {
        "Name": "ERPSync",
        "AssociateId": 602,
        "IsSystemTask": True,
        "ParameterObject": {"ParameterObject1": "source=SAP", "ParameterObject2": "syncType=incremental"},
        "Created": "2014-07-15T14:34:02.7132229+02:00",
        "DatabaseSerialNumber": "706323",
        "Context": "ERP Integration",
        "Description": "Synchronize customer and order data from SAP ERP system",
        "Request": "Sync updated customer records from SAP",
        "CancellationBehaviour": "CanCancel",
    }
    sync, export, cleanup, report = store.create_many([
        sample,
        {"Name": "ContactExport", "Description": "Export contacts to Excel"},
        {"Name": "Cleanup", "Description": "Remove temporary files"},
        {"Name": "Report", "Description": "Monthly report"},
    ])
    click.echo(f"created tasks {sync} (ERPSync), {export} (ContactExport), {cleanup} (Cleanup), {report} (Report)")
    worker = "demo-worker"
    store.acquire(name="ContactExport", worker=worker)
    store.start(export, worker=worker)
    store.succeed(export, result="Success", file_name="contacts.xlsx", worker=worker)
    click.echo(f"task {export}: acquire, start, succeed --file-name contacts.xlsx (worker {worker})")
    store.acquire(name="ERPSync", worker=worker)
    store.start(sync, worker=worker)
    store.report_progress(sync, 60, "390 of 650 records", worker=worker)
    click.echo(f"task {sync}: acquire, start, progress 60 '390 of 650 records'")
    store.stop(cleanup)
    click.echo(f"task {cleanup}: stop (it was New, so it failed at once)")
    store.update({"Id": report, "Description": "Monthly report, North region"})
    store.patch(report, [
        {"op": "test", "path": "/State", "value": "New"},
        {"op": "replace", "path": "/Response", "value": "queued behind ERPSync"},
    ])
    click.echo(f"task {report}: update Description; patch Response (test-and-set on State New)")
    _show(f"Every task, as 'batchstore list --db {db}' prints it here:", out.tasks, store.list())
    _show(f"The history of task {sync}, as 'batchstore history {sync} --db {db}' prints it here:",
          out.history, store.history(sync))
    _show(f"Task {sync}, as 'batchstore get {sync} --db {db}' prints it here:",
          lambda task: out.task(task, detail=True), store.get(sync))


def _show(label: str, printer: Callable[[Any], None], value: Any) -> None:
    click.echo(f"\n{label}")
    printer(value)

