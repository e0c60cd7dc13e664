"""Every path of the case workflow, walked through the API."""

from __future__ import annotations

import uuid

import pytest

from tests import case_factories as cf
from tests import factories


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def h(auth):
    return auth


def _registered_and_dispatched(client, h, cw, department_id=None) -> dict:
    created = cf.report(client, h("inspector"), cw.category)
    cf.act(client, h("dispatcher"), created["id"], "register")
    return cf.act(
        client,
        h("dispatcher"),
        created["id"],
        "dispatch",
        department_id=department_id or cw.world.department.id,
    )


def _handled(client, h, cw) -> dict:
    detail = _registered_and_dispatched(client, h, cw)
    task = cf.open_task(detail, "handle")
    cf.task_post(client, h("handler"), task["id"], "accept")
    cf.task_post(
        client, h("handler"), task["id"], "complete", note="已清理", photos=[cf.photo("closure")]
    )
    return cf.case(client, h("dispatcher"), detail["id"])


def test_main_path_report_to_close(client, h, cw):
    created = cf.report(client, h("inspector"), cw.category)
    assert created["state"] == "reported"
    assert created["number"].startswith("350203")
    assert len(created["number"]) == 6 + 8 + 5
    assert created["routing"] == "routed"
    assert len(created["photos"]["problem"]) == 1
    case_id = created["id"]

    registered = cf.act(client, h("dispatcher"), case_id, "register", opinion="立案")
    assert registered["state"] == "registered"
    assert registered["deadline"] is not None
    assert registered["traffic_light"] in {"green", "yellow", "red"}

    dispatched = cf.act(
        client, h("dispatcher"), case_id, "dispatch", department_id=cw.world.department.id
    )
    assert dispatched["state"] == "dispatched"
    handle = cf.open_task(dispatched, "handle")
    assert handle["department_id"] == cw.world.department.id
    assert handle["deadline"] == dispatched["deadline"]

    accepted = cf.act(client, h("handler"), case_id, "accept")
    assert accepted["state"] == "handling"
    handled = cf.act(
        client,
        h("handler"),
        case_id,
        "submit_closure",
        opinion="已清理",
        photos=[cf.photo("closure")],
    )
    assert handled["state"] == "handled"
    assert len(handled["photos"]["closure"]) == 1

    checking = cf.act(client, h("dispatcher"), case_id, "send_check")
    assert checking["state"] == "checking"
    check = cf.open_task(checking, "check")
    assert check["assignee_id"] == cw.users["inspector"].id

    passed = cf.act(client, h("inspector"), case_id, "check_pass", photos=[cf.photo("check")])
    assert passed["state"] == "checking"
    assert passed["check_passed"] is True
    closed = cf.act(client, h("dispatcher"), case_id, "close", opinion="结案")
    assert closed["state"] == "closed"
    assert closed["closed_at"] is not None
    assert closed["traffic_light"] is None
    assert [entry["action"] for entry in closed["flow"]] == [
        "report",
        "register",
        "dispatch",
        "accept",
        "submit_closure",
        "send_check",
        "check_pass",
        "close",
    ]
    assert [entry["seq"] for entry in closed["flow"]] == list(range(1, 9))
    assert all(entry["device_id"] == "test-phone" for entry in closed["flow"])
    assert closed["open_tasks"] == []


def test_main_path_through_tasks(client, h, cw):
    handled = _handled(client, h, cw)
    assert handled["state"] == "handled"
    checking = cf.act(client, h("dispatcher"), handled["id"], "send_check")
    check = cf.open_task(checking, "check")
    done = cf.task_post(
        client, h("inspector"), check["id"], "complete", result="pass", photos=[cf.photo("check")]
    )
    assert done["state"] == "completed"
    assert done["result"] == "pass"
    closed = cf.act(client, h("dispatcher"), handled["id"], "close")
    assert closed["state"] == "closed"


def test_verify_path_then_register(client, h, cw):
    created = cf.report(client, h("merchant"), cw.category)
    verifying = cf.act(client, h("dispatcher"), created["id"], "send_verify")
    assert verifying["state"] == "verifying"
    verify = cf.open_task(verifying, "verify")
    assert verify["assignee_id"] == cw.users["inspector"].id
    mine = client.get("/api/v1/tasks?kind=verify&state=open", headers=h("inspector")).get_json()
    assert [task["id"] for task in mine] == [verify["id"]]
    cf.task_post(client, h("inspector"), verify["id"], "accept")
    done = cf.task_post(
        client,
        h("inspector"),
        verify["id"],
        "complete",
        result="pass",
        note="属实",
        photos=[cf.photo("check")],
    )
    assert done["state"] == "completed"
    after = cf.case(client, h("dispatcher"), created["id"])
    assert after["state"] == "verifying"
    assert after["flow"][-1]["data"]["result"] == "pass"
    registered = cf.act(client, h("dispatcher"), created["id"], "register")
    assert registered["state"] == "registered"


