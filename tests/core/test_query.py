"""The query model: Q filters, order_by, offset/limit and count, on both engines.

A differential test runs random filters, orders and pages against a Python evaluation of the same tasks,
with pages of three rows, so the keyset step between pages (NULL keys included) is exercised.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import batchstore._store
from batchstore import BatchStore, BatchTaskInfo, InvalidTaskError, Q

UTC = dt.UTC
BASE = dt.datetime(2024, 1, 1, tzinfo=UTC)
NAMES = [None, "ERPSync", "ERPLoad", "erpsync", "Mail", "50%_off", "a*b?[c]", "Ünïcode", "ERP", ""]
STATES = ["New", "Aquired", "Started", "Succeeded", "Failed"]


def _tasks() -> list[dict[str, Any]]:
    tasks = []
    for i in range(30):
        task: dict[str, Any] = {
            "Name": NAMES[i % len(NAMES)],
            "State": STATES[(i * 7) % len(STATES)],
            "Created": (BASE + dt.timedelta(hours=(i * 13) % 17)).isoformat(),
            "IsSystemTask": i % 4 == 0,
            "ProgressPercent": (i * 11) % 101,
        }
        if i % 3:
            task["AssociateId"] = i % 5
        if i % 5 == 2:
            task["Description"] = f"step {i % 3}"
        tasks.append(task)
    return tasks


@pytest.fixture
def filled(store: BatchStore, monkeypatch: pytest.MonkeyPatch) -> BatchStore:
    monkeypatch.setattr(batchstore._store, "_PAGE_SIZE", 3)  # many pages: the keyset step is exercised
    store.create_many(_tasks())
    return store


def ids(tasks: Any) -> list[int]:
    return [t.id for t in tasks]


# --- every operator -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (Q(Name="ERPSync"), lambda t: t.name == "ERPSync"),
        (Q(name__ne="ERPSync"), lambda t: t.name != "ERPSync"),
        (Q(Name=None), lambda t: t.name is None),
        (Q(Name__isnull=False), lambda t: t.name is not None),
        (Q(AssociateId__lt=2), lambda t: t.associate_id is not None and t.associate_id < 2),
        (Q(AssociateId__le=2), lambda t: t.associate_id is not None and t.associate_id <= 2),
        (Q(AssociateId__gt=2), lambda t: t.associate_id is not None and t.associate_id > 2),
        (Q(AssociateId__ge=2), lambda t: t.associate_id is not None and t.associate_id >= 2),
        (Q(AssociateId__in=[1, 3, None]), lambda t: t.associate_id in (1, 3, None)),
        (Q(State__in=["New", 5]), lambda t: t.state.name in ("New", "Failed")),
        (Q(Name__startswith="ERP"), lambda t: (t.name or "\0").startswith("ERP")),
        (Q(Name__endswith="c"), lambda t: (t.name or "\0").endswith("c")),
        (Q(Name__contains="%_"), lambda t: "%_" in (t.name or "\0")),
        (Q(Name__contains="*b?["), lambda t: "*b?[" in (t.name or "\0")),
        (Q(Name__istartswith="erp"), lambda t: (t.name or "\0").lower().startswith("erp")),
        (Q(Name__icontains="SYNC"), lambda t: "sync" in (t.name or "\0").lower()),
        (Q(IsSystemTask=True), lambda t: t.is_system_task),
        (Q(Created__gt=BASE + dt.timedelta(hours=10)), lambda t: t.created > BASE + dt.timedelta(hours=10)),
        (Q(Created__le="2024-01-01T05:00:00+02:00"), lambda t: t.created <= BASE + dt.timedelta(hours=3)),
        (~Q(Description="step 1"), lambda t: t.description != "step 1"),
        (Q(Name__startswith="ERP") | Q(State="Failed"),
         lambda t: (t.name or "\0").startswith("ERP") or t.state.name == "Failed"),
        (Q(), lambda t: True),
        (~Q(), lambda t: False),
        ({"ProgressPercent__ge": 50, "IsSystemTask": False},
         lambda t: t.progress_percent >= 50 and not t.is_system_task),
    ],
)
def test_each_operator_matches_what_python_says(
    filled: BatchStore, where: Any, expected: Callable[[BatchTaskInfo], bool]
) -> None:
    everything = list(filled.list())
    want = [t.id for t in everything if expected(t)]
    assert ids(filled.list(where=where)) == want
    assert filled.count(where=where) == len(want)


def test_state_and_where_combine(filled: BatchStore) -> None:
    want = [t.id for t in filled.list() if t.state.name == "Failed" and t.is_system_task]
    assert want
    assert ids(filled.list("failed", where=Q(IsSystemTask=True))) == want
    assert filled.count("Failed", where={"IsSystemTask": True}) == len(want)


# --- order, offset, limit -------------------------------------------------------------------------


def _key(task: BatchTaskInfo, attr: str, descending: bool) -> Any:
    value = getattr(task, attr)
    value = int(value) if hasattr(value, "value") and not isinstance(value, bool) else value
    # NULL sorts after every value ascending, and so first descending.
    return (1, 0) if value is None else (0, value)


def python_order(tasks: list[BatchTaskInfo], keys: list[tuple[str, bool]]) -> list[int]:
    # Id breaks ties last, in the direction of the key before it.
    ordered = sorted(tasks, key=lambda t: t.id, reverse=bool(keys) and keys[-1][1])
    for attr, descending in reversed(keys):
        ordered.sort(key=lambda t, a=attr, d=descending: _key(t, a, d), reverse=descending)
    return [t.id for t in ordered]


@pytest.mark.parametrize(
    ("order_by", "keys"),
    [
        ("-Created", [("created", True)]),
        ("name asc, created desc", [("name", False), ("created", True)]),
        (["-Name", "AssociateId"], [("name", True), ("associate_id", False)]),
        ("associate_id desc,-description", [("associate_id", True), ("description", True)]),
        ("State,ProgressPercent DESC", [("state", False), ("progress_percent", True)]),
        ("Id desc, Name", [("id", True)]),
    ],
)
def test_order_by_with_nulls_across_pages(filled: BatchStore, order_by: Any, keys: list[tuple[str, bool]]) -> None:
    everything = list(filled.list())
    want = python_order(everything, keys)
    assert ids(filled.list(order_by=order_by)) == want
    assert ids(filled.list(order_by=order_by, offset=4, limit=7)) == want[4:11]
    assert ids(filled.list(order_by=order_by, offset=28)) == want[28:]
    assert ids(filled.list(order_by=order_by, limit=0)) == []


def test_a_page_after_the_end_is_empty_and_select_still_projects(filled: BatchStore) -> None:
    assert ids(filled.list(offset=1000)) == []
    first = next(filled.list(order_by="-Created", select="Name"))
    assert first.state is None and first.id is not None


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field", "words"),
    [
        (lambda s: s.list(where=Q(Colour="red")), None, "unknown filter field 'Colour'"),
        (lambda s: s.list(where=Q(Name__like="x")), "Name", "unknown filter operator 'like'"),
        (lambda s: s.list(where=Q(AssociateId="seven")), "AssociateId", "expected an integer"),
        (lambda s: s.list(where=Q(State="Sleeping")), "State", "Sleeping"),
        (lambda s: s.list(where=Q(AssociateId__startswith="1")), "AssociateId", "compares strings"),
        (lambda s: s.list(where=Q(IsSystemTask__gt=False)), "IsSystemTask", "no order"),
        (lambda s: s.list(where=Q(Name__in="abc")), "Name", "list of values"),
        (lambda s: s.list(where=Q(Name__isnull="yes")), "Name", "True or False"),
        (lambda s: s.list(where=Q(AssociateId__lt=None)), "AssociateId", "needs a value"),
        (lambda s: s.list(where=Q(ParameterObject={})), "ParameterObject", "not stored as a column"),
        (lambda s: s.list(where=Q(Created="yesterday")), "Created", "ISO 8601"),
        (lambda s: s.list(where=Q(Name__contains="\x00")), "Name", "NUL"),
        (lambda s: s.list(where="Name = 'x'"), "where", "a Q or a mapping"),
        (lambda s: s.list(order_by="Colour"), "order_by", "unknown order_by field"),
        (lambda s: s.list(order_by="Name sideways"), "order_by", "asc or desc"),
        (lambda s: s.list(order_by="ParameterObject"), "order_by", "not stored as a column"),
        (lambda s: s.list(offset=-1), "offset", "whole number"),
        (lambda s: s.list(limit=True), "limit", "whole number"),
        (lambda s: s.count(where=Q(StartCount__ge=2**40)), "StartCount", "outside"),
    ],
)
def test_a_bad_query_names_what_is_wrong_at_the_call(
    store: BatchStore, call: Callable[[BatchStore], Any], field: str | None, words: str
) -> None:
    with pytest.raises(InvalidTaskError, match=None) as raised:
        call(store)  # no next(): the error comes at the call, before the first page is read
    assert words in str(raised.value)
    if field is not None:
        assert raised.value.field == field


def test_filter_values_are_bound_never_spliced(store: BatchStore) -> None:
    hostile = "x' OR 1=1; DROP TABLE batchtask; --"
    store.create_many([{"Name": hostile}, {"Name": "other"}])
    assert [t.name for t in store.list(where=Q(Name=hostile))] == [hostile]
    assert store.count(where=Q(Name__contains="' OR 1=1")) == 1
    assert store.count() == 2


# --- a differential test: random queries against Python ------------------------------------------

fields = st.sampled_from(["Name", "AssociateId", "State", "Description", "ProgressPercent", "Created"])
values = {
    "Name": st.sampled_from(NAMES),
    "AssociateId": st.sampled_from([None, 0, 1, 2, 3, 4, 7]),
    "State": st.sampled_from(STATES),
    "Description": st.sampled_from([None, "step 0", "step 1", "step 2"]),
    "ProgressPercent": st.integers(0, 100),
    "Created": st.integers(0, 17).map(lambda h: BASE + dt.timedelta(hours=h)),
}
ATTR = {"Name": "name", "AssociateId": "associate_id", "State": "state", "Description": "description",
        "ProgressPercent": "progress_percent", "Created": "created"}
TEXT_OPS = {"startswith": str.startswith, "endswith": str.endswith, "contains": lambda a, b: b in a}


def _python(field: str, op: str, value: Any) -> Callable[[BatchTaskInfo], bool]:
    attr = ATTR[field]

    def stored(t: BatchTaskInfo) -> Any:
        v = getattr(t, attr)
        return v.name if field == "State" else v

    if op == "eq":
        return lambda t: stored(t) == value
    if op == "ne":
        return lambda t: stored(t) != value
    if op == "in":
        return lambda t: stored(t) in value
    if op in TEXT_OPS:
        return lambda t: stored(t) is not None and TEXT_OPS[op](stored(t), value)
    compare = {"lt": lambda a, b: a < b, "ge": lambda a, b: a >= b}[op]
    return lambda t: stored(t) is not None and compare(stored(t), value)


@st.composite
def leaves(draw: st.DrawFn) -> tuple[Q, Callable[[BatchTaskInfo], bool]]:
    field = draw(fields)
    ops = ["eq", "ne", "in"]
    if field in ("Name", "Description"):
        ops += list(TEXT_OPS)
    if field in ("AssociateId", "ProgressPercent", "Created"):
        ops += ["lt", "ge"]
    op = draw(st.sampled_from(ops))
    if op == "in":
        value: Any = draw(st.lists(values[field], max_size=3))
    elif op in TEXT_OPS:
        value = draw(st.sampled_from(["ERP", "c", "%", "_", "*", "[c]", "step", "", "Ü"]))
    else:
        value = draw(values[field])
        if value is None and op not in ("eq", "ne"):
            value = draw(values[field].filter(lambda v: v is not None))
    return Q(**{f"{field}__{op}": value}), _python(field, op, value)


def trees(depth: int = 2) -> st.SearchStrategy[tuple[Q, Callable[[BatchTaskInfo], bool]]]:
    if depth == 0:
        return leaves()
    sub = trees(depth - 1)
    return st.one_of(
        leaves(),
        st.tuples(sub, sub).map(lambda p: (p[0][0] & p[1][0], lambda t, a=p[0][1], b=p[1][1]: a(t) and b(t))),
        st.tuples(sub, sub).map(lambda p: (p[0][0] | p[1][0], lambda t, a=p[0][1], b=p[1][1]: a(t) or b(t))),
        sub.map(lambda p: (~p[0], lambda t, a=p[1]: not a(t))),
    )


orders = st.lists(st.tuples(st.sampled_from(list(ATTR.values())), st.booleans()), max_size=3, unique_by=lambda k: k[0])


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=trees(), keys=orders, offset=st.integers(0, 12), limit=st.none() | st.integers(0, 12))
def test_random_queries_agree_with_python(
    filled: BatchStore, tree: tuple[Q, Callable[[BatchTaskInfo], bool]], keys: list[tuple[str, bool]],
    offset: int, limit: int | None,
) -> None:
    where, predicate = tree
    everything = list(filled.list())
    matching = [t for t in everything if predicate(t)]
    want = python_order(matching, keys)
    end = None if limit is None else offset + limit
    order_by = [f"{'-' if d else ''}{a}" for a, d in keys]
    assert ids(filled.list(where=where, order_by=order_by, offset=offset, limit=limit)) == want[offset:end], where
    assert filled.count(where=where) == len(want)



@pytest.mark.sqlite_only
def test_a_large_sqlite_table_gets_planner_statistics_once(db_path: Any) -> None:
    import sqlite3

    from batchstore._engines.sqlite import STATISTICS_FROM

    def statistics() -> list[Any]:
        with sqlite3.connect(db_path) as conn:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone() is None:
                return []
            return conn.execute("SELECT idx FROM sqlite_stat1 WHERE tbl = 'batchtask' ORDER BY idx").fetchall()

    with BatchStore(db_path, synchronous="OFF") as store:
        store.create_many({"Name": f"t{i}"} for i in range(STATISTICS_FROM - 1))
    BatchStore(db_path).close()
    assert statistics() == []  # a small table: the planner does well without
    with BatchStore(db_path, synchronous="OFF") as store:
        store.create({"Name": "one more"})
    BatchStore(db_path).close()
    assert ("ix_batchtask_created",) in statistics() and ("ix_batchtask_state_id",) in statistics()
