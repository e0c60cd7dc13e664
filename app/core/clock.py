"""The server's clock. Device clocks never decide anything; this one does."""

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