def test_verify_path_then_reject(client, h, cw):
    created = cf.report(client, h("merchant"), cw.category)
    verifying = cf.act(client, h("dispatcher"), created["id"], "send_verify")
    verify = cf.open_task(verifying, "verify")
    cf.task_post(client, h("inspector"), verify["id"], "complete", result="fail", note="不属实")
    rejected = cf.act(client, h("dispatcher"), created["id"], "reject", opinion="不属实")
    assert rejected["state"] == "rejected"


def test_reject_needs_an_opinion(client, h, cw):
    created = cf.report(client, h("inspector"), cw.category)
    refused = cf.act(client, h("dispatcher"), created["id"], "reject", expect=422)
    assert refused["errors"]["reason"] == "missing_opinion"
    rejected = cf.act(client, h("dispatcher"), created["id"], "reject", opinion="重复上报")
    assert rejected["state"] == "rejected"
    cf.act(client, h("dispatcher"), created["id"], "register", expect=409)


def test_return_then_dispatch_elsewhere(client, h, cw):
    detail = _registered_and_dispatched(client, h, cw)
    request = cf.request(client, h("handler"), detail["id"], "return", reason="不属我单位")
    assert request["status"] == "pending"
    pending = client.get("/api/v1/case-requests?status=pending", headers=h("dispatcher"))
    assert [item["id"] for item in pending.get_json()] == [request["id"]]
    decided = cf.decide(client, h("dispatcher"), request["id"], opinion="同意回退")
    assert decided["status"] == "approved"
    returned = cf.case(client, h("dispatcher"), detail["id"])
    assert returned["state"] == "returned"
    assert returned["department_id"] is None
    assert returned["open_tasks"] == []
    other = cw.other_department_handler.org_unit_id
    redispatched = cf.act(client, h("dispatcher"), detail["id"], "dispatch", department_id=other)
    assert redispatched["state"] == "dispatched"
    assert cf.open_task(redispatched, "handle")["department_id"] == other
    # The first department's handler no longer sees the new task.
    tasks = client.get("/api/v1/tasks?state=open", headers=h("handler")).get_json()
    assert tasks == []


def test_suspension_and_resume(client, h, cw):
    detail = _registered_and_dispatched(client, h, cw)
    cf.act(client, h("handler"), detail["id"], "accept")
    request = cf.request(client, h("handler"), detail["id"], "suspension", reason="需施工")
    cf.decide(client, h("dispatcher"), request["id"])
    suspended = cf.case(client, h("dispatcher"), detail["id"])
    assert suspended["state"] == "suspended"
    resumed = cf.act(client, h("handler"), detail["id"], "resume")
    assert resumed["state"] == "handling"
    assert resumed["deadline"] >= detail["deadline"]
    assert resumed["flow"][-1]["action"] == "resume"


def test_extension_moves_the_deadline(client, h, cw):
    detail = _registered_and_dispatched(client, h, cw)
    cf.request(
        client, h("handler"), detail["id"], "extension", reason="量大", expect=422
    )  # no amount
    request = cf.request(
        client, h("handler"), detail["id"], "extension", reason="量大", extension_amount=2
    )
    cf.request(
        client,
        h("handler"),
        detail["id"],
        "extension",
        reason="again",
        extension_amount=1,
        expect=409,
    )
    cf.decide(client, h("dispatcher"), request["id"])
    extended = cf.case(client, h("dispatcher"), detail["id"])
    assert extended["state"] == "dispatched"
    assert extended["deadline"] > detail["deadline"]
    assert cf.open_task(extended, "handle")["deadline"] == extended["deadline"]
    assert extended["flow"][-1]["data"]["amount"] == 2


