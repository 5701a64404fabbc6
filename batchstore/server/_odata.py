"""SuperOffice's OData list (``GET /api/v1/BatchTask``): its columns, ``$select``, ``$filter`` and ``$orderBy``.

The page says the list "calls the Archive service using the 'BatchTasks' archive", so the columns are that
archive's (``docs/superoffice-routes.md`` has the table and its source); a field the archive does not list
is a column under its BatchTaskInfo wire name. ``$filter`` is SuperOffice's dialect of OData: OData's
``eq``/``ne``/``lt``/... and ``startswith(col, 'x')``, plus the archive's own word operators (``begins``,
``oneOf(1, 2)``, ``between(a, b)``, ``before``, ``after``, ...). It is read by a small recursive-descent
parser into a :class:`~batchstore.Q`; the store compiles that to SQL. Nothing here filters, sorts or pages.

Why a hand parser: ``odata-query`` reads standard OData v4 only and refuses the page's own example
(``name begins 'S'``) and every archive operator; ``lark`` would read them from a grammar but adds a
dependency for some fifteen rules. This module is the grammar, and each refusal names the parameter.

>>> where = parse_filter("DefinitionName begins 'ERP' and State oneOf('New', 'Started')")
>>> where == Q(Name__istartswith="ERP") & Q(State__in=["New", "Started"])
True
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from .._exceptions import InvalidTaskError
from .._fields import DATA_FIELDS, EARLIEST, LATEST, Field, resolve
from .._query import Q

__all__ = ["DEFAULT_COLUMNS", "Column", "column", "parse_filter", "parse_order_by", "parse_select"]


@dataclass(frozen=True, slots=True)
class Column:
    """A column of the list: its name in the answer, and the task field it shows."""

    name: str
    field: Field


#: The "BatchTasks" archive's documented columns that have a task field, in the page's order.
_ARCHIVE: Final = (
    ("DefinitionName", "Name"),
    ("Description", "Description"),
    ("DbTag", "DatabaseSerialNumber"),
    ("State", "State"),
    ("DetailsTable", "DetailsTable"),
    ("DetailsRecord", "DetailsRecord"),
    ("Request", "Request"),
    ("Response", "Response"),
    ("StartCount", "StartCount"),
    ("LastStarted", "LastStarted"),
    ("ProgressPercent", "ProgressPercent"),
    ("ProgressDescription", "ProgressDescription"),
    ("registeredBy", "AssociateId"),
    ("registeredDate", "Created"),
)
#: Documented archive columns with nothing behind them in batchstore (no task definitions, no update stamps).
_NOT_SERVED: Final = ("DefinitionId", "DefinitionDescription", "DefinitionTimeOut", "updatedBy", "updatedDate",
                      "getAllRows", "getNoRows")
DEFAULT_COLUMNS: Final = tuple(Column(name, resolve(wire)) for name, wire in _ARCHIVE)
_COLUMNS: Final = {
    **{f.wire.lower(): Column(f.wire, f) for f in DATA_FIELDS if f.column},  # ParameterObject is no column
    **{c.name.lower(): c for c in DEFAULT_COLUMNS},
}


def column(name: str, parameter: str) -> Column:
    """The column called ``name`` (any case); an unknown one is an InvalidTaskError naming ``parameter``.

    >>> column("registereddate", "$select")
    Column(name='registeredDate', field=Field(wire='Created', ...))
    """
    found = _COLUMNS.get(name.strip().lower())
    if found is not None:
        return found
    served = next((n for n in _NOT_SERVED if n.lower() == name.strip().lower()), None)
    if served is not None:
        raise InvalidTaskError(f"the BatchTasks archive's column {served} is not served: batchstore keeps no "
                               "task definitions or update stamps", field=parameter)
    raise InvalidTaskError(f"unknown column {name.strip()!r}; columns are {', '.join(c.name for c in DEFAULT_COLUMNS)} "
                           "and BatchTaskInfo's field names", field=parameter)


def parse_select(select: str | None) -> tuple[Column, ...]:
    """The columns of ``$select`` in its order (the archive's when None or blank)."""
    if select is None or not select.strip():
        return DEFAULT_COLUMNS
    columns = [column(name, "$select") for name in select.split(",") if name.strip()]
    return tuple(dict.fromkeys(columns))


def parse_order_by(order_by: str | None) -> str | None:
    """``$orderBy`` (``"name asc,registeredDate desc"``) as the store's ``order_by``; a bad one names ``$orderBy``.

    >>> parse_order_by("definitionName asc, registeredDate desc")
    'Name asc,Created desc'
    """
    if order_by is None or not order_by.strip():
        return None
    items = []
    for item in order_by.split(","):
        words = item.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise InvalidTaskError(f"cannot read {item.strip()!r}: a column, then asc or desc", field="$orderBy")
        items.append(" ".join([column(words[0], "$orderBy").field.wire, *(w.lower() for w in words[1:])]))
    return ",".join(items) or None


# --- $filter ------------------------------------------------------------------------------------------

_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<datetime>datetime'[^']*')
      | (?P<date>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)(?![\w.])
      | (?P<number>-?\d+(?:\.\d+)?)(?![\w.])
      | (?P<name>[A-Za-z_][\w/]*)
      | (?P<punct>[(),=])
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # string, number, name, punct, end
    text: str
    value: Any
    at: int


