"""Case intake, routing, reading and scoping; bad input; concurrent moves."""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.cases import intake, moves
from app.cases.models import Case, CaseNumberCounter, DuplicateCandidate, FlowEntry, RoutingGap
from app.cases.reports import NewReport
from app.extensions import db
from app.photos.backends import media
from tests import case_factories as cf


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


def _count(session, model) -> int:
    session.expire_all()
    return session.scalar(sa.select(sa.func.count()).select_from(model))


# -- intake ------------------------------------------------------------------------------


def test_report_routes_by_location(client, auth, cw):
    created = cf.report(client, auth("inspector"), cw.category, location=cf.cell(1, 1))
    assert created["grid_code"] == "350203001001005"
    assert created["street_id"] == cw.world.street.id
    assert created["community_id"] == cw.world.community.id
    assert created["routing"] == "routed"
    assert created["locate_status"] == "inside"
    assert created["source"] == "inspector"
    assert created["category"]["code"] == "0102"


def test_report_by_category_code(client, auth, cw):
    body = cf.report_body(cw.category)
    del body["category_id"]
    body["category"] = {"kind": "event", "code": "0102"}
    response = client.post("/api/v1/cases", json=body, headers=auth("inspector"))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["category"]["id"] == cw.category.id


def test_gcj02_location_is_stored_as_wgs84(client, auth, cw):
    from app.grids import geo

    lat, lon = cf.cell(1, 1)["lat"], cf.cell(1, 1)["lon"]
    # What a phone's map SDK would show for that WGS-84 point.
    import prcoords

    gcj = prcoords.wgs_gcj(prcoords.Coords(lat, lon))
    created = cf.report(
        client,
        auth("inspector"),
        cw.category,
        location={"lat": gcj.lat, "lon": gcj.lon, "crs": "gcj02"},
    )
    assert abs(created["location"]["lat"] - lat) < 1e-5
    assert abs(created["location"]["lon"] - lon) < 1e-5
    assert created["grid_code"] == "350203001001005"
    assert geo.CRS_VALUES


def test_case_numbers_count_up_per_district_and_day(client, auth, cw, session):
    numbers = [cf.report(client, auth("inspector"), cw.category)["number"] for _ in range(3)]
    assert len(set(numbers)) == 3
    assert [n[-5:] for n in numbers] == ["00001", "00002", "00003"]
    assert len({n[:14] for n in numbers}) == 1
    assert session.scalar(sa.select(CaseNumberCounter.last)) == 3


@pytest.mark.usefixtures("committing")
def test_case_numbers_are_unique_under_concurrency(app, session, cw):
    user_id = cw.users["inspector"].id
    errors, numbers = [], []

    def worker():
        with app.app_context():
            try:
                with Session(db.engine, expire_on_commit=False) as s:
                    user = s.get(type(cw.users["inspector"]), user_id)
                    for _ in range(4):
                        report = NewReport(
                            case_id=uuid.uuid4(),
                            category=cw.category.id,
                            description="垃圾",
                            location=cf.cell(0, 1),
                        )
                        reported = intake.report_case(s, media(), user, "phone", report)
                        numbers.append(reported.case.number)
            except Exception as error:
                errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(numbers) == 16
    assert sorted(n[-5:] for n in numbers) == [f"{i:05d}" for i in range(1, 17)]


def test_the_same_report_twice_is_one_case(client, auth, cw, session):
    body = cf.report_body(cw.category)
    first = client.post("/api/v1/cases", json=body, headers=auth("inspector"))
    again = client.post("/api/v1/cases", json=body, headers=auth("inspector"))
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.get_json()["number"] == first.get_json()["number"]
    assert _count(session, Case) == 1
    assert _count(session, FlowEntry) == 1


def test_the_same_case_id_with_other_content_is_a_conflict(client, auth, cw, session):
    body = cf.report_body(cw.category)
    assert client.post("/api/v1/cases", json=body, headers=auth("inspector")).status_code == 201
    body["description"] = "别的问题"
    response = client.post("/api/v1/cases", json=body, headers=auth("inspector"))
    assert response.status_code == 409
    assert _count(session, Case) == 1


