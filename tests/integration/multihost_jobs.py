"""A job function for tests/integration/test_multihost.py, imported by the RQ worker
process it starts (``rq`` imports a job's function by its dotted path). It counts its
attempts in Redis and, on the first, waits to be killed; a later attempt finishes."""

from __future__ import annotations

import time


def slow(payload: dict) -> str:
    """Attempt 1 says it started and waits (the test SIGKILLs the worker); attempt 2+ is
    done at once. ``payload``: ``redis_url`` and ``key`` (a prefix of the test's own)."""
    import redis

    connection = redis.Redis.from_url(payload["redis_url"])
    attempt = connection.incr(f"{payload['key']}:attempts")
    if attempt == 1:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # killed long before this
            time.sleep(0.05)
        return "not killed"
    connection.set(f"{payload['key']}:done", attempt)
    return "done"
