"""A test clock: the server's ``utcnow`` set and moved by the test.

Modules import ``utcnow`` from ``app.core.clock`` by name, so setting the clock patches that
name in every loaded ``app`` module that holds it (undone by ``monkeypatch`` after the test).
"""

from __future__ import annotations

import datetime as dt
import sys

from app.core import clock as server_clock

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def local(day: str, hhmm: str) -> dt.datetime:
    """A moment in the city's time (Asia/Shanghai): ``local("2026-03-09", "09:30")``."""
    return dt.datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=SHANGHAI)


class TestClock:
    """The server's clock, standing still at ``now`` until set or advanced."""

    __test__ = False

    def __init__(self, monkeypatch, start: dt.datetime) -> None:
        self.now = start.astimezone(dt.UTC)
        real = server_clock.utcnow
        for name, module in list(sys.modules.items()):
            if name.startswith("app.") and getattr(module, "utcnow", None) is real:
                monkeypatch.setattr(module, "utcnow", self)

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, moment: dt.datetime) -> None:
        self.now = moment.astimezone(dt.UTC)

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)
