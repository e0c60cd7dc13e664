"""The permission check every route uses: who is calling, and may their role do this?

The check knows no domain. It reads the bearer token and asks the authenticator the app
registered (accounts: a token is one device's, and names its user) whom the token belongs
to; a role is the plain string value the user carries.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol

from flask import Flask, current_app, g, request
from flask_smorest import Blueprint

from app.core.errors import Forbidden, Unauthorized

_EXTENSION = "authenticator"


class Caller(Protocol):
    """What the check needs of the user an authenticator returns."""

    role: str


# Bearer token → (user, device); raises Unauthorized for a token it does not accept.
Authenticator = Callable[[str], tuple[Caller, Any]]


def register_authenticator(app: Flask, authenticate: Authenticator) -> None:
    """Make ``authenticate`` the app's; registering again replaces it."""
    app.extensions[_EXTENSION] = authenticate


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    return token.strip()


def _authenticate() -> Caller:
    authenticate: Authenticator = current_app.extensions[_EXTENSION]
    g.current_user, g.current_device = authenticate(_bearer_token())
    return g.current_user


def current_user() -> Any:
    """The user the bearer token named, in a view behind ``require_login``/``require_roles``."""
    return g.current_user


def current_device() -> Any:
    """The device the bearer token belongs to."""
    return g.current_device


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _documented(wrapper: Callable, roles: frozenset[str] | None) -> Callable:
    """The OpenAPI document says who may call the operation: its roles (``x-roles``), and
    the 401 and 403 the check answers. Written here, where the rule is, for every route."""
    who = ", ".join(sorted(roles)) if roles else "any signed-in user"
    responses = {"401": _error("No valid bearer token: log in (POST /api/v1/auth/login)")}
    if roles:
        responses["403"] = _error(f"The caller's role may not do this; roles allowed: {who}")
    return Blueprint.doc(responses=responses, **{"x-roles": sorted(roles or ["*"])})(wrapper)


def require_login(view: Callable) -> Callable:
    """Let the view run for any authenticated user, whatever the role."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        _authenticate()
        return view(*args, **kwargs)

    return _documented(wrapper, None)


def require_roles(*roles: str) -> Callable:
    """Let the view run only for an authenticated user whose role is one of ``roles``."""
    allowed = frozenset(roles)

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            user = _authenticate()
            if user.role not in allowed:
                raise Forbidden(f"the role {user.role} may not do this")
            return view(*args, **kwargs)

        return _documented(wrapper, allowed)

    return decorator
