"""Each phone queue's sync health for an admin, end to end over HTTP: last push and pull,
last mid, open conflicts, rejects, pending photos; one queue per user on a shared phone."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from tests import case_factories as cf
from tests import factories
from tests.push_factories import break_reports

T0 = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
DEVICES = "/api/v1/admin/sync/devices"


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


def mutation(mid: int, type_: str, entity_id, args: dict) -> dict:
    return {
        "mid": mid,
        "type": type_,
        "entity_id": str(entity_id),
        "base_version": None,
        "args": args,
        "client_ts": (T0 + dt.timedelta(minutes=mid)).isoformat(),
    }


def report(mid: int, **overrides) -> dict:
    args = {
        "category_code": "06010",
        "description": "路边暴露垃圾",
        "location": cf.cell(0, 0),
        "photos": [cf.photo("problem")],
    }
    args.update(overrides)
    return mutation(mid, "report.create", uuid.uuid4(), args)


def push(client, headers: dict, device_id: str, *mutations: dict, expect: int = 200) -> dict:
    response = client.post(
        "/api/v1/sync/push",
        json={"device_id": device_id, "mutations": list(mutations)},
        headers=headers,
    )
    assert response.status_code == expect, response.get_json()
    return response.get_json()


@pytest.fixture
def shared_phone(client, cw):
    """The inspector and the street chief take turns on one phone; the chief also has a
    phone of their own."""
    inspector = factories.login_headers(client, cw.users["inspector"].username, device_id="shared")
    chief = cw.users["street_chief"].username
    return {
        "inspector": inspector,
        "chief": factories.login_headers(client, chief, device_id="shared"),
        "chief_own": factories.login_headers(client, chief, device_id="chief-phone"),
    }


def by_queue(listed: list[dict]) -> dict[tuple[str, str], dict]:
    return {(row["device_id"], row["user"]["username"]): row for row in listed}


def test_each_users_queue_on_each_phone_shows_its_health(client, auth, cw, shared_phone):
    push(
        client,
        shared_phone["inspector"],
        "shared",
        report(1),  # one pending problem photo
        mutation(2, "case.teleport", uuid.uuid4(), {}),  # rejected
        report(3, location=cf.cell(0, 1), photos=[cf.photo("problem"), cf.photo("problem")]),
    )
    push(client, shared_phone["chief"], "shared", report(1, location=cf.cell(1, 0)))
    response = client.get(DEVICES, headers=auth("admin"))
    assert response.status_code == 200, response.get_json()
    assert json.loads(response.headers["X-Pagination"])["total"] == 2
    rows = by_queue(response.get_json())
    inspector = rows[("shared", cw.users["inspector"].username)]
    assert (inspector["last_mid"], inspector["rejected"], inspector["open_conflicts"]) == (3, 1, 0)
    assert inspector["pending_photos"] == 3
    assert inspector["last_push_at"] is not None
    assert inspector["last_pull_at"] is None
    chief = rows[("shared", cw.users["street_chief"].username)]
    assert (chief["last_mid"], chief["rejected"], chief["pending_photos"]) == (1, 0, 1)
    assert chief["id"] != inspector["id"]


def test_a_pull_stamps_the_queues_last_pull(client, auth, cw, shared_phone):
    push(client, shared_phone["chief_own"], "chief-phone", report(1))
    pulled = client.get("/api/v1/sync/pull", headers=shared_phone["chief_own"])
    assert pulled.status_code == 200, pulled.get_json()
    [row] = client.get(f"{DEVICES}?device=chief-phone", headers=auth("admin")).get_json()
    assert row["last_pull_at"] is not None


def test_the_device_list_filters_by_phone_and_user(client, auth, cw, shared_phone):
    push(client, shared_phone["inspector"], "shared", report(1))
    push(client, shared_phone["chief"], "shared", report(1, location=cf.cell(1, 0)))
    push(client, shared_phone["chief_own"], "chief-phone", report(1, location=cf.cell(1, 1)))
    admin = auth("admin")
    assert len(client.get(f"{DEVICES}?device=shared", headers=admin).get_json()) == 2
    chief_id = cw.users["street_chief"].id
    mine = client.get(f"{DEVICES}?user={chief_id}", headers=admin).get_json()
    assert sorted(row["device_id"] for row in mine) == ["chief-phone", "shared"]
    assert client.get(f"{DEVICES}?user=x", headers=admin).status_code == 422


def test_a_queues_detail_has_its_recent_mutations_failures_and_open_conflicts(
    client, auth, cw, shared_phone, monkeypatch
):
    headers = shared_phone["inspector"]
    push(client, headers, "shared", report(1), mutation(2, "case.teleport", uuid.uuid4(), {}))
    mend = break_reports(monkeypatch)
    push(client, headers, "shared", report(3), expect=503)
    mend()
    admin = auth("admin")
    [row] = client.get(f"{DEVICES}?device=shared", headers=admin).get_json()
    detail = client.get(f"{DEVICES}/{row['id']}", headers=admin)
    assert detail.status_code == 200, detail.get_json()
    body = detail.get_json()
    assert body["last_mid"] == 2
    assert [(m["mid"], m["status"], m["reason"]) for m in body["recent_mutations"]] == [
        (2, "rejected", "unknown_type"),
        (1, "applied", None),
    ]
    [failure] = body["failures"]
    assert (failure["mid"], failure["attempts"]) == (3, 1)
    assert "database went away" in failure["last_error"]
    assert body["open_conflict_ids"] == []


def test_open_conflicts_are_counted_per_queue(client, auth, cw, shared_phone):
    """Fixed on the spot while offline, but filed (立案) meanwhile: a wrong_state conflict."""
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    [result] = push(
        client,
        shared_phone["inspector"],
        "shared",
        mutation(1, "case.self_handle", created["id"], {"photos": [cf.photo("closure")]}),
    )["results"]
    assert (result["status"], result["reason"]) == ("conflict", "wrong_state")
    admin = auth("admin")
    [row] = client.get(f"{DEVICES}?device=shared", headers=admin).get_json()
    assert row["open_conflicts"] == 1
    detail = client.get(f"{DEVICES}/{row['id']}", headers=admin).get_json()
    assert detail["open_conflict_ids"] == [result["conflict_id"]]


def test_an_unknown_queue_is_a_404(client, auth, world):
    assert client.get(f"{DEVICES}/999999", headers=auth("admin")).status_code == 404


@pytest.mark.parametrize("role", ["dispatcher", "inspector"])
def test_phone_health_is_the_admins(client, auth, world, role):
    assert client.get(DEVICES, headers=auth(role)).status_code == 403
