"""When each scheduled job last ran: the record the advisory lock guards."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime


class ScheduledRun(Base):
    """One row per job: its last start and end, outcome and summary, and how many times it
    ran (``runs``: what proves two hosts did not both run it)."""

    __tablename__ = "scheduled_runs"
    __table_args__ = (sa.CheckConstraint("last_status IN ('ok', 'error')", name="last_status"),)

    job: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    runs: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_finished_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_status: Mapped[str] = mapped_column(sa.String(8))
    last_summary: Mapped[str | None] = mapped_column(sa.Text)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    host: Mapped[str | None] = mapped_column(sa.String(128))