def _tokens(text: str) -> Iterator[_Token]:
    at = 0
    while at < len(text):
        if text[at:].isspace():
            break
        match = _TOKEN.match(text, at)
        if match is None:
            raise _error(f"cannot read {text[at:at + 20].strip()!r} at position {at}")
        kind = match.lastgroup or "punct"
        raw = match.group(kind)
        if kind == "string":
            yield _Token("string", raw, raw[1:-1].replace("''", "'"), match.start(kind))
        elif kind == "datetime":
            yield _Token("string", raw, raw[9:-1], match.start(kind))
        elif kind == "date":
            yield _Token("string", raw, raw, match.start(kind))
        elif kind == "number":
            yield _Token("number", raw, float(raw) if "." in raw else int(raw), match.start(kind))
        else:
            yield _Token(kind, raw, raw, match.start(kind))
        at = match.end()
    yield _Token("end", "", None, len(text))


def _error(message: str) -> InvalidTaskError:
    return InvalidTaskError(message, field="$filter")


_LITERALS: Final = {"true": True, "false": False, "null": None}
_DATE_ONLY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_DAY: Final = dt.timedelta(days=1)


def _day(value: Any) -> dt.datetime | None:
    """Midnight UTC of a ``'YYYY-MM-DD'`` value; None for anything else (left to the field's own rules).

    The day and the next midnight (the end of a range on it) must both be instants a task may hold
    (batchstore._fields.EARLIEST .. LATEST), so the next day is never computed past the calendar's end.
    """
    if isinstance(value, str) and _DATE_ONLY.fullmatch(value):
        try:
            day = dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
        except ValueError:
            raise _error(f"{value!r} is not a date") from None
        if not EARLIEST <= day <= LATEST - _DAY:
            raise _error(f"{value!r} is outside the days a date-time may fall on "
                         f"({EARLIEST.date()} .. {(LATEST - _DAY).date()})")
        return day
    return None


def _when(field: Field, value: Any) -> Any:
    """A date-time column's value: a bare date is its midnight UTC."""
    if field.kind == "datetime":
        day = _day(value)
        if day is not None:
            return day
    return value


def _dates_only(field: Field, op: str) -> None:
    if field.kind != "datetime":
        raise _error(f"{op} compares date-times; {field.wire} is not one")


def _comparison(op: str) -> Callable[[Field, Any], Q]:
    return lambda field, value: Q(**{f"{field.wire}__{op}": _when(field, value)})


def _negated(op: str) -> Callable[[Field, Any], Q]:
    return lambda field, value: ~Q(**{f"{field.wire}__{op}": value})


def _before(field: Field, value: Any) -> Q:
    _dates_only(field, "before")
    return Q(**{f"{field.wire}__lt": _when(field, value)})


