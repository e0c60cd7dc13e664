"""The work calendar in the change feed: reference data every phone keeps (its settings and
the days of this year and the last), so deadlines are counted offline as on the server."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.feed.capture import mention
from app.feed.registry import FeedType, Registry, User, everyone, shown_to_all
from app.workcalendar.models import CalendarDay, CalendarSettings

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
    data: dict = {}
    days = [dt.date.fromisoformat(i) for i in ids if i != SETTINGS]
    if days:
        for day in session.scalars(sa.select(CalendarDay).where(CalendarDay.day.in_(days))):
            data[day.day.isoformat()] = (
                None,
                {"day": day.day.isoformat(), "is_workday": day.is_workday, "note": day.note},
            )
    if SETTINGS in ids:
        settings = session.scalar(sa.select(CalendarSettings).order_by(CalendarSettings.id))
        if settings is not None:
            data[SETTINGS] = (None, {"timezone": settings.timezone, "periods": settings.periods})
    return data


def _snapshot(session: Session, user: User, after, limit: int, now: dt.datetime) -> list:
    # The settings sort after every ISO date ("s" > "2"), so one order serves both.
    ids = [SETTINGS] if session.scalar(sa.select(CalendarSettings.id).limit(1)) else []
    since = dt.date(now.year - 1, 1, 1)
    ids += [
        d.isoformat()
        for d in session.scalars(sa.select(CalendarDay.day).where(CalendarDay.day >= since))
    ]
    ids = sorted(i for i in ids if after is None or i > after)
    return ids[:limit]
