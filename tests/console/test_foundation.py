"""The console's foundation: sign-in with the API's accounts and throttle, the session
cookie, CSRF on forms, the role check, assets served locally, and no console route in the
OpenAPI document."""

from __future__ import annotations

import pytest

from tests.console.support import CSRF, post_form, sign_in


def test_sign_in_sets_an_httponly_lax_session_cookie(client, world):
    response = sign_in(client, world.users["dispatcher"].username)
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/"
    cookie = next(
        header for header in response.headers.getlist("Set-Cookie") if "console_session=" in header
    )
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    assert client.get("/console/").headers["Location"] == "/console/queues"


def test_the_cookie_is_secure_over_tls(client, world):
    html = client.get("/console/login", base_url="https://localhost").get_data(as_text=True)
    token = CSRF.search(html).group(1)
    response = client.post(
        "/console/login",
        base_url="https://localhost",
        headers={"Referer": "https://localhost/console/login"},
        data={
            "username": world.users["dispatcher"].username,
            "password": "correct-horse-battery",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    cookies = response.headers.getlist("Set-Cookie")
    assert any("console_session=" in c and "Secure" in c for c in cookies), cookies


def test_a_wrong_password_is_refused_and_counted_by_the_api_throttle(app, client, world):
    name = world.users["dispatcher"].username
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert sign_in(client, name, "wrong-password!").status_code == 401
    response = sign_in(client, name)  # the right password, past the limit
    assert response.status_code == 429
    assert "登录失败次数过多" in response.get_data(as_text=True)
    # The API's login shares the count.
    api = client.post(
        "/api/v1/auth/login",
        json={
            "username": name,
            "password": "correct-horse-battery",
            "device_id": "p",
            "device_name": "p",
        },
    )
    assert api.status_code == 429


def test_a_page_redirects_to_sign_in_and_back(client, world):
    response = client.get("/console/queues?state=reported")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login?next=")
    response = sign_in(
        client, world.users["dispatcher"].username, next="/console/queues?state=reported"
    )
    assert response.headers["Location"] == "/console/queues?state=reported"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/api/v1/cases"])
def test_sign_in_never_sends_elsewhere(client, world, target):
    response = sign_in(client, world.users["dispatcher"].username, next=target)
    assert response.headers["Location"] == "/console/"


def test_a_form_without_its_csrf_token_is_refused(client, world):
    response = client.post(
        "/console/login",
        data={"username": world.users["dispatcher"].username, "password": "correct-horse-battery"},
    )
    assert response.status_code == 400
    assert "安全令牌" in response.get_data(as_text=True)
    assert client.get("/console/queues").status_code == 302  # not signed in


def test_sign_out_revokes_the_browser_token(client, world, session):
    sign_in(client, world.users["dispatcher"].username)
    assert client.get("/console/queues").status_code == 200
    assert post_form(client, "/console/logout", {}, "/console/queues").status_code == 303
    assert client.get("/console/queues").status_code == 302


def test_a_deactivated_user_is_signed_out(client, world, session):
    from app.accounts import services

    sign_in(client, world.users["dispatcher"].username)
    services.update_user(session, world.users["dispatcher"].id, {"is_active": False})
    assert client.get("/console/queues").status_code == 302


def test_a_role_without_the_page_gets_403(client, world):
    sign_in(client, world.users["handler"].username)
    response = client.get("/console/queues")
    assert response.status_code == 403
    assert "无权访问" in response.get_data(as_text=True)


def test_leaflet_is_served_by_the_app(client):
    response = client.get("/console/assets/leaflet/leaflet.js")
    assert response.status_code == 200
    assert b"Leaflet" in response.data[:2000]
    assert client.get("/console/static/console.css").status_code == 200


def test_console_routes_stay_out_of_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert not [path for path in paths if path.startswith("/console")]


def test_pages_carry_no_external_url(client, world):
    sign_in(client, world.users["dispatcher"].username)
    for path in ("/console/login", "/console/queues"):
        html = client.get(path).get_data(as_text=True)
        assert "http://" not in html and "https://" not in html and "//cdn" not in html
