"""A user's notifications in the change feed: a phone pulls its own as kind ``notification``."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.feed.capture import mention
from app.feed.queries import ids_after, iso, kept_since
from app.feed.registry import FeedType, Registry
from app.notifications.models import Delivery


def register(feed: Registry) -> None:
    """Serve each user's notifications to that user only."""
    feed.add_type(
        FeedType(
            name="notification",
            parse_id=int,
            audience=_audience,
            visible=_visible,
            load=_load,
            snapshot=_snapshot,
        )
    )
    feed.watch(Delivery, _changed)


def _changed(delivery: Delivery, deleted: bool) -> list:
    if delivery.recipient_user_id is None:
        return []
    return mention("notification", delivery.id)


def _audience(connection: sa.Connection, ids: list[str]) -> dict[str, set[str]]:
    table = Delivery.__table__
    rows = connection.execute(
        sa.select(table.c.id, table.c.recipient_user_id).where(
            table.c.id.in_([int(i) for i in ids]), table.c.recipient_user_id.is_not(None)
        )
    )
    return {str(row.id): {f"u:{row.recipient_user_id}"} for row in rows}


def _visible(session: Session, user, ids: list) -> set:
    return set(
        session.scalars(
            sa.select(Delivery.id).where(
                Delivery.id.in_(ids), Delivery.recipient_user_id == user.id
            )
        )
    )


def _load(session: Session, ids: list) -> dict:
    rows = session.scalars(sa.select(Delivery).where(Delivery.id.in_(ids)))
    return {
        row.id: (
            row.version,
            {
                "id": row.id,
                "kind": row.kind,
                "payload": row.payload,
                "status": row.status,
                "created_at": iso(row.created_at),
                "version": row.version,
            },
        )
        for row in rows
    }


def _snapshot(session: Session, user, after, limit: int, now: dt.datetime) -> list:
    stmt = sa.select(Delivery.id).where(
        Delivery.recipient_user_id == user.id, Delivery.created_at >= kept_since(now)
    )
    return ids_after(session, stmt, Delivery.id, after, limit)
