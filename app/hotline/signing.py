"""The bridge's request signature: HMAC-SHA256 over ``timestamp.body`` with the shared
secret, hex in ``X-Hotline-Signature``, the Unix time in ``X-Hotline-Timestamp``. Pure: no
database, no web framework."""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Hotline-Timestamp"
SIGNATURE_HEADER = "X-Hotline-Signature"


class BadSignature(Exception):
    """Why a request is refused: ``reason`` is ``unsigned``, ``bad_signature`` or ``stale``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def check(
    secret: str,
    timestamp: str | None,
    given: str | None,
    body: bytes,
    now: float,
    window_seconds: int,
) -> str:
    """The request's signature once it is right and fresh (lower-case hex)."""
    if not timestamp or not given:
        raise BadSignature("unsigned", f"send {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise BadSignature("bad_signature", f"{TIMESTAMP_HEADER} is Unix seconds") from None
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected, given.strip().lower()):
        raise BadSignature("bad_signature", "the signature does not match the body")
    if abs(now - sent_at) > window_seconds:
        raise BadSignature("stale", f"the timestamp is more than {window_seconds} s off")
    return expected
