"""The login throttle slows guessing without locking anyone else out (issue 11, rows 9, 10)."""

from __future__ import annotations

import threading
import urllib.request
import uuid

import pytest

from app import create_app
from tests.factories import PASSWORD


def _login(client, username, password=PASSWORD, device_id="phone-1", headers=None):
    body = {
        "username": username,
        "password": password,
        "device_id": device_id,
        "device_name": "Huawei P60",
    }
    return client.post("/api/v1/auth/login", json=body, headers=headers or {})


def test_a_sprayer_at_a_shared_address_does_not_lock_out_the_users_known_phones(client, world, app):
    assert _login(client, "t_inspector", device_id="inspector-phone").status_code == 200
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_IP"]):
        sprayed = _login(client, f"u{uuid.uuid4().hex[:8]}", password="123456")
        assert sprayed.status_code == 401
    # The sprayer is slowed from now on ...
    assert _login(client, f"u{uuid.uuid4().hex[:8]}", password="123456").status_code == 429
    # ... a new phone from that address waits too ...
    assert _login(client, "t_handler", device_id="new-phone").status_code == 429
    # ... but a user on the phone they already use gets in.
    assert _login(client, "t_inspector", device_id="inspector-phone").status_code == 200


@pytest.fixture
def proxied(app, committing, database_url, tmp_path):
    """The service behind one trusted reverse proxy."""
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URL": database_url,
            "MEDIA_ROOT": str(tmp_path / "media"),
            "UPLOADS_ROOT": str(tmp_path / "uploads"),
            "TRUSTED_PROXIES": "127.0.0.1",
        }
    ).test_client()


def test_the_address_comes_from_x_forwarded_for_only_through_a_trusted_proxy(
    client, proxied, world, app
):
    limit = app.config["LOGIN_MAX_FAILURES_PER_IP"]
    sprayer = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(limit):
        assert _login(proxied, f"u{uuid.uuid4().hex[:8]}", "x", headers=sprayer).status_code == 401
    assert _login(proxied, "t_handler", device_id="p2", headers=sprayer).status_code == 429
    phone = {"X-Forwarded-For": "198.51.100.20"}
    assert _login(proxied, "t_handler", device_id="p2", headers=phone).status_code == 200
    # Without a trusted proxy the header is ignored: a sprayer cannot pick new addresses.
    for n in range(limit):
        spoofed = {"X-Forwarded-For": f"192.0.2.{n}"}
        _login(client, f"v{uuid.uuid4().hex[:8]}", "x", headers=spoofed)
    assert (
        _login(
            client, "t_road_chief", device_id="p3", headers={"X-Forwarded-For": "192.0.2.250"}
        ).status_code
        == 429
    )


@pytest.fixture
def server(live_server):
    return live_server


def test_parallel_guesses_check_no_more_passwords_than_the_limit(server, world, app, monkeypatch):
    from app.accounts import services

    checked = []
    real = services.verify_password

    def counting(*args):
        checked.append(1)
        return real(*args)

    monkeypatch.setattr(services, "verify_password", counting)
    body = b'{"username": "t_handler", "password": "wrong-guess", "device_id": "d"}'
    statuses: list[int] = []

    def guess() -> None:
        request = urllib.request.Request(
            f"{server}/api/v1/auth/login",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                statuses.append(response.status)
        except urllib.error.HTTPError as error:
            statuses.append(error.code)

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(statuses)) == [401, 429]
    assert len(checked) <= app.config["LOGIN_MAX_FAILURES"]
    assert statuses.count(401) == len(checked)
