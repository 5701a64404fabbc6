"""The query model: one typed description of "which tasks, in what order", compiled to SQL for each engine.

Every front translates its own syntax into it (OData ``$filter`` and ``$orderBy``, SailPoint's ``filters``
and ``sorters``, the command line's flags, the dashboard's search box) and the store runs it: no front
filters, sorts or pages in Python.

- :class:`Q` is a filter: ``Q(Name="ERPSync")``, ``Q(State__in=["New", "Started"])``,
  ``Q(Created__lt=some_datetime)``, combined with ``&``, ``|`` and ``~``. Field names are wire names or
  attribute names in any case; values are checked and converted by the field's own rules (``_fields.py``),
  so a filter value is refused exactly where a stored value would be.
- :func:`parse_order` reads an ordering: ``"Name,-Created"``, ``"name asc, created desc"`` or a list of such
  items. Id is always the last key, in the direction of the key before it, so every order is total, pages
  never overlap, and one index on (key, id) serves it.
- :func:`compile_where` and :class:`Ordering` turn them into SQL text with ``?`` placeholders. Column names
  come from the field table alone; every value the caller gave is a bound parameter.

Why a hand-written compiler over SQLAlchemy Core: the rest of batchstore speaks pre-built SQL text through
its engines and a read never imports SQLAlchemy (half a second at start-up). The operator table below is
small (Datasette's ``filters.py`` is the model), and measured on 1M tasks its compile step costs a few
microseconds against a query's hundreds.

>>> q = Q(State__in=["New", "Started"]) & Q(Name__startswith="ERP")
>>> compile_where(q, "sqlite")
('(t.state IN (?, ?) AND t.name GLOB ?)', [1, 3, 'ERP*'])
>>> compile_where(~Q(Name="x"), "postgresql")
('NOT COALESCE(t.name = ?, FALSE)', ['x'])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ._exceptions import InvalidTaskError
from ._fields import BY_ATTR, Field, check_text, coerce, resolve
from ._rows import to_column

__all__ = ["OPERATORS", "Ordering", "Q", "compile_where", "parse_order", "to_q"]

#: The operators a filter may use, and what each means.
OPERATORS: Final = {
    "eq": "equals (None: is null)",
    "ne": "differs from (a null field differs from every value)",
    "lt": "less than",
    "le": "less than or equal",
    "gt": "greater than",
    "ge": "greater than or equal",
    "in": "equals one of a list",
    "isnull": "is null (True) or is not (False)",
    "startswith": "a string starting with, case-sensitive",
    "endswith": "a string ending with, case-sensitive",
    "contains": "a string containing, case-sensitive",
    "istartswith": "a string starting with, ignoring case (ASCII letters on SQLite)",
    "icontains": "a string containing, ignoring case (ASCII letters on SQLite)",
}
_COMPARISONS: Final = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_TEXT: Final = frozenset({"startswith", "endswith", "contains", "istartswith", "icontains"})
#: The most values one ``in`` may list: SQLite binds at most 32,766 parameters in a statement.
MAX_IN: Final = 10_000


@dataclass(frozen=True, slots=True)
class _Leaf:
    field: Field
    op: str
    value: Any  # the column value(s), already checked and converted


@dataclass(frozen=True, slots=True)
class _Node:
    kind: str  # "and", "or", "not"
    children: tuple[_Leaf | _Node, ...]


def _lookup(key: str) -> tuple[Field, str]:
    name, _, op = key.partition("__")
    field = resolve(name, where="filter field")
    op = op.lower() or "eq"
    if op not in OPERATORS:
        raise InvalidTaskError(f"unknown filter operator {op!r}; known ones are {', '.join(OPERATORS)}",
                               field=field.wire)
    if not field.column:
        raise InvalidTaskError("cannot be filtered on: it is not stored as a column", field=field.wire)
    return field, op


def _column_value(field: Field, value: Any) -> Any:
    try:
        return to_column(field, coerce(field, value))
    except InvalidTaskError as exc:
        raise InvalidTaskError(f"not a filter value for {field.wire}: {exc}", field=field.wire) from None


def _leaf(field: Field, op: str, value: Any) -> _Leaf:
    if op == "isnull":
        if not isinstance(value, bool):
            raise InvalidTaskError(f"isnull takes True or False, got {value!r}", field=field.wire)
        return _Leaf(field, op, value)
    if op in ("eq", "ne") and value is None:
        return _Leaf(field, "isnull", op == "eq")
    if op == "in":
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            raise InvalidTaskError(f"'in' takes a list of values, got {type(value).__name__}", field=field.wire)
        values = list(value)
        if len(values) > MAX_IN:
            raise InvalidTaskError(f"'in' takes at most {MAX_IN} values, got {len(values)}", field=field.wire)
        converted = tuple(dict.fromkeys(_column_value(field, v) for v in values if v is not None))
        return _Leaf(field, op, (converted, any(v is None for v in values)))
    if value is None:
        raise InvalidTaskError(f"{op} needs a value, not null", field=field.wire)
    if op in _TEXT:
        if field.kind != "str" or not isinstance(value, str):
            raise InvalidTaskError(f"{op} compares strings: needs a string field and a string value, got "
                                   f"{type(value).__name__}", field=field.wire)
        return _Leaf(field, op, check_text(value, field.wire))
    if field.kind == "bool" and op not in ("eq", "ne"):
        raise InvalidTaskError(f"true and false have no order: use eq or ne, not {op}", field=field.wire)
    return _Leaf(field, op, _column_value(field, value))


class Q:
    """A filter on a task's fields, kept as a tree until the store compiles it to SQL.

    Each keyword is ``Field`` or ``Field__operator`` (see ``OPERATORS``); several keywords must all hold.
    ``Q()`` matches every task. Combine filters with ``&`` (and), ``|`` (or) and ``~`` (not).

    >>> from batchstore import BatchStore
    >>> with BatchStore() as store:
    ...     _ = store.create_many([{"Name": "ERPSync"}, {"Name": "ERPLoad", "State": "Failed"}, {"Name": "Mail"}])
    ...     [t.name for t in store.list(where=Q(Name__startswith="ERP") & ~Q(State="Failed"))]
    ['ERPSync']
    """

    __slots__ = ("_node",)

    def __init__(self, **lookups: Any) -> None:
        leaves = tuple(_leaf(*_lookup(key), value) for key, value in lookups.items())
        self._node: _Leaf | _Node | None = (
            None if not leaves else leaves[0] if len(leaves) == 1 else _Node("and", leaves)
        )

    @classmethod
    def _of(cls, node: _Leaf | _Node | None) -> Q:
        q = cls.__new__(cls)
        q._node = node
        return q

    def _combine(self, other: Q, kind: str) -> Q:
        if self._node is None or other._node is None:
            # Q() is "every task": true AND x is x; true OR x is true.
            if kind == "and":
                return other if self._node is None else self
            return Q()
        parts: list[_Leaf | _Node] = []
        for node in (self._node, other._node):
            parts.extend(node.children if isinstance(node, _Node) and node.kind == kind else (node,))
        return Q._of(_Node(kind, tuple(parts)))

    def __and__(self, other: object) -> Q:
        if not isinstance(other, Q):
            return NotImplemented
        return self._combine(other, "and")

    def __or__(self, other: object) -> Q:
        if not isinstance(other, Q):
            return NotImplemented
        return self._combine(other, "or")

    def __invert__(self) -> Q:
        if self._node is None:
            return Q._of(_Node("or", ()))  # no task: an empty OR
        return Q._of(_Node("not", (self._node,)))

    def __repr__(self) -> str:
        return f"Q({_describe(self._node)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Q) and self._node == other._node

    def __hash__(self) -> int:
        return hash(self._node)


def _describe(node: _Leaf | _Node | None) -> str:
    if node is None:
        return ""
    if isinstance(node, _Leaf):
        return f"{node.field.wire}__{node.op}={node.value!r}"
    if node.kind == "not":
        return f"~({_describe(node.children[0])})"
    return f" {'&' if node.kind == 'and' else '|'} ".join(f"({_describe(c)})" for c in node.children) or "<none>"


def to_q(where: Q | Mapping[str, Any] | None) -> Q:
    """A filter from what a caller passed as ``where``: a Q, a mapping of lookups, or None (every task)."""
    if where is None:
        return Q()
    if isinstance(where, Q):
        return where
    if isinstance(where, Mapping):
        return Q(**{str(k): v for k, v in where.items()})
    raise InvalidTaskError(f"where takes a Q or a mapping of field lookups, got {type(where).__name__}",
                           field="where")


# --- compiling --------------------------------------------------------------------------------------


def _glob(text: str) -> str:
    # GLOB's wildcards are * ? and [...]: each is matched literally inside brackets.
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text_match(column: str, op: str, value: str, dialect: str, params: list[Any]) -> str:
    exact = op in ("startswith", "endswith", "contains")
    if exact and dialect == "sqlite":
        # SQLite's LIKE ignores ASCII case; GLOB does not, and a prefix GLOB still walks an index.
        core = _glob(value)
        params.append({"startswith": f"{core}*", "endswith": f"*{core}", "contains": f"*{core}*"}[op])
        return f"{column} GLOB ?"
    core = _like(value)
    params.append(f"{core}%" if op in ("startswith", "istartswith") else
                  f"%{core}" if op == "endswith" else f"%{core}%")
    like = "LIKE" if exact or dialect == "sqlite" else "ILIKE"
    return f"{column} {like} ? ESCAPE '\\'"


def _compile(node: _Leaf | _Node, dialect: str, params: list[Any]) -> str:
    if isinstance(node, _Node):
        if node.kind == "not":
            # NOT of a comparison with NULL is NULL, not true: the complement of a filter must hold there.
            return f"NOT COALESCE({_compile(node.children[0], dialect, params)}, FALSE)"
        if not node.children:
            return "FALSE" if node.kind == "or" else "TRUE"
        joiner = " AND " if node.kind == "and" else " OR "
        return "(" + joiner.join(_compile(c, dialect, params) for c in node.children) + ")"
    column, op, value = f"t.{node.field.attr}", node.op, node.value
    if op == "isnull":
        return f"{column} IS {'' if value else 'NOT '}NULL"
    if op == "in":
        values, with_null = value
        parts = []
        if values:
            params.extend(values)
            parts.append(f"{column} IN ({', '.join('?' * len(values))})")
        if with_null:
            parts.append(f"{column} IS NULL")
        return " OR ".join(parts) if len(parts) == 1 else f"({' OR '.join(parts)})" if parts else "FALSE"
    if op in _TEXT:
        return _text_match(column, op, value, dialect, params)
    params.append(value)
    if op == "ne" and node.field.nullable:
        return f"({column} <> ? OR {column} IS NULL)"
    return f"{column} {_COMPARISONS[op]} ?"


def compile_where(where: Q, dialect: str) -> tuple[str, list[Any]]:
    """The SQL condition (over ``t.``, the batchtask table) and its parameters, for ``"sqlite"`` or ``"postgresql"``.

    >>> compile_where(Q(), "sqlite")
    ('TRUE', [])
    """
    params: list[Any] = []
    node = where._node
    return ("TRUE" if node is None else _compile(node, dialect, params)), params


# --- ordering -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ordering:
    """The keys of an ORDER BY, each ``(attribute, descending)``, Id last; see :func:`parse_order`.

    NULL sorts after every value (as PostgreSQL sorts by default) on both engines.
    """

    keys: tuple[tuple[str, bool], ...]

    @property
    def by_id_only(self) -> bool:
        return self.keys == (("id", False),)

    def sql(self, dialect: str) -> str:
        items = []
        for attr, descending in self.keys:
            item = f"t.{attr} {'DESC' if descending else 'ASC'}"
            if BY_ATTR[attr].nullable and attr != "id" and dialect == "sqlite":
                item += " NULLS FIRST" if descending else " NULLS LAST"  # SQLite's default is the other way
            items.append(item)
        return ", ".join(items)

    def columns(self) -> str:
        """The key columns, read after a row's own so the next page can start after it."""
        return ", ".join(f"t.{attr}" for attr, _ in self.keys)

    def after(self, last: Sequence[Any]) -> tuple[str, list[Any]]:
        """The condition for rows after the row whose key values are ``last`` (a keyset page's start)."""
        ors: list[str] = []
        params: list[Any] = []
        equal: list[str] = []
        equal_params: list[Any] = []
        for (attr, descending), value in zip(self.keys, last):
            column = f"t.{attr}"
            nullable = BY_ATTR[attr].nullable and attr != "id"
            if value is None:
                beyond = f"{column} IS NOT NULL" if descending else None  # NULL is the largest value
                same = f"{column} IS NULL"
            else:
                beyond = f"{column} {'<' if descending else '>'} ?"
                if nullable and not descending:
                    beyond = f"({beyond} OR {column} IS NULL)"
                same = f"{column} = ?"
            if beyond is not None:
                ors.append(" AND ".join([*equal, beyond]))
                params.extend(equal_params)
                if value is not None:
                    params.append(value)
            equal.append(same)
            if value is not None:
                equal_params.append(value)
        return "(" + " OR ".join(f"({o})" for o in ors) + ")", params


