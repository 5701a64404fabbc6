"""SailPoint's collection parameters for task statuses: ``filters`` and ``sorters``.

The filter grammar is SailPoint's standard one, for the fields and operators its task-status list
supports here: ``completionStatus`` (eq, in, isnull) and ``id`` (eq, in), joined with ``and``,
``or`` and ``not`` and grouped with parentheses. Anything else is a 400 naming ``filters``.

>>> match = parse_filters('completionStatus in ("SUCCESS", "WARNING") or completionStatus isnull')
>>> match({"id": "1", "completionStatus": None}), match({"id": "2", "completionStatus": "ERROR"})
(True, False)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from ._errors import RequestRefusedError

__all__ = ["Predicate", "parse_filters", "parse_sorters"]

Predicate = Callable[[Mapping[str, Any]], bool]

_OPERATORS: Final = {"completionStatus": frozenset({"eq", "in", "isnull"}), "id": frozenset({"eq", "in"})}
_TOKEN: Final = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<bad>\S))'
)


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
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

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

    def expression(self) -> Predicate:
        terms = [self.term()]
        while self.keyword("or"):
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else (lambda row: any(t(row) for t in terms))

    def term(self) -> Predicate:
        factors = [self.factor()]
        while self.keyword("and"):
            factors.append(self.factor())
        return factors[0] if len(factors) == 1 else (lambda row: all(f(row) for f in factors))

    def factor(self) -> Predicate:
        if self.keyword("not"):
            inner = self.factor()
            return lambda row: not inner(row)
        token = self.peek()
        if token == ("punct", "("):
            self.at += 1
            inner = self.expression()
            self.take("punct", ")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        field = self.take("word")
        if field not in _OPERATORS:
            raise _refuse(f"cannot filter on {field!r}; the fields are completionStatus and id")
        operator = self.take("word").lower()
        if operator not in _OPERATORS[field]:
            raise _refuse(f"{field} supports {', '.join(sorted(_OPERATORS[field]))}, not {operator!r}")
        if operator == "isnull":
            return lambda row: row[field] is None
        if operator == "eq":
            value = self.take("string")
            return lambda row: row[field] == value
        self.take("punct", "(")
        values = {self.take("string")}
        while self.peek() == ("punct", ","):
            self.at += 1
            values.add(self.take("string"))
        self.take("punct", ")")
        return lambda row: row[field] in values


def parse_filters(text: str | None) -> Predicate | None:
    """A predicate over ``{"id", "completionStatus"}`` rows, or None when there is no filter."""
    if text is None or not text.strip():
        return None
    parser = _Parser(text)
    try:
        predicate = parser.expression()
    except RecursionError:
        raise _refuse("nests too deep") from None
    if parser.peek() is not None:
        raise _refuse(f"unexpected {parser.peek()[1]!r} after a complete filter")  # type: ignore[index]
    return predicate


def parse_sorters(text: str | None) -> bool | None:
    """None: by id (creation order); False: created ascending; True: created descending.

    >>> parse_sorters("-created"), parse_sorters(None)
    (True, None)
    """
    if text is None or not text.strip():
        return None
    keys = [k.strip() for k in text.split(",")]
    if len(keys) != 1 or keys[0] not in ("created", "-created"):
        raise RequestRefusedError(400, f"only created or -created sort task statuses, not {text!r}", field="sorters")
    return keys[0] == "-created"
