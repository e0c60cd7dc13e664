"""What the reference client raises when it cannot get past something on its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fieldclient.transport import Response
from sync.envelope import InvalidMutation


class SyncError(Exception):
    """Something the client cannot get past on its own."""


class RequestRefused(SyncError):
    """The server refused the request itself (a 4xx): sending it again cannot help."""

    def __init__(self, method: str, path: str, response: Response):
        body = response.json()
        body = body if isinstance(body, Mapping) else {}
        errors = body.get("errors")
        self.status = response.status
        self.errors: Mapping[str, Any] = errors if isinstance(errors, Mapping) else {}
        reason = self.errors.get("reason")
        self.reason: str | None = reason if isinstance(reason, str) else None
        self.message = str(body.get("message") or body.get("status") or "")
        detail = f" ({self.reason})" if self.reason else ""
        super().__init__(f"{method} {path} refused: {self.status}{detail} {self.message}".strip())


class AuthenticationFailed(RequestRefused):
    """401: wrong user name or password, or a token that expired or was revoked."""


class ServerUnavailable(SyncError):
    """Every attempt failed with a 5xx or a dropped connection; the queue is kept."""


class ProtocolError(SyncError):
    """The server answered something the protocol does not allow."""


class MidReused(SyncError):
    """The server already holds this device's mid with other content: this state file is
    not the device's own (restored from elsewhere, or the device id was reused)."""


class InvalidMutationError(ValueError):
    """A mutation that the server would reject for its shape; nothing was queued."""

    def __init__(self, invalid: InvalidMutation):
        super().__init__(f"{invalid.reason}: {invalid.message}")
        self.reason = invalid.reason
        self.errors = invalid.errors
