"""The categories in the change feed: reference data every phone keeps (the active ones)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.categories.models import Category
from app.feed.capture import mention
from app.feed.queries import ids_after
from app.feed.registry import FeedType, Registry, User, everyone, shown_to_all


def register(feed: Registry) -> None:
    """Serve the categories to every user; any change of one is fed."""
    feed.add_type(
        FeedType(
            name="category",
            parse_id=int,
            audience=everyone,
            visible=shown_to_all,
            load=_load,
            snapshot=_snapshot,
        )
    )
    feed.watch(Category, _changed)


def _changed(category: Category, deleted: bool) -> list:
    return mention("category", category.id)


def _load(session: Session, ids: list) -> dict:
    table = Category.__table__
    return {
        row.id: (
            None,
            {
                "id": row.id,
                "kind": row.kind,
                "edition": row.edition,
                "code": row.code,
                "major_code": row.major_code,
                "major_name": row.major_name,
                "name": row.name,
                "time_limit": row.time_limit,
                "limit_type": row.limit_type,
                "stage_name": row.stage_name,
                "stage_limit": row.stage_limit,
                "stage_limit_type": row.stage_limit_type,
                "active": row.active,
            },
        )
        for row in session.execute(sa.select(table).where(table.c.id.in_(ids)))
    }


def _snapshot(session: Session, user: User, after, limit: int, now: dt.datetime) -> list:
    stmt = sa.select(Category.id).where(Category.active.is_(True))
    return ids_after(session, stmt, Category.id, after, limit)
