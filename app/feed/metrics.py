"""The change feed's gauges, read at scrape time.

Feed lag is measured as the age of the newest change (``feed_changes.at`` of the highest
seq): while phones and the console work, it stays at seconds; a write path that stopped
stamping changes (or a city at rest, at night) shows as a growing age. The last seq
handed out is exported too, so ``rate()`` of it is the feed's write rate.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.core.clock import utcnow
from app.core.metrics import ScrapeGauges
from app.extensions import db
from app.feed.models import FeedChange, FeedCounter


def newest_change_age() -> float | None:
    newest = db.session.scalar(sa.select(FeedChange.at).order_by(FeedChange.seq.desc()).limit(1))
    return None if newest is None else max(0.0, (utcnow() - newest).total_seconds())


def last_seq() -> float:
    return float(db.session.scalar(sa.select(sa.func.max(FeedCounter.seq))) or 0)


def register(metrics: ScrapeGauges) -> None:
    metrics.gauge(
        "feed_newest_change_age_seconds",
        "Feed lag: age of the newest change in the change feed (absent: feed empty).",
        newest_change_age,
    )
    metrics.gauge("feed_seq", "The last seq the change feed handed out.", last_seq)