def test_a_report_in_the_sea_is_accepted_for_confirmation(client, auth, cw, session):
    lat, lon = cf.SEA
    created = cf.report(client, auth("inspector"), cw.category, location={"lat": lat, "lon": lon})
    assert created["routing"] == "needs_confirmation"
    assert created["locate_status"] == "outside"
    assert created["grid_id"] is None
    assert created["number"].startswith("350203")  # the reporter's district
    gap = session.scalar(sa.select(RoutingGap))
    assert gap.locate_status == "outside"
    queue = client.get("/api/v1/cases?routing=needs_confirmation", headers=auth("dispatcher"))
    assert [c["id"] for c in queue.get_json()] == [created["id"]]

    confirmed = client.post(
        f"/api/v1/cases/{created['id']}/routing",
        json={"grid_code": "350203001001002"},
        headers=auth("dispatcher"),
    )
    assert confirmed.status_code == 200, confirmed.get_json()
    body = confirmed.get_json()
    assert body["routing"] == "routed"
    assert body["grid_code"] == "350203001001002"
    assert body["street_id"] == cw.world.street.id
    session.expire_all()
    assert session.scalar(sa.select(RoutingGap)).resolved_at is not None


def test_a_report_on_a_boundary_needs_confirmation(client, auth, cw):
    lat, lon = cf.cell(0, 0)["lat"], 118.082  # the edge between grids 001 and 002
    created = cf.report(client, auth("inspector"), cw.category, location={"lat": lat, "lon": lon})
    assert created["locate_status"] == "near_boundary"
    assert created["routing"] == "needs_confirmation"


@pytest.mark.parametrize(
    ("location", "field"),
    [
        ({"lat": 91, "lon": 118.0}, "location"),
        ({"lat": 24.0, "lon": 181}, "location"),
        ({"lat": 24.0, "lon": 118.0, "crs": "epsg3857"}, "location"),
        ({"lat": 24.0}, "location"),
    ],
)
def test_bad_locations_are_422(client, auth, cw, session, location, field):
    response = client.post(
        "/api/v1/cases",
        json=cf.report_body(cw.category, location=location),
        headers=auth("inspector"),
    )
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]["json"]
    assert _count(session, Case) == 0


def test_unknown_category_is_422(client, auth, cw, session):
    response = client.post(
        "/api/v1/cases",
        json=cf.report_body(cw.category, category_id=999999),
        headers=auth("inspector"),
    )
    assert response.status_code == 422
    assert "category" in response.get_json()["errors"]
    body = cf.report_body(cw.category)
    del body["category_id"]
    body["category"] = {"kind": "event", "edition": "cjt214", "code": "9999"}
    assert client.post("/api/v1/cases", json=body, headers=auth("inspector")).status_code == 422
    assert _count(session, Case) == 0


def test_a_report_must_name_one_category(client, auth, cw):
    body = cf.report_body(cw.category)
    del body["category_id"]
    assert client.post("/api/v1/cases", json=body, headers=auth("inspector")).status_code == 422


def test_a_report_carries_problem_photos_only(client, auth, cw):
    response = client.post(
        "/api/v1/cases",
        json=cf.report_body(cw.category, photos=[cf.photo("closure")]),
        headers=auth("inspector"),
    )
    assert response.status_code == 422


def test_source_other_than_own_role_only_for_dispatchers(client, auth, cw):
    cf.report(client, auth("inspector"), cw.category, source="hotline", expect=422)
    created = cf.report(client, auth("dispatcher"), cw.category, source="hotline")
    assert created["source"] == "hotline"


