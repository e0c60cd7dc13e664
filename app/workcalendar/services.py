"""Use cases for the work calendar: read it, set its periods, override days, compute deadlines.

The arithmetic lives in ``worktime`` (pure); these functions load and store its inputs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.core.db import forget, held, transaction
from app.core.errors import NotFound, ValidationFailed
from app.workcalendar import worktime
from app.workcalendar.models import DEFAULT_CALENDAR, CalendarDay, CalendarSettings
from app.workcalendar.worktime import WorkCalendar

MAX_RANGE_DAYS = 400
DEFAULT_RANGE_DAYS = 31
_HH_MM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclasses.dataclass(frozen=True)
class DayInfo:
    date: dt.date
    is_workday: bool
    source: str
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class CalendarInfo:
    """What a client needs to know of the calendar; ``days`` only when a range was asked."""

    timezone: str
    periods: list[dict]
    workday_hours: float
    days: list[DayInfo] = dataclasses.field(default_factory=list)

    @classmethod
    def of(cls, calendar: WorkCalendar, days: list[DayInfo] | None = None) -> CalendarInfo:
        return cls(
            timezone=calendar.timezone,
            periods=[
                {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}
                for start, end in calendar.periods
            ],
            workday_hours=calendar.workday_seconds / 3600,
            days=days or [],
        )


@dataclasses.dataclass(frozen=True)
class Deadline:
    start: dt.datetime
    amount: float
    limit_type: str
    deadline: dt.datetime
    deadline_local: dt.datetime
    timezone: str


def parse_periods(raw: list) -> tuple[tuple[dt.time, dt.time], ...]:
    """``[{"start": "08:00", "end": "12:00"}, …]`` or ``[["08:00", "12:00"], …]`` → times.

    Raises ValidationFailed unless every time is HH:MM and the periods are ordered and
    do not overlap.
    """
    periods = []
    for item in raw:
        start, end = (item["start"], item["end"]) if isinstance(item, dict) else item
        for value in (start, end):
            if not (isinstance(value, str) and _HH_MM.match(value)):
                raise ValidationFailed(
                    f"{value!r} is not a time of day", {"periods": ["times are HH:MM, 00:00–23:59"]}
                )
        periods.append((dt.time.fromisoformat(start), dt.time.fromisoformat(end)))
    try:
        worktime.check_periods(periods)
    except ValueError as error:
        raise ValidationFailed(str(error), {"periods": [str(error)]}) from None
    return tuple(periods)


def _settings(session: Session) -> CalendarSettings | None:
    return session.scalar(
        sa.select(CalendarSettings).where(CalendarSettings.name == DEFAULT_CALENDAR)
    )


def get_calendar(session: Session) -> WorkCalendar:
    """The city's work calendar: stored settings (or the defaults) and every day override
    (read once in a session that holds reference data: a push's every move needs it)."""
    return held(session, _HELD_KEY, lambda: _read_calendar(session))


_HELD_KEY = "workcalendar"


def _read_calendar(session: Session) -> WorkCalendar:
    overrides = {
        day: is_workday
        for day, is_workday in session.execute(sa.select(CalendarDay.day, CalendarDay.is_workday))
    }
    settings = _settings(session)
    if settings is None:
        return WorkCalendar(overrides=overrides)
    return WorkCalendar(
        timezone=settings.timezone, periods=parse_periods(settings.periods), overrides=overrides
    )


def update_calendar_settings(session: Session, *, timezone: str, periods: list) -> CalendarInfo:
    """Set the city's time zone and daily work periods."""
    parsed = parse_periods(periods)
    try:
        WorkCalendar(timezone=timezone, periods=parsed)
    except ValueError as error:
        raise ValidationFailed(str(error), {"timezone": [str(error)]}) from None
    stored = [[f"{start:%H:%M}", f"{end:%H:%M}"] for start, end in parsed]
    with transaction(session):
        settings = _settings(session)
        if settings is None:
            settings = CalendarSettings(name=DEFAULT_CALENDAR, timezone=timezone, periods=stored)
            session.add(settings)
        settings.timezone, settings.periods = timezone, stored
    forget(session, _HELD_KEY)
    return CalendarInfo.of(get_calendar(session))


def set_day_override(
    session: Session, day: dt.date, is_workday: bool, note: str | None = None
) -> CalendarDay:
    """Make ``day`` a workday or a day off for the city, whatever the national calendar says."""
    with transaction(session):
        override = session.scalar(sa.select(CalendarDay).where(CalendarDay.day == day))
        if override is None:
            override = CalendarDay(day=day)
            session.add(override)
        override.is_workday, override.note = is_workday, note
        session.flush()
    forget(session, _HELD_KEY)
    return override


def remove_day_override(session: Session, day: dt.date) -> None:
    """Drop the city's override of ``day``; the national calendar applies again."""
    with transaction(session):
        override = session.scalar(sa.select(CalendarDay).where(CalendarDay.day == day))
        if override is None:
            raise NotFound(f"no override for {day.isoformat()}")
        session.delete(override)
    forget(session, _HELD_KEY)


def calendar_range(
    session: Session, start: dt.date | None = None, end: dt.date | None = None
) -> CalendarInfo:
    """The calendar's settings and every day from ``start`` to ``end`` (both included).

    Without ``start``, today in the city; without ``end``, a month on. At most 400 days.
    """
    calendar = get_calendar(session)
    start = start or calendar.local_date(utcnow())
    end = end or start + dt.timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if end < start:
        raise ValidationFailed("the range ends before it starts", {"to": ["before 'from'"]})
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed(
            f"at most {MAX_RANGE_DAYS} days at once", {"to": [f"at most {MAX_RANGE_DAYS} days"]}
        )
    notes = dict(
        session.execute(
            sa.select(CalendarDay.day, CalendarDay.note).where(
                CalendarDay.day >= start, CalendarDay.day <= end
            )
        ).all()
    )
    days = []
    day = start
    while day <= end:
        is_workday, source = calendar.day_status(day)
        days.append(DayInfo(day, is_workday, source.value, notes.get(day)))
        day += dt.timedelta(days=1)
    return CalendarInfo.of(calendar, days)


def compute_deadline(
    session: Session, start: dt.datetime, amount: float, limit_type: str
) -> Deadline:
    """The deadline of a limit starting at ``start`` on the city's calendar."""
    calendar = get_calendar(session)
    try:
        deadline = worktime.add_limit(start, amount, limit_type, calendar)
    except ValueError as error:
        raise ValidationFailed(str(error)) from None
    return Deadline(
        start=start,
        amount=amount,
        limit_type=limit_type,
        deadline=deadline,
        deadline_local=deadline.astimezone(calendar.zone),
        timezone=calendar.timezone,
    )
