"""SailPoint's collection parameters ``filters`` and ``sorters``, read into the store's query model.

The grammar is SailPoint's standard one ("Standard Collection Parameters"): comparisons
``field eq "value"``, ``field in ("a", "b")`` and ``field isnull``, joined with ``and`` and ``or``
(``and`` binds tighter), negated with ``not`` and grouped with parentheses. Values are double-quoted
strings (``\\"`` escapes a quote). Which fields and operators a list takes, and what each comparison
means for a task, is the caller's table of :class:`FilterField`: the result is a :class:`~batchstore.Q`
that the store compiles to SQL, so nothing is filtered here. Anything else is a 400 naming ``filters``
(or ``sorters``).

>>> from batchstore import Q
>>> fields = {"name": FilterField(frozenset({"eq", "in"}), lambda names: Q(Name__in=names))}
>>> parse_filters('name eq "ERPSync" or not name in ("Mail", "Fax")', fields)
Q((Name__in=(('ERPSync',), False)) | (~(Name__in=(('Mail', 'Fax'), False))))
>>> parse_sorters("-created", {"created": "Created"})
'-Created'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from .._query import Q
from ._errors import RequestRefusedError

__all__ = ["FilterField", "parse_filters", "parse_sorters"]

_TOKEN: Final = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<bad>\S))'
)
#: Parentheses and ``not`` nest at most this deep: a filter is a short question, and the SQL stays small.
_MAX_DEPTH: Final = 32
#: The most comparisons in one filter (each ``in`` value counts): the SQL a request builds stays bounded.
_MAX_TERMS: Final = 1000


@dataclass(frozen=True, slots=True)
class FilterField:
    """What one filterable field means: its operators and the tasks each comparison selects.

    ``matching`` gives the tasks whose field equals any of the values (``eq`` passes one value, ``in``
    several); ``null`` gives the tasks whose field is null (for ``isnull``).
    """

    operators: frozenset[str]
    matching: Callable[[Sequence[str]], Q]
    null: Callable[[], Q] | None = None


def _refuse(message: str) -> RequestRefusedError:
    return RequestRefusedError(400, message, field="filters")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        assert kind is not None
        value = match.group(kind)
        if kind == "bad":
            raise _refuse(f"unexpected {value!r} at {match.start(kind)}; values are double-quoted strings")
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append((kind, value))
    if not tokens:
        raise _refuse("is empty")
    return tokens


class _Parser:
    def __init__(self, text: str, fields: Mapping[str, FilterField]) -> None:
        self.tokens = _tokens(text)
        self.fields = fields
        self.at = 0
        self.depth = 0
        self.terms = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1].lower() != value):
            wanted = value or kind
            found = "the end" if token is None else repr(token[1])
            raise _refuse(f"expected {wanted} but found {found}")
        self.at += 1
        return token[1]

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].lower() == word:
            self.at += 1
            return True
        return False

    def expression(self) -> Q:
        query = self.term()
        while self.keyword("or"):
            query = query | self.term()
        return query

    def term(self) -> Q:
        query = self.factor()
        while self.keyword("and"):
            query = query & self.factor()
        return query

    def factor(self) -> Q:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _refuse(f"nests deeper than {_MAX_DEPTH} parentheses or nots")
        try:
            if self.keyword("not"):
                return ~self.factor()
            if self.peek() == ("punct", "("):
                self.at += 1
                inner = self.expression()
                self.take("punct", ")")
                return inner
            return self.comparison()
        finally:
            self.depth -= 1

    def count(self, terms: int) -> None:
        self.terms += terms
        if self.terms > _MAX_TERMS:
            raise _refuse(f"has more than {_MAX_TERMS} comparisons and values")

    def comparison(self) -> Q:
        name = self.take("word")
        field = self.fields.get(name)
        if field is None:
            known = ", ".join(self.fields)
            raise _refuse(f"cannot filter on {name!r}; the fields are {known}")
        operator = self.take("word").lower()
        if operator not in field.operators:
            raise _refuse(f"{name} supports {', '.join(sorted(field.operators))}, not {operator!r}")
        if operator == "isnull":
            assert field.null is not None, f"{name} lists isnull but says nothing about null"
            self.count(1)
            return field.null()
        if operator == "eq":
            self.count(1)
            return field.matching([self.take("string")])
        self.take("punct", "(")
        values = [self.take("string")]
        while self.peek() == ("punct", ","):
            self.at += 1
            values.append(self.take("string"))
        self.take("punct", ")")
        self.count(len(values))
        return field.matching(values)


def parse_filters(text: str | None, fields: Mapping[str, FilterField]) -> Q:
    """The tasks ``text`` selects, as a Q over ``fields`` (every task when there is no filter)."""
    if text is None or not text.strip():
        return Q()
    parser = _Parser(text, fields)
    query = parser.expression()
    token = parser.peek()
    if token is not None:
        raise _refuse(f"unexpected {token[1]!r} after a complete filter")
    return query


def parse_sorters(text: str | None, fields: Mapping[str, str]) -> str | None:
    """The store's ``order_by`` for SailPoint's ``sorters`` (``created``, ``-created``, comma-separated).

    ``fields`` maps each sortable SailPoint field to the task field it sorts by; None means no sorters.

    >>> parse_sorters("created", {"created": "Created"}) is None, parse_sorters(None, {})
    (False, None)
    """
    if text is None or not text.strip():
        return None
    keys = []
    for item in text.split(","):
        name = item.strip()
        descending = name.startswith("-")
        target = fields.get(name[1:] if descending else name)
        if target is None:
            known = ", ".join(f"{f} or -{f}" for f in fields)
            raise RequestRefusedError(400, f"only {known} sort task statuses, not {name!r}", field="sorters")
        keys.append(f"-{target}" if descending else target)
    return ",".join(keys)