def test_duplicates_are_found_nearby_in_the_same_category(client, auth, cw, session):
    first = cf.report(client, auth("inspector"), cw.category)
    cf.report(client, auth("inspector"), cw.other_category)  # another category
    cf.report(client, auth("inspector"), cw.category, location=cf.cell(2, 2))  # far away
    near = cf.report(client, auth("inspector"), cw.category)
    rows = session.scalars(sa.select(DuplicateCandidate)).all()
    assert [(str(r.case_id), str(r.other_case_id)) for r in rows] == [(near["id"], first["id"])]
    detail = cf.case(client, auth("dispatcher"), near["id"])
    assert [d["case"]["id"] for d in detail["duplicates"]] == [first["id"]]


# -- transitions refused ------------------------------------------------------------------


def test_wrong_state_is_409_and_changes_nothing(client, auth, cw, session):
    created = cf.report(client, auth("inspector"), cw.category)
    refused = cf.act(client, auth("dispatcher"), created["id"], "close", expect=409)
    assert refused["errors"]["reason"] == "wrong_state"
    after = cf.case(client, auth("dispatcher"), created["id"])
    assert after["state"] == "reported"
    assert after["version"] == created["version"]
    assert len(after["flow"]) == 1


def test_wrong_role_is_403(client, auth, cw):
    created = cf.report(client, auth("inspector"), cw.category)
    refused = cf.act(client, auth("inspector"), created["id"], "register", expect=403)
    assert refused["errors"]["reason"] == "wrong_role"


def test_missing_evidence_is_422(client, auth, cw):
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    refused = cf.act(client, auth("dispatcher"), created["id"], "dispatch", expect=422)
    assert refused["errors"]["reason"] == "missing_department"
    unknown = cf.act(
        client,
        auth("dispatcher"),
        created["id"],
        "dispatch",
        department_id=cw.world.street.id,
        expect=422,
    )
    assert "department_id" in unknown["errors"]
    dispatched = cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )
    cf.act(client, auth("handler"), created["id"], "accept")
    refused = cf.act(client, auth("handler"), created["id"], "submit_closure", expect=422)
    assert refused["errors"]["reason"] == "missing_closure_photo"
    assert cf.case(client, auth("dispatcher"), created["id"])["state"] == "handling"
    assert dispatched["state"] == "dispatched"


def test_close_needs_a_passed_check(client, auth, cw):
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )
    cf.act(client, auth("handler"), created["id"], "accept")
    cf.act(client, auth("handler"), created["id"], "submit_closure", photos=[cf.photo("closure")])
    cf.act(client, auth("dispatcher"), created["id"], "send_check")
    refused = cf.act(client, auth("dispatcher"), created["id"], "close", expect=422)
    assert refused["errors"]["reason"] == "missing_check_passed"
    refused = cf.act(client, auth("inspector"), created["id"], "check_pass", expect=422)
    assert refused["errors"]["reason"] == "missing_check_photo"


def test_register_may_fix_the_category(client, auth, cw):
    created = cf.report(client, auth("inspector"), cw.category)
    registered = cf.act(
        client, auth("dispatcher"), created["id"], "register", category_id=cw.other_category.id
    )
    assert registered["category"]["id"] == cw.other_category.id
    cf.act(client, auth("dispatcher"), created["id"], "register", expect=409)


def test_unknown_category_on_register_is_422(client, auth, cw):
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register", category_id=999999, expect=422)
    assert cf.case(client, auth("dispatcher"), created["id"])["state"] == "reported"


@pytest.mark.usefixtures("committing")
def test_concurrent_moves_one_loses(app, session, cw, client, auth):
    created = cf.report(client, auth("inspector"), cw.category)
    case_id = uuid.UUID(created["id"])
    dispatcher_id = cw.users["dispatcher"].id
    with app.app_context():
        first = Session(db.engine, expire_on_commit=False)
        second = Session(db.engine, expire_on_commit=False)
        try:
            user_a = first.get(type(cw.users["dispatcher"]), dispatcher_id)
            user_b = second.get(type(cw.users["dispatcher"]), dispatcher_id)
            # Both load the case at version 1 before either moves.
            first.get(Case, case_id)
            second.get(Case, case_id)
            first.commit()
            second.commit()
            moves.move_case(first, media(), user_a, "a", case_id, "register")
            with pytest.raises(Exception) as lost:
                moves.move_case(
                    second, media(), user_b, "b", case_id, "reject", {"opinion": "重复"}
                )
            assert getattr(lost.value, "status_code", None) == 409
        finally:
            first.close()
            second.close()
    after = cf.case(client, auth("dispatcher"), created["id"])
    assert after["state"] == "registered"
    assert [entry["action"] for entry in after["flow"]] == ["report", "register"]


