"""Open311 client systems (their API keys, stored hashed, and their calls counted for the
rate limit) and the service requests they filed, with the reporter's contact fields."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime


class Open311Client(Base):
    """A client system an admin gave an ``api_key``. Only the key's SHA-256 is kept; the
    client files its cases as its own service account (``user_id``: a dispatcher that
    never signs in), so they go through the same intake and workflow as any report."""

    __tablename__ = "open311_clients"
    __table_args__ = (sa.CheckConstraint("rate_limit_per_minute > 0", name="rate_limit"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128), unique=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(sa.String(8))  # to tell keys apart in lists
    rate_limit_per_minute: Mapped[int] = mapped_column(sa.Integer)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Open311Call(Base):
    """One keyed call of a client, kept for a minute to count it against its rate limit."""

    __tablename__ = "open311_calls"
    __table_args__ = (sa.Index("ix_open311_calls_client_at", "client_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("open311_clients.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Open311Request(Base):
    """A service request filed through Open311: the case it became, the token the client
    was given, and the reporter's contact fields (personal data: shown to nobody through
    Open311, to dispatchers with the case)."""

    __tablename__ = "open311_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[uuid.UUID] = mapped_column(sa.Uuid, unique=True, default=uuid.uuid4)
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("open311_clients.id"), index=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), unique=True)
    service_code: Mapped[str] = mapped_column(sa.String(64))
    attributes: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    address_string: Mapped[str | None] = mapped_column(sa.String(256))
    email: Mapped[str | None] = mapped_column(sa.String(256))
    device_id: Mapped[str | None] = mapped_column(sa.String(128))
    account_id: Mapped[str | None] = mapped_column(sa.String(128))
    first_name: Mapped[str | None] = mapped_column(sa.String(128))
    last_name: Mapped[str | None] = mapped_column(sa.String(128))
    phone: Mapped[str | None] = mapped_column(sa.String(64))
    # A link the client gave (never fetched by us) and the photo it uploaded, if any.
    media_url: Mapped[str | None] = mapped_column(sa.String(2048))
    photo_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("photos.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
