"""How the reference client reaches the server: one request in, one response out.

The client (``fieldclient.client``) speaks only to the ``Transport`` protocol, so the same
code runs over real HTTP (``HttpTransport``, stdlib ``http.client``), over Flask's test client
in the tests, and over a scripted double in the unit tests. A transport does not retry and does
not judge status codes: a response of any status is returned; only a request that got no
response at all (refused connection, timeout, connection dropped mid-way) raises
``ConnectionLost``, which tells the client nothing about what the server did.
"""

from __future__ import annotations

import dataclasses
import http.client
import json as jsonlib
import urllib.parse
from collections.abc import Mapping
from typing import Any, Protocol

USER_AGENT = "chengguan-sync-client/1"


class ConnectionLost(Exception):
    """No response came back: the request may or may not have reached the server."""


@dataclasses.dataclass(frozen=True)
class Response:
    """A status, the headers (names lower-cased) and the body's bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes = b""

    @classmethod
    def of(cls, status: int, headers: Mapping[str, str] | None = None, body: bytes = b""):
        return cls(status, {k.lower(): v for k, v in (headers or {}).items()}, body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body as JSON, or None when it is empty or not JSON (a proxy's HTML page)."""
        if not self.body:
            return None
        try:
            return jsonlib.loads(self.body)
        except ValueError:
            return None


class Transport(Protocol):
    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        json: Any = None,
        body: bytes | None = None,
    ) -> Response:
        """Send one request. ``path`` is a path under the server's root (``/api/v1/…``) or an
        absolute URL the server handed out (a tus ``Location``). ``json`` or ``body``, not
        both. Raises ``ConnectionLost`` when no response came back."""
        ...


def encode_body(
    headers: Mapping[str, str], json: Any, body: bytes | None
) -> tuple[dict[str, str], bytes | None]:
    """The bytes to send and the headers that describe them."""
    if json is not None and body is not None:
        raise ValueError("send json or body, not both")
    out = dict(headers)
    if json is not None:
        out["Content-Type"] = "application/json"
        return out, jsonlib.dumps(json, ensure_ascii=False).encode()
    return out, body


class HttpTransport:
    """HTTP(S) with the standard library: one connection per request.

    The servers this talks to (gunicorn's sync workers, Werkzeug) close the connection after
    each response anyway, and a fresh connection can never be a half-dead one left over from
    before the phone lost its link.
    """

    def __init__(self, base_url: str, timeout: float = 30.0):
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def url_of(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + path

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        json: Any = None,
        body: bytes | None = None,
    ) -> Response:
        url = urllib.parse.urlsplit(self.url_of(path))
        sent_headers, data = encode_body(headers, json, body)
        sent_headers.setdefault("User-Agent", USER_AGENT)
        if data is not None or method in ("POST", "PUT", "PATCH"):
            sent_headers["Content-Length"] = str(len(data or b""))
        connection_class = (
            http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(url.hostname, url.port, timeout=self.timeout)
        target = url.path + (f"?{url.query}" if url.query else "")
        try:
            connection.request(method, target, body=data, headers=sent_headers)
            answer = connection.getresponse()
            payload = answer.read()
            return Response.of(answer.status, dict(answer.getheaders()), payload)
        except (OSError, http.client.HTTPException) as error:
            raise ConnectionLost(f"{method} {target}: {error!r}") from error
        finally:
            connection.close()
