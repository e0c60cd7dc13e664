"""The role matrix: every route of the API, every role, allowed or 403; no token is 401.

A new route fails ``test_every_route_is_in_the_matrix`` until its row is written here.
"""

import re

import pytest

ALL = {"inspector", "street_chief", "road_chief", "dispatcher", "handler", "merchant", "admin"}
ADMIN = {"admin"}
SHOP_READERS = ALL - {"handler"}
DISPATCHER = {"dispatcher"}
FIELD = {"inspector", "street_chief", "road_chief"}
REPORTERS = FIELD | {"merchant", "dispatcher"}
MOVERS = FIELD | {"dispatcher", "handler"}
WORKERS = FIELD | {"handler", "merchant"}
LEDGER = {"dispatcher", "admin", "street_chief", "road_chief", "handler"}
ASSESSMENT_READERS = {"dispatcher", "admin", "street_chief", "handler", "inspector"}

# (method, Flask rule, roles allowed)
MATRIX = [
    ("GET", "/api/v1/auth/me", ALL),
    ("POST", "/api/v1/auth/logout", ALL),
    ("GET", "/api/v1/admin/users", ADMIN),
    ("POST", "/api/v1/admin/users", ADMIN),
    ("GET", "/api/v1/admin/users/<int:user_id>", ADMIN),
    ("PATCH", "/api/v1/admin/users/<int:user_id>", ADMIN),
    ("GET", "/api/v1/admin/devices", ADMIN),
    ("POST", "/api/v1/admin/devices/<int:device_pk>/revoke", ADMIN),
    ("GET", "/api/v1/org-units", ALL),
    ("POST", "/api/v1/org-units", ADMIN),
    ("GET", "/api/v1/org-units/<int:org_unit_id>", ALL),
    ("GET", "/api/v1/shops", SHOP_READERS),
    ("GET", "/api/v1/shops/<int:shop_id>", SHOP_READERS),
    ("POST", "/api/v1/selfchecks", {"merchant"}),
    ("GET", "/api/v1/selfchecks", SHOP_READERS),
    ("GET", "/api/v1/selfchecks/<uuid:selfcheck_id>", SHOP_READERS),
    ("POST", "/api/v1/admin/shops", ADMIN),
    ("GET", "/api/v1/categories", ALL),
    ("GET", "/api/v1/categories/<int:category_id>", ALL),
    ("POST", "/api/v1/admin/categories", ADMIN),
    ("PATCH", "/api/v1/admin/categories/<int:category_id>", ADMIN),
    ("GET", "/api/v1/calendar", ALL),
    ("GET", "/api/v1/calendar/deadline", ALL),
    ("PUT", "/api/v1/admin/calendar", ADMIN),
    ("PUT", "/api/v1/admin/calendar/days/<day>", ADMIN),
    ("DELETE", "/api/v1/admin/calendar/days/<day>", ADMIN),
    ("GET", "/api/v1/grids", ALL),
    ("GET", "/api/v1/grids/locate", ALL),
    ("GET", "/api/v1/grids/<code>", ALL),
    ("GET", "/api/v1/roads", ALL),
    ("POST", "/api/v1/admin/grids/import", ADMIN),
    ("POST", "/api/v1/admin/roads/import", ADMIN),
    ("GET", "/api/v1/admin/responsibility-grids", ADMIN),
    ("POST", "/api/v1/admin/responsibility-grids", ADMIN),
    ("GET", "/api/v1/admin/responsibility-grids/<int:responsibility_grid_id>", ADMIN),
    ("PATCH", "/api/v1/admin/responsibility-grids/<int:responsibility_grid_id>", ADMIN),
    ("GET", "/api/v1/responsibility-grids/mine", {"inspector"}),
    ("HEAD", "/api/v1/blobs/<sha256>", ALL),
    ("PUT", "/api/v1/blobs/<sha256>", ALL),
    ("POST", "/api/v1/uploads", ALL),
    ("HEAD", "/api/v1/uploads/<upload_id>", ALL),
    ("PATCH", "/api/v1/uploads/<upload_id>", ALL),
    ("DELETE", "/api/v1/uploads/<upload_id>", ALL),
    ("POST", "/api/v1/photos", ALL),
    ("GET", "/api/v1/photos/<uuid:photo_id>", ALL),
    ("GET", "/api/v1/photos/<uuid:photo_id>/original", ALL),
    ("GET", "/api/v1/photos/<uuid:photo_id>/thumbnail", ALL),
    ("GET", "/api/v1/admin/media/failed-jobs", ADMIN),
    ("GET", "/api/v1/evidence-flags", {"dispatcher", "admin"}),
    ("POST", "/api/v1/evidence-flags/<int:flag_id>/review", {"dispatcher"}),
    ("POST", "/api/v1/cases/<uuid:case_id>/press", {"dispatcher", "street_chief", "road_chief"}),
    ("GET", "/api/v1/cases/<uuid:case_id>/pressings", {"dispatcher", "street_chief", "road_chief"}),
    ("POST", "/api/v1/cases", REPORTERS),
    ("GET", "/api/v1/cases", ALL),
    ("GET", "/api/v1/cases/<uuid:case_id>", ALL),
    ("PATCH", "/api/v1/cases/<uuid:case_id>", DISPATCHER),
    ("GET", "/api/v1/cases/<uuid:case_id>/comments", ALL),
    ("POST", "/api/v1/cases/<uuid:case_id>/comments", ALL),
    ("POST", "/api/v1/cases/<uuid:case_id>/actions", MOVERS),
    ("POST", "/api/v1/cases/<uuid:case_id>/photos", REPORTERS | {"handler"}),
    ("POST", "/api/v1/cases/<uuid:case_id>/routing", DISPATCHER),
    ("GET", "/api/v1/cases/<uuid:case_id>/duplicates", DISPATCHER),
    ("POST", "/api/v1/cases/<uuid:case_id>/merge", DISPATCHER),
    ("POST", "/api/v1/cases/<uuid:case_id>/requests", MOVERS | {"merchant"}),
    ("GET", "/api/v1/case-requests", DISPATCHER),
    ("POST", "/api/v1/case-requests/<uuid:request_id>/decision", DISPATCHER),
    ("GET", "/api/v1/tasks", ALL),
    ("GET", "/api/v1/tasks/<uuid:task_id>", ALL),
    ("POST", "/api/v1/tasks/<uuid:task_id>/accept", WORKERS),
    ("POST", "/api/v1/tasks/<uuid:task_id>/complete", WORKERS),
    ("POST", "/api/v1/tasks/<uuid:task_id>/make_safe", WORKERS),
    ("POST", "/api/v1/tasks/<uuid:task_id>/reassign", DISPATCHER),
    ("POST", "/api/v1/tasks/<uuid:task_id>/cancel", DISPATCHER),
    ("POST", "/api/v1/sync/push", ALL),
    ("GET", "/api/v1/sync/pull", ALL),
    ("GET", "/api/v1/sync/conflicts", {"dispatcher", "admin"}),
    ("GET", "/api/v1/sync/conflicts/<conflict_id>", {"dispatcher", "admin"}),
    ("POST", "/api/v1/sync/conflicts/<conflict_id>/resolve", DISPATCHER),
    ("GET", "/api/v1/sync/rejected", {"dispatcher", "admin"}),
    ("POST", "/api/v1/sync/rejected/<int:mutation_id>/review", DISPATCHER),
    ("GET", "/api/v1/admin/sync/devices", ADMIN),
    ("GET", "/api/v1/admin/sync/devices/<int:device_pk>", ADMIN),
    ("GET", "/api/v1/ledger", LEDGER),
    ("POST", "/api/v1/exports", LEDGER),
    ("GET", "/api/v1/exports/<uuid:export_id>", LEDGER),
    ("GET", "/api/v1/exports/<uuid:export_id>/file", LEDGER),
    # 考评: which levels and rows each reader sees is tested in test_assessment_publish.py.
    ("GET", "/api/v1/assessment", ASSESSMENT_READERS),
    ("GET", "/api/v1/assessment/weights", ASSESSMENT_READERS),
    ("PUT", "/api/v1/assessment/weights", ADMIN),
    ("POST", "/api/v1/assessment/publish", ADMIN),
    # Open311 client systems (docs/open311.md); GeoReport v2 itself is at /open311/v2.
    ("GET", "/api/v1/admin/open311/clients", ADMIN),
    ("POST", "/api/v1/admin/open311/clients", ADMIN),
    ("POST", "/api/v1/admin/open311/clients/<int:client_id>/revoke", ADMIN),
    ("GET", "/api/v1/open311/requests/<uuid:case_id>", DISPATCHER),
    ("GET", "/api/v1/admin/notifications/deliveries", ADMIN),
    ("POST", "/api/v1/admin/notifications/deliveries/<int:delivery_id>/retry", ADMIN),
    # The 12345 bridge: the caller masked in the list, in full only for dispatchers.
    ("GET", "/api/v1/hotline/orders", {"dispatcher", "admin"}),
    ("GET", "/api/v1/hotline/orders/<ref>", DISPATCHER),
    # 门前三包 record: a street chief only their own street (tested in test_intake_sources.py).
    ("GET", "/api/v1/merchants/selfcheck-record", {"dispatcher", "admin", "street_chief"}),
    ("GET", "/api/v1/admin/camera-systems", ADMIN),
    ("POST", "/api/v1/admin/camera-systems", ADMIN),
    ("POST", "/api/v1/admin/camera-systems/<int:system_id>/revoke", ADMIN),
    ("GET", "/api/v1/admin/cameras", {"admin", "dispatcher"}),
    ("POST", "/api/v1/admin/cameras", ADMIN),
    ("PATCH", "/api/v1/admin/cameras/<int:camera_id>", ADMIN),
    ("GET", "/api/v1/admin/camera-settings", {"admin", "dispatcher"}),
    ("PUT", "/api/v1/admin/camera-settings/<int:category_id>", ADMIN),
    ("GET", "/api/v1/camera-events", {"admin", "dispatcher"}),
]

