"""Open311 GeoReport v2 through HTTP: services, filing (JSON and XML), bad input as the
specification's error array with nothing filed, following a request to ``closed``, the
rate limit, revoked keys, and the admin's client routes."""

from __future__ import annotations

import io
import json
import time
import xml.etree.ElementTree as ET

import pytest
import sqlalchemy as sa

from app.cases.models import Case, Task
from app.open311.models import Open311Request
from app.open311.services import service_code
from tests import case_factories as cf
from tests import grid_data
from tests import open311_factories as of

BASE = of.BASE


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def key(session, cw):
    return of.make_client(session, cw)


def _count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def _file(client, data: dict, fmt: str = "json", photo: bytes | None = None):
    if photo is not None:
        data = {**data, "media": (io.BytesIO(photo), "photo.jpg", "image/jpeg")}
        return client.post(f"{BASE}/requests.{fmt}", data=data, content_type="multipart/form-data")
    return client.post(f"{BASE}/requests.{fmt}", data=data)


def _error(response, status: int, fmt: str = "json") -> str:
    assert response.status_code == status, response.data
    if fmt == "xml":
        root = ET.fromstring(response.data)
        assert root.tag == "errors"
        error = root.find("error")
        assert error.findtext("code") == str(status)
        return error.findtext("description")
    body = response.get_json()
    assert isinstance(body, list) and set(body[0]) == {"code", "description"}
    assert body[0]["code"] == status
    return body[0]["description"]


# ---------------------------------------------------------------------------------------------
# Discovery and services


