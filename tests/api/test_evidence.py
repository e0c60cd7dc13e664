"""Evidence flags through the API: listed for the command centre, reviewed by a
dispatcher; and raised by the real photo pipeline when a closure photo's bytes arrive."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest

from app.cases.models import CasePhoto
from app.evidence import services
from tests import evidence_factories as ef

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
REPORTED = dt.datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI)
ONE_KM_AWAY = (ef.CASE_LAT + 1000 / 110_700, ef.CASE_LON)


@pytest.fixture
def category(session):
    return ef.make_category(session)


@pytest.fixture
def flagged(session, world, category):
    """Two cases: one with a closure photo copying its problem photo and taken 1 km away,
    one with a closure photo taken before the report. Returns (case, other case)."""
    case = ef.make_case(session, world, category, reported_at=REPORTED)
    picture = ef.jpeg(seed=21, gps=ONE_KM_AWAY)
    ef.attach(session, case, "problem", world.users["inspector"].id, data=picture)
    ef.attach(session, case, "closure", world.users["handler"].id, data=picture)
    other = ef.make_case(session, world, category, reported_at=REPORTED)
    early = ef.jpeg(seed=22, gps=(ef.CASE_LAT, ef.CASE_LON), taken_at=REPORTED - dt.timedelta(1))
    ef.attach(session, other, "check", world.users["inspector"].id, data=early)
    for each in (case, other):
        services.check_case_photos(session, each.id, None, max_distance_m=200, phash_distance=6)
    return case, other


def test_the_command_centre_lists_flags_by_case_and_state(client, auth, flagged):
    case, other = flagged
    listed = client.get("/api/v1/evidence-flags", headers=auth("dispatcher"))
    assert listed.status_code == 200
    assert {flag["kind"] for flag in listed.get_json()} == {
        "same_as_problem",
        "far_from_case",
        "taken_before_report",
    }
    assert '"total": 3' in listed.headers["X-Pagination"]

    by_case = client.get(
        f"/api/v1/evidence-flags?case_id={case.id}&open=true", headers=auth("admin")
    ).get_json()
    assert {flag["kind"] for flag in by_case} == {"same_as_problem", "far_from_case"}
    assert all(flag["case_id"] == str(case.id) for flag in by_case)
    far = next(flag for flag in by_case if flag["kind"] == "far_from_case")
    assert far["detail"]["distance_m"] == pytest.approx(1000, abs=5)
    assert far["reviewed_at"] is None

    page = client.get("/api/v1/evidence-flags?page=2&page_size=2", headers=auth("dispatcher"))
    assert len(page.get_json()) == 1
    by_kind = client.get(
        "/api/v1/evidence-flags?kind=taken_before_report", headers=auth("dispatcher")
    ).get_json()
    assert [flag["case_id"] for flag in by_kind] == [str(other.id)]
    bad = client.get("/api/v1/evidence-flags?kind=ugly", headers=auth("dispatcher"))
    assert bad.status_code == 422


def test_only_the_command_centre_sees_flags(client, auth, flagged):
    for role in ("handler", "inspector", "street_chief", "merchant"):
        assert client.get("/api/v1/evidence-flags", headers=auth(role)).status_code == 403
    assert client.get("/api/v1/evidence-flags").status_code == 401


def test_a_dispatcher_reviews_a_flag_once(client, auth, flagged):
    case, _ = flagged
    flags = client.get(
        f"/api/v1/evidence-flags?case_id={case.id}", headers=auth("dispatcher")
    ).get_json()
    flag_id = flags[0]["id"]
    url = f"/api/v1/evidence-flags/{flag_id}/review"

    assert client.post(url, json={"note": "看过"}, headers=auth("handler")).status_code == 403
    assert client.post(url, json={"note": "看过"}, headers=auth("admin")).status_code == 403
    assert client.post(url, json={"note": "看过"}).status_code == 401

    reviewed = client.post(url, json={"note": "同一张照片，已退回返工"}, headers=auth("dispatcher"))
    assert reviewed.status_code == 200
    body = reviewed.get_json()
    assert body["review_note"] == "同一张照片，已退回返工"
    assert body["reviewed_at"] is not None
    assert body["reviewed_by"] is not None

    again = client.post(url, json={}, headers=auth("dispatcher"))
    assert again.status_code == 409
    assert again.get_json()["errors"] == {"id": ["already reviewed"]}

    still_open = client.get(
        f"/api/v1/evidence-flags?case_id={case.id}&open=true", headers=auth("dispatcher")
    ).get_json()
    assert flag_id not in {flag["id"] for flag in still_open}
    done = client.get("/api/v1/evidence-flags?open=false", headers=auth("dispatcher")).get_json()
    assert [flag["id"] for flag in done] == [flag_id]

    missing = client.post(
        "/api/v1/evidence-flags/999999/review", json={}, headers=auth("dispatcher")
    )
    assert missing.status_code == 404
    unknown_field = client.post(url, json={"verdict": "ok"}, headers=auth("dispatcher"))
    assert unknown_field.status_code == 422


def test_a_closure_photo_uploaded_through_the_pipeline_is_flagged(
    app, client, auth, session, world, category
):
    """The bytes arrive (EXIF checks), then the job makes the pHash (picture checks)."""
    from app.cases.services import publish_photos_added

    case = ef.make_case(session, world, category, reported_at=REPORTED)
    before = ef.jpeg(seed=23, gps=(ef.CASE_LAT, ef.CASE_LON), size=(320, 240), quality=60)
    problem = ef.attach(session, case, "problem", world.users["inspector"].id, data=before)
    # The "after" photo is the same picture, larger, and taken a kilometre away.
    picture = ef.jpeg(seed=23, gps=ONE_KM_AWAY, taken_at=REPORTED + dt.timedelta(hours=2))
    sha256 = hashlib.sha256(picture).hexdigest()

    handler = auth("handler")
    photo_id = uuid.uuid4()
    created = client.post(
        "/api/v1/photos",
        json={"id": str(photo_id), "sha256": sha256, "kind": "closure"},
        headers=handler,
    )
    assert created.status_code == 201
    assert created.get_json()["status"] == "pending"
    session.add(
        CasePhoto(
            case_id=case.id, photo_id=photo_id, kind="closure", added_by=world.users["handler"].id
        )
    )
    with app.app_context():  # as an attach does: the outbox row in its transaction
        publish_photos_added(session, case.id, [photo_id], "closure")
        session.commit()

    stored = client.put(
        f"/api/v1/blobs/{sha256}", data=picture, headers=handler, content_type="image/jpeg"
    )
    assert stored.status_code in (200, 201)
    assert app.extensions["media"].queue.join(timeout=30)

    flags = client.get(
        f"/api/v1/evidence-flags?case_id={case.id}", headers=auth("dispatcher")
    ).get_json()
    assert {(flag["photo_id"], flag["kind"]) for flag in flags} == {
        (str(photo_id), "same_as_problem"),
        (str(photo_id), "far_from_case"),
    }
    same = next(flag for flag in flags if flag["kind"] == "same_as_problem")
    assert same["detail"]["problem_photo_id"] == str(problem.id)
