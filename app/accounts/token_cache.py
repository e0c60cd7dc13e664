"""A few seconds' memory of which bearer token is whose (issue 16).

A photo upload is three requests (tus POST and two PATCHes), and a phone sends its
photos in a burst: each request used to look its token up (device and user, one query
and the ORM's loading). Within ``TTL`` seconds of a lookup this process answers from
memory instead, with no query at all: the user and device rows are rebuilt from the
values read then, and attached to the request's session as unmodified rows.

What a short memory costs: a token revoked, or an account deactivated or given another
role, on *another* process keeps working here for at most ``TTL`` seconds. In this
process any flush that touches a user or a device empties the memory at once.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient_to_detached

from app.accounts.models import Device, User

TTL = 5.0
_MAX = 4096
_clock = time.monotonic

_lock = threading.Lock()
_entries: dict[str, tuple[float, dict[str, Any], dict[str, Any]]] = {}


def _values(row: Any) -> dict[str, Any]:
    return {attr.key: getattr(row, attr.key) for attr in sa.inspect(type(row)).column_attrs}


def remember(digest: str, user: User, device: Device) -> None:
    entry = (_clock() + TTL, _values(user), _values(device))
    with _lock:
        if len(_entries) >= _MAX:
            _entries.clear()
        _entries[digest] = entry


def recall(session: Session, digest: str) -> tuple[User, Device] | None:
    """The user and device of a token looked up less than ``TTL`` seconds ago."""
    with _lock:
        entry = _entries.get(digest)
    if entry is None:
        return None
    deadline, user_values, device_values = entry
    if _clock() >= deadline:
        with _lock:
            _entries.pop(digest, None)
        return None
    user = _attached(session, User(**user_values))
    device = _attached(session, Device(**device_values))
    return user, device


def _attached(session: Session, row: Any) -> Any:
    make_transient_to_detached(row)
    return session.merge(row, load=False)


def forget_all() -> None:
    with _lock:
        _entries.clear()


@sa.event.listens_for(Session, "before_flush")
def _accounts_changed(session: Session, _context, _instances) -> None:
    for row in (*session.dirty, *session.deleted):
        if isinstance(row, User) or (isinstance(row, Device) and _more_than_seen(row)):
            forget_all()
            return


def _more_than_seen(device: Device) -> bool:
    """Whether a device changed in more than when it was last seen (written once a
    minute per phone: clearing on that would leave the memory empty in a busy city)."""
    state = sa.inspect(device)
    return any(attr.history.has_changes() for attr in state.attrs if attr.key != "last_seen_at")
