"""Sync conflicts in the change feed: the phone's user hears how the dispatcher decided."""

from __future__ import annotations

import datetime as dt
import functools

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.feed.capture import mention
from app.feed.queries import ids_after, iso, kept_since
from app.feed.registry import FeedType, Registry, SeesEverything
from app.sync_api.models import SyncConflict, SyncDevice


def register(feed: Registry) -> None:
    """Serve each conflict to the user whose phone raised it (and to the command centre)."""
    sees_everything = feed.sees_everything
    feed.add_type(
        FeedType(
            name="conflict",
            parse_id=str,
            audience=_audience,
            visible=functools.partial(_visible, sees_everything),
            load=_load,
            snapshot=functools.partial(_snapshot, sees_everything),
        )
    )
    # The push writes conflicts with Core and records them itself (store.SqlStore); the ORM
    # writes of a dispatcher's decision are seen here.
    feed.watch(SyncConflict, _changed)


def _changed(conflict: SyncConflict, deleted: bool) -> list:
    return mention("conflict", conflict.id)


def _audience(connection: sa.Connection, ids: list[str]) -> dict[str, set[str]]:
    conflicts, devices = SyncConflict.__table__, SyncDevice.__table__
    rows = connection.execute(
        sa.select(conflicts.c.id, devices.c.user_id)
        .join(devices, devices.c.id == conflicts.c.device_pk)
        .where(conflicts.c.id.in_(ids))
    )
    return {row.id: {f"u:{row.user_id}"} for row in rows}


def _own_conflicts(sees_everything: SeesEverything, user: User) -> sa.ColumnElement[bool]:
    if sees_everything(user):
        return sa.true()
    return SyncConflict.device_pk.in_(sa.select(SyncDevice.id).where(SyncDevice.user_id == user.id))


def _visible(sees_everything: SeesEverything, session: Session, user: User, ids: list) -> set:
    own = _own_conflicts(sees_everything, user)
    return set(session.scalars(sa.select(SyncConflict.id).where(SyncConflict.id.in_(ids), own)))


def _load(session: Session, ids: list) -> dict:
    table, devices = SyncConflict.__table__, SyncDevice.__table__
    rows = session.execute(
        sa.select(table, devices.c.device_id)
        .join(devices, devices.c.id == table.c.device_pk)
        .where(table.c.id.in_(ids))
    )
    return {
        row.id: (
            row.version,
            {
                "id": row.id,
                "device_id": row.device_id,
                "mid": row.mid,
                "type": row.type,
                "entity_type": row.entity_type,
                "entity_id": str(row.entity_id),
                "reason": row.reason,
                "status": row.status,
                "resolution": row.resolution,
                "resolved_fields": row.resolved_fields,
                "resolved_at": iso(row.resolved_at),
                "opinion": row.opinion,
                "version": row.version,
                "created_at": iso(row.created_at),
            },
        )
        for row in rows
    }


def _snapshot(
    sees_everything: SeesEverything,
    session: Session,
    user: User,
    after,
    limit: int,
    now: dt.datetime,
) -> list:
    recent = sa.or_(SyncConflict.status == "open", SyncConflict.resolved_at >= kept_since(now))
    stmt = sa.select(SyncConflict.id).where(_own_conflicts(sees_everything, user), recent)
    return ids_after(session, stmt, SyncConflict.id, after, limit)
