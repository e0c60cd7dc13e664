"""Camera systems (the video platforms that send AI events), their cameras, the per-category
settings of machine-detected events, and every event received."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime

MODES = ("verify", "dispatch")
# What became of an event: a new case, attached to the open case of the same camera and
# category, or kept without a case (below the category's minimum confidence).
# ``received``: claimed, being worked on (a concurrent repeat may see it so).
EVENT_STATUSES = ("received", "case_opened", "attached", "ignored_low_confidence")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CameraSystem(Base):
    """A video platform allowed to send events, with its API key stored only as a hash."""

    __tablename__ = "camera_systems"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(sa.String(12))  # shown to tell keys apart
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Camera(Base):
    """One camera (视频点位): where it looks, optionally its unit grid."""

    __tablename__ = "cameras"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    lat: Mapped[float] = mapped_column(sa.Float)  # WGS-84
    lon: Mapped[float] = mapped_column(sa.Float)
    grid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("unit_grids.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CameraCategorySetting(Base):
    """How events of one category are taken: the minimum confidence, ``verify`` (an
    inspector confirms) or ``dispatch`` (filed and sent to ``department_id`` at once), and
    the window in which a camera's repeated events attach to its open case."""

    __tablename__ = "camera_category_settings"
    __table_args__ = (
        sa.CheckConstraint(_in("mode", MODES), name="mode"),
        sa.CheckConstraint("min_confidence >= 0 AND min_confidence <= 1", name="min_confidence"),
    )

    category_id: Mapped[int] = mapped_column(sa.ForeignKey("categories.id"), primary_key=True)
    min_confidence: Mapped[float] = mapped_column(sa.Float)
    mode: Mapped[str] = mapped_column(sa.String(8))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_units.id"))
    window_minutes: Mapped[int] = mapped_column(sa.Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CameraEvent(Base):
    """One event a camera system sent, once per (system, event id): its answer is stored,
    so the same event again gets the same answer and never a second case."""

    __tablename__ = "camera_events"
    __table_args__ = (
        sa.UniqueConstraint("system_id", "event_id"),
        sa.CheckConstraint(_in("status", EVENT_STATUSES), name="status"),
        # The attaching window: a camera's latest events of a category.
        sa.Index("ix_camera_events_camera_category", "camera_id", "category_id", "detected_at"),
        sa.Index("ix_camera_events_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(sa.ForeignKey("camera_systems.id"))
    event_id: Mapped[str] = mapped_column(sa.String(128))
    camera_id: Mapped[int] = mapped_column(sa.ForeignKey("cameras.id"))
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("categories.id"))
    confidence: Mapped[float] = mapped_column(sa.Float)
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    snapshot_sha256: Mapped[str] = mapped_column(sa.String(64))
    photo_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("photos.id"))
    status: Mapped[str] = mapped_column(sa.String(24))
    case_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