def test_discovery_in_both_formats(client, cw):
    body = client.get(f"{BASE}/discovery.json").get_json()
    endpoint = body["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert endpoint["formats"] == ["text/xml", "application/json"]
    root = ET.fromstring(client.get(f"{BASE}/discovery.xml").data)
    assert root.tag == "discovery"
    formats = [f.text for f in root.find("endpoints/endpoint/formats").findall("format")]
    assert formats == ["text/xml", "application/json"]


def test_services_are_the_categories(client, cw):
    services = client.get(f"{BASE}/services.json").get_json()
    rubbish = next(s for s in services if s["service_code"] == service_code(cw.category))
    assert rubbish == {
        "service_code": "cjt214-event-0102",
        "service_name": cw.category.name,
        "description": rubbish["description"],
        "metadata": False,
        "type": "realtime",
        "keywords": rubbish["keywords"],
        "group": cw.category.major_name,
    }
    manhole = next(s for s in services if s["service_code"] == service_code(cw.other_category))
    assert manhole["metadata"] is True
    response = client.get(f"{BASE}/services.xml")
    assert response.content_type.startswith("text/xml")
    root = ET.fromstring(response.data)
    assert root.tag == "services"
    assert len(root.findall("service")) == len(services)
    first = root.find("service")
    assert first.findtext("type") == "realtime"
    assert first.findtext("metadata") in ("true", "false")


def test_definitions_exist_only_for_services_with_metadata(client, cw):
    code = service_code(cw.other_category)
    definition = client.get(f"{BASE}/services/{code}.json").get_json()
    assert definition["service_code"] == code
    attribute = definition["attributes"][0]
    assert attribute["code"] == "hazard" and attribute["datatype"] == "singlevaluelist"
    assert [v["key"] for v in attribute["values"]] == ["yes", "no"]
    root = ET.fromstring(client.get(f"{BASE}/services/{code}.xml").data)
    assert root.tag == "service_definition"
    values = root.findall("attributes/attribute/values/value")
    assert [v.findtext("key") for v in values] == ["yes", "no"]
    _error(client.get(f"{BASE}/services/{service_code(cw.category)}.json"), 404)
    _error(client.get(f"{BASE}/services/nope.xml"), 404, "xml")
    _error(client.get(f"{BASE}/services.csv"), 404)


def test_jurisdiction_id_is_checked_against_the_setting(app, client, cw, monkeypatch):
    monkeypatch.setitem(app.config, "OPEN311_JURISDICTION_ID", "xiamen.gov.cn")
    assert client.get(f"{BASE}/services.json?jurisdiction_id=xiamen.gov.cn").status_code == 200
    assert client.get(f"{BASE}/services.json").status_code == 200
    _error(client.get(f"{BASE}/services.json?jurisdiction_id=elsewhere"), 404)


# ---------------------------------------------------------------------------------------------
# Filing


def test_a_request_becomes_a_verifying_open311_case(client, session, cw, key):
    response = _file(client, of.form(cw, key))
    assert response.status_code == 200, response.data
    answer = response.get_json()[0]
    case = session.scalar(sa.select(Case).where(Case.number == answer["service_request_id"]))
    assert case.source == "open311"
    assert case.state == "verifying"
    assert case.registered_at is None
    verify = session.scalar(sa.select(Task).where(Task.case_id == case.id, Task.kind == "verify"))
    assert verify.assignee_id == cw.users["inspector"].id
    filed = session.scalar(sa.select(Open311Request).where(Open311Request.case_id == case.id))
    assert (filed.email, filed.phone, filed.first_name) == ("li@example.cn", "13800000000", "四")
    token = client.get(f"{BASE}/tokens/{answer['token']}.json").get_json()
    assert token == [{"service_request_id": case.number, "token": answer["token"]}]


def test_a_request_in_xml_with_a_photo(client, session, cw, key):
    data = of.form(cw, key, **{"attribute[hazard]": "yes"})
    data["service_code"] = service_code(cw.other_category)
    response = _file(client, data, "xml", photo=of.jpeg())
    assert response.status_code == 200, response.data
    root = ET.fromstring(response.data)
    assert root.tag == "service_requests"
    number = root.findtext("request/service_request_id")
    case = session.scalar(sa.select(Case).where(Case.number == number))
    assert case.urgency == "urgent"
    detail = ET.fromstring(client.get(f"{BASE}/requests/{number}.xml").data)
    media_url = detail.findtext("request/media_url")
    assert "/open311/v2/media/" in media_url
    photo = client.get(media_url.split("localhost", 1)[-1])
    assert photo.status_code == 200 and of.is_image(photo.data)


def test_an_address_only_request_waits_for_the_dispatcher(client, session, cw, key):
    data = of.form(cw, key, lat=None, long=None, address_string="思明区中山路 99 号")
    response = _file(client, data)
    assert response.status_code == 200, response.data
    number = response.get_json()[0]["service_request_id"]
    case = session.scalar(sa.select(Case).where(Case.number == number))
    assert case.routing == "needs_confirmation"
    assert case.state == "reported"
    row = client.get(f"{BASE}/requests/{number}.json").get_json()[0]
    assert row["address"] == "思明区中山路 99 号" and row["status"] == "open"


def test_a_request_in_a_grid_without_inspector_waits_for_the_dispatcher(client, session, cw, key):
    lat, lon = grid_data.cell_centre(2, 2)  # grid 009: in no responsibility grid
    response = _file(client, of.form(cw, key, lat=str(lat), long=str(lon)))
    assert response.status_code == 200, response.data
    number = response.get_json()[0]["service_request_id"]
    case = session.scalar(sa.select(Case).where(Case.number == number))
    assert (case.state, case.routing) == ("reported", "routed")
    assert _count(session, Task) == 0
    assert client.get(f"{BASE}/requests/{number}.json").get_json()[0]["status"] == "open"


def test_media_url_is_kept_as_a_link_and_never_fetched(client, session, cw, key, monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("the server must not fetch media_url")

    monkeypatch.setattr(socket, "create_connection", no_network)
    url = "http://169.254.169.254/latest/meta-data/photo.jpg"
    response = _file(client, of.form(cw, key, media_url=url))
    number = response.get_json()[0]["service_request_id"]
    assert client.get(f"{BASE}/requests/{number}.json").get_json()[0]["media_url"] == url


BAD_INPUT = [
    ("unknown service code", {"service_code": "cjt214-event-9999"}, 400),
    ("malformed service code", {"service_code": "<x>"}, 400),
    ("missing location", {"lat": None, "long": None, "address_string": None}, 400),
    ("half a point", {"long": None, "address_string": None}, 400),
    ("not a point", {"lat": "north", "long": "east"}, 400),
    ("off the globe", {"lat": "95", "long": "118"}, 400),
    ("bad api_key", {"api_key": "not-a-key"}, 403),
    ("no api_key", {"api_key": None}, 403),
    ("bad hazard", {"attribute[hazard]": "maybe"}, 400),
    ("a media_url that is no URL", {"media_url": "file:///etc/passwd"}, 400),
    ("too long a name", {"first_name": "x" * 300}, 400),
    ("a NUL", {"description": "rubbish\x00here"}, 400),
    ("a control character", {"address_string": "road\x0b1"}, 400),
]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(("what", "change", "status"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_is_an_error_array_and_files_nothing(
    client, session, cw, key, fmt, what, change, status
):
    data = of.form(cw, key)
    data.update(change)
    data = {k: v for k, v in data.items() if v is not None}
    if what == "bad hazard":
        data["service_code"] = service_code(cw.other_category)
    before = _count(session, Case)
    assert _error(_file(client, data, fmt), status, fmt)
    assert _count(session, Case) == before
    assert _count(session, Open311Request) == 0


@pytest.mark.parametrize(
    "photo",
    [b"%PDF-1.4 not a photo at all", b"\xff\xd8\xff\xe0 truncated jpeg", b"GIF89a" + b"\0" * 40],
    ids=["pdf", "truncated-jpeg", "gif-garbage"],
)
def test_a_photo_that_is_not_a_photo_files_nothing(client, session, cw, key, photo):
    before = _count(session, Case)
    _error(_file(client, of.form(cw, key), photo=photo), 400)
    _error(_file(client, of.form(cw, key), photo=b""), 400)
    assert _count(session, Case) == before
    assert _count(session, Open311Request) == 0


def test_an_oversize_body_files_nothing(app, client, session, cw, key, monkeypatch):
    monkeypatch.setitem(app.config, "OPEN311_MAX_BODY_BYTES", 10_000)
    before = _count(session, Case)
    response = _file(client, of.form(cw, key), photo=b"\xff\xd8" + b"0" * 20_000)
    assert _error(response, 413)
    assert _count(session, Case) == before


def test_a_revoked_key_is_refused(client, session, cw, key, auth):
    clients = client.get("/api/v1/admin/open311/clients", headers=auth("admin")).get_json()
    revoked = client.post(
        f"/api/v1/admin/open311/clients/{clients[0]['id']}/revoke", headers=auth("admin")
    )
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    assert "revoked" not in _error(_file(client, of.form(cw, key)), 403)
    assert _count(session, Open311Request) == 0


def test_each_client_has_its_own_rate_limit(client, session, cw):
    slow = of.make_client(session, cw, "慢客户", rate=2)
    fast = of.make_client(session, cw, "快客户", rate=10)
    for _ in range(2):
        assert _file(client, of.form(cw, slow)).status_code == 200
    response = _file(client, of.form(cw, slow), "xml")
    assert _error(response, 429, "xml")
    assert response.headers["Retry-After"]
    assert _file(client, of.form(cw, fast)).status_code == 200
    assert _count(session, Open311Request) == 3


# ---------------------------------------------------------------------------------------------
# Following requests


def test_a_request_followed_to_closed(client, session, cw, key, auth):
    number = _file(client, of.form(cw, key)).get_json()[0]["service_request_id"]
    first = client.get(f"{BASE}/requests/{number}.json").get_json()[0]
    assert first["status"] == "open"
    assert first["status_notes"] == "等待监督员现场核实"
    assert first["requested_datetime"].endswith("+08:00")
    case = session.scalar(sa.select(Case).where(Case.number == number))

    def post(path, body, headers):
        response = client.post(path, json=body, headers=headers)
        return response.status_code, response.get_json()

    def get(path, headers):
        response = client.get(path, headers=headers)
        return response.status_code, response.get_json()

    time.sleep(1.01)  # updated_datetime is to the second
    of.Workflow(post, get, auth, cw).close(str(case.id), cf.photo)
    last = client.get(f"{BASE}/requests/{number}.json").get_json()[0]
    assert last["status"] == "closed"
    assert last["status_notes"] == "垃圾已清运, 结案"
    assert last["agency_responsible"] == cw.world.department.name
    assert last["updated_datetime"] > first["updated_datetime"]
    assert last["expected_datetime"]
    assert "email" not in last and "phone" not in last
    root = ET.fromstring(client.get(f"{BASE}/requests/{number}.xml").data)
    assert root.findtext("request/status") == "closed"
    closed = client.get(f"{BASE}/requests.json?status=closed").get_json()
    assert [r["service_request_id"] for r in closed] == [number]
    assert client.get(f"{BASE}/requests.json?status=open").get_json() == []


def test_request_lists_by_ids_codes_and_dates(client, cw, key):
    one = _file(client, of.form(cw, key)).get_json()[0]["service_request_id"]
    other = of.form(cw, key, service_code=service_code(cw.other_category))
    two = _file(client, other).get_json()[0]["service_request_id"]
    both = client.get(f"{BASE}/requests.json?service_request_id={one},{two}").get_json()
    assert {r["service_request_id"] for r in both} == {one, two}
    code = service_code(cw.other_category)
    by_code = client.get(f"{BASE}/requests.json?service_code={code}").get_json()
    assert [r["service_request_id"] for r in by_code] == [two]
    past = client.get(
        f"{BASE}/requests.json?start_date=2020-01-01T00:00:00Z&end_date=2020-02-01T00:00:00Z"
    ).get_json()
    assert past == []
    _error(client.get(f"{BASE}/requests.json?start_date=2020-01-01T00:00:00Z"), 400)
    _error(client.get(f"{BASE}/requests.json?start_date=yesterday"), 400)
    _error(client.get(f"{BASE}/requests.xml?status=lost"), 400, "xml")
    _error(client.get(f"{BASE}/requests.json?service_request_id=a%00b"), 400)
    _error(client.get(f"{BASE}/requests/nope.json"), 404)
    _error(client.get(f"{BASE}/tokens/nope.xml"), 404, "xml")
    root = ET.fromstring(client.get(f"{BASE}/requests.xml").data)
    assert len(root.findall("request")) == 2


# ---------------------------------------------------------------------------------------------
# Admin routes


def test_admin_creates_lists_and_revokes_clients(client, session, cw, auth):
    created = client.post(
        "/api/v1/admin/open311/clients",
        json={"name": "12319 小程序", "rate_limit_per_minute": 30},
        headers=auth("admin"),
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    key = body["api_key"]
    assert body["key_prefix"] == key[:8] and body["rate_limit_per_minute"] == 30
    listed = client.get("/api/v1/admin/open311/clients", headers=auth("admin")).get_json()
    assert listed[0]["name"] == "12319 小程序" and "api_key" not in listed[0]
    stored = json.dumps([str(v) for v in session.execute(sa.text("SELECT * FROM open311_clients"))])
    assert key not in stored
    assert _file(client, of.form(cw, key)).status_code == 200
    again = client.post(
        "/api/v1/admin/open311/clients", json={"name": "12319 小程序"}, headers=auth("admin")
    )
    assert again.status_code == 409
    for bad in ({}, {"name": ""}, {"name": "x", "rate_limit_per_minute": 0}, {"name": 3}):
        response = client.post("/api/v1/admin/open311/clients", json=bad, headers=auth("admin"))
        assert response.status_code == 422, bad
    missing = client.post("/api/v1/admin/open311/clients/999/revoke", headers=auth("admin"))
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "role", ["inspector", "street_chief", "road_chief", "dispatcher", "handler", "merchant"]
)
def test_only_an_admin_manages_clients(client, cw, key, auth, role):
    path = "/api/v1/admin/open311/clients"
    assert client.get(path, headers=auth(role)).status_code == 403
    assert client.post(path, json={"name": "x"}, headers=auth(role)).status_code == 403
    assert client.post(f"{path}/1/revoke", headers=auth(role)).status_code == 403
    assert client.get(path).status_code == 401


def test_reporter_contact_is_not_shown_to_other_reporters(client, session, cw, key, auth):
    number = _file(client, of.form(cw, key)).get_json()[0]["service_request_id"]
    case = session.scalar(sa.select(Case).where(Case.number == number))
    for role in ("inspector", "dispatcher"):
        detail = client.get(f"/api/v1/cases/{case.id}", headers=auth(role))
        assert "13800000000" not in detail.get_data(as_text=True)
    listed = client.get(f"{BASE}/requests.json").get_data(as_text=True)
    assert "13800000000" not in listed and "li@example.cn" not in listed
    contact = client.get(f"/api/v1/open311/requests/{case.id}", headers=auth("dispatcher"))
    assert contact.status_code == 200, contact.get_json()
    assert contact.get_json()["phone"] == "13800000000"
    assert contact.get_json()["client"] == "市民通"
    for role in ("inspector", "street_chief", "handler", "merchant", "admin"):
        path = f"/api/v1/open311/requests/{case.id}"
        assert client.get(path, headers=auth(role)).status_code == 403
    other = cf.report(client, auth("inspector"), cw.category)
    missing = client.get(f"/api/v1/open311/requests/{other['id']}", headers=auth("dispatcher"))
    assert missing.status_code == 404
