"""SuperOffice's ``$filter`` dialect read into the store's query model, run on each engine.

Each expression is parsed into a Q (``batchstore/server/_odata.py``) and run by ``store.list``: the ids it
finds on real tasks are the check, so the parser and the SQL the store compiles are tested together.
"""

from __future__ import annotations

import pytest

from batchstore import BatchStore, InvalidTaskError
from batchstore.server._odata import parse_filter, parse_order_by, parse_select

TASKS = [
    {"Name": "Alpha", "State": "New", "StartCount": 0, "LastStarted": "2024-03-05T23:59:59.999Z", "AssociateId": 1},
    {"Name": "beta", "State": "Started", "StartCount": 2, "LastStarted": "2024-03-06T00:00:00Z", "AssociateId": 2},
    {"Name": "O'Brien", "State": "Failed", "StartCount": 5, "IsSystemTask": True},
]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("Name = 'Alpha'", [1]),
        ("Name is 'Alpha' or Name equals 'beta'", [1, 2]),
        ("Name isNot 'Alpha'", [2, 3]),
        ("Name unequals 'Alpha' and Name ne 'beta'", [3]),
        ("Name eq 'O''Brien'", [3]),  # '' is a quote
        ("StartCount less 2", [1]),
        ("StartCount greater 0 and StartCount le 2", [2]),
        ("StartCount ge 2", [2, 3]),
        ("StartCount between(0, 2)", [1, 2]),
        ("Name notBegins 'A'", [2, 3]),
        ("Name notContains 'E'", [1]),  # case-insensitive: beta and O'Brien have an e
        ("Name contains 'ET'", [2]),
        ("contains(Name, 'ET')", []),  # OData's contains() is case-sensitive
        ("substringof('et', Name) eq false", [1, 3]),
        ("startswith(Name, 'Al') ne true", [2, 3]),
        ("State oneOf(1, 'Failed')", [1, 3]),
        ("AssociateId associateIsOneOf(2)", [2]),
        ("State notOneOf('New')", [2, 3]),
        ("LastStarted dateBetween('2024-03-05', '2024-03-05')", [1]),  # the whole day
        ("LastStarted dateBetween('2024-03-01', '2024-03-06')", [1, 2]),
        ("LastStarted ge datetime'2024-03-06T00:00:00Z'", [2]),
        ("LastStarted lt 2024-03-06", [1]),  # a bare date: midnight UTC
        ("LastStarted eq null", [3]),
        ("LastStarted ne null", [1, 2]),
        ("IsSystemTask eq true", [3]),
        ("not (Name eq 'Alpha' or Name eq 'beta')", [3]),
        ("Name eq 'Alpha' or Name eq 'beta' and StartCount gt 5", [1]),  # and binds tighter than or
        ("(Name eq 'Alpha' or Name eq 'beta') and StartCount gt 0", [2]),
        ("", [1, 2, 3]),
    ],
)
def test_each_operator_finds_its_tasks(store: BatchStore, expression: str, expected: list[int]) -> None:
    ids = store.create_many(TASKS)
    found = [t.id for t in store.list(where=parse_filter(expression), select="Id")]
    assert found == [ids[i - 1] for i in expected]


@pytest.mark.parametrize(
    ("expression", "word"),
    [
        ("Name", "operator"),
        ("Name eq 'x' Name", "position 12"),
        ("Name eq 'unterminated", "cannot read"),
        ("StartCount between(1)", "two values"),
        ("Name before '2024-01-01'", "date-times"),
        ("LastStarted date 'tomorrow'", "day"),
        ("LastStarted after '2024-13-40'", "not a date"),
        ("startswith(Name, 3)", "string"),
        ("substringof('x', Name) eq 1", "true or false"),
        ("Name begins 3", "Name"),
        ("registeredBy thisWeek", "not served"),
        ("x/y eq 1", "x/y"),
    ],
)
def test_a_bad_filter_names_the_parameter_and_the_fault(expression: str, word: str) -> None:
    with pytest.raises(InvalidTaskError) as info:
        parse_filter(expression)
    assert info.value.field == "$filter" and word in str(info.value)


def test_select_and_order_by_take_archive_and_wire_names() -> None:
    assert [c.name for c in parse_select("DEFINITIONNAME, dbtag,Id,Id")] == ["DefinitionName", "DbTag", "Id"]
    assert parse_order_by("registeredBy desc,name") == "AssociateId desc,Name"
    assert parse_order_by(" ") is None
    for bad, parameter in (("Name,", None), ("Name Extra Words", "$orderBy"), ("Bogus", "$orderBy")):
        if parameter is None:
            assert parse_order_by(bad) == "Name"
            continue
        with pytest.raises(InvalidTaskError) as info:
            parse_order_by(bad)
        assert info.value.field == parameter
