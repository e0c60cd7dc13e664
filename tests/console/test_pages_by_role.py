"""Every console page and action, for every role: signed out it sends to the sign-in
page, a role that may not see it gets 403, and a form posted without its CSRF token is
refused (400) and changes nothing."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from app.accounts.models import ROLE_VALUES
from app.cases.models import Case, FlowEntry
from tests import case_factories as cf
from tests.console.support import csrf_token, sign_in

OPEN_ENDPOINTS = {"console.login", "console.static", "console.leaflet_asset"}
ARGS = {"case_id": uuid.uuid4(), "photo_id": uuid.uuid4(), "request_id": uuid.uuid4()}
ARGS["task_id"] = uuid.uuid4()
ARGS.update(conflict_id=str(uuid.uuid4()), mutation_id=1, device_pk=1)  # the sync pages
ARGS["export_id"] = uuid.uuid4()  # console: monthly (ledger exports)
ARGS.update(user_id=1, device_pk=1)  # the admin pages (系统管理)


def _console_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("console.") and rule.endpoint not in OPEN_ENDPOINTS:
            yield rule, app.view_functions[rule.endpoint]


def _url(rule) -> str:
    return rule.build({name: ARGS[name] for name in rule.arguments}, append_unknown=False)[1]


def test_every_console_view_is_behind_the_role_check(app):
    rules = list(_console_rules(app))
    assert len(rules) >= 10
    for rule, view in rules:
        assert hasattr(view, "console_roles"), f"{rule.rule} is not declared with web.page"


def test_signed_out_every_page_sends_to_sign_in(app, client):
    for rule, _view in _console_rules(app):
        method = "GET" if "GET" in rule.methods else "POST"
        if method == "POST":
            continue  # a POST without a session has no CSRF token: 400, tested below
        response = client.open(_url(rule), method=method)
        assert response.status_code == 302, rule.rule
        assert response.headers["Location"].startswith("/console/login"), rule.rule


@pytest.mark.parametrize("role", ROLE_VALUES)
def test_a_role_that_may_not_see_a_page_gets_403(app, client, world, role):
    sign_in(client, world.users[role].username)
    token = csrf_token(client, "/console/")
    checked = 0
    for rule, view in _console_rules(app):
        if not view.console_roles or role in view.console_roles:
            continue
        method = "GET" if "GET" in rule.methods else "POST"
        data = {"csrf_token": token} if method == "POST" else None
        response = client.open(_url(rule), method=method, data=data)
        assert response.status_code == 403, (role, rule.rule, response.status_code)
        assert "无权访问" in response.get_data(as_text=True)
        checked += 1
    if role != "dispatcher":
        assert checked, f"{role} may see every console page"


def test_forms_without_a_csrf_token_are_refused_and_change_nothing(client, auth, world, session):
    cw = cf.make_case_world(session, world)
    created = cf.report(client, auth("inspector"), cw.category)
    sign_in(client, world.users["dispatcher"].username)
    case_id = created["id"]
    posts = {
        f"/console/cases/{case_id}/move": {"action": "register"},
        f"/console/cases/{case_id}/routing": {"grid_id": "1"},
        f"/console/cases/{case_id}/press": {"note": "快"},
        f"/console/cases/{case_id}/merge": {"into": str(uuid.uuid4())},
        "/console/logout": {},
    }
    for path, data in posts.items():
        for token in (None, "forged"):
            sent = data if token is None else {**data, "csrf_token": token}
            response = client.post(path, data=sent)
            assert response.status_code == 400, path
            assert "安全令牌" in response.get_data(as_text=True)
    session.expire_all()
    case = session.get(Case, uuid.UUID(case_id))
    assert case.state == "reported" and case.press_level == 0
    steps = session.scalars(sa.select(FlowEntry.action).where(FlowEntry.case_id == case.id))
    assert list(steps) == ["report"]
    assert client.get("/console/queues").status_code == 200  # still signed in
