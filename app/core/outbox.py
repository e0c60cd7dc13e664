"""The transactional outbox: after-effects that must not be lost, written in the same
transaction as the change that causes them, run after it commits.

A domain *publishes* a topic (``publish(session, "case.ended", payload)``) inside its own
transaction; every handler *subscribed* to the topic gets an ``outbox`` row of its own
(``kind`` = the handler's name), so one failing handler retries alone. The rows share the
change's fate: inside an offline-sync push they live in the mutation's savepoint, and a
rolled-back mutation takes its rows with it. Nothing here knows a domain: the handlers are
registered by the domains (``subscribe``, called from ``create_app``).

After the commit the rows are dispatched inline (``events.send``: inside a push, that is
after the push's own commit), a batch at a time in three short steps: *claim* the rows (a
lease: their ``next_attempt_at`` moved ``lease`` ahead, ``attempts`` + 1, committed), run
each row's handler in a session of the handler's own (or, for a kind subscribed with a
``many`` handler, the batch's rows of that kind in one call), then mark the rows that ran
``done`` (one UPDATE), and for each that raised record the error and when to try again
(exponential backoff), ``failed`` after ``max_attempts``. A process that dies between
the change's commit and the end of the handler leaves a ``pending`` row whose time has
come (or whose lease runs out): ``relay`` (``flask outbox relay``, also a scheduler job)
picks those up, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so two relays never claim one
row. Handlers therefore run at least once: they must be idempotent (a dedupe key, a
result row that is replaced, a check that looks first).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from blinker import Signal
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from app.core import events
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.models import OutboxMessage

log = logging.getLogger(__name__)

#: ``handler(session, payload)``: the session is the handler's own; it commits its work.
Handler = Callable[[Session, dict], None]
#: ``many(session, payloads)``: the same work for several rows of one kind at once.
ManyHandler = Callable[[Session, list[dict]], None]
SessionFactory = Callable[[], Session]
_NEW = "outbox_new"  # session.info: rows added in its current transaction


@dataclasses.dataclass(frozen=True)
class OutboxSettings:
    max_attempts: int = 8
    backoff_seconds: float = 30.0
    lease_seconds: float = 300.0
    batch_size: int = 100

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OutboxSettings:
        return cls(
            max_attempts=int(config.get("OUTBOX_MAX_ATTEMPTS", 8)),
            backoff_seconds=float(config.get("OUTBOX_BACKOFF_SECONDS", 30.0)),
            lease_seconds=float(config.get("OUTBOX_LEASE_SECONDS", 300.0)),
            batch_size=int(config.get("OUTBOX_BATCH_SIZE", 100)),
        )

    @classmethod
    def current(cls) -> OutboxSettings:
        return cls.from_config(current_app.config) if has_app_context() else cls()

    def backoff(self, attempts: int) -> dt.timedelta:
        """The wait after failed attempt ``attempts``: base, 2×base, 4×base …"""
        return dt.timedelta(seconds=self.backoff_seconds * 2 ** max(attempts - 1, 0))


@dataclasses.dataclass
class RelayReport:
    done: int = 0
    retrying: int = 0
    failed: int = 0

    def add(self, outcome: str | None) -> None:
        if outcome == "done":
            self.done += 1
        elif outcome == "failed":
            self.failed += 1
        elif outcome == "retrying":
            self.retrying += 1


# -- registry ----------------------------------------------------------------------------

_handlers: dict[str, Handler] = {}
_many: dict[str, ManyHandler] = {}
_topics: dict[str, list[str]] = {}
_session_factory: list[SessionFactory] = []
#: ``ids`` — outbox rows committed; sent through ``events`` so a push defers it.
committed = Signal("outbox-committed")


def subscribe(topic: str, kind: str, handler: Handler, many: ManyHandler | None = None) -> None:
    """Run ``handler`` for every ``topic`` published from now on, as rows of ``kind``
    (process-wide; subscribing the same kind again replaces its handler).

    ``many``, if given, does the work of several rows of ``kind`` claimed together in one
    call (a push's hundred photos: one session and a few set-wise reads instead of a
    hundred). If it raises, the rows run one by one through ``handler``, each retrying
    alone, so ``many`` may have done part of the work: as ``handler``, it must be
    idempotent."""
    _handlers[kind] = handler
    if many is None:
        _many.pop(kind, None)
    else:
        _many[kind] = many
    kinds = _topics.setdefault(topic, [])
    if kind not in kinds:
        kinds.append(kind)


def subscribers(topic: str) -> list[str]:
    return list(_topics.get(topic, ()))


def install(new_session: SessionFactory) -> None:
    """Dispatch committed rows after each commit, in sessions from ``new_session``
    (process-wide and idempotent, as the change feed's capture)."""
    _session_factory[:] = [new_session]
    if not sa.event.contains(Session, "after_commit", _after_commit):
        sa.event.listen(Session, "after_commit", _after_commit)
        sa.event.listen(Session, "after_soft_rollback", _after_soft_rollback)
        committed.connect(_on_committed)
        # A push's many commits dispatch together, after the push's own commit: one claim.
        events.merge_sends(committed, "ids")


# -- publishing --------------------------------------------------------------------------


def publish(session: Session, topic: str, payload: Mapping[str, Any]) -> list[OutboxMessage]:
    """Add a row per subscriber of ``topic`` to the caller's transaction (the caller
    commits). ``payload`` must be JSON: ids as strings."""
    now = utcnow()
    rows = [
        OutboxMessage(
            topic=topic,
            kind=kind,
            payload=dict(payload),
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        for kind in subscribers(topic)
    ]
    session.add_all(rows)
    session.info.setdefault(_NEW, []).extend(rows)
    return rows


def _after_commit(session: Session) -> None:
    rows = session.info.pop(_NEW, None)
    # The identity, not ``row.id``: no attribute load may run in a committed session.
    keys = [sa.inspect(row).identity for row in rows or ()]
    ids = [key[0] for key in keys if key is not None]
    if ids:
        events.send(committed, ids=ids)


def _after_soft_rollback(session: Session, previous) -> None:
    if previous.parent is None:  # the session's whole transaction: its rows are gone
        session.info.pop(_NEW, None)


def _on_committed(_sender, ids: list[int]) -> None:
    # Outside an app (a script's session) there is no configuration to run handlers with:
    # the rows wait for the relay.
    if not _session_factory or not has_app_context():
        return
    try:
        dispatch(_session_factory[0], ids)
    except Exception:  # the rows stay pending: the relay runs them
        log.exception("outbox rows %s not dispatched; the relay will", ids)


# -- running -----------------------------------------------------------------------------


def _claim(
    session: Session, ids: Iterable[int] | None, now: dt.datetime, settings: OutboxSettings
) -> list[sa.Row]:
    """Take the due pending rows (of ``ids``, or any) for ``lease`` seconds, committed:
    another dispatcher skips them until the lease runs out.

    One ``UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING``: on PostgreSQL the select is
    ``FOR UPDATE SKIP LOCKED`` (two claimers take disjoint rows, neither waits); on SQLite
    the statement is a write from its start, so a second claimer waits for the first's
    commit (busy timeout) instead of failing to upgrade a read."""
    due = (
        sa.select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(settings.batch_size)
    )
    if ids is not None:
        due = due.where(OutboxMessage.id.in_(list(ids)))
    if _pg(session):
        due = due.with_for_update(skip_locked=True)
    claim = (
        sa.update(OutboxMessage)
        .where(OutboxMessage.id.in_(due.scalar_subquery()))
        .values(
            attempts=OutboxMessage.attempts + 1,
            next_attempt_at=now + dt.timedelta(seconds=settings.lease_seconds),
        )
        .returning(
            OutboxMessage.id, OutboxMessage.kind, OutboxMessage.payload, OutboxMessage.attempts
        )
        .execution_options(synchronize_session=False)
    )
    with transaction(session):
        rows = session.execute(claim).all()
    return sorted(rows, key=lambda row: row.id)


def _run_all(new_session: SessionFactory, rows: list[sa.Row]) -> dict[int, str | None]:
    """Run the handlers of ``rows``, kind by kind; each row's error text, None if it ran."""
    kinds: dict[str, list[sa.Row]] = {}
    for row in rows:
        kinds.setdefault(row.kind, []).append(row)
    errors: dict[int, str | None] = {}
    for kind, group in kinds.items():
        many = _many.get(kind)
        if many is not None and len(group) > 1:
            try:
                with new_session() as own:
                    many(own, [dict(row.payload) for row in group])
            except Exception:
                log.warning("outbox: %d rows of %s go one by one", len(group), kind, exc_info=True)
            else:
                errors.update((row.id, None) for row in group)
                continue
        errors.update((row.id, _run(new_session, row)) for row in group)
    return errors


def _run(new_session: SessionFactory, row: sa.Row) -> str | None:
    """Run the row's handler; the error text if it raised."""
    handler = _handlers.get(row.kind)
    if handler is None:
        return f"no handler for outbox kind {row.kind!r}"
    try:
        with new_session() as own:
            handler(own, dict(row.payload))
    except Exception as error:
        log.warning("outbox %s (%s) failed: %s", row.id, row.kind, error, exc_info=True)
        return f"{type(error).__name__}: {error}"[:2000]
    return None


def _settle(
    session: Session,
    row: sa.Row,
    error: str | None,
    settings: OutboxSettings,
    now: dt.datetime | None = None,
) -> str | None:
    """Record the outcome of the attempt ``row`` was claimed for (one UPDATE): ``done``,
    ``retrying`` or ``failed``; None if the row was settled meanwhile."""
    now = now or utcnow()
    if error is None:
        outcome, values = "done", {"status": "done", "done_at": now, "last_error": None}
    elif row.attempts >= settings.max_attempts:
        outcome, values = "failed", {"status": "failed", "last_error": error}
        log.error("outbox %s (%s) failed for good: %s", row.id, row.kind, error)
    else:
        next_at = now + settings.backoff(row.attempts)
        outcome, values = "retrying", {"next_attempt_at": next_at, "last_error": error}
    with transaction(session):
        settled = session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.status == "pending")
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return outcome if settled.rowcount else None


def _settle_done(session: Session, ids: list[int], now: dt.datetime | None = None) -> int:
    """Mark the claimed rows ``ids`` whose handlers ran ``done``, in one UPDATE; how many
    were still pending (a row settled meanwhile is left as it is)."""
    if not ids:
        return 0
    with transaction(session):
        settled = session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "pending")
            .values(status="done", done_at=now or utcnow(), last_error=None)
            .execution_options(synchronize_session=False)
        )
    return settled.rowcount


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def dispatch(
    new_session: SessionFactory,
    ids: Iterable[int] | None = None,
    settings: OutboxSettings | None = None,
    now: dt.datetime | None = None,
) -> RelayReport:
    """Run the due pending rows (those of ``ids``, or every due one), one claimed batch at a
    time until none is left."""
    settings = settings or OutboxSettings.current()
    report = RelayReport()
    wanted = None if ids is None else list(ids)
    with new_session() as session:
        while True:
            batch = _claim(session, wanted, now or utcnow(), settings)
            errors = _run_all(new_session, batch)
            report.done += _settle_done(session, [i for i, e in errors.items() if e is None], now)
            for row in batch:
                if errors[row.id] is not None:
                    report.add(_settle(session, row, errors[row.id], settings, now))
            if len(batch) < settings.batch_size:  # claimed rows are not due again
                return report