def test_refused_request_changes_nothing(client, h, cw):
    detail = _registered_and_dispatched(client, h, cw)
    request = cf.request(
        client, h("handler"), detail["id"], "extension", reason="量大", extension_amount=2
    )
    refused = cf.decide(client, h("dispatcher"), request["id"], approve=False, opinion="不同意")
    assert refused["status"] == "refused"
    after = cf.case(client, h("dispatcher"), detail["id"])
    assert after["deadline"] == detail["deadline"]
    cf.decide(client, h("dispatcher"), request["id"], expect=409)


def test_cancellation(client, h, cw):
    detail = _registered_and_dispatched(client, h, cw)
    request = cf.request(client, h("inspector"), detail["id"], "cancellation", reason="误报")
    cf.decide(client, h("dispatcher"), request["id"])
    cancelled = cf.case(client, h("dispatcher"), detail["id"])
    assert cancelled["state"] == "cancelled"
    assert cancelled["open_tasks"] == []
    cf.act(client, h("handler"), detail["id"], "accept", expect=409)


def test_self_handling_needs_the_after_photo(client, h, cw):
    created = cf.report(client, h("inspector"), cw.category)
    refused = cf.request(
        client, h("inspector"), created["id"], "self_handle", reason="已处理", expect=422
    )
    assert refused["errors"]["reason"] == "missing_closure_photo"
    request = cf.request(
        client,
        h("inspector"),
        created["id"],
        "self_handle",
        reason="已处理",
        photos=[cf.photo("closure")],
    )
    cf.decide(client, h("dispatcher"), request["id"], opinion="确认")
    done = cf.case(client, h("dispatcher"), created["id"])
    assert done["state"] == "self_handled"
    assert len(done["photos"]["closure"]) == 1
    assert done["flow"][-1]["action"] == "confirm_self_handle"


def test_rework_goes_back_to_the_same_department(client, h, cw):
    handled = _handled(client, h, cw)
    first_deadline = handled["deadline"]
    checking = cf.act(client, h("dispatcher"), handled["id"], "send_check")
    check = cf.open_task(checking, "check")
    cf.task_post(
        client, h("inspector"), check["id"], "complete", result="fail", expect=422
    )  # a fail needs the check photo and a note
    cf.task_post(
        client,
        h("inspector"),
        check["id"],
        "complete",
        result="fail",
        note="未清理干净",
        photos=[cf.photo("check")],
    )
    rework = cf.case(client, h("dispatcher"), handled["id"])
    assert rework["state"] == "dispatched"
    assert rework["rework_count"] == 1
    assert rework["department_id"] == cw.world.department.id
    assert rework["deadline"] >= first_deadline
    handle = cf.open_task(rework, "handle")
    # The old closure photo does not close the new round.
    cf.task_post(client, h("handler"), handle["id"], "complete", note="再次清理", expect=422)
    done = cf.task_post(
        client,
        h("handler"),
        handle["id"],
        "complete",
        note="再次清理",
        photos=[cf.photo("closure")],
    )
    assert done["state"] == "completed"
    assert cf.case(client, h("dispatcher"), handled["id"])["state"] == "handled"


def test_merge_keeps_photos_and_reporters(client, h, cw):
    first = cf.report(client, h("inspector"), cw.category)
    second = cf.report(client, h("street_chief"), cw.category, location=cf.cell(0, 0))
    duplicates = client.get(f"/api/v1/cases/{second['id']}/duplicates", headers=h("dispatcher"))
    assert [d["case"]["id"] for d in duplicates.get_json()] == [first["id"]]
    target = client.post(
        f"/api/v1/cases/{second['id']}/merge",
        json={"into": first["id"]},
        headers=h("dispatcher"),
    )
    assert target.status_code == 200, target.get_json()
    merged = target.get_json()
    assert merged["id"] == first["id"]
    assert len(merged["photos"]["problem"]) == 2
    assert merged["flow"][-1]["action"] == "merge_in"
    source = cf.case(client, h("dispatcher"), second["id"])
    assert source["state"] == "rejected"
    assert source["merged_into_id"] == first["id"]
    assert source["flow"][-1]["action"] == "merge"
    # The street chief, a reporter of the merged case, sees the case it went into.
    cf.case(client, h("street_chief"), first["id"])


# ---------------------------------------------------------------------------------------------
# 门前三包: a case about a shop's frontage goes to the shop's merchant to rectify (整改).


@pytest.fixture
def shop(session, cw):
    return cf.make_shop(session, cw.world, cw.users["merchant"])


