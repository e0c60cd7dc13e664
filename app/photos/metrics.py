"""The photo pipeline's gauges, read at scrape time: the job queue's depth and the age of
its oldest job, and the processing lag (how long the oldest unprocessed blob has waited
for its thumbnails and pHash)."""

from __future__ import annotations

import sqlalchemy as sa

from app.core.clock import utcnow
from app.core.metrics import ScrapeGauges
from app.extensions import db
from app.photos.backends import media
from app.photos.models import Blob, Processing


def queue_depth() -> list[tuple[tuple[str, ...], float]]:
    return [(("media",), media().queue.stats().depth)]


def queue_oldest_age() -> list[tuple[tuple[str, ...], float]]:
    return [(("media",), media().queue.stats().oldest_age_seconds)]


def processing_lag() -> float:
    """Seconds since the oldest blob still queued arrived; 0 when none waits."""
    oldest = db.session.scalar(
        sa.select(sa.func.min(Blob.received_at)).where(Blob.processing == Processing.QUEUED)
    )
    return 0.0 if oldest is None else max(0.0, (utcnow() - oldest).total_seconds())


def register(metrics: ScrapeGauges) -> None:
    metrics.gauge("queue_depth", "Jobs waiting, by queue.", queue_depth, ("queue",))
    metrics.gauge(
        "queue_oldest_age_seconds",
        "How long the oldest waiting job has waited, by queue.",
        queue_oldest_age,
        ("queue",),
    )
    metrics.gauge(
        "photo_processing_lag_seconds",
        "Age of the oldest blob whose thumbnails and pHash are still to be made.",
        processing_lag,
    )
