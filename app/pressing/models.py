"""Each pressing of a case, automatic (by level) or by a chief's hand."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime

LEVELS = {1: "street", 2: "district", 3: "city"}


class Pressing(Base):
    __tablename__ = "pressings"
    __table_args__ = (
        # An automatic escalation happens once per level and handling round; this is what
        # makes the cron job idempotent.
        sa.Index(
            "uq_pressings_auto_level",
            "case_id",
            "level",
            "round",
            unique=True,
            sqlite_where=sa.text("by_user_id IS NULL"),
            postgresql_where=sa.text("by_user_id IS NULL"),
        ),
        sa.CheckConstraint("level BETWEEN 1 AND 3", name="level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    level: Mapped[int] = mapped_column(sa.SmallInteger)
    round: Mapped[int] = mapped_column(sa.Integer, default=0)  # the case's rework count
    by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(sa.Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
