"""Shops, their frontage zones (from the building line to the kerb) and their merchants'
daily self-checks."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime


class Shop(Base):
    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    address: Mapped[str] = mapped_column(sa.String(256))
    merchant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("org_units.id"), index=True)
    lat: Mapped[float] = mapped_column(sa.Float)
    lon: Mapped[float] = mapped_column(sa.Float)
    # The frontage zone of the pledge (责任书), a GeoJSON Polygon in WGS-84.
    frontage: Mapped[str | None] = mapped_column(sa.Text)
    pledge_signed_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


SELFCHECK_MARKS = ("ok", "issue")
_MARKS_SQL = "('ok', 'issue')"


class SelfCheck(Base):
    """A merchant's daily frontage self-check (门前三包 自查): sanitation (市容环境卫生),
    order (秩序) and greenery (绿化), each ``ok`` or ``issue``, with a note and photos.

    The id is the phone's UUID: append-only, the same check sent twice is stored once.
    ``photo_ids`` are photos of kind ``selfcheck``, registered by id and sha256 (their
    bytes may arrive before or after).
    """

    __tablename__ = "selfchecks"
    __table_args__ = (
        sa.CheckConstraint(f"sanitation IN {_MARKS_SQL}", name="sanitation"),
        sa.CheckConstraint(f'"order" IN {_MARKS_SQL}', name="order"),
        sa.CheckConstraint(f"greenery IN {_MARKS_SQL}", name="greenery"),
        sa.Index("ix_selfchecks_shop_id_created_at", "shop_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    shop_id: Mapped[int] = mapped_column(sa.ForeignKey("shops.id"))
    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    sanitation: Mapped[str] = mapped_column(sa.String(8))
    order: Mapped[str] = mapped_column(sa.String(8))
    greenery: Mapped[str] = mapped_column(sa.String(8))
    note: Mapped[str | None] = mapped_column(sa.Text)
    photo_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    device_id: Mapped[str | None] = mapped_column(sa.String(128))
    client_ts: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # audit only
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def has_issue(self) -> bool:
        return "issue" in (self.sanitation, self.order, self.greenery)
