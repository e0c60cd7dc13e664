"""``app.core.proxies``: forwarding headers believed from trusted peers only."""

from __future__ import annotations

import threading

import pytest

from app.core.proxies import TRUSTED_PEER, TrustedProxies, parse_networks
from app.health.readiness import run_all


def _seen(networks: str, peer: str, **headers: str) -> dict:
    seen: dict = {}

    def app(environ, start_response):
        seen.update(environ)
        return []

    environ = {"REMOTE_ADDR": peer, "wsgi.url_scheme": "http", "HTTP_HOST": "app1:8000"}
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    TrustedProxies(app, parse_networks(networks))(environ, lambda *a: None)
    return seen


def test_a_trusted_peer_speaks_for_the_client_it_forwards():
    seen = _seen(
        "10.0.0.0/8, ::1",
        "10.0.0.2",
        x_forwarded_for="203.0.113.9",
        x_forwarded_proto="https",
        x_forwarded_host="cg.example.cn",
    )
    assert seen["REMOTE_ADDR"] == "203.0.113.9"
    assert seen["wsgi.url_scheme"] == "https" and seen["HTTP_HOST"] == "cg.example.cn"
    assert seen[TRUSTED_PEER] is True


def test_any_other_peer_is_taken_as_the_socket_saw_it():
    seen = _seen(
        "10.0.0.0/8",
        "198.51.100.4",
        x_forwarded_for="203.0.113.9",
        x_forwarded_proto="https",
        x_forwarded_host="evil.example",
    )
    assert seen["REMOTE_ADDR"] == "198.51.100.4"
    assert seen["wsgi.url_scheme"] == "http" and seen["HTTP_HOST"] == "app1:8000"
    assert TRUSTED_PEER not in seen
    assert _seen("", "10.0.0.2", x_forwarded_for="203.0.113.9")["REMOTE_ADDR"] == "10.0.0.2"


def test_a_chain_of_proxies_is_walked_to_the_first_untrusted_address():
    chain = "192.0.2.66, 203.0.113.9, 10.0.0.7"  # client-written, client, inner proxy
    assert _seen("10.0.0.0/8", "10.0.0.2", x_forwarded_for=chain)["REMOTE_ADDR"] == "203.0.113.9"
    # Garbage stops the walk at the last good address.
    junk = "203.0.113.9, not-an-ip, 10.0.0.7"
    assert _seen("10.0.0.0/8", "10.0.0.2", x_forwarded_for=junk)["REMOTE_ADDR"] == "10.0.0.7"


@pytest.mark.parametrize("setting", ["1", "10.0.0.300", "proxy.local"])
def test_a_count_or_a_name_is_no_trusted_proxy_setting(setting):
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        parse_networks(setting)


def test_a_readiness_check_that_hangs_is_reported_after_the_timeout():
    release = threading.Event()
    try:
        results = run_all({"ok": lambda: "fine", "stuck": lambda: str(release.wait(5))}, 0.2)
    finally:
        release.set()
    assert results["ok"].ok and not results["stuck"].ok
    assert "no answer within 0.2 s" in results["stuck"].detail
