"""The work calendar in the change feed: reference data every phone keeps, so its traffic
lights count working time offline as the server does.

A phone gets the settings (time zone and daily work periods, the defaults until an admin
sets them) and every day from the start of last year to the end of next year that is not
what Monday–Friday would say: the national holidays and 调休 workdays of
``chinese_calendar`` and the city's own overrides. Any other day is a workday from Monday
to Friday."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.feed.capture import mention
from app.feed.registry import FeedType, Registry, User, everyone, shown_to_all
from app.workcalendar.models import CalendarDay, CalendarSettings
from app.workcalendar.services import get_calendar
from app.workcalendar.worktime import WorkCalendar

# The id of the settings among the days' ISO dates.
SETTINGS = "settings"


def register(feed: Registry) -> None:
    """Serve the calendar to every user; any change of a day or of the settings is fed."""
    feed.add_type(
        FeedType(
            name="calendar",
            parse_id=_calendar_id,
            audience=everyone,
            visible=shown_to_all,
            load=_load,
            snapshot=_snapshot,
        )
    )
    feed.watch(CalendarDay, _day_changed)
    feed.watch(CalendarSettings, _settings_changed)


def _calendar_id(text: str) -> str:
    if text != SETTINGS:
        dt.date.fromisoformat(text)
    return text


def _day_changed(day: CalendarDay, deleted: bool) -> list:
    return mention("calendar", day.day.isoformat())


def _settings_changed(settings: CalendarSettings, deleted: bool) -> list:
    return mention("calendar", SETTINGS)


def _load(session: Session, ids: list) -> dict:
    calendar = get_calendar(session)
    data: dict = {}
    days = [dt.date.fromisoformat(i) for i in ids if i != SETTINGS]
    notes: dict = {}
    if days:
        stmt = sa.select(CalendarDay.day, CalendarDay.note).where(CalendarDay.day.in_(days))
        notes = {day: note for day, note in session.execute(stmt)}
    for day in days:
        is_workday, source = calendar.day_status(day)
        data[day.isoformat()] = (
            None,
            {
                "day": day.isoformat(),
                "is_workday": is_workday,
                "source": str(source),
                "note": notes.get(day),
            },
        )
    if SETTINGS in ids:
        periods = [[f"{start:%H:%M}", f"{end:%H:%M}"] for start, end in calendar.periods]
        data[SETTINGS] = (None, {"timezone": calendar.timezone, "periods": periods})
    return data


def _exceptions(calendar: WorkCalendar, first: dt.date, last: dt.date) -> list[str]:
    """The days from ``first`` to ``last`` that Monday–Friday gets wrong."""
    days = (first + dt.timedelta(days=n) for n in range((last - first).days + 1))
    return [d.isoformat() for d in days if calendar.is_workday(d) != (d.weekday() < 5)]


def _snapshot(session: Session, user: User, after, limit: int, now: dt.datetime) -> list:
    calendar = get_calendar(session)
    first, last = dt.date(now.year - 1, 1, 1), dt.date(now.year + 1, 12, 31)
    overridden = session.scalars(sa.select(CalendarDay.day).where(CalendarDay.day >= first))
    # The settings sort after every ISO date ("s" > "2"), so one order serves both.
    ids = {SETTINGS, *_exceptions(calendar, first, last), *(d.isoformat() for d in overridden)}
    return sorted(i for i in ids if after is None or i > after)[:limit]
