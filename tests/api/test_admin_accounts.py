"""Admin: users tied to the right org units, org units in the right tree, shops; CLI twins."""

from tests.factories import PASSWORD, login_headers


def _create(client, auth, **body):
    return client.post("/api/v1/admin/users", json=body, headers=auth("admin"))


def test_admin_creates_an_inspector_who_can_log_in(client, world, auth):
    response = _create(
        client,
        auth,
        username="zhang_san",
        password="a-long-password",
        role="inspector",
        display_name="张三",
        org_unit_id=world.community.id,
    )
    assert response.status_code == 201
    assert response.get_json()["org_unit_id"] == world.community.id
    login_headers(client, "zhang_san", password="a-long-password")


def test_user_ties_are_checked_and_nothing_is_written_on_error(client, world, auth):
    cases = [
        ({"role": "handler", "org_unit_id": world.community.id}, 422),  # handler needs a dept
        ({"role": "inspector"}, 422),  # no org unit
        ({"role": "inspector", "org_unit_id": 987654}, 404),
        ({"role": "road_chief", "org_unit_id": world.street.id}, 422),  # no road
        ({"role": "road_chief", "org_unit_id": world.street.id, "road_id": 987654}, 404),
        ({"role": "inspector", "org_unit_id": world.community.id, "road_id": world.road.id}, 422),
        ({"role": "admin", "org_unit_id": world.district.id}, 422),
        ({"role": "sweeper", "org_unit_id": world.community.id}, 422),
        ({"role": "inspector", "org_unit_id": "1"}, 422),  # wrong type
    ]
    before = len(client.get("/api/v1/admin/users?page_size=100", headers=auth("admin")).get_json())
    for extra, status in cases:
        body = {"username": "li_si", "password": "a-long-password", **extra}
        response = _create(client, auth, **body)
        assert response.status_code == status, (extra, response.get_json())
        assert response.get_json()["message"]
    after = len(client.get("/api/v1/admin/users?page_size=100", headers=auth("admin")).get_json())
    assert after == before


def test_duplicate_username_is_409_and_short_password_422(client, world, auth):
    body = {"password": "a-long-password", "role": "inspector", "org_unit_id": world.community.id}
    assert _create(client, auth, username="t_inspector", **body).status_code == 409
    short = _create(client, auth, username="wang_wu", **{**body, "password": "short"})
    assert short.status_code == 422
    assert "password" in short.get_json()["errors"]


def test_users_are_listed_with_filters_and_pagination(client, world, auth):
    response = client.get("/api/v1/admin/users?role=inspector", headers=auth("admin"))
    assert [u["username"] for u in response.get_json()] == ["t_inspector"]
    page = client.get("/api/v1/admin/users?page=1&page_size=2", headers=auth("admin"))
    assert len(page.get_json()) == 2
    assert '"total": 7' in page.headers["X-Pagination"]
    assert client.get("/api/v1/admin/users?page_size=0", headers=auth("admin")).status_code == 422
    assert client.get("/api/v1/admin/users/987654", headers=auth("admin")).status_code == 404


def test_new_password_revokes_devices_and_works(client, world, auth):
    old = login_headers(client, "t_handler")
    user_id = world.users["handler"].id
    response = client.patch(
        f"/api/v1/admin/users/{user_id}",
        json={"password": "another-long-one"},
        headers=auth("admin"),
    )
    assert response.status_code == 200
    assert client.get("/api/v1/auth/me", headers=old).status_code == 401
    login_headers(client, "t_handler", password="another-long-one")


def test_org_units_form_a_checked_tree(client, world, auth):
    good = {"kind": "street", "code": "350203009", "name": "嘉莲街道", "parent_code": "350203"}
    created = client.post("/api/v1/org-units", json=good, headers=auth("admin"))
    assert created.status_code == 201
    assert created.get_json()["parent_id"] == world.district.id
    bad = [
        ({**good, "code": "350203010", "parent_code": "350203001"}, 422),  # street under street
        ({**good, "code": "35020301"}, 422),  # 8 digits
        ({**good, "code": "350299010"}, 422),  # does not extend the parent's code
        ({**good, "code": "350203011", "parent_code": "999999"}, 404),
        (good, 409),
        ({**good, "kind": "province"}, 422),
    ]
    for body, status in bad:
        assert (
            client.post("/api/v1/org-units", json=body, headers=auth("admin")).status_code == status
        )
    streets = client.get("/api/v1/org-units?kind=street", headers=auth("inspector")).get_json()
    assert sorted(unit["code"] for unit in streets) == ["350203001", "350203009"]


def test_admin_registers_a_shop_with_a_frontage_zone(client, world, auth):
    square = [[[118.08, 24.47], [118.0801, 24.47], [118.0801, 24.4699], [118.08, 24.47]]]
    body = {
        "name": "黄则和花生汤",
        "address": "中山路22号",
        "community_id": world.community.id,
        "merchant_id": world.users["merchant"].id,
        "lat": 24.47,
        "lon": 118.08,
        "frontage": {"type": "Polygon", "coordinates": square},
    }
    created = client.post("/api/v1/admin/shops", json=body, headers=auth("admin"))
    assert created.status_code == 201
    shop_url = f"/api/v1/shops/{created.get_json()['id']}"
    bow_tie = [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]
    bad = [
        {**body, "frontage": {"type": "Polygon", "coordinates": bow_tie}},
        {**body, "frontage": {"type": "Point", "coordinates": [118.08, 24.47]}},
        {**body, "frontage": "not geojson"},
        {**body, "merchant_id": world.users["inspector"].id},
        {**body, "community_id": world.street.id},
        {**body, "lat": 91},
    ]
    for shop in bad:
        response = client.post("/api/v1/admin/shops", json=shop, headers=auth("admin"))
        assert response.status_code == 422, response.get_json()
    assert len(client.get("/api/v1/shops", headers=auth("dispatcher")).get_json()) == 1
    assert client.get(shop_url, headers=auth("merchant")).status_code == 200
    other = {
        "username": "merchant_b",
        "password": "a-long-password",
        "role": "merchant",
        "org_unit_id": world.community.id,
    }
    assert client.post("/api/v1/admin/users", json=other, headers=auth("admin")).status_code == 201
    other_headers = login_headers(client, "merchant_b", password="a-long-password")
    assert client.get(shop_url, headers=other_headers).status_code == 403
    assert client.get("/api/v1/shops", headers=other_headers).get_json() == []


def test_cli_creates_org_units_and_users(app, world, client):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "orgs",
            "create",
            "--kind",
            "community",
            "--code",
            "350203001009",
            "--name",
            "新社区",
            "--parent",
            "350203001",
        ]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--username",
            "cli_inspector",
            "--role",
            "inspector",
            "--org-unit",
            "350203001009",
            "--password",
            PASSWORD,
        ]
    )
    assert result.exit_code == 0, result.output
    login_headers(client, "cli_inspector")
    failed = runner.invoke(
        args=[
            "users",
            "create",
            "--username",
            "cli_x",
            "--role",
            "handler",
            "--org-unit",
            "350203001009",
            "--password",
            PASSWORD,
        ]
    )
    assert failed.exit_code != 0
    assert "department" in failed.output
