"""The permission check every route uses: who is calling, and may their role do this?"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import g, request

from app.accounts import services
from app.accounts.models import Device, Role, User
from app.core.errors import Forbidden, Unauthorized
from app.extensions import db

ANY_ROLE = tuple(Role)


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    return token.strip()


def current_user() -> User:
    return g.current_user


def current_device() -> Device:
    return g.current_device


def require_roles(*roles: Role) -> Callable:
    """Let the view run only for an authenticated user whose role is one of ``roles``."""
    allowed = frozenset(roles)

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            user, device = services.authenticate(db.session, _bearer_token())
            g.current_user, g.current_device = user, device
            if Role(user.role) not in allowed:
                raise Forbidden(f"the role {user.role} may not do this")
            return view(*args, **kwargs)

        wrapper.allowed_roles = allowed
        return wrapper

    return decorator


def require_login(view: Callable) -> Callable:
    """Any authenticated, active user."""
    return require_roles(*ANY_ROLE)(view)