# -- reading and scoping --------------------------------------------------------------------


def test_an_inspector_sees_own_grid_not_another(client, auth, cw):
    mine = cf.report(client, auth("dispatcher"), cw.category, location=cf.cell(0, 1))
    theirs = cf.report(client, auth("dispatcher"), cw.category, location=cf.cell(1, 1))
    cf.case(client, auth("inspector"), mine["id"])
    cf.case(client, auth("inspector"), theirs["id"], expect=404)
    listed = client.get("/api/v1/cases", headers=auth("inspector")).get_json()
    assert [c["id"] for c in listed] == [mine["id"]]


def test_a_handler_sees_only_their_departments_cases(client, auth, cw):
    created = cf.report(client, auth("inspector"), cw.category)
    cf.case(client, auth("handler"), created["id"], expect=404)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )
    cf.case(client, auth("handler"), created["id"])
    cf.act(client, auth("handler"), created["id"], "accept")


def test_handler_of_another_department_cannot_act(client, auth, cw):
    from tests import factories

    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    detail = cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )
    other = factories.login_headers(client, cw.other_department_handler.username)
    cf.act(client, other, created["id"], "accept", expect=404)
    task = cf.open_task(detail, "handle")
    cf.task_post(client, other, task["id"], "accept", expect=404)


def test_street_and_road_chiefs_and_merchants_see_their_part(client, auth, cw):
    created = cf.report(client, auth("dispatcher"), cw.category, location=cf.cell(2, 2))
    cf.case(client, auth("street_chief"), created["id"])
    cf.case(client, auth("merchant"), created["id"], expect=404)
    own = cf.report(client, auth("merchant"), cw.category)
    cf.case(client, auth("merchant"), own["id"])
    assert [c["id"] for c in client.get("/api/v1/cases", headers=auth("merchant")).get_json()] == [
        own["id"]
    ]


def test_list_filters_and_pagination(client, auth, cw):
    a = cf.report(client, auth("inspector"), cw.category)
    b = cf.report(client, auth("inspector"), cw.other_category, location=cf.cell(2, 0))
    cf.act(client, auth("dispatcher"), b["id"], "register")
    d = auth("dispatcher")

    def ids(query):
        response = client.get(f"/api/v1/cases?{query}", headers=d)
        assert response.status_code == 200, response.get_json()
        return [c["id"] for c in response.get_json()]

    assert ids("state=registered") == [b["id"]]
    assert ids("state=registered&state=reported") == [b["id"], a["id"]]
    assert ids(f"category_id={cw.category.id}") == [a["id"]]
    assert ids("grid_code=350203001001007") == [b["id"]]
    assert ids(f"street_id={cw.world.street.id}") == [b["id"], a["id"]]
    assert ids("source=inspector") == [b["id"], a["id"]]
    assert ids("overdue=true") == []
    assert ids("reported_from=2000-01-01T00:00:00%2B08:00") == [b["id"], a["id"]]
    assert ids("reported_to=2000-01-01T00:00:00%2B08:00") == []
    page = client.get("/api/v1/cases?page=1&page_size=1", headers=d)
    assert len(page.get_json()) == 1
    assert '"total": 2' in page.headers["X-Pagination"]


