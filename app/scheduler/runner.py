"""Run the due scheduled jobs, each once per due time for the whole city.

Every app server may run ``flask schedule run --loop`` (or ``--once`` from cron): before a
job, the runner takes a lock of that job's own; on PostgreSQL
``pg_try_advisory_xact_lock(namespace, crc32(job))`` on a connection whose transaction
lasts the whole run. Holding it, it reads when the job last *started*
(``scheduled_runs``): not due yet means skip; due means run it, then record the start, end
and outcome in the same transaction, whose commit releases the lock. A second host that
tries meanwhile does not get the lock and skips; one that gets it after the commit reads
the new start and skips. Either way a due job runs once. A host that dies mid-job loses its
connection, PostgreSQL drops the lock with it, and the next tick runs the job again.

On SQLite (one host by nature) the lock is an ``flock`` on a file per job in
``SCHEDULE_LOCK_DIR``: two runners on that host still run a job once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import logging
import socket
import zlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from app.core.clock import utcnow
from app.extensions import db
from app.scheduler.jobs import JOBS, Job
from app.scheduler.models import ScheduledRun

log = logging.getLogger(__name__)
#: The first key of the two-key advisory lock: the scheduler's, apart from other users.
NAMESPACE = 0x5CED
runs = ScheduledRun.__table__


@dataclasses.dataclass(frozen=True)
class Outcome:
    job: str
    status: str  # ran, error, not_due, busy, off
    summary: str = ""


def lock_key(job: str) -> int:
    """The job's second key: crc32 of its name, as a signed 32-bit integer."""
    return zlib.crc32(job.encode()) - 2**31


@contextlib.contextmanager
def exclusive(engine: sa.Engine, job: str, lock_dir: str) -> Iterator[sa.Connection | None]:
    """A connection holding ``job``'s lock until the block ends, or None if another runner
    holds it."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection, connection.begin():
            held = connection.scalar(
                sa.select(sa.func.pg_try_advisory_xact_lock(NAMESPACE, lock_key(job)))
            )
            yield connection if held else None
        return
    path = Path(lock_dir) / f"schedule-{job}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _settle(connection: sa.Connection) -> None:
    # SQLite: end each short transaction (the job writes from connections of its own).
    # PostgreSQL: never here, the transaction holds the lock until the record is written.
    if connection.dialect.name == "sqlite":
        connection.commit()


def last_started(connection: sa.Connection, job: str) -> dt.datetime | None:
    started = connection.scalar(sa.select(runs.c.last_started_at).where(runs.c.job == job))
    _settle(connection)
    return started


def record(connection: sa.Connection, job: str, started: dt.datetime, outcome: Outcome) -> None:
    values = {
        "last_started_at": started,
        "last_finished_at": utcnow(),
        "last_status": "ok" if outcome.status == "ran" else "error",
        "last_summary": outcome.summary if outcome.status == "ran" else None,
        "last_error": outcome.summary if outcome.status == "error" else None,
        "host": socket.gethostname()[:128],
    }
    updated = connection.execute(
        runs.update().where(runs.c.job == job).values(runs=runs.c.runs + 1, **values)
    )
    if not updated.rowcount:
        connection.execute(runs.insert().values(job=job, runs=1, **values))
    _settle(connection)


def _call(app: Flask, name: str, job: Job) -> Outcome:
    """Run the job in an app context (and database session) of its own."""
    with app.app_context():
        try:
            return Outcome(name, "ran", job(app))
        except Exception as error:
            log.exception("scheduled job %s failed", name)
            return Outcome(name, "error", f"{type(error).__name__}: {error}"[:2000])


def run_job(app: Flask, name: str, job: Job, interval: int) -> Outcome:
    """Run ``job`` if it is due and no other runner has it; record its run."""
    with exclusive(db.engine, name, app.config["SCHEDULE_LOCK_DIR"]) as connection:
        if connection is None:
            return Outcome(name, "busy", "another runner has it")
        started = utcnow()
        last = last_started(connection, name)
        if last is not None and started < last + dt.timedelta(seconds=interval):
            due = last + dt.timedelta(seconds=interval)
            return Outcome(name, "not_due", f"next at {due:%Y-%m-%d %H:%M:%S} UTC")
        outcome = _call(app, name, job)
        record(connection, name, started, outcome)
        return outcome


def run_due(app: Flask, jobs: dict[str, Job] | None = None) -> list[Outcome]:
    """One tick: every job in turn, run if due (an interval of 0 turns a job off)."""
    intervals = app.config["SCHEDULE_INTERVALS"]
    outcomes = []
    for name, job in (jobs or JOBS).items():
        interval = int(intervals.get(name, 0))
        outcomes.append(run_job(app, name, job, interval) if interval > 0 else Outcome(name, "off"))
    return outcomes


def status(connection: sa.Connection) -> list[sa.Row]:
    return list(connection.execute(sa.select(runs).order_by(runs.c.job)))
