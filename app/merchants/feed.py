"""Merchants' self-checks in the change feed: a merchant keeps their own checks of the last
days; the area's chiefs read them on the REST list (门前三包 自查)."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.feed.capture import mention
from app.feed.queries import ids_after, iso, kept_since
from app.feed.registry import FeedType, Registry, keys
from app.merchants import selfchecks
from app.merchants.models import SelfCheck, Shop


def register(feed: Registry) -> None:
    """Serve the self-checks; a merchant holds the keys ``h:<shop>`` of their shops."""
    feed.add_type(
        FeedType(
            name="selfcheck",
            parse_id=uuid.UUID,
            audience=_audience,
            visible=_visible,
            load=_load,
            snapshot=_snapshot,
        )
    )
    feed.add_user_keys(_merchant_keys)
    feed.watch(SelfCheck, _changed)


def _merchant_keys(session: Session, user: User) -> set[str]:
    if user.role != Role.MERCHANT:
        return set()
    shops = session.scalars(sa.select(Shop.id).where(Shop.merchant_id == user.id))
    return {f"h:{shop}" for shop in shops}


def _changed(check: SelfCheck, deleted: bool) -> list:
    return mention("selfcheck", check.id)


def _audience(connection: sa.Connection, ids: list[str]) -> dict[str, set[str]]:
    table = SelfCheck.__table__
    rows = connection.execute(
        sa.select(table.c.id, table.c.shop_id, table.c.merchant_id).where(
            table.c.id.in_([uuid.UUID(i) for i in ids])
        )
    )
    return {str(r.id): keys(("h", r.shop_id), ("u", r.merchant_id)) for r in rows}


def _visible(session: Session, user: User, ids: list) -> set:
    stmt = sa.select(SelfCheck.id).where(SelfCheck.id.in_(ids), selfchecks.visible_to(user))
    return set(session.scalars(stmt))


def _load(session: Session, ids: list) -> dict:
    table = SelfCheck.__table__
    return {
        row.id: (
            None,
            {
                "id": str(row.id),
                "shop_id": row.shop_id,
                "merchant_id": row.merchant_id,
                "sanitation": row.sanitation,
                "order": row.order,
                "greenery": row.greenery,
                "note": row.note,
                "photo_ids": row.photo_ids,
                "created_at": iso(row.created_at),
            },
        )
        for row in session.execute(sa.select(table).where(table.c.id.in_(ids)))
    }


def _snapshot(session: Session, user: User, after, limit: int, now: dt.datetime) -> list:
    """A merchant's own checks of the last days; the area's chiefs read them on the REST list."""
    if user.role != Role.MERCHANT:
        return []
    stmt = sa.select(SelfCheck.id).where(
        selfchecks.visible_to(user), SelfCheck.created_at >= kept_since(now)
    )
    return ids_after(session, stmt, SelfCheck.id, after, limit)
