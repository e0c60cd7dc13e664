"""The feed's cursor never skips a change committed by a concurrent writer.

Many writers commit at once while a reader pulls; each writer sleeps between taking its
seqs and its commit (a listener after the feed's own on the commit event), which is the
window where a seq allocated at insert time would be served past a transaction that had
not committed yet. After the writers stop and the reader drains the feed, every change
must have been served, in seq order, each page strictly after the last cursor.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import db
from app.sync_api import pull
from app.workcalendar.models import CalendarDay

WRITERS = 8
COMMITS_EACH = 20
FIRST_DAY = dt.date(2030, 1, 1)


def _pull_until_empty(session: Session, user, cursor: str, seen: list) -> str:
    while True:
        page = pull.pull(session, user, "reader", cursor, limit=25)
        assert not page.reset
        _check_page(page, cursor, seen)
        cursor = page.cursor
        if not page.has_more:
            return cursor


def _check_page(page, cursor: str, seen: list) -> None:
    after = int(cursor.split(".")[0]) if cursor and not cursor.startswith("s.") else 0
    seqs = [c["seq"] for c in page.changes if c["entity_type"] == "calendar"]
    assert seqs == sorted(seqs)
    assert all(seq > after for seq in seqs) or cursor.startswith("s.") or cursor == ""
    seen.extend(c["entity_id"] for c in page.changes if c["entity_type"] == "calendar")


@pytest.mark.usefixtures("committing")
def test_no_change_is_skipped_under_concurrent_writers(app, world):
    engine = db.engine
    user = world.users["inspector"]
    reader = Session(engine, expire_on_commit=False)
    seen: list[str] = []
    cursor = _pull_until_empty(reader, user, "", [])

    def slow_commit(connection):
        # After the feed numbered this transaction, before it commits: widen the window.
        time.sleep(random.uniform(0, 0.004))

    event.listen(sa.Engine, "commit", slow_commit)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            for n in range(COMMITS_EACH):
                with Session(engine) as session:
                    day = FIRST_DAY + dt.timedelta(days=index * COMMITS_EACH + n)
                    session.add(CalendarDay(day=day, is_workday=bool(n % 2), note=f"w{index}"))
                    session.commit()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    try:
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            cursor = _pull_until_empty(reader, user, cursor, seen)
        for thread in threads:
            thread.join()
        cursor = _pull_until_empty(reader, user, cursor, seen)
    finally:
        event.remove(sa.Engine, "commit", slow_commit)
        reader.close()
    assert not errors, errors
    written = {
        (FIRST_DAY + dt.timedelta(days=i)).isoformat() for i in range(WRITERS * COMMITS_EACH)
    }
    assert written <= set(seen), f"skipped: {sorted(written - set(seen))[:5]}"


def test_what_a_rolled_back_savepoint_noted_is_not_fed(app):
    from app.feed import capture
    from app.feed.models import FeedChange

    with db.engine.connect() as connection:
        with connection.begin():
            capture.record(connection, capture.mention("calendar", "2031-01-01"))
            mark = capture.checkpoint(connection)
            savepoint = connection.begin_nested()
            capture.record(connection, capture.mention("calendar", "2031-01-02"))
            savepoint.rollback()
            capture.discard_since(connection, mark)
        fed = set(connection.scalars(sa.select(FeedChange.entity_id)))
        connection.rollback()
        connection.begin()
        capture.record(connection, capture.mention("calendar", "2031-01-03"))
        connection.rollback()
        connection.begin()
        connection.commit()  # nothing left over from the rolled-back transaction
        assert set(connection.scalars(sa.select(FeedChange.entity_id))) == fed
        connection.rollback()
    assert fed == {"2031-01-01"}
    with db.engine.begin() as connection:
        connection.execute(sa.delete(FeedChange))