def _registered(client, h, cw) -> dict:
    """An inspector's report in front of the shop (cell 0, 0), registered."""
    created = cf.report(client, h("inspector"), cw.category, description="店门口堆放垃圾")
    return cf.act(client, h("dispatcher"), created["id"], "register")


def _sent_to_shop(client, h, cw, shop) -> dict:
    registered = _registered(client, h, cw)
    return cf.act(client, h("dispatcher"), registered["id"], "dispatch", shop_id=shop.id)


def _rectified(client, h, cw, shop) -> dict:
    detail = _sent_to_shop(client, h, cw, shop)
    task = cf.open_task(detail, "rectify")
    cf.task_post(client, h("merchant"), task["id"], "accept")
    cf.task_post(
        client, h("merchant"), task["id"], "complete", note="已清扫", photos=[cf.photo("closure")]
    )
    return cf.case(client, h("dispatcher"), detail["id"])


def test_rectify_path_through_the_shops_merchant(client, h, cw, shop):
    registered = _registered(client, h, cw)
    case_id = registered["id"]
    assert registered["shop_id"] is None  # an inspector's report names no shop

    dispatched = cf.act(client, h("dispatcher"), case_id, "dispatch", shop_id=shop.id)
    assert dispatched["state"] == "dispatched"
    assert dispatched["shop_id"] == shop.id
    assert dispatched["department_id"] is None
    rectify = cf.open_task(dispatched, "rectify")
    assert rectify["assignee_id"] == cw.users["merchant"].id
    assert rectify["department_id"] is None
    assert rectify["deadline"] == dispatched["deadline"]
    assert dispatched["flow"][-1]["data"]["shop_id"] == shop.id

    # The task lands on the merchant's phone, with its traffic light; they see the case.
    listed = client.get("/api/v1/tasks?kind=rectify&state=open", headers=h("merchant"))
    assert [task["id"] for task in listed.get_json()] == [rectify["id"]]
    assert listed.get_json()[0]["traffic_light"] == "green"
    assert cf.case(client, h("merchant"), case_id)["state"] == "dispatched"
    # … and no handler or department does.
    assert client.get("/api/v1/tasks?kind=rectify", headers=h("handler")).get_json() == []
    cf.case(client, h("handler"), case_id, expect=404)

    accepted = cf.task_post(client, h("merchant"), rectify["id"], "accept")
    assert accepted["state"] == "accepted"
    assert cf.case(client, h("merchant"), case_id)["state"] == "handling"
    # The closure needs the after-photo (销号图片).
    refused = cf.task_post(client, h("merchant"), rectify["id"], "complete", expect=422)
    assert refused["errors"]["reason"] == "missing_closure_photo"
    done = cf.task_post(
        client,
        h("merchant"),
        rectify["id"],
        "complete",
        note="已清扫干净",
        photos=[cf.photo("closure")],
    )
    assert done["state"] == "completed"
    handled = cf.case(client, h("dispatcher"), case_id)
    assert handled["state"] == "handled"
    assert len(handled["photos"]["closure"]) == 1
    assert [(e["action"], e["actor_role"]) for e in handled["flow"][-2:]] == [
        ("accept", "merchant"),
        ("submit_closure", "merchant"),
    ]

    # Check and close are unchanged: an inspector re-photographs, a dispatcher closes.
    checking = cf.act(client, h("dispatcher"), case_id, "send_check")
    check = cf.open_task(checking, "check")
    assert check["assignee_id"] == cw.users["inspector"].id
    cf.task_post(
        client, h("inspector"), check["id"], "complete", result="pass", photos=[cf.photo("check")]
    )
    closed = cf.act(client, h("dispatcher"), case_id, "close", opinion="结案")
    assert closed["state"] == "closed"
    assert closed["open_tasks"] == []
    assert cf.case(client, h("merchant"), case_id)["state"] == "closed"


def test_a_merchants_own_report_keeps_its_shop(client, h, cw, shop):
    created = cf.report(client, h("merchant"), cw.category, description="门前积水")
    assert created["shop_id"] == shop.id  # set at intake: the reporter's nearest shop
    cf.act(client, h("dispatcher"), created["id"], "register")
    dispatched = cf.act(client, h("dispatcher"), created["id"], "dispatch", shop_id=shop.id)
    assert dispatched["shop_id"] == shop.id
    assert cf.open_task(dispatched, "rectify")["assignee_id"] == cw.users["merchant"].id


