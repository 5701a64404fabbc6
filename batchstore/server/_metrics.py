"""``GET /metrics``: the store and the server in Prometheus' text format, drawn with ``prometheus-client``.

- ``batchstore_tasks{state}``: tasks in each state now, counted in SQL (``store.count``) at each scrape;
- ``batchstore_transitions_total{state}``: tasks that entered each state since the server started;
- ``batchstore_task_run_seconds{state}``: from a task's acquire to its finish (Succeeded,
  SucceededManualCleanup or Failed), a histogram by the state it finished in;
- ``batchstore_http_requests_total{method,route,status}``: the requests this server answered, by route
  template (``/api/v1/BatchTask/{state}``), refusals of the guard (401, 413...) included.

Transitions and run times come from the change feed, so they count what every process did, not only this
server's routes. They are read at each scrape from where the last one stopped: no thread follows the feed
for them, and a server nobody scrapes pays nothing. A finish whose acquire came before the server started
(or the last :data:`REMEMBERED` acquires) counts as a transition, without a run time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._enums import FINISHED, BatchTaskState
from .._feed import Change
from .._store import BatchStore

__all__ = ["CONTENT_TYPE", "Metrics", "RequestCounter"]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
#: Acquire times kept for tasks not finished yet; the oldest are forgotten past this many.
REMEMBERED: Final = 100_000
_STATES: Final = tuple(s for s in BatchTaskState if s not in (BatchTaskState.Unknown, BatchTaskState.All))
_FINISHED: Final = frozenset(state.name for state in FINISHED)
_DELETES: Final = frozenset({"delete", "delete_many", "prune", "retention"})
#: Run times from seconds to a day.
_BUCKETS: Final = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400, float("inf"))
_FEED_PAGE: Final = 10_000


class _TaskCounts(Collector):
    """Tasks per state, counted in SQL when scraped."""

    def __init__(self, store: BatchStore) -> None:
        self._store = store

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Registering asks for the names: answered without counting anything.
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        for state in _STATES:
            family.add_metric([state.name], self._store.count(state))
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("batchstore_tasks", "Tasks in each state now (counted in SQL)", labels=["state"])


class Metrics:
    """The registry of one app: task counts, the feed's transitions and run times, and the request counter."""

    def __init__(self, store: BatchStore) -> None:
        self._store = store
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_TaskCounts(store))
        self.transitions = Counter("batchstore_transitions", "Tasks that entered each state (any process)",
                                   ["state"], registry=self.registry)
        self.run_seconds = Histogram("batchstore_task_run_seconds", "From a task's acquire to its finish",
                                     ["state"], buckets=_BUCKETS, registry=self.registry)
        self.requests = Counter("batchstore_http_requests", "HTTP requests answered, by route template and status",
                                ["method", "route", "status"], registry=self.registry)
        self._request_counters: dict[tuple[str, str, int], Any] = {}
        self._cursor = store.last_cursor()  # the feed is counted from the server's start
        self._acquired: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()  # two scrapes at once must not count a change twice

    def count_request(self, method: str, route: str, status: int) -> None:
        """One answered request, by method, route template and status (the middleware's and the fast path's)."""
        # The labelled counter is looked up once per (method, route, status): labels() takes a lock each time.
        key = (method, route, status)
        counter = self._request_counters.get(key)
        if counter is None:
            counter = self._request_counters[key] = self.requests.labels(method=method, route=route, status=str(status))
        counter.inc()

    def _count(self, change: Change) -> None:
        if change.operation in _DELETES:
            self._acquired.pop(change.task_id, None)
            return
        state = change.changes.get("State")
        if state is None:
            return
        new = str(state[1])
        self.transitions.labels(state=new).inc()
        if new == "Aquired":
            self._acquired[change.task_id] = change.at
            self._acquired.move_to_end(change.task_id)
            if len(self._acquired) > REMEMBERED:
                self._acquired.popitem(last=False)
        elif new in _FINISHED:
            acquired = self._acquired.pop(change.task_id, None)
            if acquired is not None:
                self.run_seconds.labels(state=new).observe(max(0.0, (change.at - acquired).total_seconds()))
        elif new == "New":
            self._acquired.pop(change.task_id, None)  # recovered or requeued: the next acquire starts a new run

    def scrape(self) -> bytes:
        """The text of one scrape, the feed read up to now first."""
        with self._lock:
            while True:
                batch = self._store.changes(after=self._cursor, limit=_FEED_PAGE)
                for change in batch:
                    self._count(change)
                    self._cursor = change.cursor
                if len(batch) < _FEED_PAGE:
                    break
        return generate_latest(self.registry)


def _route_of(routes: list[BaseRoute], scope: Scope) -> str:
    """The template of the route that would answer ``scope`` (routers included in routers are searched)."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is not Match.FULL:
            continue
        # A router included in another (FastAPI wraps it) answers for its own routes.
        inner = getattr(route, "routes", None) or getattr(getattr(route, "original_router", None), "routes", None)
        if inner and not getattr(route, "path_format", None):
            found = _route_of(list(inner), scope)
            if found != "(unmatched)":
                return found
            continue
        return str(getattr(route, "path_format", None) or getattr(route, "path", None) or "(unmatched)")
    return "(unmatched)"


class RequestCounter:
    """ASGI middleware around everything (the guard included): counts each answer by route template and status."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, routes: list[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app fails before it answers

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            # The router leaves the route it matched in the scope; a request refused before routing (by the
            # guard) is matched here.
            matched = scope.get("route")
            path = getattr(matched, "path_format", None) or getattr(matched, "path", None)
            route = str(path) if path else _route_of(self.routes, scope)
            self.metrics.count_request(scope["method"], route, status)
