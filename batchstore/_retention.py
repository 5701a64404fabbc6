"""Retention: finished tasks expire by themselves, under a policy kept in the database.

The policy lives in ``batchstore_setting`` (schema version 4), so every process of the database applies the
same one, and so does a process started tomorrow. Next to it, ``retention_due`` says when it is next due.

Where it runs, and why there: piggy-backed on the store's writes (create, create_many, update, patch,
acquire, succeed, fail, requeue), at most once a minute per store, after the write committed. Those are
the calls of the producers and of the worker loops (an idle worker still calls acquire), which are the
processes that make the table grow: no thread of its own (a library must not start one in every program
that opens a store, and threads do not survive a fork), and no server needed. A store that never writes
never applies it, and need not: it adds nothing to expire.

Every process checks once a minute; the first one to find the policy due claims it (it moves ``retention_due``
on, in a transaction that locks the row), so one process at a time does the work. The work goes in batches of
:data:`BATCH` tasks, each found by a read (no lock held while it scans) and removed in a short transaction of
its own, for at most :data:`BUDGET` seconds per turn: the write lock is never held for long, and the caller
whose write ran it waits at most that much longer. A backlog left over is due again a second later, for
whichever process writes next. A failure of retention never fails the write it rode on: it is logged, and
tried again the next minute.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Final

from ._core import Writer, _now
from ._engines.base import running_at_once
from ._enums import FINISHED, SUCCEEDED
from ._exceptions import BatchStoreError, ConfigurationError, StorageError
from ._queries import (
    READ_SETTINGS,
    READ_SETTINGS_LOCKED,
    TRIM_CHANGE,
    TRIMMABLE_CHANGES,
    WRITE_SETTING,
    expired_by_id,
    prunable,
)
from ._rows import timestamp

__all__ = ["BATCH", "BUDGET", "CHECK_EVERY", "Retention", "RetentionPolicy", "before_now"]

#: How often each store looks whether retention is due, in seconds.
CHECK_EVERY: Final = 60.0
#: Tasks (or feed rows) removed per transaction.
BATCH: Final = 200
#: The most time one turn of retention takes, in seconds; what is left is due again after AGAIN.
BUDGET: Final = 0.25
AGAIN: Final = dt.timedelta(seconds=1)
POLICY_KEY: Final = "retention"
DUE_KEY: Final = "retention_due"
_SUCCEEDED: Final = tuple(sorted(int(s) for s in SUCCEEDED))
_FAILED: Final = tuple(sorted(int(s) for s in FINISHED - SUCCEEDED))
_log = logging.getLogger("batchstore")


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long finished tasks are kept: ``finished_older_than`` after their last State change, Failed ones
    ``keep_failed_for`` instead when that is given (longer or shorter).

    >>> RetentionPolicy(dt.timedelta(days=30), keep_failed_for=dt.timedelta(days=90)).to_json()
    {'finished_older_than': 2592000.0, 'keep_failed_for': 7776000.0}
    """

    finished_older_than: dt.timedelta
    keep_failed_for: dt.timedelta | None = None

    @property
    def failed_older_than(self) -> dt.timedelta:
        """How long a Failed task is kept."""
        return self.finished_older_than if self.keep_failed_for is None else self.keep_failed_for

    def to_json(self) -> dict[str, Any]:
        """The policy as stored: seconds."""
        failed = None if self.keep_failed_for is None else self.keep_failed_for.total_seconds()
        return {"finished_older_than": self.finished_older_than.total_seconds(), "keep_failed_for": failed}

    @classmethod
    def from_json(cls, text: str) -> RetentionPolicy:
        """The policy stored as ``text``; StorageError if the row was damaged behind batchstore's back."""
        try:
            value = json.loads(text)
            failed = value["keep_failed_for"]
            return cls(dt.timedelta(seconds=float(value["finished_older_than"])),
                       None if failed is None else dt.timedelta(seconds=float(failed)))
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            raise StorageError(f"retention: the stored policy {text!r} cannot be read ({exc})") from exc


def _age(value: object, option: str) -> dt.timedelta:
    if not isinstance(value, dt.timedelta):
        raise ConfigurationError(f"must be a datetime.timedelta, got {type(value).__name__}", option=option)
    if value <= dt.timedelta(0):
        raise ConfigurationError(f"must be longer than 0, got {value!r}", option=option)
    before_now(value, option)
    return value


def before_now(age: dt.timedelta, option: str) -> dt.datetime:
    """The moment ``age`` ago, or ConfigurationError naming ``option`` when that is before the year 1."""
    try:
        return _now() - age
    except OverflowError:
        raise ConfigurationError(f"{age!r} reaches back before the year 1", option=option) from None


