"""Cameras and AI events end to end through HTTP: an admin registers a camera system (its
API key), a camera and a category's setting; the system posts events with snapshots; each
becomes a case (verify or dispatch), attaches to an open one, or is kept ignored."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import uuid

import pytest
import sqlalchemy as sa

from app.cameras.models import CameraEvent
from app.cases.models import Case, CasePhoto, FlowEntry
from app.photos.backends import Media
from app.photos.models import Photo
from tests import case_factories as cf
from tests.media import photos as pictures

EVENTS = "/api/v1/camera-events"
T0 = dt.datetime(2026, 3, 9, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def media(app) -> Media:
    return app.extensions["media"]


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def key(client, auth, cw):
    response = client.post(
        "/api/v1/admin/camera-systems", json={"name": "海康平台"}, headers=auth("admin")
    )
    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert made["api_key"].startswith(made["key_prefix"])
    return made


@pytest.fixture
def camera(client, auth, cw):
    lat, lon = cf.cell(0, 0)["lat"], cf.cell(0, 0)["lon"]
    response = client.post(
        "/api/v1/admin/cameras",
        json={"code": "CAM-001", "name": "中山路口", "lat": lat, "lon": lon},
        headers=auth("admin"),
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def set_mode(client, auth, cw, mode: str, min_confidence: float = 0.5, window: int = 30):
    body = {"min_confidence": min_confidence, "mode": mode, "window_minutes": window}
    if mode == "dispatch":
        body["department_id"] = cw.world.department.id
    response = client.put(
        f"/api/v1/admin/camera-settings/{cw.category.id}", json=body, headers=auth("admin")
    )
    assert response.status_code == 200, response.get_json()


def jpeg(seed: int) -> bytes:
    return pictures.encode(pictures.scene(320, 240, seed=seed), "JPEG", quality=85)


def send(client, api_key: str, event_id: str, *, snapshot=None, expect=201, **fields):
    form = {
        "event_id": event_id,
        "camera_id": "CAM-001",
        "category": "0102",
        "category_kind": "event",
        "confidence": "0.9",
        "detected_at": T0.isoformat(),
        **fields,
    }
    data = snapshot if snapshot is not None else jpeg(hash(event_id) % 1000)
    form["snapshot"] = (io.BytesIO(data), "snap.jpg", "image/jpeg")
    response = client.post(
        EVENTS, data=form, headers={"X-Api-Key": api_key}, content_type="multipart/form-data"
    )
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def test_verify_mode_opens_a_video_case_for_the_grids_inspector(
    client, auth, cw, key, camera, session
):
    set_mode(client, auth, cw, "verify")
    event = send(client, key["api_key"], "E-1")
    assert event["status"] == "case_opened" and event["case_id"]
    case = cf.case(client, auth("dispatcher"), event["case_id"])
    assert (case["source"], case["state"]) == ("video", "verifying")
    assert [p["photo_id"] for p in case["photos"]["problem"]] == [event["photo_id"]]
    verify = cf.open_task(case, "verify")
    assert verify["assignee_id"] == cw.users["inspector"].id
    # The inspector confirms on site; the case goes on as any other.
    inspector = cf.case(client, auth("inspector"), event["case_id"])
    assert inspector["id"] == event["case_id"]
    case_id = uuid.UUID(case["id"])
    flow = session.scalars(sa.select(FlowEntry).where(FlowEntry.case_id == case_id)).all()
    assert [entry.action for entry in flow] == ["report", "send_verify"]
    assert {entry.actor_role for entry in flow} == {"dispatcher"}


def test_dispatch_mode_files_and_dispatches_at_once(client, auth, cw, key, camera, session):
    set_mode(client, auth, cw, "dispatch")
    event = send(client, key["api_key"], "E-2")
    case = session.get(Case, uuid.UUID(event["case_id"]))
    assert (case.source, case.state) == ("video", "dispatched")
    assert case.department_id == cw.world.department.id
    flow = session.scalars(
        sa.select(FlowEntry).where(FlowEntry.case_id == case.id).order_by(FlowEntry.seq)
    ).all()
    assert [(e.action, e.duty) for e in flow] == [
        ("report", None),
        ("register", "shift_leader"),
        ("dispatch", "dispatcher"),
    ]
    system = {e.actor_id for e in flow}
    assert len(system) == 1
    handler_list = client.get("/api/v1/tasks", headers=auth("handler")).get_json()
    assert any(t["case"]["id"] == event["case_id"] for t in handler_list)


def test_the_same_event_id_again_is_the_same_answer_never_a_second_case(
    client, auth, cw, key, camera, session
):
    set_mode(client, auth, cw, "verify")
    first = send(client, key["api_key"], "E-3")
    again = send(client, key["api_key"], "E-3", expect=200)
    assert again == first
    assert count(session, Case) == 1 and count(session, CameraEvent) == 1


def test_low_confidence_is_kept_ignored_without_a_case(client, auth, cw, key, camera, session):
    set_mode(client, auth, cw, "dispatch", min_confidence=0.8)
    event = send(client, key["api_key"], "E-4", confidence="0.79")
    assert event["status"] == "ignored_low_confidence" and event["case_id"] is None
    assert count(session, Case) == 0
    listed = client.get(f"{EVENTS}?status=ignored_low_confidence", headers=auth("admin")).get_json()
    assert [e["event_id"] for e in listed] == ["E-4"]


def test_repeats_within_the_window_attach_to_the_open_case(client, auth, cw, key, camera, session):
    set_mode(client, auth, cw, "verify", window=30)
    first = send(client, key["api_key"], "E-5")
    later = (T0 + dt.timedelta(minutes=20)).isoformat()
    second = send(client, key["api_key"], "E-6", detected_at=later)
    assert second["status"] == "attached" and second["case_id"] == first["case_id"]
    photos = session.scalars(
        sa.select(CasePhoto.photo_id).where(CasePhoto.case_id == uuid.UUID(first["case_id"]))
    ).all()
    assert len(photos) == 2
    outside = (T0 + dt.timedelta(minutes=90)).isoformat()
    third = send(client, key["api_key"], "E-7", detected_at=outside)
    assert third["status"] == "case_opened" and third["case_id"] != first["case_id"]
    other = send(
        client, key["api_key"], "E-8", category="0101", category_kind="component", detected_at=later
    )
    assert other["case_id"] not in (first["case_id"], third["case_id"])


def test_a_bad_missing_or_revoked_key_is_401_and_nothing_changes(
    client, auth, cw, key, camera, session
):
    assert send(client, "cam_wrong", "E-9", expect=401)["code"] == 401
    response = client.post(EVENTS, data={"event_id": "x"}, content_type="multipart/form-data")
    assert response.status_code == 401
    revoked = client.post(f"/api/v1/admin/camera-systems/{key['id']}/revoke", headers=auth("admin"))
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    send(client, key["api_key"], "E-10", expect=401)
    assert count(session, CameraEvent) == 0 and count(session, Case) == 0


@pytest.mark.parametrize("name", ["text", "truncated", "empty"])
def test_a_hostile_snapshot_is_refused_with_nothing_stored(
    client, auth, cw, key, camera, session, media, name
):
    whole = jpeg(7)
    data = {"text": b"not an image at all " * 20, "truncated": whole[: len(whole) // 2]}
    snapshot = data.get(name, b"")
    send(client, key["api_key"], "E-11", snapshot=snapshot, expect=422 if name != "text" else 415)
    if snapshot:
        assert not media.store.exists(hashlib.sha256(snapshot).hexdigest())
    assert count(session, CameraEvent) == 0 and count(session, Case) == 0
    assert count(session, Photo) == 0


def test_an_oversize_body_is_413(client, auth, cw, key, camera, session, app, monkeypatch):
    monkeypatch.setitem(app.config, "CAMERA_MAX_BODY_BYTES", 10_000)
    send(client, key["api_key"], "E-12", snapshot=jpeg(8) + b"\0" * 20_000, expect=413)
    assert count(session, CameraEvent) == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"confidence": "1.5"}, "confidence"),
        ({"confidence": "nan"}, "confidence"),
        ({"camera_id": "CAM-404"}, "camera_id"),
        ({"category": "9999"}, "category"),
        ({"detected_at": "yesterday"}, "detected_at"),
    ],
)
def test_bad_fields_are_422(client, auth, cw, key, camera, session, fields, field):
    body = send(client, key["api_key"], "E-13", expect=422, **fields)
    assert field in str(body), body
    assert count(session, CameraEvent) == 0 and count(session, Case) == 0


def test_admin_routes_permissions_and_validation(client, auth, cw, camera):
    for role in ("inspector", "merchant", "handler", "dispatcher"):
        assert (
            client.post(
                "/api/v1/admin/camera-systems", json={"name": "x"}, headers=auth(role)
            ).status_code
            == 403
        )
        assert client.post("/api/v1/admin/cameras", json={}, headers=auth(role)).status_code in (
            403,
            422,
        )
    assert client.get(EVENTS, headers=auth("inspector")).status_code == 403
    assert client.get(EVENTS, headers=auth("dispatcher")).status_code == 200
    assert client.get(EVENTS).status_code == 401
    duplicate = client.post(
        "/api/v1/admin/cameras",
        json={"code": "CAM-001", "name": "again", "lat": 24.4, "lon": 118.1},
        headers=auth("admin"),
    )
    assert duplicate.status_code == 409
    no_department = client.put(
        f"/api/v1/admin/camera-settings/{cw.category.id}",
        json={"min_confidence": 0.5, "mode": "dispatch", "window_minutes": 30},
        headers=auth("admin"),
    )
    assert no_department.status_code == 422
    assert "department_id" in str(no_department.get_json())
    off = client.patch(
        f"/api/v1/admin/cameras/{camera['id']}", json={"active": False}, headers=auth("admin")
    )
    assert off.status_code == 200 and off.get_json()["active"] is False


def test_verify_mode_without_an_inspector_leaves_the_case_for_a_dispatcher(
    client, auth, cw, key, session
):
    lat, lon = cf.cell(2, 2)["lat"], cf.cell(2, 2)["lon"]  # grid 009: nobody walks it
    made = client.post(
        "/api/v1/admin/cameras",
        json={"code": "CAM-001", "name": "无人网格", "lat": lat, "lon": lon},
        headers=auth("admin"),
    )
    assert made.status_code == 201
    set_mode(client, auth, cw, "verify")
    event = send(client, key["api_key"], "E-20")
    assert event["status"] == "case_opened"
    case = cf.case(client, auth("dispatcher"), event["case_id"])
    assert (case["source"], case["state"]) == ("video", "reported")
    # The snapshot is the case's problem photo, readable by whoever sees the case.
    photo = client.get(f"/api/v1/photos/{event['photo_id']}", headers=auth("dispatcher"))
    assert photo.status_code == 200


def test_an_inactive_camera_is_refused(client, auth, cw, key, camera, session):
    client.patch(
        f"/api/v1/admin/cameras/{camera['id']}", json={"active": False}, headers=auth("admin")
    )
    body = send(client, key["api_key"], "E-21", expect=422)
    assert "camera_id" in body["errors"]
    assert count(session, CameraEvent) == 0


def test_the_same_event_sent_at_once_from_many_threads_makes_one_case(
    live_server, client, auth, cw, key, camera, session
):
    import concurrent.futures

    import requests

    set_mode(client, auth, cw, "dispatch")
    snapshot = jpeg(42)

    def post(_n: int) -> int:
        response = requests.post(
            f"{live_server}{EVENTS}",
            headers={"X-Api-Key": key["api_key"]},
            data={
                "event_id": "E-RACE",
                "camera_id": "CAM-001",
                "category": "0102",
                "category_kind": "event",
                "confidence": "0.9",
                "detected_at": T0.isoformat(),
            },
            files={"snapshot": ("snap.jpg", snapshot, "image/jpeg")},
            timeout=60,
        )
        return response.status_code

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(post, range(6)))
    assert statuses.count(201) == 1 and set(statuses) <= {200, 201}, statuses
    session.expire_all()
    assert count(session, CameraEvent) == 1 and count(session, Case) == 1
