"""Which peers may speak for the client: ``X-Forwarded-*`` from trusted proxies only.

werkzeug's ``ProxyFix`` believes the last N entries of ``X-Forwarded-For`` whoever sends
them, so a phone talking to an app server directly could pick the address the login
throttle counts. Here the headers count only when the direct peer is one of
``TRUSTED_PROXIES`` (addresses or networks); the client is then the nearest address in
``X-Forwarded-For`` that is not itself a trusted proxy (a chain of proxies is walked from
the right), and the scheme and host are the nearest proxy's ``X-Forwarded-Proto`` and
``-Host``. The environ key ``TRUSTED_PEER`` tells later code (the request id) that the
peer was trusted.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

TRUSTED_PEER = "chengguan.trusted_peer"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(setting: str | Iterable[str]) -> tuple[Network, ...]:
    """``"10.0.0.5, 10.1.0.0/16"`` → networks; a bare count (the old meaning) is refused."""
    entries = setting.split(",") if isinstance(setting, str) else setting
    networks = []
    for entry in (str(e).strip() for e in entries):
        if not entry:
            continue
        if entry.isdigit():
            raise ValueError(
                f"TRUSTED_PROXIES lists the proxies' addresses or networks, not a count: {entry!r}"
            )
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"TRUSTED_PROXIES: {entry!r} is no IP address or network") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


class TrustedProxies:
    """WSGI middleware: rewrites ``REMOTE_ADDR``, the scheme and the host from a trusted peer's
    forwarding headers, and leaves every other request as the socket saw it."""

    def __init__(self, app: Callable, networks: Iterable[Network]) -> None:
        self.app = app
        self.networks = tuple(networks)

    def trusts(self, text: str | None) -> bool:
        address = _address(text or "")
        return address is not None and any(address in net for net in self.networks)

    def client(self, peer: str, forwarded_for: str) -> str:
        """The first address from the right that is not a trusted proxy (or the last valid)."""
        client = peer
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
            if _address(hop) is None:
                break
            client = hop
            if not self.trusts(hop):
                break
        return client

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        peer = environ.get("REMOTE_ADDR", "")
        if not self.networks or not self.trusts(peer):
            return self.app(environ, start_response)
        environ[TRUSTED_PEER] = True
        environ["chengguan.peer_addr"] = peer
        environ["REMOTE_ADDR"] = self.client(peer, environ.get("HTTP_X_FORWARDED_FOR", ""))
        proto = _nearest(environ.get("HTTP_X_FORWARDED_PROTO", "")).lower()
        if proto in ("http", "https"):
            environ["wsgi.url_scheme"] = proto
        host = _nearest(environ.get("HTTP_X_FORWARDED_HOST", ""))
        if host:
            environ["HTTP_HOST"] = host
        return self.app(environ, start_response)


def _nearest(header: str) -> str:
    """The entry the nearest proxy appended (the last one)."""
    return header.rsplit(",", 1)[-1].strip()
