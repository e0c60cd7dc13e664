"""The server's clock. Device clocks never decide anything; this one does.

``clock_at`` sets it for the calling context (one thread, one task): the demo history
(``app.demo.history``) runs the real use cases at past moments with it. Every use case and
model default reads the time through ``utcnow``, so nothing else needs patching.
"""

import contextlib
import contextvars
import datetime as dt
from collections.abc import Iterator

_set_to: contextvars.ContextVar[dt.datetime | None] = contextvars.ContextVar(
    "clock_set_to", default=None
)


def utcnow() -> dt.datetime:
    moment = _set_to.get()
    return moment if moment is not None else dt.datetime.now(dt.UTC)


@contextlib.contextmanager
def clock_at(moment: dt.datetime) -> Iterator[dt.datetime]:
    """Inside the block, ``utcnow()`` answers ``moment`` (an aware time) in this context."""
    if moment.tzinfo is None:
        raise ValueError("clock_at needs an aware datetime")
    token = _set_to.set(moment.astimezone(dt.UTC))
    try:
        yield moment
    finally:
        _set_to.reset(token)
