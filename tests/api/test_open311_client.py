"""An unmodified Open311 client library from PyPI (``georeport`` 0.3.1, the one of the
candidates that runs on Python 3) against the app on a live server: it lists the
services, reads a definition and follows a request, filed with a photo, to ``closed``
while the command centre, the inspector and the department work the case through /api/v1.

``georeport`` does not file requests (its README: "does not currently support the
creation of new 311 service requests"; ``open311`` 1.1 and ``three`` 0.8.0 are Python 2
only), so the filing is the multipart POST the specification describes, sent with
``requests``, as any client sends it.
"""

from __future__ import annotations

import pytest
import requests
from georeport import GeoReport

from app.open311.services import service_code
from tests import case_factories as cf
from tests import factories
from tests import open311_factories as of


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


def test_an_off_the_shelf_client_follows_a_request_with_a_photo_to_closed(live_server, session, cw):
    key = of.make_client(session, cw, "georeport")
    session.commit()
    endpoint = f"{live_server}/open311/v2"
    json_client = GeoReport(endpoint, api_key=key)
    xml_client = GeoReport(endpoint, api_key=key, output_format="xml")

    listed = json_client.get_service_list()
    codes = {service["service_code"] for service in listed}
    assert service_code(cw.category) in codes
    assert len(xml_client.get_service_list()) == len(listed)
    manhole = service_code(cw.other_category)
    definition = xml_client.get_service_definition(manhole)
    assert definition["service_code"] == manhole
    assert json_client.get_service_definition(manhole)["attributes"][0]["code"] == "hazard"

    filed = requests.post(
        f"{endpoint}/requests.json",
        data=of.form(cw, key),
        files={"media": ("rubbish.jpg", of.jpeg(), "image/jpeg")},
        timeout=30,
    )
    assert filed.status_code == 200, filed.text
    number = filed.json()[0]["service_request_id"]

    opened = json_client.get_service_request(number)
    assert opened["status"] == "open"
    photo = requests.get(opened["media_url"], timeout=30)
    assert photo.status_code == 200 and of.is_image(photo.content)
    assert xml_client.get_service_request(number)["status"] == "open"

    http = requests.Session()
    tokens: dict[str, dict] = {}

    def headers(role: str) -> dict:
        if role not in tokens:
            login = http.post(
                f"{live_server}/api/v1/auth/login",
                json={
                    "username": cw.users[role].username,
                    "password": factories.PASSWORD,
                    "device_id": f"live-{role}",
                    "device_name": "pytest",
                },
                timeout=30,
            )
            assert login.status_code == 200, login.text
            tokens[role] = {"Authorization": f"Bearer {login.json()['access_token']}"}
        return tokens[role]

    def post(path, body, given):
        response = http.post(f"{live_server}{path}", json=body, headers=given, timeout=30)
        return response.status_code, response.json()

    def get(path, given):
        response = http.get(f"{live_server}{path}", headers=given, timeout=30)
        return response.status_code, response.json()

    listed = http.get(f"{live_server}/api/v1/cases", headers=headers("dispatcher"), timeout=30)
    case_id = next(c["id"] for c in listed.json() if c["number"] == number)
    of.Workflow(post, get, headers, cw).close(case_id, cf.photo)

    closed = json_client.get_service_request(number)
    assert closed["status"] == "closed"
    assert closed["agency_responsible"] == cw.world.department.name
    assert xml_client.get_service_request(number)["status"] == "closed"
    found = json_client.get_service_requests(status="closed")
    assert [r["service_request_id"] for r in found] == [number]
    assert xml_client.get_service_requests(service_request_id=number)["status"] == "closed"
