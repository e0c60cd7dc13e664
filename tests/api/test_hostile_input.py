"""What a hostile phone or stranger sends gets a clear 4xx (or, inside a push, one rejected
mutation) and never a 5xx, the same on SQLite and PostgreSQL (issue 11, rows 1, 2, 5, 6)."""

from __future__ import annotations

import http.client
import json
import urllib.parse
import uuid

import pytest
import sqlalchemy as sa

from app.cases.models import Case, CaseComment
from app.sync_api.models import SyncMutation
from tests import case_factories as cf
from tests import factories
from tests.push_factories import mutation

LONE_SURROGATE = "\ud83d"
NUL = "\x00"


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


def post_raw(client, url: str, body: object, headers: dict | None = None):
    """POST ``body`` as JSON with every character escaped (a lone surrogate becomes the
    valid JSON escape ``\\ud83d``, as a phone's JSON library writes it)."""
    return client.post(
        url,
        data=json.dumps(body, ensure_ascii=True),
        content_type="application/json",
        headers=headers or {},
    )


def report(mid: int, **overrides) -> dict:
    args = {
        "category_code": "06010",
        "description": "路边暴露垃圾",
        "address": "中山路 1 号",
        "location": cf.cell(0, 0),
        "photos": [cf.photo("problem")],
    }
    args.update(overrides)
    return mutation(mid, "report.create", uuid.uuid4(), args)


@pytest.mark.parametrize("bad", [LONE_SURROGATE, NUL], ids=["lone_surrogate", "nul"])
def test_a_bad_character_in_a_pushed_mutation_rejects_it_alone_and_keeps_it(
    client, cw, session, bad
):
    headers = factories.login_headers(client, cw.users["inspector"].username, device_id="ph")
    first, third = report(1), report(3)
    comment = mutation(
        2, "comment.add", uuid.uuid4(), {"case_id": first["entity_id"], "text": f"看这里{bad}"}
    )
    body = {"device_id": "ph", "mutations": [first, comment, third]}
    for attempt in range(2):
        response = post_raw(client, "/api/v1/sync/push", body, headers)
        assert response.status_code == 200, response.get_json()
        results = response.get_json()["results"]
        expected = "duplicate" if attempt else "applied"
        assert [(r["status"], r["reason"]) for r in results][::2] == [(expected, None)] * 2
        assert results[1]["status"] == ("duplicate" if attempt else "rejected")
        assert results[1]["reason"] == "validation"
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 2
    assert session.scalar(sa.select(sa.func.count()).select_from(CaseComment)) == 0
    kept = session.scalar(sa.select(SyncMutation).where(SyncMutation.status == "rejected"))
    assert kept.mid == 2
    assert kept.payload["args"]["text"] == f"看这里\\u{ord(bad):04x}"


@pytest.mark.parametrize("bad", [LONE_SURROGATE, NUL], ids=["lone_surrogate", "nul"])
def test_a_bad_character_in_a_rest_body_is_a_422_and_changes_nothing(client, cw, session, bad):
    login = post_raw(
        client,
        "/api/v1/auth/login",
        {"username": f"zhang{bad}", "password": "x", "device_id": "d"},
    )
    assert login.status_code == 422
    assert "username" in login.get_json()["errors"]["json"]
    device = post_raw(
        client,
        "/api/v1/auth/login",
        {"username": cw.users["inspector"].username, "password": "x", "device_id": f"d{bad}"},
    )
    assert device.status_code == 422
    headers = factories.login_headers(client, cw.users["inspector"].username)
    created = post_raw(
        client,
        "/api/v1/cases",
        {
            "category_code": "06010",
            "description": f"垃圾{bad}",
            "address": "中山路 1 号",
            "location": cf.cell(0, 0),
            "photos": [cf.photo("problem")],
        },
        headers,
    )
    assert created.status_code == 422, created.get_json()
    assert "description" in created.get_json()["errors"]["json"]
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


