"""Two-stage limits through the API on SQLite and PostgreSQL: categories carry a first
stage (arrive / make safe, stop work), a case gets its stage deadline at filing and at each
rework, the handler reports it with ``make_safe`` (directly, on the task, or pushed), and
each stage shows its own traffic light."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from app.cases.models import Case
from tests import case_factories as cf
from tests import factories
from tests.clock import local
from tests.push_factories import mutation, push

MON = "2026-03-09"
ILLEGAL_STRUCTURE = ("event", "cjt214", "0101")  # 私搭乱建: stop work 4 wh, demolish 15 wd


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


def utc(day: str, hhmm: str) -> str:
    return local(day, hhmm).astimezone(dt.UTC).isoformat()


def _manhole(client, auth, cw) -> str:
    """A manhole cover (上水井盖: reach and make safe within 0.5 h, repair within 6 h),
    filed and dispatched at Monday 09:00."""
    case_id = cf.report(client, auth("inspector"), cw.other_category)["id"]
    cf.act(client, auth("dispatcher"), case_id, "register")
    cf.act(client, auth("dispatcher"), case_id, "dispatch", department_id=cw.world.department.id)
    return case_id


def test_the_seeded_two_stage_categories(client, auth, cw):
    manhole = client.get(f"/api/v1/categories/{cw.other_category.id}", headers=auth("inspector"))
    body = manhole.get_json()
    assert (body["stage_name"], body["stage_limit"], body["stage_limit_type"]) == (
        "到场",
        0.5,
        "urgent_hours",
    )
    rubbish = client.get(f"/api/v1/categories/{cw.category.id}", headers=auth("inspector"))
    assert rubbish.get_json()["stage_name"] is None
    found = client.get("/api/v1/categories?q=私搭乱建", headers=auth("inspector")).get_json()
    assert {(c["stage_name"], c["stage_limit"], c["stage_limit_type"]) for c in found} == {
        ("停工", 4.0, "working_hours")
    }


def test_each_stage_has_its_deadline_and_light(client, auth, cw, clock):
    case_id = _manhole(client, auth, cw)
    detail = cf.case(client, auth("dispatcher"), case_id)
    assert detail["stages"] == [
        {"name": "到场", "deadline": utc(MON, "09:30"), "done_at": None, "traffic_light": "green"},
        {"name": "处置", "deadline": utc(MON, "15:00"), "done_at": None, "traffic_light": "green"},
    ]
    clock.set(local(MON, "09:26"))  # 26 of 30 minutes
    lights = [s["traffic_light"] for s in cf.case(client, auth("dispatcher"), case_id)["stages"]]
    assert lights == ["yellow", "green"]
    clock.set(local(MON, "09:40"))
    lights = [s["traffic_light"] for s in cf.case(client, auth("dispatcher"), case_id)["stages"]]
    assert lights == ["red", "green"]
    listed = client.get("/api/v1/cases", headers=auth("dispatcher")).get_json()
    assert [s["traffic_light"] for s in listed[0]["stages"]] == ["red", "green"]

    cf.refused(cf.try_act(client, auth("handler"), case_id, "make_safe"), 409, "wrong_state")
    cf.act(client, auth("handler"), case_id, "accept")
    safe = cf.act(client, auth("handler"), case_id, "make_safe", opinion="已设围挡")
    assert safe["state"] == "handling"
    assert safe["stages"][0] == {
        "name": "到场",
        "deadline": utc(MON, "09:30"),
        "done_at": utc(MON, "09:40"),
        "traffic_light": None,
    }
    entry = safe["flow"][-1]
    assert (entry["action"], entry["time_used"], entry["overdue"]) == ("make_safe", 2400.0, True)
    cf.refused(cf.try_act(client, auth("handler"), case_id, "make_safe"), 409, "stage_done")


def test_a_rework_starts_the_first_stage_again(client, auth, cw, clock, session):
    case_id = _manhole(client, auth, cw)
    cf.act(client, auth("handler"), case_id, "accept")
    cf.act(client, auth("handler"), case_id, "make_safe")
    cf.act(client, auth("handler"), case_id, "submit_closure", photos=[cf.photo("closure")])
    cf.act(client, auth("dispatcher"), case_id, "send_check")
    clock.set(local(MON, "13:00"))
    failed = cf.act(
        client, auth("inspector"), case_id, "check_fail", photos=[cf.photo("check")], opinion="松动"
    )
    assert failed["stages"][0]["deadline"] == utc(MON, "13:30")
    assert failed["stages"][0]["done_at"] is None
    assert failed["stages"][1]["deadline"] == utc(MON, "19:00")
    # Made safe on the task this time (accepting it first), in time.
    task = cf.open_task(failed, "handle")
    clock.set(local(MON, "13:20"))
    cf.task_post(client, auth("handler"), task["id"], "make_safe", note="已加固")
    case = session.get(Case, uuid.UUID(case_id))
    session.refresh(case)
    assert case.stage_done_at == local(MON, "13:20")
    detail = cf.case(client, auth("dispatcher"), case_id)
    assert [e["action"] for e in detail["flow"][-2:]] == ["accept", "make_safe"]
    assert (detail["flow"][-1]["time_used"], detail["flow"][-1]["overdue"]) == (1200.0, False)


def test_an_illegal_structure_stops_work_in_working_hours(client, auth, cw, clock, session):
    from app.categories.services import find_category

    category = find_category(session, *ILLEGAL_STRUCTURE)
    clock.set(local(MON, "11:00"))
    case_id = cf.report(client, auth("inspector"), category)["id"]
    registered = cf.act(client, auth("dispatcher"), case_id, "register")
    # 停工 within 4 working hours: 11:00–12:00 and 14:00–17:00.
    assert registered["stages"][0]["name"] == "停工"
    assert registered["stages"][0]["deadline"] == utc(MON, "17:00")
    # 拆除 within 15 working days: Monday 11:00 three weeks on (no holiday in March 2026).
    assert registered["stages"][1]["deadline"] == utc("2026-03-30", "11:00")


def test_make_safe_refusals_change_nothing(client, auth, cw, clock, session):
    one_stage = cf.report(client, auth("inspector"), cw.category)["id"]
    cf.act(client, auth("dispatcher"), one_stage, "register")
    cf.act(client, auth("dispatcher"), one_stage, "dispatch", department_id=cw.world.department.id)
    cf.act(client, auth("handler"), one_stage, "accept")
    assert cf.case(client, auth("dispatcher"), one_stage)["stages"] == [
        {"name": "处置", "deadline": utc(MON, "15:00"), "done_at": None, "traffic_light": "green"}
    ]
    cf.refused(cf.try_act(client, auth("handler"), one_stage, "make_safe"), 422, "no_stage")

    case_id = _manhole(client, auth, cw)
    cf.act(client, auth("handler"), case_id, "accept")
    for role in ("inspector", "dispatcher"):
        cf.refused(cf.try_act(client, auth(role), case_id, "make_safe"), 403, "wrong_role")
    other = factories.login_headers(client, cw.other_department_handler.username)
    response = cf.try_act(client, other, case_id, "make_safe")
    assert response.status_code in (403, 404), response.get_json()
    bad = client.post(
        f"/api/v1/tasks/{uuid.uuid4()}/make_safe", json={"note": 5}, headers=auth("handler")
    )
    assert bad.status_code == 422
    case = session.get(Case, uuid.UUID(case_id))
    session.refresh(case)
    assert case.stage_done_at is None
    flow = cf.case(client, auth("dispatcher"), case_id)["flow"]
    assert "make_safe" not in [e["action"] for e in flow]


def test_make_safe_on_a_check_task_is_422(client, auth, cw, clock):
    case_id = _manhole(client, auth, cw)
    cf.act(client, auth("handler"), case_id, "accept")
    cf.act(client, auth("handler"), case_id, "submit_closure", photos=[cf.photo("closure")])
    checking = cf.act(client, auth("dispatcher"), case_id, "send_check")
    check = cf.open_task(checking, "check")
    cf.task_post(client, auth("inspector"), check["id"], "make_safe", expect=422)


def test_a_pushed_make_safe(client, auth, cw, clock, session):
    case_id = _manhole(client, auth, cw)
    task = cf.open_task(cf.case(client, auth("dispatcher"), case_id), "handle")
    headers = factories.login_headers(client, cw.users["handler"].username, device_id="phone-h")
    clock.set(local(MON, "09:20"))
    args = {"action": "make_safe", "note": "已到场"}
    answer = push(client, headers, "phone-h", mutation(1, "task.update", task["id"], args))
    assert answer["results"][0]["status"] == "applied", answer
    detail = cf.case(client, auth("dispatcher"), case_id)
    assert detail["state"] == "handling"  # accepted on the way
    assert detail["stages"][0]["done_at"] == utc(MON, "09:20")
    assert (detail["flow"][-1]["action"], detail["flow"][-1]["overdue"]) == ("make_safe", False)
    again = push(client, headers, "phone-h", mutation(2, "task.update", task["id"], args))
    assert again["results"][0]["reason"] == "stage_done"


# ---------------------------------------------------------------------------------------------
# The categories API


STAGE = {"stage_name": "到场", "stage_limit": 1, "stage_limit_type": "urgent_hours"}


def _new_category(**extra) -> dict:
    return {
        "kind": "event",
        "edition": "gbt47678",
        "code": "06099",
        "name": "占道堆物",
        "time_limit": 2,
        "limit_type": "working_days",
        **extra,
    }


def test_an_admin_sets_and_clears_a_first_stage(client, auth, cw):
    admin = auth("admin")
    created = client.post("/api/v1/admin/categories", json=_new_category(**STAGE), headers=admin)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert {k: body[k] for k in STAGE} == {**STAGE, "stage_limit": 1.0}
    url = f"/api/v1/admin/categories/{body['id']}"
    changed = client.patch(url, json={**STAGE, "stage_limit": 2}, headers=admin).get_json()
    assert changed["stage_limit"] == 2.0
    cleared = client.patch(
        url,
        json={"stage_name": None, "stage_limit": None, "stage_limit_type": None},
        headers=admin,
    ).get_json()
    assert (cleared["stage_name"], cleared["stage_limit"], cleared["stage_limit_type"]) == (
        None,
        None,
        None,
    )
    assert client.patch(url, json={"name": "堆物"}, headers=admin).get_json()["stage_name"] is None


@pytest.mark.parametrize(
    "stage",
    [
        {"stage_name": "到场"},
        {"stage_name": "到场", "stage_limit": 1},
        {"stage_limit": 1, "stage_limit_type": "urgent_hours"},
        {**STAGE, "stage_limit": 0},
        {**STAGE, "stage_limit": -1},
        {**STAGE, "stage_limit": "1"},
        {**STAGE, "stage_limit_type": "fortnights"},
        {**STAGE, "stage_name": ""},
        {**STAGE, "stage_name": "   "},
        {**STAGE, "stage_name": 7},
    ],
)
def test_bad_stages_are_422_and_change_nothing(client, auth, cw, stage):
    admin = auth("admin")
    response = client.post("/api/v1/admin/categories", json=_new_category(**stage), headers=admin)
    assert response.status_code == 422, response.get_json()
    assert client.get("/api/v1/categories?q=占道堆物", headers=admin).get_json() == []
    url = f"/api/v1/admin/categories/{cw.other_category.id}"
    before = client.get(f"/api/v1/categories/{cw.other_category.id}", headers=admin).get_json()
    response = client.patch(url, json=stage, headers=admin)
    assert response.status_code == 422, response.get_json()
    after = client.get(f"/api/v1/categories/{cw.other_category.id}", headers=admin).get_json()
    assert after == before