_BY_ID: Final = Ordering((("id", False),))
_WORDS: Final = {"asc": False, "desc": True}


def parse_order(order_by: str | Iterable[str] | None) -> Ordering:
    """An ordering from ``"Name,-Created"``, ``"name asc, created desc"`` or a list of such items.

    >>> parse_order("-created, Name asc").keys
    (('created', True), ('name', False), ('id', False))
    >>> parse_order("-created").keys
    (('created', True), ('id', True))
    """
    if order_by is None:
        return _BY_ID
    if isinstance(order_by, str):
        items: list[Any] = order_by.split(",")
    elif isinstance(order_by, Iterable) and not isinstance(order_by, (bytes, Mapping)):
        items = list(order_by)
    else:
        raise InvalidTaskError(f"order_by takes a string or a list of field names, got {type(order_by).__name__}",
                               field="order_by")
    keys: list[tuple[str, bool]] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidTaskError(f"order_by takes field names, got {item!r}", field="order_by")
        words = item.split()
        if not words:
            continue
        name, descending = words[0], False
        if name.startswith(("-", "+")):
            name, descending = name[1:], name[0] == "-"
        if len(words) == 2 and words[1].lower() in _WORDS:
            descending = _WORDS[words[1].lower()]
        elif len(words) != 1:
            raise InvalidTaskError(f"cannot read {item.strip()!r}: a field name, then asc or desc", field="order_by")
        try:
            field = resolve(name, where="order_by field")
        except InvalidTaskError as exc:
            raise InvalidTaskError(str(exc), field="order_by") from None
        if not field.column:
            raise InvalidTaskError(f"cannot order by {field.wire}: it is not stored as a column", field="order_by")
        if all(attr != field.attr for attr, _ in keys):
            keys.append((field.attr, descending))
        if field.attr == "id":
            break  # ids are unique: a later key never decides anything
    if not keys or keys[-1][0] != "id":
        # Id breaks ties in the direction of the key before it, so that one index on (key, id) serves the
        # whole order, forwards or backwards.
        keys.append(("id", keys[-1][1] if keys else False))
    return Ordering(tuple(keys))
