"""Each test's database: one transaction rolled back after it, or real commits emptied.

Rolled back (the default): the test holds one connection in a transaction, and every
session opened meanwhile (the requests', the jobs', the subscribers', the test's own
``session``) joins it with a SAVEPOINT of its own. A service's commit releases its
savepoint; the end of the test rolls the whole transaction back, so there is nothing to
empty. Two things a real commit does besides making rows durable are done here too:

- the change feed numbers a transaction's changes when its connection commits
  (``app.feed.capture``): each session's commit runs what the connection's commit would
  run, and a session rolled back takes back what it noted, as the push does for its
  savepoints;
- the photo worker, a thread with sessions of its own, cannot share the connection: its
  jobs run at once, in the thread that queues them (``InlineQueue``).

Savepoints nest where transactions would not: a session rolled back after another one
committed writes inside its savepoint would undo them. That fails the test, whose place is
then with the committing ones.

Committing (the ``committing`` fixture): tests in which other threads or processes write
(concurrent requests, a server on a socket, the worker's retries, another app's engine)
commit for real, and the tables are emptied after them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from app.core.db import SESSION_MAKER
from app.feed import capture
from app.models import metadata
from media.jobs import Backoff, FailedJob, JobRegistry, QueueStats

log = logging.getLogger(__name__)

_MARK = "feed_mark"  # session.info: where its transaction's mentions start in the buffer
_WROTE = "wrote"  # session.info: a write ran while its savepoint was the innermost
_HOLDS = "holds_commits"  # session.info: a session nested in it committed writes
_OPEN = "joined_sessions"  # connection.info: sessions holding a savepoint, innermost last
_WRONG = "wrong_uses"  # connection.info: why this test needs real commits, if it does
TEST_OVER = "test_over"  # session.info: closed at the test's end, whatever it undoes


class JoinedSession(Session):
    """A session in a savepoint of the test's transaction."""


