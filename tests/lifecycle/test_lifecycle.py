"""The task lifecycle: acquire, start, progress, succeed, fail, stop, stale claims, trace, queries, prune."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

import pytest

from batchstore import (
    BatchStore,
    BatchTaskState,
    ClaimLostError,
    InvalidTaskError,
    InvalidTransitionError,
    TaskNotFoundError,
)

if TYPE_CHECKING:
    from conftest import Database

S = BatchTaskState

def test_a_task_runs_from_new_to_succeeded(store: BatchStore) -> None:
    task_id = store.create({"Name": "ERPSync", "ParameterObject": {"source": "SAP"}})
    acquired = store.acquire(worker="w1")
    assert acquired is not None and acquired.id == task_id and acquired.state is S.Aquired
    started = store.start(task_id, worker="w1")
    assert started.state is S.Started and started.start_count == 1 and started.last_started is not None
    progress = store.report_progress(task_id, 40, "400 of 1000 rows", worker="w1")
    assert (progress.progress_percent, progress.progress_description) == (40, "400 of 1000 rows")
    assert progress.stop_requested is False
    done = store.succeed(task_id, result="Success", response="1000 rows", file_name="sync.log", worker="w1")
    assert (done.state, done.result, done.response, done.file_name) == (S.Succeeded, "Success", "1000 rows", "sync.log")
    assert done.progress_percent == 100
    assert store.get(task_id) == store.get(task_id)  # stored, not only returned
    assert store.get(task_id).state is S.Succeeded


def test_cleanup_succeeds_as_succeeded_manual_cleanup(store: BatchStore) -> None:
    task_id = store.create({"Name": "x"})
    store.acquire(worker="w")
    store.start(task_id)
    assert store.succeed(task_id, cleanup=True).state is S.SucceededManualCleanup


def test_acquire_takes_the_oldest_new_task_and_filters_by_name(store: BatchStore) -> None:
    a, b, c = store.create_many([{"Name": "x"}, {"Name": "y"}, {"Name": "y"}])
    got = store.acquire(name="y", worker="w")
    assert got is not None and got.id == b
    got = store.acquire(worker="w")
    assert got is not None and got.id == a
    got = store.acquire(worker="w")
    assert got is not None and got.id == c
    assert store.acquire(worker="w") is None


def test_default_worker_is_host_and_pid(store: BatchStore) -> None:
    import os

    task_id = store.create({"Name": "x"})
    store.acquire()
    entry = store.history(task_id)[-1]
    assert entry.worker is not None and entry.worker.endswith(f":{os.getpid()}")


@pytest.mark.parametrize(
    ("setup", "step", "allowed"),
    [
        ([], "succeed", "Started"),
        ([], "start", "Aquired"),
        ([], "report_progress", "Started"),
        ([], "fail", "Aquired or Started"),
        (["acquire"], "succeed", "Started"),
        (["acquire", "start", "fail"], "start", "Aquired"),
        (["acquire", "start", "succeed"], "fail", "Aquired or Started"),
    ],
)
def test_steps_outside_the_table_are_refused_and_write_nothing(
    store: BatchStore, db: Database, setup: list[str], step: str, allowed: str
) -> None:
    task_id = store.create({"Name": "x"})
    for done in setup:
        if done == "acquire":
            store.acquire(worker="w")
        else:
            getattr(store, done)(task_id)
    before = db.snapshot()
    state = store.get(task_id).state
    assert state is not None
    with pytest.raises(InvalidTransitionError) as info:
        if step == "report_progress":
            store.report_progress(task_id, 10)
        else:
            getattr(store, step)(task_id)
    assert state.name in str(info.value) and allowed in str(info.value)
    assert db.snapshot() == before


def test_a_worker_that_lost_its_claim_changes_nothing(db: Database) -> None:
    with BatchStore(db.target, lease_seconds=0.05) as store:
        task_id = store.create({"Name": "x"})
        store.acquire(worker="slow")
        store.start(task_id, worker="slow")
        time.sleep(0.1)
        assert store.recover_stale() == [task_id]
        assert store.get(task_id).state is S.New
        taken = store.acquire(worker="fast")
        assert taken is not None and taken.id == task_id
        before = db.snapshot()
        for call in (
            lambda: store.start(task_id, worker="slow"),
            lambda: store.report_progress(task_id, 50, worker="slow"),
            lambda: store.succeed(task_id, worker="slow"),
            lambda: store.fail(task_id, worker="slow"),
        ):
            with pytest.raises(ClaimLostError, match="slow"):
                call()
        assert db.snapshot() == before


def test_stale_claims_fail_after_max_starts(db: Database) -> None:
    with BatchStore(db.target, lease_seconds=0.01, max_starts=2) as store:
        task_id = store.create({"Name": "x"})
        for _ in range(2):
            got = store.acquire(worker="dies")  # acquire also recovers the previous round's claim
            assert got is not None and got.id == task_id
            store.start(task_id, worker="dies")
            time.sleep(0.03)
        assert store.acquire(worker="next") is None
        task = store.get(task_id)
        assert task.state is S.Failed and task.result is not None and "expired" in task.result


def test_progress_is_bounded_and_never_goes_back(store: BatchStore, db: Database) -> None:
    task_id = store.create({"Name": "x"})
    store.acquire(worker="w")
    store.start(task_id, worker="w")
    store.report_progress(task_id, 60, worker="w")
    before = db.snapshot()
    for bad in (59, 101, -1, True, "70"):
        with pytest.raises(InvalidTaskError) as info:
            store.report_progress(task_id, bad, worker="w")  # type: ignore[arg-type]
        assert info.value.field == "ProgressPercent"
    assert db.snapshot() == before
    assert store.report_progress(task_id, 60, worker="w").progress_percent == 60


def test_lease_is_renewed_by_progress(db: Database) -> None:
    with BatchStore(db.target, lease_seconds=0.3) as store:
        task_id = store.create({"Name": "x"})
        store.acquire(worker="w")
        store.start(task_id, worker="w")
        for pct in range(0, 100, 20):
            time.sleep(0.1)
            store.report_progress(task_id, pct, worker="w")
        assert store.recover_stale() == []
        assert store.succeed(task_id, worker="w").state is S.Succeeded


@pytest.mark.parametrize(
    ("behaviour", "state_after", "result_has"),
    [("CanCancel", S.Failed, "Stopped"), ("CancelWithWarning", S.Failed, "warning")],
)
@pytest.mark.parametrize("claimed", [False, True])
def test_stop_fails_new_and_acquired_tasks(
    store: BatchStore, behaviour: str, state_after: BatchTaskState, result_has: str, claimed: bool
) -> None:
    task_id = store.create({"Name": "x", "CancellationBehaviour": behaviour})
    if claimed:
        store.acquire(worker="w")
    assert store.stop(task_id) is True
    task = store.get(task_id)
    assert task.state is state_after and task.result is not None and result_has in task.result


@pytest.mark.parametrize("behaviour", ["CanCancel", "CancelWithWarning"])
def test_stop_asks_a_started_task_and_its_worker_sees_it(store: BatchStore, behaviour: str) -> None:
    task_id = store.create({"Name": "x", "CancellationBehaviour": behaviour})
    store.acquire(worker="w")
    store.start(task_id, worker="w")
    assert store.stop_requested(task_id) is False
    assert store.stop(task_id) is True
    assert store.get(task_id).state is S.Started  # the worker decides when to stop
    assert store.stop_requested(task_id) is True
    assert store.report_progress(task_id, 10, worker="w").stop_requested is True
    failed = store.fail(task_id, worker="w")
    assert failed.state is S.Failed and failed.result is not None and "Stopped" in failed.result
    assert ("warning" in failed.result) == (behaviour == "CancelWithWarning")


def test_stop_refuses_cannot_cancel_and_finished_tasks(store: BatchStore, db: Database) -> None:
    locked = store.create({"Name": "x", "CancellationBehaviour": "CannotCancel"})
    finished = store.create({"Name": "y"})
    store.acquire(name="y", worker="w")
    store.start(finished)
    store.succeed(finished)
    before = db.snapshot()
    assert store.stop(locked) is False
    assert store.stop(finished) is False
    assert db.snapshot() == before
    with pytest.raises(TaskNotFoundError):
        store.stop(999)


def test_trace_records_every_change_with_old_and_new_values(store: BatchStore) -> None:
    task_id = store.create({"Name": "x", "Description": "d0"})
    store.update({"Id": task_id, "Description": "d1"})
    store.patch(task_id, [{"op": "replace", "path": "/Response", "value": "r"}])
    store.acquire(worker="w")
    store.start(task_id, worker="w")
    store.report_progress(task_id, 50, worker="w")
    store.stop(task_id)
    store.fail(task_id, worker="w")
    history = store.history(task_id)
    assert [e.operation for e in history] == [
        "create", "update", "patch", "acquire", "start", "report_progress", "stop", "fail",
    ]
    assert history[0].changes["Name"] == (None, "x")
    assert history[1].changes == {"Description": ("d0", "d1")}
    assert history[2].changes == {"Response": (None, "r")}
    assert history[3].changes == {"State": ("New", "Aquired")} and history[3].worker == "w"
    assert history[4].changes["State"] == ("Aquired", "Started")
    assert history[5].changes == {"ProgressPercent": (0, 50)}
    assert history[6].changes == {"StopRequested": (False, True)}
    assert history[7].changes["State"] == ("Started", "Failed")
    assert all(e.at.tzinfo is not None for e in history)
    assert [e.id for e in history] == sorted(e.id for e in history)


def test_internal_tasks_add_no_trace(store: BatchStore, db: Database) -> None:
    task_id = store.create({"Name": "x", "IsInternalTask": True})
    store.update({"Id": task_id, "Description": "d1"})
    store.acquire(worker="w")
    store.start(task_id)
    store.succeed(task_id)
    assert store.history(task_id) == []
    assert db.rows("SELECT count(*) FROM batchtaskchange WHERE traced") == [(0,)]


def test_queries_after_the_agent_endpoints(store: BatchStore) -> None:
    ids = store.create_many([
        {"Name": "sync", "AssociateId": 1, "IsSystemTask": True},
        {"Name": "sync", "AssociateId": 2, "State": "Failed"},
        {"Name": "export", "AssociateId": 1, "State": "Failed"},
        {"Name": "sync", "AssociateId": 3, "IsSystemTask": True, "State": "Failed"},
    ])
    assert [t.id for t in store.list_by_name("sync")] == [ids[0], ids[1], ids[3]]
    assert [t.id for t in store.list_by_name_and_state("sync", "Failed")] == [ids[1], ids[3]]
    assert [t.id for t in store.list_by_associate(1)] == [ids[0], ids[2]]
    assert [t.id for t in store.list_by_associates_and_state([1, 2], S.Failed)] == [ids[1], ids[2]]
    assert [t.id for t in store.list_by_associates_and_state([], S.Failed)] == []
    assert [t.id for t in store.list_system_tasks_by_name("sync")] == [ids[0], ids[3]]
    named = list(store.list_by_name("sync", select="Name"))
    assert all(t.state is None and t.name == "sync" for t in named)
    with pytest.raises(InvalidTaskError):
        store.list_by_name("sync", select="Nope")


def test_delete_many_removes_tasks_blobs_and_traces(store: BatchStore, db: Database) -> None:
    ids = store.create_many([{"Name": "x", "ParameterObject": [i]} for i in range(5)])
    assert store.delete_many([ids[0], ids[2], 12345]) == 2
    assert [t.id for t in store.list()] == [ids[1], ids[3], ids[4]]
    assert db.rows("SELECT count(*) FROM binaryobject") == [(3,)]
    orphans = "SELECT count(*) FROM batchtaskchange WHERE traced AND task_id NOT IN (SELECT id FROM batchtask)"
    assert db.rows(orphans) == [(0,)]


def test_prune_removes_old_finished_tasks_in_batches(store: BatchStore, db: Database) -> None:
    finished = store.create_many([{"Name": "x", "State": "Succeeded", "ParameterObject": i} for i in range(1200)])
    failed = store.create({"Name": "x", "State": "Failed"})
    running = store.create({"Name": "x", "State": "Started"})
    assert store.prune(dt.timedelta(hours=1)) == 0  # none is old enough
    assert store.prune(dt.timedelta(0), states=["Succeeded"]) == len(finished)
    assert [t.id for t in store.list()] == [failed, running]
    assert store.prune(dt.timedelta(0)) == 1
    assert db.rows("SELECT count(*) FROM binaryobject") == [(0,)]
    assert db.rows("SELECT count(*) FROM batchtaskchange WHERE traced AND task_id != ?", running) == [(0,)]
    with pytest.raises(InvalidTaskError, match="Started"):
        store.prune(dt.timedelta(0), states=["Started"])


def test_a_new_start_begins_a_new_run_of_progress(db: Database) -> None:
    with BatchStore(db.target, lease_seconds=0.05) as store:
        task_id = store.create({"Name": "x"})
        store.acquire(worker="dies")
        store.start(task_id, worker="dies")
        store.report_progress(task_id, 80, worker="dies")
        time.sleep(0.1)
        assert store.recover_stale() == [task_id]
        assert store.acquire(worker="next") is not None
        started = store.start(task_id, worker="next")
        assert started.progress_percent == 0 and started.start_count == 2
        assert store.report_progress(task_id, 10, worker="next").progress_percent == 10
        with pytest.raises(InvalidTaskError, match="never goes back"):
            store.report_progress(task_id, 5, worker="next")  # still monotone within the run


@pytest.mark.parametrize(("behaviour", "result"), [
    ("CanCancel", "Stopped by request"),
    ("CancelWithWarning", "Stopped by request; CancelWithWarning: a warning applied"),
])
def test_recovery_honours_a_stop_request(db: Database, behaviour: str, result: str) -> None:
    with BatchStore(db.target, lease_seconds=0.05) as store:
        task_id = store.create({"Name": "x", "CancellationBehaviour": behaviour})
        store.acquire(worker="dies")
        store.start(task_id, worker="dies")
        assert store.stop(task_id) is True
        time.sleep(0.1)
        assert store.recover_stale() == [task_id]
        task = store.get(task_id)
        assert task.state is S.Failed and task.result == result
        assert store.acquire(worker="next") is None  # asked to stop: never handed to another worker


def test_acquire_and_stop_requested_agree(db: Database) -> None:
    with BatchStore(db.target, lease_seconds=0.05) as store:
        stopped = store.create({"Name": "x"})
        plain = store.create({"Name": "x"})
        for task_id in (stopped, plain):
            store.acquire(worker="dies")
            store.start(task_id, worker="dies")
        store.stop(stopped)
        time.sleep(0.1)
        got = store.acquire(worker="next")
        assert got is not None and got.id == plain
        assert got.stop_requested is store.stop_requested(plain) is False
        assert store.stop_requested(stopped) is True and store.get(stopped).state is S.Failed


def test_start_count_never_passes_int32(store: BatchStore, db: Database) -> None:
    task_id = store.create({"Name": "x", "StartCount": 2**31 - 2})
    store.acquire(worker="w")
    assert store.start(task_id, worker="w").start_count == 2**31 - 1
    store.fail(task_id, worker="w")
    # back to Aquired, as a worker would find it after a retry
    db.execute("UPDATE batchtask SET state = 1, worker = NULL WHERE id = ?", task_id)
    store.acquire(worker="w")
    before = db.snapshot()
    with pytest.raises(InvalidTaskError) as info:
        store.start(task_id, worker="w")
    assert info.value.field == "StartCount" and "StartCount" in str(info.value)
    assert db.snapshot() == before
    assert store.get(task_id).start_count == 2**31 - 1


@pytest.mark.parametrize("step", ["succeed", "fail", "report_progress", "start"])
def test_a_step_on_a_finished_task_by_its_worker_is_a_transition_error(
    store: BatchStore, db: Database, step: str
) -> None:
    task_id = store.create({"Name": "x"})
    store.acquire(worker="w")
    store.start(task_id, worker="w")
    store.succeed(task_id, worker="w")
    before = db.snapshot()
    calls = {
        "succeed": lambda: store.succeed(task_id, worker="w"),
        "fail": lambda: store.fail(task_id, worker="w"),
        "report_progress": lambda: store.report_progress(task_id, 100, worker="w"),
        "start": lambda: store.start(task_id, worker="w"),
    }
    with pytest.raises(InvalidTransitionError) as info:
        calls[step]()
    assert not isinstance(info.value, ClaimLostError)
    assert "Succeeded" in str(info.value) and info.value.field == "State"
    assert "Started" in str(info.value) or "Aquired" in str(info.value)
    assert db.snapshot() == before


def test_claim_lost_is_for_another_holder_or_a_recovered_claim(db: Database) -> None:
    with BatchStore(db.target, lease_seconds=0.05) as store:
        task_id = store.create({"Name": "x"})
        store.acquire(worker="first")
        store.start(task_id, worker="first")
        time.sleep(0.1)
        store.recover_stale()
        with pytest.raises(ClaimLostError, match="recovered"):
            store.succeed(task_id, worker="first")  # recovered: nobody holds it
        store.acquire(worker="second")
        with pytest.raises(ClaimLostError, match="'second'"):
            store.fail(task_id, worker="first")  # another worker holds it
