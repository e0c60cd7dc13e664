"""The city's work calendar as stored: its settings and the days it overrides."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime

DEFAULT_CALENDAR = "default"


class CalendarSettings(Base):
    """Time zone and daily work periods; one row, named ``default``, per city."""

    __tablename__ = "calendar_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(32), unique=True, default=DEFAULT_CALENDAR)
    timezone: Mapped[str] = mapped_column(sa.String(64))
    # [["08:00", "12:00"], ["14:00", "18:00"]]: local wall-clock times, ordered.
    periods: Mapped[list] = mapped_column(sa.JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CalendarDay(Base):
    """A day the city declares a workday or a day off, whatever the national calendar says."""

    __tablename__ = "calendar_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(sa.Date, unique=True)
    is_workday: Mapped[bool]
    note: Mapped[str | None] = mapped_column(sa.String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<CalendarDay {self.day} {'workday' if self.is_workday else 'day off'}>"