def joined_session(connection: sa.Connection) -> JoinedSession:
    return JoinedSession(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@event.listens_for(JoinedSession, "after_begin")
def _savepoint_begun(session: Session, transaction: SessionTransaction, connection) -> None:
    if transaction.parent is None:
        session.info[_MARK] = capture.checkpoint(connection)
        connection.info.setdefault(_OPEN, []).append(session)


@event.listens_for(JoinedSession, "after_commit")
def _savepoint_released(session: Session) -> None:
    if session.in_nested_transaction() or _MARK not in session.info:
        return  # a begin_nested() of its own, or a commit with nothing begun
    connection = session.bind
    # What the connection's real commit runs: the feed numbers the changes noted.
    connection.dispatch.commit(connection)
    if _end(connection, session):
        for outer in connection.info.get(_OPEN, []):
            outer.info[_HOLDS] = True


@event.listens_for(JoinedSession, "after_transaction_end")
def _savepoint_ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None or _MARK not in session.info:
        return  # nested, or committed (``_savepoint_released`` ended it)
    connection = session.bind
    capture.discard_since(connection, session.info[_MARK])
    holds = session.info.get(_HOLDS, False)
    _end(connection, session)
    if holds and not session.info.get(TEST_OVER):
        connection.info.setdefault(_WRONG, []).append(
            "a session's rollback undid another session's commit, which a real database "
            "keeps. Rolled back at:\n" + _where()
        )


def _where() -> str:
    """The stack, without the libraries' frames."""
    frames = [f for f in traceback.extract_stack() if "site-packages" not in f.filename]
    return "".join(traceback.format_list(frames[:-2]))


def _end(connection: sa.Connection, session: Session) -> bool:
    """Forget the session's savepoint; whether it held writes (its own or committed in it)."""
    del session.info[_MARK]
    opened = connection.info.get(_OPEN, [])
    if session in opened:
        opened.remove(session)
    return bool(session.info.pop(_WROTE, False) | session.info.pop(_HOLDS, False))


_held: list[sa.Connection] = []  # the connection of the rolled-back test running, if any


@event.listens_for(sa.Engine, "after_cursor_execute")
def _note_write(connection, _cursor, statement: str, _parameters, _context, _many) -> None:
    if not _held or statement.lstrip()[:6].upper() not in ("INSERT", "UPDATE", "DELETE"):
        return
    held = _held[0]
    if connection is not held:
        # Another engine's or connection's write commits on its own and outlives the test.
        why = f"a write on a connection other than the test's: {statement.strip()[:60]}"
        held.info.setdefault(_WRONG, []).append(why)
        return
    opened = held.info.get(_OPEN)
    if opened:
        opened[-1].info[_WROTE] = True


class InlineQueue:
    """The in-process queue's contract, each job run at once in the thread that queues it
    (retries included, without their waits)."""

    def __init__(self, registry: JobRegistry, backoff: Backoff) -> None:
        self.registry = registry
        self.backoff = backoff
        self._failed: list[FailedJob] = []

    def enqueue(
        self, name: str, payload: Mapping[str, Any], *, request_id: str | None = None
    ) -> str:
        function = self.registry.get(name)
        job_id = uuid.uuid4().hex
        copy = json.loads(json.dumps(dict(payload)))  # as both real queues do
        attempts = self.backoff.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                function(dict(copy))
                return job_id
            except Exception as error:
                if attempt == attempts:
                    log.error("job %s %s failed for good: %s", name, job_id, error)
                    why = "".join(traceback.format_exception_only(type(error), error)).strip()
                    self._failed.append(FailedJob(job_id, name, copy, why, attempt))
        return job_id

    def failed(self) -> list[FailedJob]:
        return list(self._failed)

    def stats(self) -> QueueStats:
        return QueueStats(0, 0.0)  # nothing ever waits

    def join(self, timeout: float) -> bool:
        return True


@contextlib.contextmanager
def rolled_back(app: Flask) -> Iterator[sa.Connection]:
    """The test's transaction: yields its connection; everything is rolled back after."""
    engine = app.extensions["database_engine"]
    media = app.extensions["media"]
    with engine.connect() as connection, _explicit_begin(connection):
        outer = connection.begin()
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN")
        worker = media.queue
        media.queue = InlineQueue(worker.registry, worker.backoff)
        app.extensions[SESSION_MAKER] = _session_maker(connection)
        _held.append(connection)
        try:
            yield connection
        finally:
            _held.clear()
            del app.extensions[SESSION_MAKER]
            media.queue = worker
            wrong = connection.info.pop(_WRONG, [])
            connection.info.pop(_OPEN, None)
            outer.rollback()
        if wrong:
            raise AssertionError("use the committing fixture: " + wrong[0])


def _session_maker(connection: sa.Connection) -> Callable[[], Session]:
    owner = threading.get_ident()

    def make() -> Session:
        if threading.get_ident() != owner:
            # One connection serves one thread: a server's or a worker's thread would
            # interleave its statements with the test's.
            why = f"a session was opened in thread {threading.current_thread().name!r}"
            connection.info.setdefault(_WRONG, []).append(why)
            raise RuntimeError(why + ", which cannot join the test's transaction")
        return joined_session(connection)

    return make


@contextlib.contextmanager
def _explicit_begin(connection: sa.Connection) -> Iterator[None]:
    # pysqlite emits BEGIN only before a write, so a SAVEPOINT before it would open the
    # transaction itself and its RELEASE would commit it. Without the driver's own
    # transaction handling, the BEGIN is ours (SQLAlchemy's "Serializable isolation /
    # Savepoints / Transactional DDL" recipe for pysqlite), on this connection only.
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    before = driver.isolation_level
    driver.isolation_level = None
    try:
        yield
    finally:
        driver.isolation_level = before


def empty_all_tables(engine: sa.Engine, attempts: int = 3) -> None:
    tables = list(reversed(metadata.sorted_tables))
    for attempt in range(attempts):
        try:
            with engine.begin() as connection:
                if engine.dialect.name == "postgresql":
                    names = ", ".join(f'"{table.name}"' for table in tables)
                    connection.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                else:
                    for table in tables:
                        connection.execute(table.delete())
            return
        except sa.exc.OperationalError:
            # A background writer (the photo job worker) committing at the same moment can
            # deadlock with TRUNCATE on PostgreSQL; the loser is rolled back, so try again.
            if attempt == attempts - 1:
                raise
            time.sleep(0.2)


def drain_workers(*apps: Flask, timeout: float = 30) -> None:
    """Let each app's in-process photo worker finish what a test queued: a test's own apps
    (two hosts, an S3 app) have workers of their own, which ``committing`` does not wait
    for, and a job of theirs left running retries into the next test."""
    for app in apps:
        queue = app.extensions["media"].queue
        if hasattr(queue, "join"):
            assert queue.join(timeout=timeout), "a test's photo jobs did not finish"


@contextlib.contextmanager
def committing(app: Flask) -> Iterator[sa.Engine]:
    """Real commits: the tables are emptied after the test."""
    engine = app.extensions["database_engine"]
    try:
        yield engine
    finally:
        # Let the in-process photo worker finish what the test queued before the tables
        # go: a job committing during TRUNCATE deadlocks with it on PostgreSQL.
        queue = app.extensions["media"].queue
        if hasattr(queue, "join"):
            queue.join(timeout=10)
        empty_all_tables(engine)
