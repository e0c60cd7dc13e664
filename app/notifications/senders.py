"""Senders: how a delivery leaves, registered by name (the delivery's ``channel``).

``log`` writes a line (the default for users' notifications: their phones read them through
the pull feed); ``webhook`` POSTs the payload as JSON to the delivery's endpoint with an
HMAC-SHA256 signature header; ``sms`` hands a text to an ``SmsGateway``: an interface with
a fake for tests and development, no real provider.
"""

from __future__ import annotations

import abc
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any, Protocol

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"


class SendFailed(Exception):
    """The delivery did not get through this time (it is retried)."""


class Outgoing(Protocol):
    """What a sender needs of a delivery."""

    id: int
    kind: str
    recipient_user_id: int | None
    endpoint: str | None
    payload: dict


class Sender(abc.ABC):
    @abc.abstractmethod
    def send(self, delivery: Outgoing) -> None:
        """Deliver, or raise ``SendFailed`` with the reason."""


class LogSender(Sender):
    def send(self, delivery: Outgoing) -> None:
        log.info(
            "notification %s %s to %s",
            delivery.id,
            delivery.kind,
            f"user {delivery.recipient_user_id}"
            if delivery.recipient_user_id
            else delivery.endpoint,
        )


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``timestamp.body``."""
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class WebhookSender(Sender):
    """POST the payload as JSON; a 2xx answer is a delivery, anything else a failure."""

    def __init__(self, secret: str = "", timeout: float = 10.0) -> None:
        self.secret = secret
        self.timeout = timeout

    def send(self, delivery: Outgoing) -> None:
        if not delivery.endpoint:
            raise SendFailed("no endpoint to post to")
        body = json.dumps(delivery.payload, ensure_ascii=False, sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.secret, timestamp, body),
            "X-Delivery-Id": str(delivery.id),
        }
        request = urllib.request.Request(delivery.endpoint, body, headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            raise SendFailed(f"HTTP {error.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise SendFailed(f"{type(error).__name__}: {error}") from None
        if not 200 <= status < 300:
            raise SendFailed(f"HTTP {status}")


class SmsGateway(abc.ABC):
    """An SMS provider, to be implemented for the one a city contracts."""

    @abc.abstractmethod
    def send_text(self, phone: str, text: str) -> None:
        """Send ``text`` to ``phone``; raise ``SendFailed`` when the provider refuses."""


class FakeSmsGateway(SmsGateway):
    """Keeps the texts it was given (tests, development); fails for numbers in ``failing``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.failing: set[str] = set()

    def send_text(self, phone: str, text: str) -> None:
        if phone in self.failing:
            raise SendFailed(f"gateway refused {phone}")
        self.sent.append((phone, text))


class SmsSender(Sender):
    """The delivery's endpoint is the phone number; the payload's ``text`` the message."""

    def __init__(self, gateway: SmsGateway) -> None:
        self.gateway = gateway

    def send(self, delivery: Outgoing) -> None:
        if not delivery.endpoint:
            raise SendFailed("no phone number")
        self.gateway.send_text(delivery.endpoint, str(delivery.payload.get("text", "")))


def default_senders(config: dict[str, Any]) -> dict[str, Sender]:
    """The senders an app starts with, from its settings."""
    return {
        "log": LogSender(),
        "webhook": WebhookSender(
            config.get("NOTIFY_WEBHOOK_SECRET", ""), config.get("NOTIFY_WEBHOOK_TIMEOUT", 10)
        ),
        "sms": SmsSender(FakeSmsGateway()),
    }
