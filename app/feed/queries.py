"""Read-side pieces the domains' feed types share: snapshot paging, id lists, wire dates."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

# Things that ended stay in a snapshot this long, so a phone that starts afresh still shows
# what was finished lately; older ones are on the REST lists.
SNAPSHOT_CLOSED_DAYS = 30


def kept_since(now: dt.datetime) -> dt.datetime:
    """The start of the window an ended thing stays in a snapshot."""
    return now - dt.timedelta(days=SNAPSHOT_CLOSED_DAYS)


def iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def ids_after(session: Session, stmt: sa.Select, id_column, after, limit: int) -> list:
    """The next ``limit`` ids of ``stmt`` after ``after``, in id order. Any order ``stmt``
    had is dropped first: the snapshot's pages resume at ``id > after``, which only holds in
    id order (a list ordered by creation time skipped things)."""
    if after is not None:
        stmt = stmt.where(id_column > after)
    return list(session.scalars(stmt.order_by(None).order_by(id_column).limit(limit)))


def among(session: Session, column: sa.ColumnElement, ids: list) -> sa.ColumnElement[bool]:
    """``column IN ids``, on PostgreSQL as ``= ANY(:array)``: a page's 500 ids as 500
    parameters cost more to render, send and parse than the query itself (bench/)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(ids), type_=ARRAY(column.type)))
    return column.in_(ids)
