"""The demo district: loaded by its command, once, and every demo user can log in."""

import pytest

from app.demo import district
from app.demo.services import DEMO_PASSWORD

ROLES = ("inspector", "street_chief", "road_chief", "dispatcher", "handler", "merchant", "admin")


@pytest.fixture
def demo(app, clean_db):
    result = app.test_cli_runner().invoke(args=["demo", "load", "--no-history"])
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_load_prints_every_demo_user_and_the_password(demo):
    assert DEMO_PASSWORD in demo
    for role in ROLES:
        assert f"demo_{role}" in demo


def test_demo_load_twice_changes_nothing(app, demo, client):
    again = app.test_cli_runner().invoke(args=["demo", "load", "--no-history"])
    assert again.exit_code == 0
    assert "already loaded" in again.output
    headers = _login(client, "demo_admin")
    grids = client.get("/api/v1/grids?page_size=100", headers=headers)
    assert len(grids.get_json()) == len(district.unit_grids()["features"]) >= 40


def _login(client, username):
    response = client.post(
        "/api/v1/auth/login",
        json={"username": username, "password": DEMO_PASSWORD, "device_id": "demo-phone"},
    )
    assert response.status_code == 200, (username, response.get_json())
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


@pytest.mark.parametrize("role", ROLES)
def test_every_demo_user_logs_in_with_its_role(demo, client, role):
    headers = _login(client, f"demo_{role}")
    assert client.get("/api/v1/auth/me", headers=headers).get_json()["role"] == role


def test_a_point_in_the_demo_resolves_to_the_demo_inspector(demo, client):
    headers = _login(client, "demo_inspector")
    # The middle of the sixth grid of 中山社区 (first community, second row, second column).
    lon = district.WEST + 1.5 * district.CELL_LON
    lat = district.NORTH - 1.5 * district.CELL_LAT
    found = client.get(f"/api/v1/grids/locate?lat={lat}&lon={lon}", headers=headers).get_json()
    assert found["status"] == "inside"
    assert found["grid"]["code"] == "350203001001006"
    assert found["inspector"]["username"] == "demo_inspector"
    mine = client.get("/api/v1/responsibility-grids/mine", headers=headers).get_json()
    assert "350203001001006" in mine[0]["unit_grid_codes"]


def test_demo_merchant_sees_only_their_shop(demo, client):
    headers = _login(client, "demo_merchant")
    shops = client.get("/api/v1/shops", headers=headers).get_json()
    assert [shop["name"] for shop in shops] == [district.SHOPS[0][0]]
    assert shops[0]["frontage"]["type"] == "Polygon"
    dispatcher = _login(client, "demo_dispatcher")
    assert len(client.get("/api/v1/shops", headers=dispatcher).get_json()) == len(district.SHOPS)
