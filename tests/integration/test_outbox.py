"""The transactional outbox (``app.core.outbox``), on SQLite and PostgreSQL: rows share the
fate of the change that wrote them (a rollback, a push's rolled-back mutation), run after
the commit, retry with a backoff, stay visible when they fail, and are recovered by the
relay when the process died between the commit and the dispatch."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.core import events, outbox
from app.core.clock import utcnow
from app.core.models import OutboxMessage
from app.extensions import db
from app.sync_api.store import SqlSyncStore, begin_push

TOPIC = "test.happened"


class Recorder:
    """A handler that records the payloads it ran, and fails while ``failing``."""

    def __init__(self) -> None:
        self.ran: list[dict] = []
        self.failing = False
        self.lock = threading.Lock()

    def __call__(self, _session: Session, payload: dict) -> None:
        if self.failing:
            raise RuntimeError("the far end is down")
        with self.lock:
            self.ran.append(payload)


@pytest.fixture
def handler(monkeypatch):
    """``test.happened`` has one subscriber, ``test.record``, for this test only."""
    recorder = Recorder()
    monkeypatch.setitem(outbox._handlers, "test.record", recorder)
    monkeypatch.setitem(outbox._topics, TOPIC, ["test.record"])
    return recorder


def rows(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def test_a_rolled_back_change_takes_its_rows_with_it(app, session, handler):
    with app.app_context():
        outbox.publish(session, TOPIC, {"n": 1})
        session.flush()
        session.rollback()
        session.commit()  # a later commit of the same session dispatches nothing
    assert rows(session) == [] and handler.ran == []


def test_rows_run_after_the_commit_and_are_marked_done(app, session, handler):
    with app.app_context():
        [row] = outbox.publish(session, TOPIC, {"n": 1})
        assert handler.ran == []  # not before the commit
        session.commit()
    assert handler.ran == [{"n": 1}]
    [stored] = rows(session)
    assert (stored.id, stored.status, stored.attempts, stored.kind) == (
        row.id,
        "done",
        1,
        "test.record",
    )
    assert stored.done_at is not None


def test_a_topic_without_subscribers_writes_nothing(app, session):
    with app.app_context():
        assert outbox.publish(session, "test.nobody-listens", {"n": 1}) == []
        session.commit()
    assert rows(session) == []


def test_a_crash_between_commit_and_dispatch_is_recovered_by_the_relay(
    app, session, handler, monkeypatch
):
    # The process dies right after the commit: nothing dispatches the row.
    monkeypatch.setattr(outbox, "_session_factory", [])
    with app.app_context():
        outbox.publish(session, TOPIC, {"n": 1})
        session.commit()
    assert handler.ran == [] and [row.status for row in rows(session)] == ["pending"]

    with app.app_context():
        report = outbox.relay(db.new_session)
    assert (report.done, handler.ran) == (1, [{"n": 1}])
    assert [row.status for row in rows(session)] == ["done"]


def test_a_crash_inside_the_handler_is_run_again_once_its_lease_runs_out(
    app, session, handler, monkeypatch
):
    settings = outbox.OutboxSettings(lease_seconds=300)
    monkeypatch.setattr(outbox, "_session_factory", [])
    with app.app_context():
        outbox.publish(session, TOPIC, {"n": 1})
        session.commit()
        with db.new_session() as own:  # a dispatcher claims it, then its process dies
            [claimed] = outbox._claim(own, None, utcnow(), settings)
        assert outbox.relay(db.new_session, settings).done == 0  # its lease still runs
        later = utcnow() + dt.timedelta(seconds=301)
        assert outbox.dispatch(db.new_session, None, settings, now=later).done == 1
    assert handler.ran == [{"n": 1}]
    [row] = rows(session)
    assert (row.id, row.status, row.attempts) == (claimed.id, "done", 2)


def test_failures_retry_with_a_backoff_then_stay_visible_as_failed(app, session, handler):
    settings = outbox.OutboxSettings(max_attempts=3, backoff_seconds=30)
    handler.failing = True
    with app.app_context():
        outbox.publish(session, TOPIC, {"n": 1})
        session.commit()  # first attempt, inline: fails
        [row] = rows(session)
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.last_error == "RuntimeError: the far end is down"
        first_wait = row.next_attempt_at - row.created_at
        assert dt.timedelta(seconds=29) < first_wait <= dt.timedelta(seconds=31)

        assert outbox.relay(db.new_session, settings).done == 0  # not due yet
        now = row.next_attempt_at
        report = outbox.dispatch(db.new_session, None, settings, now=now)
        assert report.retrying == 1
        [row] = rows(session)
        assert row.attempts == 2
        assert row.next_attempt_at - now >= dt.timedelta(seconds=60)  # doubled

        now = row.next_attempt_at
        assert outbox.dispatch(db.new_session, None, settings, now=now).failed == 1
        [row] = rows(session)
        assert (row.status, row.attempts) == ("failed", 3)
        assert [r.id for r in outbox.failed_rows(session)] == [row.id]
        assert (
            outbox.dispatch(db.new_session, None, settings, now=now + dt.timedelta(days=1)).failed
            == 0
        )

        handler.failing = False
        assert outbox.retry(session, row.id).status == "pending"
        assert outbox.relay(db.new_session, settings).done == 1
    assert handler.ran == [{"n": 1}]
    assert outbox.counts(session) == {("test.record", "done"): 1}


def test_a_push_drops_the_rows_of_a_rolled_back_mutation_and_runs_the_rest_after_its_commit(
    app, committing, session, handler
):
    """As ``sync_api.services.push`` does: services commit savepoints inside a mutation's
    savepoint; the outbox's dispatch waits for the push's own commit."""
    with app.app_context(), db.engine.connect() as connection:
        transaction = connection.begin()
        begin_push(connection)
        work = Session(bind=connection, join_transaction_mode="create_savepoint")
        store = SqlSyncStore(work)
        with events.deferred() as announcements:
            with pytest.raises(RuntimeError), store.savepoint():
                outbox.publish(work, TOPIC, {"mutation": 1})
                work.commit()  # the service's commit: a savepoint released
                raise RuntimeError("the mutation fails after its service committed")
            with store.savepoint():
                outbox.publish(work, TOPIC, {"mutation": 2})
                work.commit()
            store.settle()
            work.close()
            assert handler.ran == []  # the push has not committed yet
            transaction.commit()
        events.release(announcements)
    assert handler.ran == [{"mutation": 2}]
    assert [row.payload for row in rows(session)] == [{"mutation": 2}]


def test_two_relays_skip_each_others_rows(app, committing, session, handler, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SKIP LOCKED is PostgreSQL's; on SQLite one writer claims at a time")
    with app.app_context():
        with outbox.committed.muted():  # left for the relays
            for n in range(30):
                outbox.publish(session, TOPIC, {"n": n})
            session.commit()
        # One row is held by another transaction: the relays skip it, they do not wait.
        holder = db.new_session()
        held = holder.scalars(
            sa.select(OutboxMessage).order_by(OutboxMessage.id).limit(1).with_for_update()
        ).one()
        held_id = held.id
        settings = outbox.OutboxSettings(batch_size=4)
        start = threading.Barrier(2)
        reports = []

        def relay() -> None:
            with app.app_context():
                start.wait(timeout=10)
                reports.append(outbox.relay(db.new_session, settings))

        threads = [threading.Thread(target=relay) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        holder.rollback()
        holder.close()
    ran = [payload["n"] for payload in handler.ran]
    assert len(ran) == 29 and len(set(ran)) == 29  # each once, the held one not
    assert sum(report.done for report in reports) == 29
    statuses = {row.id: row.status for row in rows(session)}
    assert statuses.pop(held_id) == "pending"
    assert set(statuses.values()) == {"done"}


def test_done_rows_are_pruned_after_their_keep_failed_and_pending_ones_stay(
    app, session, handler, monkeypatch
):
    with app.app_context():
        outbox.publish(session, TOPIC, {"n": "done"})
        session.commit()
        handler.failing = True
        outbox.publish(session, TOPIC, {"n": "pending"})
        session.commit()
        now = utcnow()
        assert outbox.prune_done(session, now - dt.timedelta(days=7)) == 0
        assert outbox.prune_done(session, now + dt.timedelta(seconds=1)) == 1
    assert [row.payload["n"] for row in rows(session)] == ["pending"]


def test_a_kind_with_a_many_handler_runs_its_rows_in_one_call_and_falls_back_one_by_one(
    app, session, handler, monkeypatch
):
    """Rows of one kind claimed together go to its ``many`` handler in one call and are
    marked done together; when ``many`` raises, each row runs through its own handler and
    settles alone (the one that fails retries, the others are done)."""
    calls: list[list[dict]] = []
    broken = {"many": False}

    def many(_session: Session, payloads: list[dict]) -> None:
        if broken["many"]:
            raise RuntimeError("the batch failed")
        calls.append(payloads)

    monkeypatch.setitem(outbox._many, "test.record", many)
    with app.app_context():
        for n in range(3):
            outbox.publish(session, TOPIC, {"n": n})
        session.commit()
    assert calls == [[{"n": 0}, {"n": 1}, {"n": 2}]] and handler.ran == []
    assert [(row.status, row.attempts) for row in rows(session)] == [("done", 1)] * 3

    broken["many"] = True
    failing_once = {"n": 4}
    real = handler.__call__

    def picky(own: Session, payload: dict) -> None:
        if payload == failing_once:
            raise RuntimeError("this one fails")
        real(own, payload)

    monkeypatch.setitem(outbox._handlers, "test.record", picky)
    with app.app_context():
        for n in (3, 4, 5):
            outbox.publish(session, TOPIC, {"n": n})
        session.commit()
    assert handler.ran == [{"n": 3}, {"n": 5}]
    stored = rows(session)[3:]
    assert [row.status for row in stored] == ["done", "pending", "done"]
    assert stored[1].last_error == "RuntimeError: this one fails"
    assert stored[0].last_error is None and stored[1].attempts == 1