def relay(new_session: SessionFactory, settings: OutboxSettings | None = None) -> RelayReport:
    """Run what was committed but never dispatched (the process died, the dispatch
    failed), and the retries whose time has come."""
    return dispatch(new_session, None, settings)


def retry(session: Session, row_id: int) -> OutboxMessage | None:
    """Try a ``failed`` row again at the next relay, with a fresh count of attempts."""
    with transaction(session):
        row = session.get(OutboxMessage, row_id)
        if row is None or row.status != "failed":
            return None
        row.status, row.attempts, row.next_attempt_at = "pending", 0, utcnow()
    return row


def prune_done(session: Session, before: dt.datetime, batch_size: int = 1000) -> int:
    """Forget the rows done before ``before``, a batch per transaction (failed and pending
    rows stay: they are work, or someone's to look at)."""
    pruned = 0
    while True:
        batch = (
            sa.select(OutboxMessage.id)
            .where(OutboxMessage.status == "done", OutboxMessage.done_at < before)
            .limit(batch_size)
        )
        with transaction(session):
            deleted = session.execute(
                sa.delete(OutboxMessage)
                .where(OutboxMessage.id.in_(batch.scalar_subquery()))
                .execution_options(synchronize_session=False)
            ).rowcount
        pruned += deleted
        if deleted < batch_size:
            return pruned


def failed_rows(session: Session, limit: int = 100) -> list[OutboxMessage]:
    stmt = sa.select(OutboxMessage).where(OutboxMessage.status == "failed")
    return list(session.scalars(stmt.order_by(OutboxMessage.id.desc()).limit(limit)))


def counts(session: Session) -> dict[tuple[str, str], int]:
    """How many rows of each (kind, status): what ``flask outbox status`` shows."""
    rows = session.execute(
        sa.select(OutboxMessage.kind, OutboxMessage.status, sa.func.count()).group_by(
            OutboxMessage.kind, OutboxMessage.status
        )
    )
    return {(kind, status): n for kind, status, n in rows}
