"""The dashboard's search box, read into the store's query model (:class:`~batchstore.Q`).

Words are ANDed. A word may say what it searches: ``name:ERP`` (Name contains, any case), ``state:failed``
(a State by name or number, "Acquired" too), ``associate:602`` (AssociateId). A bare word matches a task
whose Name contains it, or whose State it names, or, for a number, whose AssociateId or Id it is.
Quotes keep spaces in a word: ``name:"ERP sync"``. The store does the searching, in SQL.
"""

from __future__ import annotations

import shlex
from typing import Final

from .._enums import BatchTaskState, coerce_enum
from .._fields import INT32_MAX
from .._query import Q
from ._errors import RequestRefusedError

__all__ = ["MAX_SEARCH", "search_query"]

#: The longest search the box may send, in characters.
MAX_SEARCH: Final = 500
_ALIASES: Final = {"acquired": BatchTaskState.Aquired}
_KINDS: Final = ("name", "state", "associate")


def _state(text: str) -> BatchTaskState | None:
    alias = _ALIASES.get(text.lower())
    if alias is not None:
        return alias
    try:
        state = coerce_enum(BatchTaskState, text)
    except ValueError:
        return None
    return None if state in (BatchTaskState.All, BatchTaskState.Unknown) else state


def _number(text: str) -> int | None:
    if not text.isdigit() or len(text) > 10 or int(text) > INT32_MAX:
        return None
    return int(text)


def search_query(text: str | None) -> Q:
    """The filter a search asks for (``Q()``: every task); RequestRefusedError naming ``search`` if it is malformed.

    >>> search_query("state:failed ERP")
    Q((State__eq=5) & (Name__icontains='ERP'))
    """
    if text is None or not text.strip():
        return Q()
    if len(text) > MAX_SEARCH:
        raise RequestRefusedError(400, f"is longer than {MAX_SEARCH} characters", field="search")
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise RequestRefusedError(400, f"cannot be read: {exc}", field="search") from None
    query = Q()
    for word in words:
        kind, colon, value = word.partition(":")
        kind = kind.lower()
        if colon and kind in _KINDS:
            if kind == "name":
                query &= Q(Name__icontains=value)
            elif kind == "state":
                state = _state(value)
                if state is None:
                    names = ", ".join(s.name for s in BatchTaskState if s not in (BatchTaskState.All,
                                                                                   BatchTaskState.Unknown))
                    raise RequestRefusedError(400, f"state:{value} names no State; one of {names}", field="search")
                query &= Q(State=state)
            else:
                number = _number(value)
                if number is None:
                    raise RequestRefusedError(400, f"associate:{value} is not an AssociateId", field="search")
                query &= Q(AssociateId=number)
            continue
        term = Q(Name__icontains=word)
        state = _state(word)
        if state is not None:
            term |= Q(State=state)
        number = _number(word)
        if number is not None:
            term |= Q(AssociateId=number) | Q(Id=number)
        query &= term
    return query