def test_overdue_filter(client, auth, cw, session):
    import datetime as dt

    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    case = session.get(Case, uuid.UUID(created["id"]))
    case.limit_started_at = dt.datetime(2024, 1, 2, 1, 0, tzinfo=dt.UTC)
    case.deadline = dt.datetime(2024, 1, 2, 6, 0, tzinfo=dt.UTC)
    session.commit()
    listed = client.get("/api/v1/cases?overdue=true", headers=auth("dispatcher")).get_json()
    assert [c["id"] for c in listed] == [created["id"]]
    assert listed[0]["traffic_light"] == "red"
    assert listed[0]["overdue"] is True


def test_attach_photos_is_idempotent(client, auth, cw):
    created = cf.report(client, auth("inspector"), cw.category)
    extra = cf.photo("problem")
    url = f"/api/v1/cases/{created['id']}/photos"
    first = client.post(url, json={"photos": [extra]}, headers=auth("inspector"))
    again = client.post(url, json={"photos": [extra]}, headers=auth("inspector"))
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["added"] == [extra["photo_id"]]
    assert again.get_json()["added"] == []
    detail = cf.case(client, auth("inspector"), created["id"])
    assert len(detail["photos"]["problem"]) == 2
    assert detail["flow"][-1]["action"] == "attach_photos"


def test_flask_cases_diagram_prints_the_generated_diagram(app):
    from app.cases import workflow

    result = app.test_cli_runner().invoke(args=["cases", "diagram"])
    assert result.exit_code == 0
    assert result.output == workflow.mermaid()


def test_whoever_may_see_a_case_may_see_its_photos(client, auth, cw):
    created = cf.report(client, auth("inspector"), cw.category)
    problem = created["photos"]["problem"][0]["photo_id"]
    url = f"/api/v1/photos/{problem}"
    # Before dispatch the case is not the department's: neither is its photo.
    assert client.get(url, headers=auth("handler")).status_code == 404
    cf.act(client, auth("dispatcher"), created["id"], "register")
    cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )
    assert client.get(url, headers=auth("handler")).status_code == 200
    assert client.get(url, headers=auth("street_chief")).status_code == 200
    assert client.get(url, headers=auth("merchant")).status_code == 404


def test_number_and_traffic_light_filters(client, auth, cw, session):
    """Issue 13: ?number= and ?traffic_light= were silently ignored."""
    import datetime as dt

    from app.core.clock import utcnow

    d = auth("dispatcher")
    green, yellow, red, unlit = (
        cf.report(client, auth("inspector"), cw.other_category, location=cf.cell(0, i))
        for i in range(4)
    )
    for created in (green, yellow, red):
        cf.act(client, d, created["id"], "register")
    now = utcnow()
    # The manhole cover category runs continuously (urgent hours): wall-clock shares.
    for created, started, deadline in (
        (green, now - dt.timedelta(hours=1), now + dt.timedelta(hours=5)),
        (yellow, now - dt.timedelta(hours=5), now + dt.timedelta(hours=1)),
        (red, now - dt.timedelta(hours=7), now - dt.timedelta(hours=1)),
    ):
        case = session.get(Case, uuid.UUID(created["id"]))
        case.limit_started_at, case.deadline = started, deadline
    session.commit()

    def ids(query):
        response = client.get(f"/api/v1/cases?{query}", headers=d)
        assert response.status_code == 200, response.get_json()
        return {c["id"] for c in response.get_json()}

    assert ids("traffic_light=green") == {green["id"]}
    assert ids("traffic_light=yellow") == {yellow["id"]}
    assert ids("traffic_light=red") == {red["id"]}
    assert ids(f"traffic_light=green&number={green['number']}") == {green["id"]}
    assert ids(f"traffic_light=yellow&number={green['number']}") == set()
    assert ids(f"number={unlit['number']}") == {unlit["id"]}
    prefix = unlit["number"][:-2]
    assert unlit["id"] in ids(f"number={prefix}")
    assert ids("number=NOPE%25") == set()  # a LIKE wildcard is a character, not a pattern
    listed = client.get("/api/v1/cases?traffic_light=yellow", headers=d).get_json()
    assert listed[0]["traffic_light"] == "yellow"
    bad = client.get("/api/v1/cases?traffic_light=blue", headers=d)
    assert bad.status_code == 422
