"""The outbox's use cases: enqueue a notification, deliver the due ones, list and retry.

Domains use only ``enqueue`` (and ``add_scanner`` for periodic checks): they say what
happened and to whom; the outbox sends it over the channel asked, retrying with an
exponential backoff until ``max_attempts``, after which the delivery is ``failed`` and
shows in the admin list until someone retries it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import Conflict, NotFound
from app.notifications.models import Delivery
from app.notifications.senders import Sender, SendFailed, default_senders

log = logging.getLogger(__name__)

# A periodic check a domain lends the delivery loop: ``scan(session, now)`` enqueues what
# has become due (a deadline turning yellow …) and returns how many it enqueued.
Scanner = Callable[[Session, dt.datetime], int]
_scanners: dict[str, Scanner] = {}
_EXTENSION = "notification_senders"


@dataclasses.dataclass(frozen=True)
class DeliverySettings:
    max_attempts: int = 5
    backoff_seconds: float = 30.0
    batch_size: int = 100

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DeliverySettings:
        return cls(
            max_attempts=int(config.get("NOTIFY_MAX_ATTEMPTS", 5)),
            backoff_seconds=float(config.get("NOTIFY_BACKOFF_SECONDS", 30)),
            batch_size=int(config.get("NOTIFY_BATCH_SIZE", 100)),
        )


@dataclasses.dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


# -- senders and scanners ----------------------------------------------------------------


def senders_of(app) -> dict[str, Sender]:
    """The app's senders by channel name (the defaults from its settings at first use)."""
    if _EXTENSION not in app.extensions:
        app.extensions[_EXTENSION] = default_senders(app.config)
    return app.extensions[_EXTENSION]


def register_sender(app, channel: str, sender: Sender) -> None:
    """Send the deliveries of ``channel`` with ``sender`` (replacing the one there was)."""
    senders_of(app)[channel] = sender


def add_scanner(name: str, scan: Scanner) -> None:
    """Run ``scan`` before each delivery pass (process-wide; registering again replaces)."""
    _scanners[name] = scan


def run_scanners(session: Session, now: dt.datetime) -> dict[str, int]:
    return {name: scan(session, now) for name, scan in _scanners.items()}


# -- enqueue -----------------------------------------------------------------------------


def enqueue(
    session: Session,
    kind: str,
    payload: Mapping[str, Any],
    *,
    user_id: int | None = None,
    endpoint: str | None = None,
    channel: str = "log",
    dedupe_key: str | None = None,
) -> Delivery | None:
    """Add a notification to the caller's transaction (the caller commits). With a
    ``dedupe_key`` already in the outbox nothing is added (None)."""
    if user_id is None and not endpoint:
        raise ValueError("a notification needs a recipient user or an endpoint")
    if dedupe_key is not None and session.scalar(
        sa.select(Delivery.id).where(Delivery.dedupe_key == dedupe_key)
    ):
        return None
    delivery = Delivery(
        kind=kind,
        channel=channel,
        recipient_user_id=user_id,
        endpoint=endpoint,
        payload=dict(payload),
        dedupe_key=dedupe_key,
        status="pending",
        attempts=0,
        next_attempt_at=utcnow(),
        created_at=utcnow(),
    )
    if dedupe_key is None:
        session.add(delivery)
        return delivery
    try:
        with session.begin_nested():
            session.add(delivery)
    except sa.exc.IntegrityError:
        return None  # a concurrent twin won the key
    return delivery


def notify(session: Session, kind: str, payload: Mapping[str, Any], **recipient) -> None:
    """``enqueue`` in a transaction of its own (for signal handlers, after the commit)."""
    with transaction(session):
        enqueue(session, kind, payload, **recipient)


# -- delivery ----------------------------------------------------------------------------


def backoff(settings: DeliverySettings, attempts: int) -> dt.timedelta:
    """The wait before attempt ``attempts + 1``: base, 2×base, 4×base …"""
    return dt.timedelta(seconds=settings.backoff_seconds * 2 ** max(attempts - 1, 0))


def _due(session: Session, now: dt.datetime, limit: int, tried: set[int]) -> list[Delivery]:
    stmt = (
        sa.select(Delivery)
        .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
        .where(Delivery.id.not_in(tried) if tried else sa.true())
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Two workers never take one row: each skips the rows the other holds.
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def _attempt(
    delivery: Delivery,
    senders: Mapping[str, Sender],
    settings: DeliverySettings,
    now: dt.datetime,
    report: DeliveryReport,
) -> None:
    delivery.attempts += 1
    sender = senders.get(delivery.channel)
    try:
        if sender is None:
            raise SendFailed(f"no sender for channel {delivery.channel!r}")
        sender.send(delivery)
    except SendFailed as error:
        delivery.last_error = str(error)[:2000]
        if delivery.attempts >= settings.max_attempts:
            delivery.status = "failed"
            report.failed += 1
            log.warning("notification %s failed for good: %s", delivery.id, error)
        else:
            delivery.next_attempt_at = now + backoff(settings, delivery.attempts)
            report.retrying += 1
        return
    delivery.status = "sent"
    delivery.sent_at = now
    delivery.last_error = None
    report.sent += 1


def deliver_due(
    session: Session,
    senders: Mapping[str, Sender],
    settings: DeliverySettings,
    now: dt.datetime | None = None,
) -> DeliveryReport:
    """Send the deliveries that are due, one batch per transaction, until none is left."""
    now = now or utcnow()
    report = DeliveryReport()
    tried: set[int] = set()  # one attempt per delivery and pass, whatever the backoff
    while True:
        with transaction(session):
            batch = _due(session, now, settings.batch_size, tried)
            for delivery in batch:
                tried.add(delivery.id)
                _attempt(delivery, senders, settings, now, report)
        if len(batch) < settings.batch_size:
            return report


# -- admin -------------------------------------------------------------------------------


def deliveries_query(status: str | None = None, kind: str | None = None) -> sa.Select:
    stmt = sa.select(Delivery).order_by(Delivery.id.desc())
    if status:
        stmt = stmt.where(Delivery.status == status)
    if kind:
        stmt = stmt.where(Delivery.kind == kind)
    return stmt


def get_delivery(session: Session, delivery_id: int) -> Delivery:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} does not exist")
    return delivery


def retry(session: Session, delivery_id: int) -> Delivery:
    """Send a failed delivery again at the next pass, with a fresh count of attempts."""
    with transaction(session):
        delivery = get_delivery(session, delivery_id)
        if delivery.status != "failed":
            raise Conflict(f"delivery {delivery_id} is {delivery.status}; only failed ones retry")
        delivery.status = "pending"
        delivery.attempts = 0
        delivery.next_attempt_at = utcnow()
    return delivery
