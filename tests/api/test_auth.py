"""Login per device, logout, revocation, throttling, and bad input on the auth routes."""

from tests.factories import PASSWORD, login_headers


def _login(client, username, password=PASSWORD, device_id="phone-1", **extra):
    body = {
        "username": username,
        "password": password,
        "device_id": device_id,
        "device_name": "Huawei P60",
        **extra,
    }
    return client.post("/api/v1/auth/login", json=body)


def test_login_returns_a_bearer_token_and_the_user(client, world):
    response = _login(client, "t_inspector")
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["user"]["username"] == "t_inspector"
    assert body["user"]["role"] == "inspector"
    assert "password" not in body["user"] and "password_hash" not in body["user"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.get_json()["username"] == "t_inspector"


def test_token_is_stored_only_as_a_hash(client, world, session):
    from app.accounts.models import Device

    token = _login(client, "t_inspector").get_json()["access_token"]
    stored = [d.token_hash for d in session.query(Device).all()]
    assert token not in stored
    assert all(len(h) == 64 for h in stored)


def test_wrong_password_and_unknown_user_are_401_alike(client, world):
    wrong = _login(client, "t_inspector", password="wrong-password!")
    unknown = _login(client, "nobody", password="wrong-password!")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json()["message"] == unknown.get_json()["message"]


def test_logout_revokes_only_the_calling_device(client, world):
    phone = login_headers(client, "t_inspector", device_id="phone")
    tablet = login_headers(client, "t_inspector", device_id="tablet")
    assert client.post("/api/v1/auth/logout", headers=phone).status_code == 204
    assert client.get("/api/v1/auth/me", headers=phone).status_code == 401
    assert client.get("/api/v1/auth/me", headers=tablet).status_code == 200


def test_relogin_on_the_same_device_replaces_its_token(client, world):
    first = login_headers(client, "t_inspector", device_id="phone")
    second = login_headers(client, "t_inspector", device_id="phone")
    assert client.get("/api/v1/auth/me", headers=first).status_code == 401
    assert client.get("/api/v1/auth/me", headers=second).status_code == 200


def test_failed_logins_are_throttled_then_reset_by_success(client, world, app):
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert _login(client, "t_handler", password="bad-password-x").status_code == 401
    blocked = _login(client, "t_handler")
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"]
    # Another user from the same address is not locked out by these few failures.
    assert _login(client, "t_inspector").status_code == 200


def test_missing_malformed_and_unknown_tokens_are_401(client, world):
    assert client.get("/api/v1/auth/me").status_code == 401
    assert client.get("/api/v1/auth/me", headers={"Authorization": "Basic abc"}).status_code == 401
    response = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json()["code"] == 401


def test_login_bad_input_is_4xx_with_field_errors(client, world):
    malformed = client.post("/api/v1/auth/login", data="{not json", content_type="application/json")
    assert malformed.status_code in (400, 422)
    missing = client.post("/api/v1/auth/login", json={"username": "t_inspector"})
    assert missing.status_code == 422
    assert "password" in missing.get_json()["errors"]["json"]
    wrong_type = client.post(
        "/api/v1/auth/login", json={"username": 5, "password": [], "device_id": {}}
    )
    assert wrong_type.status_code == 422
    extra = _login(client, "t_inspector", role="admin")
    assert extra.status_code == 422


def test_oversize_body_is_413(client, world, app):
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    response = client.post("/api/v1/auth/login", data=big, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["code"] == 413


def test_deactivated_user_loses_every_device(client, world, auth):
    phone = login_headers(client, "t_inspector", device_id="p1")
    user_id = world.users["inspector"].id
    response = client.patch(
        f"/api/v1/admin/users/{user_id}", json={"is_active": False}, headers=auth("admin")
    )
    assert response.status_code == 200
    assert client.get("/api/v1/auth/me", headers=phone).status_code == 401
    assert _login(client, "t_inspector").status_code == 401


def test_admin_lists_and_revokes_devices(client, world, auth):
    phone = login_headers(client, "t_inspector", device_id="lost-phone")
    user_id = world.users["inspector"].id
    listed = client.get(
        f"/api/v1/admin/devices?user_id={user_id}&active=true", headers=auth("admin")
    )
    assert listed.status_code == 200
    devices = listed.get_json()
    assert [d["device_id"] for d in devices] == ["lost-phone"]
    assert "X-Pagination" in listed.headers
    revoked = client.post(f"/api/v1/admin/devices/{devices[0]['id']}/revoke", headers=auth("admin"))
    assert revoked.status_code == 200 and revoked.get_json()["active"] is False
    assert client.get("/api/v1/auth/me", headers=phone).status_code == 401
    assert (
        client.post("/api/v1/admin/devices/999999/revoke", headers=auth("admin")).status_code == 404
    )