PUBLIC = {
    ("POST", "/api/v1/auth/login"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"),
    ("GET", "/api/v1/docs/assets/<path:filename>"),
    ("OPTIONS", "/api/v1/uploads"),
    # Signed by the hotline system (HMAC), not logged in: tests/api/test_hotline.py.
    ("POST", "/api/v1/hotline/orders"),
    # A camera system's key (X-Api-Key), not a user's token: tests/api/test_cameras.py.
    ("POST", "/api/v1/camera-events"),
}

_PLACEHOLDER = re.compile(r"<(?:(\w+):)?(\w+)>")


def _concrete(rule: str) -> str:
    def fill(match):
        converter = match.group(1)
        if converter == "int":
            return "999999"
        if converter == "uuid":
            return "00000000-0000-4000-8000-000000000000"
        return "x-unknown"

    return _PLACEHOLDER.sub(fill, rule)


def test_every_route_is_in_the_matrix(app):
    listed = {(method, rule) for method, rule, _ in MATRIX} | PUBLIC
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if (method, rule.rule) not in listed:
                missing.append((method, rule.rule))
    assert not missing, f"routes without a row in the role matrix: {sorted(missing)}"


def _call(client, method, rule, headers):
    url = _concrete(rule)
    kwargs = {"headers": headers}
    if method in {"POST", "PUT", "PATCH"}:
        kwargs["json"] = {}
    return client.open(url, method=method, **kwargs)


@pytest.mark.parametrize(
    ("method", "rule", "allowed"), MATRIX, ids=[f"{m} {r}" for m, r, _ in MATRIX]
)
def test_role_matrix(client, auth, method, rule, allowed):
    for role in sorted(ALL):
        response = _call(client, method, rule, auth(role))
        if role in allowed:
            assert response.status_code not in (401, 403), (role, response.get_json())
        else:
            assert response.status_code == 403, (role, response.status_code)
            assert response.get_json()["code"] == 403


@pytest.mark.parametrize(
    ("method", "rule", "allowed"), MATRIX, ids=[f"{m} {r}" for m, r, _ in MATRIX]
)
def test_no_token_is_401(client, world, method, rule, allowed):
    assert _call(client, method, rule, {}).status_code == 401
