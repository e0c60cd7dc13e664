"""Flags raised on a case's photos, shown to the dispatcher; they never block."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime

FLAG_KINDS = ("same_as_problem", "same_as_other_case", "far_from_case", "taken_before_report")


class EvidenceFlag(Base):
    __tablename__ = "evidence_flags"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "photo_id", "kind"),
        sa.CheckConstraint(
            "kind IN ('same_as_problem', 'same_as_other_case', 'far_from_case', "
            "'taken_before_report')",
            name="kind",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    photo_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("photos.id"))
    kind: Mapped[str] = mapped_column(sa.String(24))
    detail: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reviewed_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    review_note: Mapped[str | None] = mapped_column(sa.Text)


class EvidenceCheck(Base):
    """That a closure or check photo of a case was checked, and whether its perceptual hash
    was there yet (``phash_checked``): the result a check leaves even when it flags
    nothing, so ``flask evidence recheck`` can find the photos whose check never ran, or
    ran before the picture comparisons could."""

    __tablename__ = "evidence_checks"

    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), primary_key=True)
    photo_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("photos.id"), primary_key=True)
    phash_checked: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