def _after(field: Field, value: Any) -> Q:
    _dates_only(field, "after")
    day = _day(value)  # after a day: from the next midnight on
    return Q(**{f"{field.wire}__ge": day + _DAY}) if day is not None else Q(**{f"{field.wire}__gt": value})


def _on(field: Field, value: Any) -> Q:
    _dates_only(field, "date")
    day = _day(value)
    if day is None:
        raise _error(f"date takes a day ('YYYY-MM-DD'), got {value!r}")
    return Q(**{f"{field.wire}__ge": day, f"{field.wire}__lt": day + _DAY})


def _between(field: Field, low: Any, high: Any) -> Q:
    high_day = _day(high) if field.kind == "datetime" else None
    upper = {f"{field.wire}__lt": high_day + _DAY} if high_day else {f"{field.wire}__le": high}
    return Q(**{f"{field.wire}__ge": _when(field, low), **upper})


def _date_between(field: Field, low: Any, high: Any) -> Q:
    _dates_only(field, "dateBetween")
    return _between(field, low, high)


#: Operators with one value after them, by their lower-case name.
_BINARY: Final[dict[str, Callable[[Field, Any], Q]]] = {
    **dict.fromkeys(("eq", "=", "equals", "is", "set"), _comparison("eq")),
    **dict.fromkeys(("ne", "unequals", "isnot"), _comparison("ne")),
    **dict.fromkeys(("lt", "less"), _comparison("lt")),
    "le": _comparison("le"),
    **dict.fromkeys(("gt", "greater"), _comparison("gt")),
    "ge": _comparison("ge"),
    "begins": _comparison("istartswith"),
    "notbegins": _negated("istartswith"),
    "contains": _comparison("icontains"),
    "notcontains": _negated("icontains"),
    "before": _before,
    "after": _after,
    "date": _on,
}
#: Operators with a parenthesized list: (field, values) -> Q.
_LISTS: Final[dict[str, Callable[[Field, list[Any]], Q]]] = {
    **dict.fromkeys(("oneof", "associateisoneof"), lambda f, vs: Q(**{f"{f.wire}__in": vs})),
    **dict.fromkeys(("notoneof", "associateisnotoneof"), lambda f, vs: ~Q(**{f"{f.wire}__in": vs})),
}
_PAIRS: Final[dict[str, Callable[[Field, Any, Any], Q]]] = {"between": _between, "datebetween": _date_between}
#: OData's functions, case-sensitive as OData defines them: name -> (position of the column, lookup).
_FUNCTIONS: Final = {"startswith": (0, "startswith"), "endswith": (0, "endswith"),
                     "substringof": (1, "contains"), "contains": (0, "contains")}
