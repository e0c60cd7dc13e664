"""The hotline's work orders, with the caller's personal data kept here, not on the case,
and the signatures seen inside the replay window."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime


class HotlineOrder(Base):
    """A 12345 work order and the case it became. ``content_hash`` is the order as sent
    (every field): the same number with other content is a conflict. The caller's name and
    phone are cleared by ``flask hotline anonymise`` after the retention (``anonymised_at``)."""

    __tablename__ = "hotline_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_number: Mapped[str] = mapped_column(sa.String(64), unique=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), unique=True)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    caller_name: Mapped[str | None] = mapped_column(sa.String(64))
    caller_phone: Mapped[str | None] = mapped_column(sa.String(32))
    content: Mapped[str] = mapped_column(sa.Text)
    location_text: Mapped[str] = mapped_column(sa.String(256), default="")
    category_hint: Mapped[str | None] = mapped_column(sa.String(64))
    urgency: Mapped[str] = mapped_column(sa.String(8), default="normal")
    has_point: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    anonymised_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class HotlineSignature(Base):
    """A request signature seen at ``seen_at``: the same one again inside the replay window
    is a replay. Older ones are purged as new requests come."""

    __tablename__ = "hotline_signatures"

    signature: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
