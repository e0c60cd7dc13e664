"""Accounts enrol in the permission check (app.core.auth): a bearer token is one device's."""

from __future__ import annotations

from flask import Flask

from app.accounts import services
from app.accounts.models import Device, User
from app.core.auth import register_authenticator
from app.extensions import db


def _authenticate(token: str) -> tuple[User, Device]:
    return services.authenticate(db.session, token)


def register(app: Flask) -> None:
    """Let the app's permission check resolve bearer tokens to accounts' users and devices."""
    register_authenticator(app, _authenticate)