#: Operators the page lists that batchstore does not serve: periods relative to today, the current user.
_UNSERVED: Final = frozenset({
    "currentassociate", "beforetoday", "today", "aftertoday", "lastweek", "thisweek", "nextweek",
    "lastmonth", "thismonth", "nextmonth", "lastquarter", "thisquarter", "nextquarter", "thishalf",
    "thisyear", "this", "next", "previous", "thisandnext", "thisandprevious", "thisandpreviousandnext",
})  # fmt: skip
_MAX_DEPTH: Final = 64
_KNOWN: Final = (
    "eq (=, equals, is), ne (unequals, isNot), lt (less), le, gt (greater), ge, between, begins, notBegins, "
    "contains, notContains, oneOf, notOneOf, before, after, date, dateBetween, and the functions "
    "startswith(), endswith(), substringof()"
)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = list(_tokens(text))
        self.at = 0
        self.depth = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def word(self, *words: str) -> bool:
        if self.token.kind == "name" and self.token.text.lower() in words:
            self.at += 1
            return True
        return False

    def punct(self, mark: str) -> bool:
        if self.token.kind == "punct" and self.token.text == mark:
            self.at += 1
            return True
        return False

    def expect(self, mark: str) -> None:
        if not self.punct(mark):
            raise _error(f"expected {mark!r} at position {self.token.at}, found {self.token.text or 'the end'!r}")

    def parse(self) -> Q:
        where = self.disjunction()
        if self.token.kind != "end":
            raise _error(f"expected 'and', 'or' or the end at position {self.token.at}, found {self.token.text!r}")
        return where

    def disjunction(self) -> Q:
        where = self.conjunction()
        while self.word("or"):
            where = where | self.conjunction()
        return where

    def conjunction(self) -> Q:
        where = self.negation()
        while self.word("and"):
            where = where & self.negation()
        return where

    def negation(self) -> Q:
        self.depth += 1
        if self.depth > _MAX_DEPTH:  # far below Python's recursion limit, far above any real filter
            raise _error(f"nests deeper than {_MAX_DEPTH} levels of 'not' and parentheses")
        try:
            if self.word("not"):
                return ~self.negation()
            if self.punct("("):
                where = self.disjunction()
                self.expect(")")
                return where
            return self.condition()
        finally:
            self.depth -= 1

    def literal(self) -> Any:
        token = self.take()
        if token.kind in ("string", "number"):
            return token.value
        if token.kind == "name" and token.text.lower() in _LITERALS:
            return _LITERALS[token.text.lower()]
        raise _error(f"expected a value at position {token.at}, found {token.text or 'the end'!r}")

    def values(self) -> list[Any]:
        self.expect("(")
        values = [self.literal()]
        while self.punct(","):
            values.append(self.literal())
        self.expect(")")
        return values

    def condition(self) -> Q:
        token = self.take()
        if token.kind != "name":
            raise _error(f"expected a column at position {token.at}, found {token.text or 'the end'!r}")
        if token.text.lower() in _FUNCTIONS and self.token.kind == "punct" and self.token.text == "(":
            return self.function(token.text.lower())
        field = column(token.text, "$filter").field
        op_token = self.take()
        op = op_token.text.lower()
        if op_token.kind not in ("name", "punct") or (op_token.kind == "punct" and op != "="):
            raise _error(f"expected an operator after {token.text} at position {op_token.at}, "
                         f"found {op_token.text or 'the end'!r}")
        if op in _BINARY:
            return _BINARY[op](field, self.literal())
        if op in _LISTS:
            return _LISTS[op](field, self.values())
        if op in _PAIRS:
            values = self.values()
            if len(values) != 2:
                raise _error(f"{op_token.text} takes two values, got {len(values)}")
            return _PAIRS[op](field, *values)
        if op in _UNSERVED:
            raise _error(f"the operator {op_token.text} (a period relative to today, or the current user) "
                         "is not served")
        raise _error(f"unknown operator {op_token.text!r}; known ones are {_KNOWN}")

    def function(self, name: str) -> Q:
        self.expect("(")
        first = self.take()
        self.expect(",")
        second = self.take()
        self.expect(")")
        position, lookup = _FUNCTIONS[name]
        named, given = (first, second) if position == 0 else (second, first)
        if named.kind != "name" or given.kind != "string":
            raise _error(f"{name}() takes a column and a string in quotes")
        where = Q(**{f"{column(named.text, '$filter').field.wire}__{lookup}": given.value})
        # OData v2 writes "substringof('x', Name) eq true"; v4 writes the call alone.
        if self.token.kind == "name" and self.token.text.lower() in ("eq", "ne"):
            negate = self.take().text.lower() == "ne"
            wanted = self.literal()
            if not isinstance(wanted, bool):
                raise _error(f"{name}() compares with true or false, not {wanted!r}")
            if wanted == negate:
                where = ~where
        return where


def parse_filter(text: str | None) -> Q:
    """``$filter`` as a :class:`~batchstore.Q` (every task when None or blank); a bad one names ``$filter``.

    >>> parse_filter("registeredDate after '2024-01-31' or not (StartCount between(1, 3))")  # doctest: +ELLIPSIS
    Q((Created__ge=...) | (~(...)))
    >>> parse_filter("Name begins")
    Traceback (most recent call last):
    ...
    batchstore._exceptions.InvalidTaskError: $filter: expected a value at position 11, found 'the end'
    """
    if text is None or not text.strip():
        return Q()
    try:
        return _Parser(text).parse()
    except InvalidTaskError as exc:
        if exc.field == "$filter":
            raise
        raise _error(str(exc)) from None  # a value the column refuses: "State: ..." inside "$filter: ..."
