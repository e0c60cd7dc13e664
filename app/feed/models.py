"""The change feed phones pull: one row per change and audience key, numbered in commit order.

``FeedChange`` rows are written only at commit (``app.feed.capture``), with ``seq`` taken from
the single-row ``FeedCounter`` as the transaction's last statements: the row lock on the
counter serialises that instant, so seq order is commit order and a reader that sees
``seq = n`` sees every change numbered below ``n`` too (no skipped change under concurrent
writers). Until then a transaction's changes wait in its connection's buffer
(``app.feed.capture``).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime


class FeedCounter(Base):
    """The last seq handed out (one row, ``id = 1``) and the oldest seq still kept."""

    __tablename__ = "feed_counter"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # Changes numbered below ``floor`` were pruned: a cursor older than that gets a reset.
    floor: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class FeedChange(Base):
    """``entity`` changed at ``seq``; users holding ``key`` may care. Which op a user gets
    (upsert, revoke, delete) is decided when they pull, from what they may see then."""

    __tablename__ = "feed_changes"
    __table_args__ = (sa.Index("ix_feed_changes_key_seq", "key", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    key: Mapped[str] = mapped_column(sa.String(48))
    entity_type: Mapped[str] = mapped_column(sa.String(16))
    entity_id: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
