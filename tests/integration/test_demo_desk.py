"""Today's desk: after the demo's history, every console queue has work for the demo
dispatcher, and the 同步 pages show a conflict and a rejected mutation; loaded once."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.accounts.models import User
from app.cases.models import Case
from app.console.queries import QUEUES
from app.console.services import QueueFilters, queue_counts, queue_page
from app.demo import services
from app.demo.desk import DESK
from app.demo.history import HistoryPlan
from app.extensions import db
from app.photos.backends import media
from app.sync_api.models import SyncConflict, SyncMutation

NOW = dt.datetime(2026, 11, 12, 2, 0, tzinfo=dt.UTC)  # a Thursday, 10:00 in Xiamen
# No history to speak of: the day so far, one or two cases.
TINY = HistoryPlan(seed=3, months=0, per_workday=(0, 1), per_day_off=(0, 0))


def _count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def test_the_desk_fills_every_queue_once(app, clean_db):
    with app.app_context():
        session = db.session
        report = services.load_demo(session, media=media(), history=TINY, now=NOW)
        assert report.desk is not None
        assert report.desk.failures == []
        assert report.desk.cases == len(DESK)
        assert (report.desk.conflicts, report.desk.rejected) == (1, 1)
        assert "today's desk:" in report.desk.line()

        dispatcher = session.scalar(sa.select(User).where(User.username == "demo_dispatcher"))
        counts = queue_counts(session, dispatcher, QueueFilters(), NOW)
        empty = [queue.key for queue in QUEUES if queue.key != "all" and counts[queue.key] < 1]
        assert empty == [], counts
        lights = {
            row["traffic_light"]
            for key in ("to_dispatch", "overdue")
            for row in queue_page(session, dispatcher, key, QueueFilters(), 1, 50, NOW).rows
        }
        assert {"green", "yellow", "red"} <= lights

        [conflict] = session.scalars(sa.select(SyncConflict)).all()
        assert conflict.reason == "task_reassigned"
        rejected = session.scalars(
            sa.select(SyncMutation).where(SyncMutation.status == "rejected")
        ).all()
        assert [mutation.reason for mutation in rejected] == ["validation"]  # no such category

        cases = _count(session, Case)
        again = services.load_demo(session, media=media(), history=TINY, now=NOW)
        assert again.desk is None
        assert (_count(session, Case), _count(session, SyncConflict)) == (cases, 1)
