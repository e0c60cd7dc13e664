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


def release(queue: list[tuple[Signal, dict]]) -> None:
    for signal, kwargs in queue:
        signal.send(None, **kwargs)
    queue.clear()
