"""Tasks on phones: listing, accepting, completing, requests, reassigning, cancelling."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from app.cases.models import CaseRequest
from app.cases.task_progress import TaskUpdate, update_task
from app.extensions import db
from app.photos.backends import media
from tests import case_factories as cf
from tests import factories


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


def _dispatched(client, auth, cw) -> dict:
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    return cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )


def _checking(client, auth, cw) -> dict:
    detail = _dispatched(client, auth, cw)
    task = cf.open_task(detail, "handle")
    cf.task_post(client, auth("handler"), task["id"], "complete", photos=[cf.photo("closure")])
    return cf.act(client, auth("dispatcher"), detail["id"], "send_check")


def test_a_handler_sees_their_departments_tasks_with_a_light(client, auth, cw):
    detail = _dispatched(client, auth, cw)
    tasks = client.get("/api/v1/tasks?state=open&kind=handle", headers=auth("handler"))
    assert tasks.status_code == 200
    [task] = tasks.get_json()
    assert task["case"]["id"] == detail["id"]
    assert task["case"]["number"] == detail["number"]
    assert task["traffic_light"] in {"green", "yellow", "red"}
    assert task["deadline"] == detail["deadline"]
    other = factories.login_headers(client, cw.other_department_handler.username)
    assert client.get("/api/v1/tasks", headers=other).get_json() == []
    client_get = client.get(f"/api/v1/tasks/{task['id']}", headers=other)
    assert client_get.status_code == 404


def test_completing_a_handle_task_accepts_and_submits_the_closure(client, auth, cw):
    detail = _dispatched(client, auth, cw)
    task = cf.open_task(detail, "handle")
    done = cf.task_post(
        client, auth("handler"), task["id"], "complete", note="已清理", photos=[cf.photo("closure")]
    )
    assert done["state"] == "completed"
    assert done["traffic_light"] is None
    after = cf.case(client, auth("dispatcher"), detail["id"])
    assert after["state"] == "handled"
    assert [e["action"] for e in after["flow"]][-2:] == ["accept", "submit_closure"]
    again = cf.task_post(
        client, auth("handler"), task["id"], "complete", note="已清理", photos=[cf.photo("closure")]
    )
    assert again["state"] == "completed"
    assert len(cf.case(client, auth("dispatcher"), detail["id"])["flow"]) == len(after["flow"])


def test_check_and_verify_tasks_need_a_result(client, auth, cw):
    checking = _checking(client, auth, cw)
    check = cf.open_task(checking, "check")
    refused = cf.task_post(client, auth("inspector"), check["id"], "complete", expect=422)
    assert "result" in refused["errors"]


def test_someone_elses_task_cannot_be_worked_on(client, auth, cw):
    checking = _checking(client, auth, cw)
    check = cf.open_task(checking, "check")
    other = factories.login_headers(client, cw.other_inspector.username)
    cf.task_post(client, other, check["id"], "complete", result="pass", expect=404)
    cf.task_post(client, auth("dispatcher"), check["id"], "complete", result="pass", expect=403)


def test_reassign_replaces_the_task(client, auth, cw):
    checking = _checking(client, auth, cw)
    check = cf.open_task(checking, "check")
    new = cf.task_post(
        client, auth("dispatcher"), check["id"], "reassign", assignee_id=cw.other_inspector.id
    )
    assert new["assignee_id"] == cw.other_inspector.id
    assert new["deadline"] == check["deadline"]
    old = client.get(f"/api/v1/tasks/{check['id']}", headers=auth("dispatcher")).get_json()
    assert old["state"] == "reassigned"
    assert old["replaced_by_id"] == new["id"]
    open_for_old = client.get("/api/v1/tasks?state=open", headers=auth("inspector")).get_json()
    assert open_for_old == []
    late = cf.task_post(
        client,
        auth("inspector"),
        check["id"],
        "complete",
        result="pass",
        photos=[cf.photo("check")],
        expect=409,
    )
    assert late["errors"]["reason"] == "task_reassigned"
    other = factories.login_headers(client, cw.other_inspector.username)
    cf.task_post(client, other, new["id"], "complete", result="pass", photos=[cf.photo("check")])
    assert cf.case(client, auth("dispatcher"), checking["id"])["check_passed"] is True


def test_reassign_to_someone_who_cannot_take_it_is_422(client, auth, cw):
    checking = _checking(client, auth, cw)
    check = cf.open_task(checking, "check")
    cf.task_post(
        client,
        auth("dispatcher"),
        check["id"],
        "reassign",
        assignee_id=cw.users["handler"].id,
        expect=422,
    )
    handle_case = _dispatched(client, auth, cw)
    handle = cf.open_task(handle_case, "handle")
    cf.task_post(
        client,
        auth("dispatcher"),
        handle["id"],
        "reassign",
        assignee_id=cw.other_department_handler.id,
        expect=422,
    )


def test_cancel_a_task(client, auth, cw):
    checking = _checking(client, auth, cw)
    check = cf.open_task(checking, "check")
    cancelled = cf.task_post(client, auth("dispatcher"), check["id"], "cancel")
    assert cancelled["state"] == "cancelled"
    cf.task_post(client, auth("dispatcher"), check["id"], "cancel", expect=409)
    after = cf.case(client, auth("dispatcher"), checking["id"])
    assert after["open_tasks"] == []
    assert after["flow"][-1]["action"] == "cancel_task"


def test_update_task_requests_through_the_service(app, client, auth, cw, session):
    detail = _dispatched(client, auth, cw)
    task_id = uuid.UUID(cf.open_task(detail, "handle")["id"])
    handler_id = cw.users["handler"].id
    with app.app_context():
        user = db.session.get(type(cw.users["handler"]), handler_id)

        def update(action: str, note: str | None = None):
            return update_task(
                db.session, media(), user, "phone-1", task_id, TaskUpdate(action, note=note)
            )

        update("accept")
        update("request_extension", note="量大")
        update("request_suspension", note="需施工")
        with pytest.raises(Exception) as twice:
            update("request_extension", note="again")
        assert twice.value.status_code == 409
        with pytest.raises(Exception) as unknown:
            update("dance")
        assert unknown.value.status_code == 422
    requests = session.scalars(sa.select(CaseRequest).order_by(CaseRequest.created_at)).all()
    assert [(r.kind, r.status) for r in requests] == [
        ("extension", "pending"),
        ("suspension", "pending"),
    ]
    assert requests[0].extension_amount == cw.category.time_limit
    flow = cf.case(client, auth("dispatcher"), detail["id"])["flow"]
    assert flow[-1]["device_id"] == "phone-1"


# ---------------------------------------------------------------------------------------------
# Rectify tasks (整改): a merchant's, for a case about their shop's frontage (门前三包).


def _sent_to_shop(client, auth, cw, session) -> tuple[dict, object]:
    shop = cf.make_shop(session, cw.world, cw.users["merchant"])
    created = cf.report(client, auth("inspector"), cw.category, description="店门口乱堆物")
    cf.act(client, auth("dispatcher"), created["id"], "register")
    detail = cf.act(client, auth("dispatcher"), created["id"], "dispatch", shop_id=shop.id)
    return detail, shop


def test_a_merchant_sees_their_rectify_task_and_nothing_else(client, auth, cw, session):
    _dispatched(client, auth, cw)  # a department's case: not the merchant's business
    detail, _shop = _sent_to_shop(client, auth, cw, session)
    [task] = client.get("/api/v1/tasks", headers=auth("merchant")).get_json()
    assert task["kind"] == "rectify"
    assert task["case"]["id"] == detail["id"]
    assert task["deadline"] == detail["deadline"]
    assert task["traffic_light"] == "green"
    listed = client.get("/api/v1/cases", headers=auth("merchant")).get_json()
    assert [case["id"] for case in listed] == [detail["id"]]


def test_completing_a_rectify_task_accepts_and_submits_the_closure(client, auth, cw, session):
    detail, _shop = _sent_to_shop(client, auth, cw, session)
    task = cf.open_task(detail, "rectify")
    done = cf.task_post(
        client,
        auth("merchant"),
        task["id"],
        "complete",
        note="已清理",
        photos=[cf.photo("closure")],
    )
    assert done["state"] == "completed"
    assert done["accepted_at"] is not None
    after = cf.case(client, auth("dispatcher"), detail["id"])
    assert after["state"] == "handled"
    assert [(e["action"], e["actor_role"]) for e in after["flow"]][-2:] == [
        ("accept", "merchant"),
        ("submit_closure", "merchant"),
    ]
    again = cf.task_post(
        client, auth("merchant"), task["id"], "complete", photos=[cf.photo("closure")]
    )
    assert again["state"] == "completed"
    assert len(cf.case(client, auth("dispatcher"), detail["id"])["flow"]) == len(after["flow"])


def test_a_rectify_task_is_the_merchants_alone(client, auth, cw, session):
    detail, _shop = _sent_to_shop(client, auth, cw, session)
    task = cf.open_task(detail, "rectify")
    cf.task_post(client, auth("handler"), task["id"], "accept", expect=404)
    cf.task_post(client, auth("dispatcher"), task["id"], "accept", expect=403)
    assert cf.case(client, auth("dispatcher"), detail["id"])["state"] == "dispatched"


def test_reassign_a_rectify_task_to_another_merchant(client, auth, cw, session):
    detail, _shop = _sent_to_shop(client, auth, cw, session)
    task = cf.open_task(detail, "rectify")
    cf.task_post(
        client,
        auth("dispatcher"),
        task["id"],
        "reassign",
        assignee_id=cw.users["handler"].id,
        expect=422,
    )
    successor = cf.make_merchant(session, cw.world)
    new = cf.task_post(client, auth("dispatcher"), task["id"], "reassign", assignee_id=successor.id)
    assert (new["kind"], new["assignee_id"]) == ("rectify", successor.id)
    late = cf.task_post(client, auth("merchant"), task["id"], "accept", expect=409)
    assert late["errors"]["reason"] == "task_reassigned"
    successor_headers = factories.login_headers(client, successor.username)
    cf.task_post(client, successor_headers, new["id"], "accept")
    assert cf.case(client, successor_headers, detail["id"])["state"] == "handling"


def _pull_case(client, headers: dict, case_id: str, cursor: str = "") -> tuple[str | None, str]:
    """The last op the feed gave this phone for the case, and the cursor after it."""
    op = None
    for _ in range(50):
        page = client.get(f"/api/v1/sync/pull?cursor={cursor}&limit=500", headers=headers)
        body = page.get_json()
        for change in body["changes"]:
            if change["entity_type"] == "case" and change["entity_id"] == case_id:
                op = change["op"]
        cursor = body["cursor"]
        if not body["has_more"]:
            return op, cursor
    raise AssertionError("the feed never ended")


@pytest.mark.parametrize("acted", [False, True], ids=["before_acting", "after_accepting"])
def test_a_task_reassigned_away_before_its_inspector_acted_takes_the_case_from_them(
    client, auth, cw, acted
):
    """Issue 11, row 8: inspector A (no grid here) gets a verify task, the dispatcher gives it
    to B; A no longer reads the case, its comments or photos, and A's phone is told."""
    created = cf.report(client, auth("street_chief"), cw.category)
    a = factories.login_headers(client, cw.other_inspector.username, device_id="a-phone")
    verifying = cf.act(
        client,
        auth("dispatcher"),
        created["id"],
        "send_verify",
        inspector_id=cw.other_inspector.id,
    )
    task = cf.open_task(verifying, "verify")
    assert client.get(f"/api/v1/cases/{created['id']}", headers=a).status_code == 200
    op, cursor = _pull_case(client, a, created["id"])
    assert op == "upsert"
    if acted:
        cf.task_post(client, a, task["id"], "accept")
    cf.task_post(
        client, auth("dispatcher"), task["id"], "reassign", assignee_id=cw.users["inspector"].id
    )
    photo = created["photos"]["problem"][0]["photo_id"]
    expected = 200 if acted else 404
    assert client.get(f"/api/v1/cases/{created['id']}", headers=a).status_code == expected
    assert client.get(f"/api/v1/cases/{created['id']}/comments", headers=a).status_code == expected
    assert client.get(f"/api/v1/photos/{photo}", headers=a).status_code == expected
    op, _ = _pull_case(client, a, created["id"], cursor)
    assert op == ("upsert" if acted else "revoke")
