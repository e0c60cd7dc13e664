"""Sending domain signals once the work they announce is committed.

Services send their signals after their own ``commit()``. Inside an offline-sync push
that commit only releases a savepoint: the push commits later, or rolls a mutation back.
``deferred()`` holds the signals until the caller has really committed; a savepoint that
is rolled back drops the signals sent inside it (``checkpoint`` / ``discard_since``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from blinker import Signal

_pending: ContextVar[list[tuple[Signal, dict]] | None] = ContextVar("pending_signals", default=None)


def send(signal: Signal, **kwargs) -> None:
    """Send ``signal`` now, or when the enclosing ``deferred()`` block's work is committed."""
    queue = _pending.get()
    if queue is None:
        signal.send(None, **kwargs)
    else:
        queue.append((signal, kwargs))


@contextlib.contextmanager
def deferred() -> Iterator[list[tuple[Signal, dict]]]:
    """Collect signals instead of sending them; the caller sends them with ``release``
    after its commit, or simply drops the list after a rollback."""
    queue: list[tuple[Signal, dict]] = []
    token = _pending.set(queue)
    try:
        yield queue
    finally:
        _pending.reset(token)


def checkpoint() -> int:
    queue = _pending.get()
    return 0 if queue is None else len(queue)


def discard_since(mark: int) -> None:
    """Forget the signals of work that was rolled back."""
    queue = _pending.get()
    if queue is not None:
        del queue[mark:]


_MERGED: dict[Signal, str] = {}


def merge_sends(signal: Signal, list_argument: str) -> None:
    """Let ``release`` send ``signal`` once for a whole push: its held sends, whose only
    argument is the list ``list_argument``, become one send with the lists joined (at the
    place of the first). For a receiver that does one thing per list (the outbox claims
    its rows in one statement), not one per send; only for receivers that look up what
    the list names, since a list may then name rows a rolled-back savepoint took away."""
    _MERGED[signal] = list_argument


def release(queue: list[tuple[Signal, dict]]) -> None:
    sends: list[tuple[Signal, dict]] = []
    joined: dict[Signal, list] = {}
    for signal, kwargs in queue:
        name = _MERGED.get(signal)
        if name is None or set(kwargs) != {name}:
            sends.append((signal, kwargs))
        elif signal in joined:
            joined[signal].extend(kwargs[name])
        else:
            joined[signal] = list(kwargs[name])
            sends.append((signal, {name: joined[signal]}))
    queue.clear()
    for signal, kwargs in sends:
        signal.send(None, **kwargs)
