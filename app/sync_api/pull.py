"""Pull: a phone's queue reads the changes in its user's scope after its cursor, a page at a
time (the pages themselves are the feed's: ``app.feed.services``).

One read transaction per page. ``last_mid`` is read first: every mutation it covers was
committed before the changes are read, so its effects are in this page or an earlier one
(or a later page of this same pull, at a higher seq).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.clock import utcnow
from app.feed.capture import head
from app.feed.services import DEFAULT_LIMIT, Page, page_after
from app.sync_api.models import SyncDevice
from sync import feed


def pull(
    session: Session,
    user: User,
    device_id: str,
    cursor: str | None,
    limit: int = DEFAULT_LIMIT,
    now: dt.datetime | None = None,
    replica: Session | None = None,
) -> Page:
    """The next page of ``user``'s feed after ``cursor`` on their phone ``device_id``, with
    the last mid decided for that phone's queue; the queue's last pull is noted.

    ``replica``: a read replica's session. The page is read there only when the replica
    has this phone's own writes (its queue's ``last_mid`` is the primary's) and its feed
    has reached the phone's cursor; else on the primary (``app.core.replica``)."""
    now = now or utcnow()
    last_mid = _last_mid(session, user, device_id)
    reading = session
    if replica is not None and _caught_up(replica, user, device_id, last_mid, cursor):
        reading = replica
    page = page_after(reading, user, cursor, limit, last_mid, now)
    if reading is replica:
        replica.rollback()  # end its read transaction: the next page sees newer changes
    _seen(session, user, device_id, now)
    return page


def _caught_up(replica: Session, user: User, device_id: str, last_mid: int, cursor) -> bool:
    """Whether ``replica`` holds this phone's queue as far as the primary and its feed has
    reached the phone's cursor (a cursor the primary handed out may be ahead of it)."""
    try:
        if _last_mid(replica, user, device_id) != last_mid:
            return False
        position = feed.parse_cursor(cursor)
        top, _floor = head(replica.connection())
    except Exception:  # unreadable replica or cursor: the primary answers (and says why)
        replica.rollback()
        return False
    return position is None or position.seq <= top


def _last_mid(session: Session, user: User, device_id: str) -> int:
    value = session.scalar(
        sa.select(SyncDevice.last_mid).where(
            SyncDevice.device_id == device_id, SyncDevice.user_id == user.id
        )
    )
    return value or 0


def _seen(session: Session, user: User, device_id: str, now: dt.datetime) -> None:
    session.execute(
        sa.update(SyncDevice)
        .where(SyncDevice.device_id == device_id, SyncDevice.user_id == user.id)
        .values(last_pull_at=now)
    )
    session.commit()
