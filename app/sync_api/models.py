"""What the server keeps of offline sync: devices, decided mutations, conflicts."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime

# A conflict is open until a dispatcher resolves it.
CONFLICT_OPEN, CONFLICT_RESOLVED = "open", "resolved"


class SyncDevice(Base):
    """One user's queue on one phone: the last mid decided for it (all of its mutations up
    to ``last_mid`` are decided, each exactly once).

    A queue is per ``(user, device)``: two users signing in on one shared phone each have
    their own mid sequence, as ``accounts.Device`` allows one phone per several users.
    """

    __tablename__ = "sync_devices"
    __table_args__ = (sa.UniqueConstraint("user_id", "device_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    last_mid: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    last_push_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_pull_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # set by pull
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


# The status of a mutation whose payload and outcome retention has forgotten: the row keeps
# the mid and the fingerprint, so the mid stays used (``flask sync prune``).
EXPIRED = "expired"


class SyncMutation(Base):
    """A decided mutation with its payload and outcome. The unique ``(device, mid)`` is what
    makes each mid decided once, whatever the retries; strays (a ``mid_reused`` re-send)
    have no ``mid`` slot of their own and keep ``stray_of`` instead."""

    __tablename__ = "sync_mutations"
    __table_args__ = (sa.UniqueConstraint("device_pk", "mid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_pk: Mapped[int] = mapped_column(sa.ForeignKey("sync_devices.id"))
    mid: Mapped[int | None] = mapped_column(sa.BigInteger)
    stray_of: Mapped[int | None] = mapped_column(sa.BigInteger)  # the mid a stray re-used
    type: Mapped[str | None] = mapped_column(sa.String(64))
    entity_type: Mapped[str | None] = mapped_column(sa.String(32))
    entity_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, index=True)
    fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    payload: Mapped[Any] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    reason: Mapped[str | None] = mapped_column(sa.String(64))
    version: Mapped[int | None] = mapped_column(sa.Integer)
    conflict_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # A rejected mutation a dispatcher has looked at (and, in the note, said what was done
    # about it): it leaves the list of rejects to review, and is kept.
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reviewed_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    review_note: Mapped[str | None] = mapped_column(sa.Text)


class SyncFailure(Base):
    """Failed attempts at one mid (transient errors), counted towards ``apply_failed``."""

    __tablename__ = "sync_failures"
    __table_args__ = (sa.UniqueConstraint("device_pk", "mid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_pk: Mapped[int] = mapped_column(sa.ForeignKey("sync_devices.id"))
    mid: Mapped[int] = mapped_column(sa.BigInteger)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    last_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SyncConflict(Base):
    """Field work that could not be applied as meant, waiting for a dispatcher.

    ``resolution`` is the dispatcher's decision (``accept_field``, ``keep_server``,
    ``merge``); ``version`` counts changes of the row (the feed sends it to the phone's
    user again), and makes two dispatchers resolving at once lose one with a 409.
    """

    __tablename__ = "sync_conflicts"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    device_pk: Mapped[int] = mapped_column(sa.ForeignKey("sync_devices.id"), index=True)
    mid: Mapped[int] = mapped_column(sa.BigInteger)
    type: Mapped[str] = mapped_column(sa.String(32))
    entity_type: Mapped[str] = mapped_column(sa.String(32))
    entity_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, index=True)
    reason: Mapped[str] = mapped_column(sa.String(64))
    errors: Mapped[Any] = mapped_column(sa.JSON)
    payload: Mapped[Any] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(16), default=CONFLICT_OPEN, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolution: Mapped[str | None] = mapped_column(sa.String(16))
    # Per clashing field of a merge, which side was kept: {"address": "field", ...}.
    resolved_fields: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    resolved_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    opinion: Mapped[str | None] = mapped_column(sa.Text)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
