"""Exports: a 两图一表 ledger file made in the background, its progress and where it lies."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime

EXPORT_STATUSES = ("queued", "running", "done", "failed")


class Export(Base):
    """One asked-for export: the query that makes it (``params``), its progress in rows,
    and once done the stored file (by sha256 in the blob store) and its name."""

    __tablename__ = "exports"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{value}'" for value in EXPORT_STATUSES) + ")",
            name="status",
        ),
        sa.CheckConstraint("format IN ('xlsx', 'pdf')", name="format"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(sa.String(16), default="ledger")
    format: Mapped[str] = mapped_column(sa.String(8))
    params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    requested_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    rows_done: Mapped[int] = mapped_column(sa.Integer, default=0)
    rows_total: Mapped[int] = mapped_column(sa.Integer, default=0)
    filename: Mapped[str | None] = mapped_column(sa.String(255))
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
