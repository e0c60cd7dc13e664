"""Reads off the primary: an optional read replica (``DATABASE_REPLICA_URL``).

A city runs PostgreSQL with streaming replicas. Pulls, lists and ledger pages are most of
the reads; they may be answered from a replica, which is a little behind the primary. The
consistency rule (docs/deploy.md, *Reads off the primary*):

* **A phone's own writes are read from the primary.** A pull goes to the replica only when
  the replica holds this phone's queue as far as the primary does (the same ``last_mid``:
  the push that advanced it committed its effects in the same transaction) and the feed
  there has reached the phone's cursor (``app.sync_api.pull``).
* **A person's own writes are read from the primary.** After a request of theirs that
  changed something (any method but GET/HEAD/OPTIONS answered below 400), their reads go
  to the primary for ``REPLICA_STICKY_SECONDS`` (default 10). The mark is kept per user in
  Redis when the city runs Redis (``JOB_QUEUE=redis``), so every app server honours it, or
  in this process otherwise (one host).
* **A replica too far behind is not read.** Its lag is measured (PostgreSQL:
  ``pg_last_xact_replay_timestamp``, zero when every WAL record received is replayed) at
  most once a second per process; above ``REPLICA_MAX_LAG_SECONDS`` (default 5), or when
  it cannot be reached, reads go to the primary.

Writes never go to the replica: ``reader()`` hands out a session for reading only, and a
route that writes (a pull noting ``last_pull_at``) writes through the primary's session.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, has_request_context, request
from sqlalchemy.orm import Session

from app.core.db import make_engine

log = logging.getLogger(__name__)

ENGINE = "replica_engine"
MARKS = "replica_marks"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LAG_EVERY = 1.0  # seconds between two lag measurements in one process

_LAG_SQL = sa.text(
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0"
    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)


class LocalMarks:
    """Who wrote lately, in this process (one app server)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def mark(self, key: str, seconds: float) -> None:
        with self._lock:
            self._until[key] = self._clock() + seconds
            if len(self._until) > 10_000:  # forget the expired ones now and then
                now = self._clock()
                self._until = {k: v for k, v in self._until.items() if v > now}

    def recent(self, key: str) -> bool:
        with self._lock:
            return self._until.get(key, 0.0) > self._clock()


class RedisMarks:
    """Who wrote lately, for every app server of the city (a key with a time to live)."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5)

    def mark(self, key: str, seconds: float) -> None:
        try:
            self._redis.set(f"replica:wrote:{key}", b"1", px=max(1, int(seconds * 1000)))
        except Exception:  # the replica is an optimisation: a missing mark reads stale
            log.warning("replica: could not mark %s as a writer", key, exc_info=True)

    def recent(self, key: str) -> bool:
        try:
            return bool(self._redis.exists(f"replica:wrote:{key}"))
        except Exception:
            return True  # unsure: read from the primary


class _Lag:
    def __init__(self) -> None:
        self.measured_at = -_LAG_EVERY
        self.seconds: float | None = None
        self.lock = threading.Lock()


def init_replica(app: Flask) -> None:
    """Make the replica's engine (if one is configured) and note writers after requests."""
    url = app.config.get("DATABASE_REPLICA_URL") or ""
    if not url:
        return
    engine = make_engine(url)
    app.extensions[ENGINE] = engine
    app.extensions["replica_lag"] = _Lag()
    if app.config.get("JOB_QUEUE") == "redis":
        app.extensions[MARKS] = RedisMarks(app.config["REDIS_URL"])
    else:
        app.extensions[MARKS] = LocalMarks()
    app.after_request(_note_writer)

    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        session = g.pop("replica_session", None)
        if session is not None:
            session.close()


def _note_writer(response: Response) -> Response:
    if request.method in SAFE_METHODS or response.status_code >= 400:
        return response
    user = g.get("current_user")
    if user is not None:
        note_write(user.id)
    return response


def note_write(user_id: int) -> None:
    """Send ``user_id``'s reads to the primary for the sticky window."""
    marks = current_app.extensions.get(MARKS)
    if marks is not None:
        marks.mark(str(user_id), float(current_app.config.get("REPLICA_STICKY_SECONDS", 10)))


def replica_session() -> Session | None:
    """A read session on the replica if one is configured and near enough, else None."""
    engine = current_app.extensions.get(ENGINE)
    if engine is None or not has_request_context():
        return None
    limit = float(current_app.config.get("REPLICA_MAX_LAG_SECONDS", 5))
    lag = replica_lag(engine)
    if lag is None or lag > limit:
        return None
    session = g.get("replica_session")
    if session is None:
        session = g.replica_session = Session(bind=engine, expire_on_commit=False)
    return session


def reader(primary: Session, user_id: int | None = None) -> Session:
    """The session a read-only view reads with: the replica's, unless ``user_id`` wrote
    within the sticky window or the replica is unusable; else ``primary``."""
    if user_id is not None:
        marks = current_app.extensions.get(MARKS)
        if marks is not None and marks.recent(str(user_id)):
            return primary
    return replica_session() or primary


def replica_lag(engine: sa.Engine) -> float | None:
    """Seconds the replica is behind (None: unreachable), measured at most once a second."""
    state: _Lag = current_app.extensions["replica_lag"]
    now = time.monotonic()
    with state.lock:
        if now - state.measured_at < _LAG_EVERY:
            return state.seconds
        state.measured_at = now
        try:
            with engine.connect() as connection:
                if engine.dialect.name == "postgresql":
                    state.seconds = float(connection.execute(_LAG_SQL).scalar_one())
                else:  # SQLite has no replicas: a copy for tests, never behind by its account
                    connection.execute(sa.text("SELECT 1"))
                    state.seconds = 0.0
        except sa.exc.SQLAlchemyError:
            log.warning("replica: unreachable; reading from the primary", exc_info=True)
            state.seconds = None
        return state.seconds
