"""Conditions written once and compiled for each database so that its planner picks the
index a list needs at a million rows (see bench/console_bench.py).

- ``rare(criterion)``: a condition few rows meet although its column's values are spread
  evenly on paper, such as "the case is open" (a few thousand of a million cases, while
  ``sqlite_stat1`` only knows the average number of rows per state). SQLite (built without
  STAT4, as Debian's is) is told with ``likelihood(…, 0.001)``, which it sees through to
  use the column's index; PostgreSQL keeps most-common-value statistics and is given the
  condition as it is.
- ``starts_with(column, prefix)``: a prefix search that rides the column's b-tree. SQLite's
  ``LIKE`` is case-insensitive and cannot use a BINARY index, so it gets the byte range
  ``[prefix, successor(prefix))``, which is exactly the strings with that prefix. PostgreSQL
  gets ``LIKE 'prefix%'``, which rides an index declared with ``text_pattern_ops``.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

RARE = 0.001


class _Rare(ColumnElement[bool]):
    inherit_cache = True
    type = sa.types.NullType()
    _traverse_internals = [("criterion", InternalTraversal.dp_clauseelement)]

    def __init__(self, criterion: ColumnElement[bool]) -> None:
        self.criterion = criterion


@compiles(_Rare)
def _rare(element: _Rare, compiler, **kw) -> str:
    return compiler.process(element.criterion, **kw)


@compiles(_Rare, "sqlite")
def _rare_sqlite(element: _Rare, compiler, **kw) -> str:
    return f"likelihood({compiler.process(element.criterion, **kw)}, {RARE})"


def rare(criterion: ColumnElement[bool]) -> ColumnElement[bool]:
    """``criterion``, marked as met by few rows."""
    return _Rare(criterion)


def successor(prefix: str) -> str:
    """The first string after every string that starts with ``prefix`` (code point order,
    which is UTF-8's byte order)."""
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return prefix + "\U0010ffff"
    if 0xD7FF <= last < 0xE000:  # skip the surrogates, which no stored text holds
        return prefix[:-1] + "\ue000"
    return prefix[:-1] + chr(last + 1)


class _StartsWith(ColumnElement[bool]):
    inherit_cache = True
    type = sa.types.NullType()
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("low", InternalTraversal.dp_clauseelement),
        ("high", InternalTraversal.dp_clauseelement),
        ("like", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: sa.ColumnElement[str], prefix: str) -> None:
        self.column = column
        self.low = sa.literal(prefix, sa.String)
        self.high = sa.literal(successor(prefix), sa.String)
        self.like = column.startswith(prefix, autoescape=True)


@compiles(_StartsWith)
def _starts_with(element: _StartsWith, compiler, **kw) -> str:
    return compiler.process(element.like, **kw)


@compiles(_StartsWith, "sqlite")
def _starts_with_sqlite(element: _StartsWith, compiler, **kw) -> str:
    column = compiler.process(element.column, **kw)
    low, high = compiler.process(element.low, **kw), compiler.process(element.high, **kw)
    return f"({column} >= {low} AND {column} < {high})"


def starts_with(column: sa.ColumnElement[str], prefix: str) -> sa.ColumnElement[bool]:
    """``column`` starts with ``prefix`` (case-sensitively), searched on its index."""
    if not prefix:
        raise ValueError("starts_with needs a prefix")
    return _StartsWith(column, prefix)