class Retention:
    """The retention policy of a store: set it, read it, and the turn that applies it (see the module).

    A store's retention concern: :class:`~batchstore.BatchStore` holds one, hands it ``set_retention``,
    ``retention`` and ``apply_retention``, and calls :meth:`retain_if_due` after the writes that make or
    finish tasks. It removes tasks through the store's one ``Writer``.
    """

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self._engine = writer.engine
        self._next_retention_check = 0.0  # time.monotonic() when this store next looks whether retention is due

    def set_policy(
        self, finished_older_than: dt.timedelta | None, *, keep_failed_for: dt.timedelta | None = None
    ) -> RetentionPolicy | None:
        """The work of BatchStore.set_retention, whose docstring says what it does."""
        if finished_older_than is None:
            if keep_failed_for is not None:
                raise ConfigurationError("needs finished_older_than as well (None turns retention off)",
                                         option="keep_failed_for")
            policy = None
        else:
            policy = RetentionPolicy(_age(finished_older_than, "finished_older_than"),
                                     None if keep_failed_for is None else _age(keep_failed_for, "keep_failed_for"))
        with self._engine.write("set_retention") as tx:
            text = "null" if policy is None else json.dumps(policy.to_json())
            tx.run(WRITE_SETTING, (POLICY_KEY, text))
            tx.run(WRITE_SETTING, (DUE_KEY, timestamp(_now())))  # due at once: the next write applies it
        self._next_retention_check = 0.0
        return policy

    def policy(self) -> RetentionPolicy | None:
        """The work of BatchStore.retention, whose docstring says what it does."""
        rows = dict(self._engine.fetchall(READ_SETTINGS, (POLICY_KEY, DUE_KEY), "retention"))
        text = rows.get(POLICY_KEY)
        return None if text in (None, "null") else RetentionPolicy.from_json(text)

    def apply(self) -> int:
        """The work of BatchStore.apply_retention, whose docstring says what it does."""
        policy = self.policy()
        if policy is None:
            return 0
        removed = 0
        while True:
            count, done = self._retain(policy, deadline=None)
            removed += count
            if done:
                return removed

    def retain_if_due(self) -> None:
        """After a write: once a minute, look whether retention is due, and if so claim and apply a turn of it."""
        now = time.monotonic()
        if now < self._next_retention_check or running_at_once():
            # At once (a write on the HTTP front's event loop): the turn may wait for locks and delete for a
            # quarter of a second, so it is left due; the front hands it to its executor (take_turn_if_due).
            return
        self._next_retention_check = now + CHECK_EVERY  # first: a failure below waits a minute, not a write
        if self._engine.read_only:
            return
        try:
            policy, wait = self._claim_retention()
            if policy is None:
                if wait is not None:
                    self._next_retention_check = now + min(CHECK_EVERY, max(wait, 1.0))
                return
            _, done = self._retain(policy, deadline=now + BUDGET)
            if not done:
                with self._engine.write("retention") as tx:
                    tx.run(WRITE_SETTING, (DUE_KEY, timestamp(_now() + AGAIN)))
                self._next_retention_check = time.monotonic() + AGAIN.total_seconds()
        except BatchStoreError as exc:  # the caller's write committed: retention tries again later
            _log.warning("batchstore retention: %s (tried again in a minute)", exc)

    def turn_due(self) -> bool:
        """Whether the next look at retention is due (cheap: a clock read)."""
        return time.monotonic() >= self._next_retention_check

    def _claim_retention(self) -> tuple[RetentionPolicy | None, float | None]:
        """(the policy, None) if retention is due and this store claimed it; else (None, seconds until it is due)."""
        with self._engine.write("retention") as tx:
            rows = dict(tx.all(READ_SETTINGS_LOCKED + self._engine.lock, (POLICY_KEY, DUE_KEY)))
            text = rows.get(POLICY_KEY)
            if text in (None, "null"):
                return None, None
            now = _now()
            due = rows.get(DUE_KEY)
            if due is not None:
                try:
                    when = dt.datetime.fromisoformat(due)
                except ValueError:
                    when = now
                if when > now:
                    return None, (when - now).total_seconds()
            tx.run(WRITE_SETTING, (DUE_KEY, timestamp(now + dt.timedelta(seconds=CHECK_EVERY))))
            return RetentionPolicy.from_json(text), None

    def _retain(self, policy: RetentionPolicy, *, deadline: float | None) -> tuple[int, bool]:
        """Remove what ``policy`` expires, a batch per transaction, until done or ``deadline``: (removed, done).

        Each batch is found by a read, outside any write (the scan may be long on a big table, and a reader
        never holds other writers back), then checked again by Id and removed in a short write.
        """
        now = _now()
        removed = 0
        for states, age in ((_SUCCEEDED, policy.finished_older_than), (_FAILED, policy.failed_older_than)):
            cutoff = timestamp(now - age)
            still_expired = expired_by_id(len(states)) + self._engine.claim  # a row being written: next turn
            while True:
                found = self._engine.fetchall(prunable(len(states)), (*states, cutoff, BATCH), "retention")
                gone = 0
                with self._engine.write("retention") as tx:
                    for (task_id,) in found:
                        # Requeued, or deleted, since the read: not this turn's to remove.
                        if tx.one(still_expired, (task_id, *states, cutoff)) is not None:
                            gone += self._writer.delete(tx, task_id, "retention")
                removed += gone
                if len(found) < BATCH or not gone:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    return removed, False
        # The feed's rows of tasks gone (and of internal tasks, which keep no history) as old as the youngest
        # cutoff go too; the history of live tasks stays as long as they do.
        cutoff = timestamp(now - min(policy.finished_older_than, policy.failed_older_than))
        while True:
            trimmed = self._engine.fetchall(TRIMMABLE_CHANGES, (cutoff, BATCH), "retention")
            if trimmed:
                with self._engine.write("retention") as tx:
                    tx.run_many(TRIM_CHANGE, trimmed)
            if len(trimmed) < BATCH:
                return removed, True
            if deadline is not None and time.monotonic() >= deadline:
                return removed, False
