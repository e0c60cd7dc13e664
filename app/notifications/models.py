"""The outbox: one row per notification to deliver, with its attempts and outcome."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime

STATUSES = ("pending", "sent", "failed")


class Delivery(Base):
    """A notification of ``kind`` for a user (``recipient_user_id``) or an endpoint (a
    webhook URL, a phone number), sent over ``channel`` (a registered sender's name).
    ``dedupe_key``, when set, makes enqueueing the same notification twice a no-op."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
        sa.Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
        sa.Index("ix_notification_deliveries_recipient", "recipient_user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32), index=True)
    channel: Mapped[str] = mapped_column(sa.String(32))
    recipient_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    endpoint: Mapped[str | None] = mapped_column(sa.String(512))
    payload: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(128), unique=True)
    status: Mapped[str] = mapped_column(sa.String(8), default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    __mapper_args__ = {"version_id_col": version}
