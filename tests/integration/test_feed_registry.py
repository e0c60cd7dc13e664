"""The domains enroll their feed types from ``create_app``: in one order, and once, however
many apps a process builds (the test session builds several)."""

from __future__ import annotations

import datetime as dt

from app import register_feeds
from app.feed import capture
from app.feed.registry import FEED
from app.workcalendar.models import CalendarDay

# Reference data first, so a phone starting afresh can show its cases.
SNAPSHOT_ORDER = [
    "category", "calendar", "grid", "case", "task", "photo", "comment", "selfcheck", "conflict",
    "notification",
]  # fmt: skip


def test_the_feed_types_are_served_reference_data_first(app):
    assert list(FEED.types) == SNAPSHOT_ORDER


def test_registering_the_feeds_again_doubles_no_type_nor_listener(app, session):
    def enrolled() -> tuple:
        loads = {name: (kind.audience, kind.load) for name, kind in FEED.types.items()}
        return list(FEED.types), loads, dict(FEED.watched)

    before = enrolled()
    register_feeds(app)
    register_feeds(app)
    assert enrolled() == before
    assert list(FEED.types) == SNAPSHOT_ORDER
    session.add(CalendarDay(day=dt.date(2031, 5, 1), is_workday=False, note="holiday"))
    session.flush()
    # One after_flush listener: the day is noted once in the transaction's buffer.
    assert capture.checkpoint(session.connection()) == 1
    session.rollback()
