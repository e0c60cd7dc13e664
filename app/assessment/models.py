"""考评: the weights an admin sets for composite scores, and published (frozen) months."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime


class AssessmentWeight(Base):
    """The weight of one formula in the composite score of one subject (region,
    department, inspector, shift leader, dispatcher). Absent rows take DOMAIN.md's
    defaults."""

    __tablename__ = "assessment_weights"

    subject: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    formula: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    weight: Mapped[float] = mapped_column(sa.Float)
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AssessmentPublication(Base):
    """A published month at one level (每月通报): the figures and ranks as they were
    published, frozen; later edits of old cases show only as a difference on recompute."""

    __tablename__ = "assessment_publications"

    period: Mapped[str] = mapped_column(sa.String(7), primary_key=True)  # YYYY-MM
    level: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    rows: Mapped[list] = mapped_column(sa.JSON, default=list)
    weights: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    published_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