def test_a_nul_in_a_query_or_a_path_is_a_4xx(client, cw):
    headers = factories.login_headers(client, cw.users["admin"].username)
    assert client.get("/api/v1/admin/users?q=a%00b", headers=headers).status_code == 422
    assert client.get("/api/v1/categories?q=%00", headers=headers).status_code == 422
    assert client.get("/api/v1/grids/35%0002", headers=headers).status_code == 404
    assert (
        client.post(
            "/api/v1/sync/push", json={"device_id": "a\x00b", "mutations": []}, headers=headers
        ).status_code
        == 400
    )


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/shops/2147483648",
        "/api/v1/admin/users/9223372036854775808",
        "/api/v1/org-units/99999999999999999999999",
    ],
)
def test_an_id_past_any_column_is_unknown(client, cw, url):
    headers = factories.login_headers(client, cw.users["admin"].username)
    assert client.get(url, headers=headers).status_code == 404


def test_integers_past_a_column_in_a_query_or_body_are_a_422(client, cw, session):
    headers = factories.login_headers(client, cw.users["admin"].username)
    assert (
        client.get("/api/v1/org-units?page=9223372036854775807", headers=headers).status_code == 422
    )
    assert client.get("/api/v1/cases?department_id=2147483648", headers=headers).status_code == 422
    too_big = post_raw(
        client,
        "/api/v1/cases",
        {
            "category_id": 2**40,
            "description": "垃圾",
            "address": "中山路 1 号",
            "location": cf.cell(0, 0),
            "photos": [cf.photo("problem")],
        },
        factories.login_headers(client, cw.users["inspector"].username),
    )
    assert too_big.status_code == 422
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


def test_a_pushed_id_past_a_column_rejects_that_mutation(client, cw):
    headers = factories.login_headers(client, cw.users["merchant"].username, device_id="m")
    check = mutation(
        1,
        "selfcheck.create",
        uuid.uuid4(),
        {
            "shop_id": 2**31,
            "sanitation": "ok",
            "order": "ok",
            "greenery": "ok",
        },
    )
    answer = post_raw(
        client, "/api/v1/sync/push", {"device_id": "m", "mutations": [check]}, headers
    )
    assert answer.status_code == 200
    assert answer.get_json()["results"][0]["status"] == "rejected"


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"username": ' + "1" * 5000 + "}",
        '{"a": ' * 40 + "1" + "}" * 40,
    ],
    ids=["deep", "long_integer", "nested_past_limit"],
)
@pytest.mark.parametrize("url", ["/api/v1/auth/login", "/api/v1/sync/push", "/api/v1/photos"])
def test_a_body_too_deep_or_too_long_a_number_is_a_4xx(client, cw, url, body):
    headers = factories.login_headers(client, cw.users["inspector"].username)
    response = client.post(url, data=body, content_type="application/json", headers=headers)
    assert response.status_code in (400, 422), response.get_json()


@pytest.fixture
def server(live_server):
    return urllib.parse.urlsplit(live_server).port


def _chunked(port: int, url: str, chunks, headers: dict) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(
        "POST",
        url,
        body=chunks,
        encode_chunked=True,
        headers={**headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def test_a_chunked_body_over_the_limit_is_a_413_as_with_a_content_length(server, cw, app):
    headers = factories.login_headers(
        app.test_client(), cw.users["inspector"].username, device_id="ph"
    )
    filler = {"text": "看" * 1000}
    limit = app.config["MAX_CONTENT_LENGTH"]
    count = limit // len(json.dumps(filler).encode()) + 10

    def big():
        yield b'{"device_id": "ph", "mutations": ['
        for mid in range(1, count):
            yield (
                json.dumps(
                    mutation(
                        mid, "comment.add", uuid.uuid4(), {"case_id": str(uuid.uuid4()), **filler}
                    )
                ).encode()
                + b","
            )
        yield b'{"mid": 999999}]}'

    status, body = _chunked(server, "/api/v1/sync/push", big(), headers)
    assert status == 413, body
    small = [json.dumps({"device_id": "ph", "mutations": [report(1)]}).encode()]
    status, body = _chunked(server, "/api/v1/sync/push", iter(small), headers)
    assert status == 200, body
    assert body["results"][0]["status"] == "applied"