def test_rectify_rework_goes_back_to_the_same_merchant(client, h, cw, shop):
    handled = _rectified(client, h, cw, shop)
    checking = cf.act(client, h("dispatcher"), handled["id"], "send_check")
    check = cf.open_task(checking, "check")
    cf.task_post(
        client,
        h("inspector"),
        check["id"],
        "complete",
        result="fail",
        note="门前仍有垃圾",
        photos=[cf.photo("check")],
    )
    rework = cf.case(client, h("dispatcher"), handled["id"])
    assert rework["state"] == "dispatched"
    assert rework["rework_count"] == 1
    assert rework["department_id"] is None
    assert [task["kind"] for task in rework["open_tasks"]] == ["rectify"]
    again = cf.open_task(rework, "rectify")
    assert again["assignee_id"] == cw.users["merchant"].id
    assert again["deadline"] == rework["deadline"]
    assert rework["flow"][-1]["data"]["assignee_id"] == cw.users["merchant"].id
    # The old closure photo does not close the new round.
    cf.task_post(client, h("merchant"), again["id"], "complete", note="再次清扫", expect=422)
    cf.task_post(
        client,
        h("merchant"),
        again["id"],
        "complete",
        note="再次清扫",
        photos=[cf.photo("closure")],
    )
    assert cf.case(client, h("dispatcher"), handled["id"])["state"] == "handled"


def test_rectify_return_not_my_frontage_then_dispatch_to_a_department(app, client, h, cw, shop):
    from app.accounts.models import User
    from app.cases.task_progress import TaskUpdate, update_task
    from app.extensions import db
    from app.photos.backends import media

    detail = _sent_to_shop(client, h, cw, shop)
    task_id = uuid.UUID(cf.open_task(detail, "rectify")["id"])
    with app.app_context():
        merchant = db.session.get(User, cw.users["merchant"].id)
        with pytest.raises(Exception) as reasonless:
            update_task(
                db.session, media(), merchant, "shop-phone", task_id, TaskUpdate("request_return")
            )
        assert reasonless.value.status_code == 422
        update_task(
            db.session,
            media(),
            merchant,
            "shop-phone",
            task_id,
            TaskUpdate("request_return", note="不是我家门前, 是隔壁工地的"),
        )
        # A merchant asks only for a return, not for more time or a suspension.
        with pytest.raises(Exception) as extension:
            update_task(
                db.session,
                media(),
                merchant,
                "shop-phone",
                task_id,
                TaskUpdate("request_extension", note="忙"),
            )
        assert extension.value.status_code == 403
    pending = cf.case(client, h("dispatcher"), detail["id"])["pending_requests"]
    assert [(r["kind"], r["requested_by"]) for r in pending] == [
        ("return", cw.users["merchant"].id)
    ]
    cf.decide(client, h("dispatcher"), pending[0]["id"], opinion="改派市政")
    returned = cf.case(client, h("dispatcher"), detail["id"])
    assert returned["state"] == "returned"
    assert returned["open_tasks"] == []
    assert returned["flow"][-1]["data"]["assignee_id"] == cw.users["merchant"].id
    redispatched = cf.act(
        client, h("dispatcher"), detail["id"], "dispatch", department_id=cw.world.department.id
    )
    assert [task["kind"] for task in redispatched["open_tasks"]] == ["handle"]
    cf.act(client, h("handler"), detail["id"], "accept")


