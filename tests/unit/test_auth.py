"""The permission check knows no domain: any registered authenticator serves it."""

from types import SimpleNamespace

import pytest
from flask import Flask

from app.core.auth import (
    current_device,
    current_user,
    register_authenticator,
    require_login,
    require_roles,
)
from app.core.errors import Unauthorized, register_error_handlers

TOKENS = {"t-inspector": "inspector", "t-admin": "admin"}


def _authenticate(token):
    if token not in TOKENS:
        raise Unauthorized("unknown token")
    return SimpleNamespace(role=TOKENS[token]), f"device-of-{token}"


@pytest.fixture
def client():
    app = Flask(__name__)
    register_error_handlers(app)
    register_authenticator(app, _authenticate)

    @app.get("/anyone")
    @require_login
    def anyone():
        return {"role": current_user().role, "device": current_device()}

    @app.get("/admins")
    @require_roles("admin")
    def admins():
        return {"role": current_user().role}

    return app.test_client()


def _get(client, path, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(path, headers=headers)


def test_a_login_view_sees_the_user_and_device_the_authenticator_named(client):
    response = _get(client, "/anyone", "t-inspector")
    assert response.status_code == 200
    assert response.json == {"role": "inspector", "device": "device-of-t-inspector"}


def test_a_role_outside_the_allowed_ones_is_403(client):
    assert _get(client, "/admins", "t-inspector").status_code == 403
    assert _get(client, "/admins", "t-admin").json == {"role": "admin"}


def test_no_token_or_one_the_authenticator_refuses_is_401(client):
    assert _get(client, "/anyone").status_code == 401
    assert _get(client, "/anyone", "t-unknown").status_code == 401
    assert _get(client, "/admins", "t-unknown").status_code == 401


def test_registering_again_replaces_the_authenticator(client):
    register_authenticator(client.application, lambda _token: (SimpleNamespace(role="admin"), None))
    assert _get(client, "/admins", "anything").status_code == 200
