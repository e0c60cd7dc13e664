"""Phone queues and their users as the people's views of sync show them: looked up once
for a page of conflicts, rejects or queues, not once per row."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.sync_api.models import SyncDevice


def queues_by_pk(session: Session, pks: Iterable[int]) -> dict[int, SyncDevice]:
    """The queues of ``pks``, by pk."""
    pks = list(set(pks))
    if not pks:
        return {}
    return {q.id: q for q in session.scalars(sa.select(SyncDevice).where(SyncDevice.id.in_(pks)))}


def users_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, User]:
    """The users of ``ids`` (None among them ignored), by id."""
    ids = [i for i in set(ids) if i is not None]
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(sa.select(User).where(User.id.in_(ids)))}


def user_view(user: User | None) -> dict | None:
    """Who a user is, as every view of sync names them; None for no one."""
    if user is None:
        return None
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
    }
