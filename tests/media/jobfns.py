"""Module-level job functions for the queue tests (the Redis queue finds jobs by path)."""

from __future__ import annotations

from collections import Counter
from typing import Any

calls: Counter[str] = Counter()
done: list[str] = []


def flaky(payload: dict[str, Any]) -> None:
    """Fails ``payload["failures"]`` times for ``payload["key"]``, then succeeds."""
    key = payload["key"]
    calls[key] += 1
    if calls[key] <= payload["failures"]:
        raise RuntimeError(f"attempt {calls[key]} of {key} failed")
    done.append(key)


def reset() -> None:
    calls.clear()
    done.clear()
