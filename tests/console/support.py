"""Driving the console with Flask's test client: sign in through the form, read the CSRF
token a page carries."""

from __future__ import annotations

import re

from tests import factories

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str = "/console/login") -> str:
    html = client.get(path, follow_redirects=True).get_data(as_text=True)
    return CSRF.search(html).group(1)


def sign_in(client, username: str, password: str = factories.PASSWORD, **extra):
    """Post the sign-in form (``extra``: more fields, such as ``next``)."""
    token = csrf_token(client)
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token, **extra},
    )


def post_form(client, path: str, data: dict, page: str = "/console/"):
    """Post a form with the token a page of the console carries."""
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page)})