def test_another_merchant_cannot_see_or_act_on_a_rectify_case(app, client, h, cw, session, shop):
    from app.accounts.models import User
    from app.cases import moves, requests
    from app.extensions import db
    from app.photos.backends import media

    stranger = cf.make_merchant(session, cw.world)
    stranger_headers = factories.login_headers(client, stranger.username)
    detail = _sent_to_shop(client, h, cw, shop)
    task_id = cf.open_task(detail, "rectify")["id"]

    cf.case(client, stranger_headers, detail["id"], expect=404)
    assert client.get(f"/api/v1/tasks/{task_id}", headers=stranger_headers).status_code == 404
    assert client.get("/api/v1/tasks", headers=stranger_headers).get_json() == []
    cf.task_post(client, stranger_headers, task_id, "accept", expect=404)
    cf.task_post(
        client, stranger_headers, task_id, "complete", photos=[cf.photo("closure")], expect=404
    )
    # Even a merchant who may see the case (they reported it) acts only on their own task.
    with app.app_context():
        user = db.session.get(User, stranger.id)
        with pytest.raises(Exception) as refused:
            moves.move_case(db.session, media(), user, "p", uuid.UUID(detail["id"]), "accept")
        assert refused.value.status_code == 404  # they cannot see it at all
    neighbour = cf.make_merchant(session, cw.world)
    cf.make_shop(session, cw.world, neighbour, row=0, col=1, name="隔壁五金店")
    neighbour_headers = factories.login_headers(client, neighbour.username)
    reported = cf.report(
        client, neighbour_headers, cw.category, description="隔壁门前垃圾", location=cf.cell(0, 1)
    )
    cf.act(client, h("dispatcher"), reported["id"], "register")
    sent = cf.act(client, h("dispatcher"), reported["id"], "dispatch", shop_id=shop.id)
    assert sent["shop_id"] != shop.id  # the reporter's shop was named at intake
    assert cf.case(client, neighbour_headers, reported["id"])["state"] == "dispatched"
    with app.app_context():
        user = db.session.get(User, neighbour.id)
        with pytest.raises(Exception) as refused:
            moves.move_case(db.session, media(), user, "p", uuid.UUID(reported["id"]), "accept")
        assert refused.value.status_code == 403
        with pytest.raises(Exception) as refused:
            requests.create_request(
                db.session,
                media(),
                user,
                "p",
                uuid.UUID(reported["id"]),
                requests.NewRequest("return", reason="不是我的"),
            )
        assert refused.value.status_code == 403
    # A handler cannot take over a case sent to a shop either (it is not theirs to see).
    cf.act(client, h("handler"), reported["id"], "accept", expect=404)
    assert cf.case(client, h("dispatcher"), reported["id"])["state"] == "dispatched"


def test_a_merchant_cannot_dispatch(app, client, h, cw, shop):
    from app.accounts.models import User
    from app.cases import moves
    from app.extensions import db
    from app.photos.backends import media

    created = cf.report(client, h("merchant"), cw.category)
    cf.act(client, h("dispatcher"), created["id"], "register")
    cf.act(client, h("merchant"), created["id"], "dispatch", shop_id=shop.id, expect=403)
    with app.app_context():
        user = db.session.get(User, cw.users["merchant"].id)
        with pytest.raises(Exception) as refused:
            moves.move_case(
                db.session,
                media(),
                user,
                "p",
                uuid.UUID(created["id"]),
                "dispatch",
                {"shop_id": shop.id},
            )
        assert refused.value.status_code == 403
        assert refused.value.errors["reason"] == "wrong_role"
    assert cf.case(client, h("dispatcher"), created["id"])["state"] == "registered"


def test_dispatch_to_a_shop_refusals(client, h, cw, session, shop):
    registered = _registered(client, h, cw)
    case_id = registered["id"]
    both = cf.act(
        client,
        h("dispatcher"),
        case_id,
        "dispatch",
        shop_id=shop.id,
        department_id=cw.world.department.id,
        expect=422,
    )
    assert "shop_id" in both["errors"]
    neither = cf.act(client, h("dispatcher"), case_id, "dispatch", expect=422)
    assert neither["errors"]["reason"] == "missing_department"
    cf.act(client, h("dispatcher"), case_id, "dispatch", shop_id=shop.id + 999, expect=404)
    unattended = cf.make_shop(session, cw.world, None, row=0, col=2, name="空置铺面")
    nobody = cf.act(client, h("dispatcher"), case_id, "dispatch", shop_id=unattended.id, expect=422)
    assert "shop_id" in nobody["errors"]
    after = cf.case(client, h("dispatcher"), case_id)
    assert after["state"] == "registered"
    assert after["shop_id"] is None
    assert after["open_tasks"] == []
    assert after["version"] == registered["version"]


def test_a_merchant_asks_for_a_return_over_rest_only_for_their_own_rectify_task(
    client, h, cw, shop
):
    detail = _sent_to_shop(client, h, cw, shop)
    url = f"/api/v1/cases/{detail['id']}/requests"
    body = {"kind": "return", "reason": "不是我家门前"}
    assert (
        client.post(url, json={**body, "kind": "extension"}, headers=h("merchant")).status_code
        == 403
    )
    created = client.post(url, json=body, headers=h("merchant"))
    assert created.status_code == 201, created.get_json()
    pending = cf.case(client, h("dispatcher"), detail["id"])["pending_requests"]
    assert [(r["kind"], r["requested_by"]) for r in pending] == [
        ("return", cw.users["merchant"].id)
    ]
