"""Redis for the tests that need a real one."""

from __future__ import annotations

import os

import pytest


def reachable_redis(url: str):
    """A connection to ``url``; a failure in CI (``TEST_REDIS_URL`` set), a skip elsewhere."""
    redis = pytest.importorskip("redis")
    connection = redis.Redis.from_url(url)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError as error:
        if os.environ.get("TEST_REDIS_URL"):
            pytest.fail(f"Redis at TEST_REDIS_URL is unreachable: {error}")
        pytest.skip("no Redis on 127.0.0.1:6379 and TEST_REDIS_URL not set")
    return connection
