"""Requests that survive a bad link: retries with backoff, and what a refusal means.

A 5xx or a dropped connection tells the client nothing, so it waits (exponential backoff
with jitter, or the server's ``Retry-After``) and sends the same thing again — ``duplicate``
results make that safe. A request-level 4xx is a bug or a misconfiguration the client cannot
fix by retrying: it raises ``RequestRefused`` with the server's stable ``reason``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import random
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from fieldclient.errors import AuthenticationFailed, RequestRefused, ServerUnavailable
from fieldclient.transport import ConnectionLost, Response, Transport


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying one request over a failing link or a failing server.

    The wait before attempt n+1 is ``min(max_delay, base_delay · 2ⁿ⁻¹)`` scaled by a random
    factor in [½, 1] (the jitter spreads out fifty phones that lost the same tower), unless
    the server said ``Retry-After``, which is honoured up to ``max_retry_after``. ``sleep``
    and ``rand`` are how the policy waits and draws its jitter: tests inject their own to
    watch the backoff without waiting.
    """

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 60.0
    max_retry_after: float = 600.0
    sleep: Callable[[float], None] = dataclasses.field(default=time.sleep, repr=False)
    rand: Callable[[], float] = dataclasses.field(default=random.random, repr=False)

    def backoff(self, failures: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * 2 ** (failures - 1))
        return ceiling * (0.5 + self.rand() / 2)


class Attempts:
    """Failed attempts at one thing, and the waits between them."""

    def __init__(self, policy: RetryPolicy, what: str):
        self.policy = policy
        self.what = what
        self.failures = 0

    def failed(self, why: str, retry_after: float | None = None) -> None:
        """Count a failure and wait before the next attempt; give up when none are left."""
        policy = self.policy
        self.failures += 1
        if self.failures >= policy.max_attempts:
            raise ServerUnavailable(f"{self.what}: gave up after {self.failures} attempts: {why}")
        if retry_after is not None:
            wait = min(retry_after, policy.max_retry_after)
        else:
            wait = policy.backoff(self.failures)
        policy.sleep(wait)

    def progressed(self) -> None:
        self.failures = 0


class Caller:
    """Requests with retries: shared by the client, its photo uploads and its login."""

    def __init__(self, transport: Transport, token: str | None, retry: RetryPolicy):
        self.transport = transport
        self.token = token
        self.retry = retry

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra or {})
        return headers

    def attempts(self, what: str) -> Attempts:
        return Attempts(self.retry, what)

    def send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        body: bytes | None = None,
    ) -> Response:
        """One attempt; ``ConnectionLost`` when no response came."""
        return self.transport.request(
            method, path, headers=self.headers(headers), json=json, body=body
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...] = (200,),
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        body: bytes | None = None,
    ) -> Response:
        """Send until a status in ``ok`` comes back. A 5xx or a dropped connection is tried
        again after a wait; 401 raises ``AuthenticationFailed``, any other status
        ``RequestRefused``."""
        attempts = self.attempts(f"{method} {short_path(path)}")
        while True:
            try:
                response = self.send(method, path, headers=headers, json=json, body=body)
            except ConnectionLost as lost:
                attempts.failed(str(lost))
                continue
            if response.status in ok:
                return response
            if response.status >= 500:
                attempts.failed(f"status {response.status}", retry_after_of(response))
                continue
            raise refusal(method, path, response)


def refusal(method: str, path: str, response: Response) -> RequestRefused:
    if response.status == 401:
        return AuthenticationFailed(method, short_path(path), response)
    return RequestRefused(method, short_path(path), response)


def retry_after_of(response: Response, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date (RFC 9110)."""
    raw = response.header("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def short_path(path: str) -> str:
    """A tus URL is absolute; errors read better with its path only."""
    return urllib.parse.urlsplit(path).path or path
