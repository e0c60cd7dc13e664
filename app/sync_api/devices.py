"""Each phone queue's health for an admin: last push and pull, open conflicts, rejects,
pending photos, and for one queue its recent mutations and failed attempts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.photos.models import Photo, PhotoStatus
from app.sync_api.models import CONFLICT_OPEN, SyncConflict, SyncDevice, SyncFailure, SyncMutation
from app.sync_api.queues import user_view, users_by_id
from app.sync_api.rejects import mutation_views
from sync.outcomes import Status

RECENT_MUTATIONS = 20


def devices_query(device: str | None = None, user: int | None = None) -> sa.Select:
    """Phone queues (one per user and phone), the most recently pushed first."""
    stmt = sa.select(SyncDevice)
    if device:
        stmt = stmt.where(SyncDevice.device_id == device)
    if user is not None:
        stmt = stmt.where(SyncDevice.user_id == user)
    return stmt.order_by(
        SyncDevice.last_push_at.desc().nulls_last(), SyncDevice.created_at.desc(), SyncDevice.id
    )


def device_health(session: Session, queues: Sequence[SyncDevice]) -> list[dict]:
    """Each queue's last push and pull, last mid, open conflicts, rejected mutations and
    pending photos. A photo records its owner, not the phone it came from, so pending
    photos are the queue's user's (the same on each phone of that user)."""
    pks = [queue.id for queue in queues]
    user_ids = {queue.user_id for queue in queues}
    users = users_by_id(session, user_ids)
    open_conflicts = _counts(
        session,
        sa.select(SyncConflict.device_pk, sa.func.count())
        .where(SyncConflict.device_pk.in_(pks), SyncConflict.status == CONFLICT_OPEN)
        .group_by(SyncConflict.device_pk),
    )
    rejected = _counts(
        session,
        sa.select(SyncMutation.device_pk, sa.func.count())
        .where(SyncMutation.device_pk.in_(pks), SyncMutation.status == Status.REJECTED.value)
        .group_by(SyncMutation.device_pk),
    )
    pending = _counts(
        session,
        sa.select(Photo.owner_id, sa.func.count())
        .where(Photo.owner_id.in_(user_ids), Photo.status == PhotoStatus.PENDING)
        .group_by(Photo.owner_id),
    )
    return [
        {
            "id": queue.id,
            "device_id": queue.device_id,
            "user": user_view(users.get(queue.user_id)),
            "last_mid": queue.last_mid,
            "last_push_at": queue.last_push_at,
            "last_pull_at": queue.last_pull_at,
            "open_conflicts": open_conflicts.get(queue.id, 0),
            "rejected": rejected.get(queue.id, 0),
            "pending_photos": pending.get(queue.user_id, 0),
            "created_at": queue.created_at,
        }
        for queue in queues
    ]


def device_detail(session: Session, device_pk: int) -> dict:
    """One queue's health with its most recent mutations, the failed attempts of mids not
    yet decided, and its open conflicts."""
    queue = session.get(SyncDevice, device_pk)
    if queue is None:
        raise NotFound(f"sync device {device_pk} does not exist")
    view = device_health(session, [queue])[0]
    recent = session.scalars(
        sa.select(SyncMutation)
        .where(SyncMutation.device_pk == queue.id)
        .order_by(SyncMutation.id.desc())
        .limit(RECENT_MUTATIONS)
    ).all()
    view["recent_mutations"] = mutation_views(session, recent)
    view["failures"] = [
        {
            "mid": failure.mid,
            "attempts": failure.attempts,
            "last_error": failure.last_error,
            "last_failed_at": failure.last_failed_at,
        }
        for failure in session.scalars(
            sa.select(SyncFailure)
            .where(SyncFailure.device_pk == queue.id, SyncFailure.mid > queue.last_mid)
            .order_by(SyncFailure.mid)
        )
    ]
    view["open_conflict_ids"] = list(
        session.scalars(
            sa.select(SyncConflict.id)
            .where(SyncConflict.device_pk == queue.id, SyncConflict.status == CONFLICT_OPEN)
            .order_by(SyncConflict.created_at)
        )
    )
    return view


def _counts(session: Session, stmt: sa.Select) -> dict[Any, int]:
    return {key: count for key, count in session.execute(stmt)}
