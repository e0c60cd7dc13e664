"""Categories over HTTP: seeding, listing and filtering, local categories, limit changes."""

import json

import pytest

from app.categories import services
from app.categories.models import Category

URL = "/api/v1/categories"
ADMIN_URL = "/api/v1/admin/categories"


@pytest.fixture
def seeded(session):
    return services.seed_national_categories(session)


def _local(**changes):
    body = {
        "kind": "event",
        "edition": "gbt47678",
        "code": "06901",
        "name": "共享单车乱停放",
        "time_limit": 2,
        "limit_type": "working_hours",
    }
    body.update(changes)
    return body


def test_seed_adds_everything_once_and_keeps_an_admins_limit(session):
    first = services.seed_national_categories(session)
    assert first.created >= 60 and first.unchanged == 0
    rubbish = services.find_category(session, "event", "gbt47678", "06010")
    services.update_category(session, rubbish.id, {"time_limit": 8})
    second = services.seed_national_categories(session)
    assert second.created == 0 and second.unchanged == first.created
    session.expire_all()
    assert session.query(Category).count() == first.created
    assert services.find_category(session, "event", "gbt47678", "06010").time_limit == 8


def test_seed_command_prints_counts(app, session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["categories", "seed"])
    assert first.exit_code == 0, first.output
    assert "0 already present" in first.output
    again = runner.invoke(args=["categories", "seed"])
    assert again.output.startswith("categories: 0 created")


def test_list_is_paginated_for_any_signed_in_user(client, auth, seeded):
    response = client.get(URL, query_string={"page_size": 10}, headers=auth("merchant"))
    assert response.status_code == 200
    assert len(response.get_json()) == 10
    assert json.loads(response.headers["X-Pagination"])["total"] == seeded.created
    assert client.get(URL).status_code == 401


def test_list_filters(client, auth, seeded):
    headers = auth("inspector")

    def codes(**query):
        response = client.get(URL, query_string={"page_size": 100, **query}, headers=headers)
        assert response.status_code == 200, response.get_json()
        return [(c["kind"], c["edition"], c["code"]) for c in response.get_json()]

    events_new = codes(kind="event", edition="gbt47678")
    assert events_new and all(k == "event" and e == "gbt47678" for k, e, _ in events_new)
    assert codes(kind="event", edition="gbt47678", major_code="09") == [
        ("event", "gbt47678", c) for _, _, c in events_new if c.startswith("09")
    ]
    assert ("event", "gbt47678", "06010") in codes(q="暴露")
    by_code = codes(q="0101")  # a code prefix
    assert all(code.startswith("0101") for _, _, code in by_code)
    assert {("component", "cjt214", "0101"), ("event", "cjt214", "0101")} <= set(by_code)
    assert codes(is_local=True) == []
    assert client.get(URL, query_string={"kind": "thing"}, headers=headers).status_code == 422


def test_get_one(client, auth, session, seeded):
    category = services.find_category(session, "component", "cjt214", "0101")
    response = client.get(f"{URL}/{category.id}", headers=auth("handler"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["name"] == "上水井盖"
    assert (body["major_code"], body["major_name"]) == ("01", "公用设施")
    assert (body["time_limit"], body["limit_type"]) == (6, "urgent_hours")
    assert client.get(f"{URL}/999999", headers=auth("handler")).status_code == 404


def test_admin_adds_a_local_category(client, auth, seeded):
    response = client.post(ADMIN_URL, json=_local(), headers=auth("admin"))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["is_local"] is True
    assert (body["major_code"], body["major_name"]) == ("06", "市容环境")
    listed = client.get(URL, query_string={"is_local": "true"}, headers=auth("inspector"))
    assert [c["code"] for c in listed.get_json()] == ["06901"]


def test_only_an_admin_adds_a_category(client, auth, world):
    assert client.post(ADMIN_URL, json=_local(), headers=auth("inspector")).status_code == 403
    assert client.post(ADMIN_URL, json=_local(), headers=auth("dispatcher")).status_code == 403
    assert client.post(ADMIN_URL, json=_local()).status_code == 401


def test_a_code_clashes_only_within_its_kind_and_edition(client, auth, seeded):
    clash = client.post(ADMIN_URL, json=_local(code="06010"), headers=auth("admin"))
    assert clash.status_code == 409
    # 06010 is free among new-edition components, and 0199 among old events.
    other_kind = _local(kind="component", code="06010", major_name="本地设施")
    assert client.post(ADMIN_URL, json=other_kind, headers=auth("admin")).status_code == 201
    old = _local(edition="cjt214", code="0199")
    assert client.post(ADMIN_URL, json=old, headers=auth("admin")).status_code == 201


def test_malformed_codes_are_422(client, auth, world):
    headers = auth("admin")
    for code in ("0101", "010001", "6x001"):
        response = client.post(ADMIN_URL, json=_local(code=code), headers=headers)
        assert response.status_code == 422, code
        assert "code" in str(response.get_json()["errors"]), code
    five_in_old = client.post(ADMIN_URL, json=_local(edition="cjt214"), headers=headers)
    assert five_in_old.status_code == 422
    unknown_major = client.post(ADMIN_URL, json=_local(code="42001"), headers=headers)
    assert unknown_major.status_code == 422
    named = client.post(
        ADMIN_URL, json=_local(code="42001", major_name="本地事项"), headers=headers
    )
    assert named.status_code == 201


def test_bad_bodies_are_4xx(client, auth, world):
    headers = auth("admin")
    malformed = client.post(
        ADMIN_URL, data="{not json", content_type="application/json", headers=headers
    )
    assert malformed.status_code in (400, 422)
    for wrong in (
        {"time_limit": "4"},
        {"time_limit": True},
        {"time_limit": 0},
        {"time_limit": -2},
        {"limit_type": "weeks"},
        {"kind": "thing"},
        {"code": 6010},
        {"name": ""},
        {"is_local": False},
    ):
        response = client.post(ADMIN_URL, json=_local(**wrong), headers=headers)
        assert response.status_code == 422, wrong
    missing = client.post(ADMIN_URL, json={"code": "06901"}, headers=headers)
    assert missing.status_code == 422
    assert {"kind", "edition", "name"} <= set(missing.get_json()["errors"]["json"])


def test_admin_changes_a_limit_name_or_use(client, auth, session, seeded):
    category = services.find_category(session, "event", "gbt47678", "06001")
    url = f"{ADMIN_URL}/{category.id}"
    response = client.patch(
        url, json={"time_limit": 20, "limit_type": "working_days"}, headers=auth("admin")
    )
    assert response.status_code == 200
    assert (response.get_json()["time_limit"], response.get_json()["is_local"]) == (20, False)
    retired = client.patch(url, json={"active": False}, headers=auth("admin"))
    assert retired.get_json()["active"] is False
    active = client.get(URL, query_string={"active": "false"}, headers=auth("inspector"))
    assert [c["id"] for c in active.get_json()] == [category.id]
    assert client.patch(url, json={"code": "06002"}, headers=auth("admin")).status_code == 422
    assert client.patch(url, json={"time_limit": 0}, headers=auth("admin")).status_code == 422
    assert client.patch(url, json={"name": "x"}, headers=auth("dispatcher")).status_code == 403
    unknown = client.patch(f"{ADMIN_URL}/999999", json={"name": "x"}, headers=auth("admin"))
    assert unknown.status_code == 404
