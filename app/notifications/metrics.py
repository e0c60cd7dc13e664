"""The notifications outbox as a queue, read at scrape time: deliveries pending and the age
of the oldest (a sender that is down shows as a growing age)."""

from __future__ import annotations

import sqlalchemy as sa

from app.core.clock import utcnow
from app.core.metrics import ScrapeGauges
from app.extensions import db
from app.notifications.models import Delivery

QUEUE = ("notifications",)


def _pending() -> tuple[int, float]:
    count, oldest = db.session.execute(
        sa.select(sa.func.count(), sa.func.min(Delivery.created_at)).where(
            Delivery.status == "pending"
        )
    ).one()
    return count, 0.0 if oldest is None else max(0.0, (utcnow() - oldest).total_seconds())


def outbox_depth() -> list[tuple[tuple[str, ...], float]]:
    return [(QUEUE, _pending()[0])]


def outbox_oldest_age() -> list[tuple[tuple[str, ...], float]]:
    return [(QUEUE, _pending()[1])]


def register(metrics: ScrapeGauges) -> None:
    metrics.gauge("queue_depth", "Jobs waiting, by queue.", outbox_depth, ("queue",))
    metrics.gauge(
        "queue_oldest_age_seconds",
        "How long the oldest waiting job has waited, by queue.",
        outbox_oldest_age,
        ("queue",),
    )
