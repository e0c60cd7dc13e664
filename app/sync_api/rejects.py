"""Rejected mutations in front of a dispatcher: kept with their reason and payload (the
phone may have dropped them: this is their only copy) until someone has looked at them,
and after."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import Conflict, NotFound
from app.sync_api.models import SyncDevice, SyncMutation
from app.sync_api.queues import queues_by_pk, user_view, users_by_id
from sync.outcomes import Status


def rejected_query(
    device: str | None = None,
    user: int | None = None,
    reason: str | None = None,
    reviewed: bool | None = None,
) -> sa.Select:
    """Rejected mutations (strays of a re-used mid among them), newest first; ``reviewed``
    False: those no dispatcher has looked at yet."""
    stmt = sa.select(SyncMutation).where(SyncMutation.status == Status.REJECTED.value)
    if reviewed is not None:
        column = SyncMutation.reviewed_at
        stmt = stmt.where(column.is_not(None) if reviewed else column.is_(None))
    if device or user is not None:
        queues = sa.select(SyncDevice.id)
        if device:
            queues = queues.where(SyncDevice.device_id == device)
        if user is not None:
            queues = queues.where(SyncDevice.user_id == user)
        stmt = stmt.where(SyncMutation.device_pk.in_(queues))
    if reason:
        stmt = stmt.where(SyncMutation.reason == reason)
    return stmt.order_by(SyncMutation.created_at.desc(), SyncMutation.id.desc())


def review_rejected(
    session: Session, user: User, mutation_id: int, note: str | None = None
) -> SyncMutation:
    """A dispatcher has looked at a rejected mutation (and says in ``note`` what was done
    about it: the phone's user called, the report filed by hand…). It leaves the list of
    rejects to review and is kept with who reviewed it and when. 404 for anything but a
    rejected mutation; 409 ``already_reviewed`` the second time."""
    with transaction(session):
        row = session.get(SyncMutation, mutation_id, with_for_update=True)
        if row is None or row.status != Status.REJECTED.value:
            raise NotFound(f"no rejected mutation {mutation_id}")
        if row.reviewed_at is not None:
            raise Conflict(
                f"rejected mutation {mutation_id} was reviewed already",
                {"reason": "already_reviewed"},
            )
        row.reviewed_at = utcnow()
        row.reviewed_by = user.id
        row.review_note = (note or "").strip() or None
    return row


def mutation_views(session: Session, rows: Sequence[SyncMutation]) -> list[dict]:
    """Recorded mutations with their phone, user, reason and payload (and, for a reject a
    dispatcher has looked at, the review)."""
    queues = queues_by_pk(session, {row.device_pk for row in rows})
    users = users_by_id(
        session,
        {queue.user_id for queue in queues.values()}
        | {row.reviewed_by for row in rows if row.reviewed_by is not None},
    )
    views = []
    for row in rows:
        queue = queues[row.device_pk]
        views.append(
            {
                "id": row.id,
                "mid": row.mid,
                "stray_of": row.stray_of,
                "type": row.type,
                "entity_type": row.entity_type,
                "entity_id": row.entity_id,
                "status": row.status,
                "reason": row.reason,
                "conflict_id": row.conflict_id,
                "payload": row.payload,
                "device": {"id": queue.id, "device_id": queue.device_id},
                "user": user_view(users.get(queue.user_id)),
                "created_at": row.created_at,
                "review": None
                if row.reviewed_at is None
                else {
                    "by": user_view(users.get(row.reviewed_by)),
                    "at": row.reviewed_at,
                    "note": row.review_note,
                },
            }
        )
    return views
