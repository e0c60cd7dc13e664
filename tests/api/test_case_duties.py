"""Desk duties and bounded extensions, through the API on SQLite and PostgreSQL.

The command centre's dispatchers may be split into duties (受理员, 派遣员, 值班长, and a
centre leader over them); each move belongs to one duty and is recorded with it. Extensions
are approvals (DOMAIN.md): the first up to the category's composite limit by a shift leader,
a second only by a centre leader, never a third.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from app.accounts.models import DUTY_VALUES
from app.cases.models import Case, CaseRequest, FlowEntry
from tests import case_factories as cf
from tests import factories
from tests.clock import local
from tests.push_factories import mutation, push

MONDAY = "2026-03-09"  # a plain working week: Monday 9 to Friday 13 March 2026


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def desk(session, client, cw):
    """``desk(duty)`` → headers of a dispatcher with that duty (None: world's dispatcher,
    who has none)."""
    for duty in DUTY_VALUES:
        factories.make_user(
            session, "dispatcher", cw.world.district, username=f"desk_{duty}", duty=duty
        )
    session.commit()
    made: dict = {}

    def headers(duty: str | None) -> dict:
        if duty not in made:
            name = f"desk_{duty}" if duty else cw.users["dispatcher"].username
            made[duty] = factories.login_headers(client, name)
        return made[duty]

    return headers


def _dt(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _flow(detail: dict) -> list[tuple[str, str | None]]:
    return [(entry["action"], entry["duty"]) for entry in detail["flow"]]


def _dispatched(client, auth, cw) -> dict:
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    return cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )


# ---------------------------------------------------------------------------------------------
# Duties


def test_each_desk_makes_only_its_own_moves_and_the_flow_records_the_duty(
    client, auth, cw, desk, session
):
    case_id = cf.report(client, auth("inspector"), cw.category)["id"]
    for duty in ("intake_clerk", "dispatcher"):
        cf.refused(cf.try_act(client, desk(duty), case_id, "register"), 403, "wrong_duty")
    assert cf.case(client, desk(None), case_id)["state"] == "reported"
    assert (
        session.scalar(sa.select(sa.func.count()).where(FlowEntry.case_id == uuid.UUID(case_id)))
        == 1
    )

    cf.act(client, desk("intake_clerk"), case_id, "send_verify")
    cf.act(client, auth("inspector"), case_id, "record_verification", result="pass")
    cf.act(client, desk("shift_leader"), case_id, "register")
    for duty in ("intake_clerk", "shift_leader"):
        cf.refused(
            cf.try_act(
                client, desk(duty), case_id, "dispatch", department_id=cw.world.department.id
            ),
            403,
            "wrong_duty",
        )
    cf.act(client, desk("dispatcher"), case_id, "dispatch", department_id=cw.world.department.id)
    cf.act(client, auth("handler"), case_id, "accept")
    cf.act(client, auth("handler"), case_id, "submit_closure", photos=[cf.photo("closure")])
    cf.refused(cf.try_act(client, desk("shift_leader"), case_id, "send_check"), 403, "wrong_duty")
    cf.act(client, desk("intake_clerk"), case_id, "send_check")
    cf.act(client, auth("inspector"), case_id, "check_pass", photos=[cf.photo("check")])
    for duty in ("intake_clerk", "dispatcher"):
        cf.refused(cf.try_act(client, desk(duty), case_id, "close"), 403, "wrong_duty")
    closed = cf.act(client, desk("shift_leader"), case_id, "close")
    assert _flow(closed) == [
        ("report", None),
        ("send_verify", "intake_clerk"),
        ("record_verification", None),
        ("register", "shift_leader"),
        ("dispatch", "dispatcher"),
        ("accept", None),
        ("submit_closure", None),
        ("send_check", "intake_clerk"),
        ("check_pass", None),
        ("close", "shift_leader"),
    ]


def test_a_centre_leader_and_a_desk_without_duty_make_every_move(client, auth, cw, desk):
    for duty in ("centre_leader", None):
        case_id = cf.report(client, auth("inspector"), cw.category)["id"]
        cf.act(client, desk(duty), case_id, "register")
        cf.act(client, desk(duty), case_id, "dispatch", department_id=cw.world.department.id)
        cf.act(client, auth("handler"), case_id, "accept")
        cf.act(client, auth("handler"), case_id, "submit_closure", photos=[cf.photo("closure")])
        cf.act(client, desk(duty), case_id, "send_check")
        cf.act(client, auth("inspector"), case_id, "check_pass", photos=[cf.photo("check")])
        closed = cf.act(client, desk(duty), case_id, "close")
        # The flow records the duty the move belongs to, not the desk of who made it.
        assert [duty for _action, duty in _flow(closed)] == [
            None,
            "shift_leader",
            "dispatcher",
            None,
            None,
            "intake_clerk",
            None,
            "shift_leader",
        ]


def test_requests_are_decided_by_their_desk(client, auth, cw, desk):
    detail = _dispatched(client, auth, cw)
    asked = cf.request(client, auth("handler"), detail["id"], "return", reason="非我单位")
    cf.decide(client, desk("shift_leader"), asked["id"], expect=403)
    cf.decide(client, desk("intake_clerk"), asked["id"], expect=403)
    assert cf.case(client, desk(None), detail["id"])["state"] == "dispatched"
    cf.decide(client, desk("dispatcher"), asked["id"])
    returned = cf.case(client, desk(None), detail["id"])
    assert (returned["state"], _flow(returned)[-1]) == (
        "returned",
        ("approve_return", "dispatcher"),
    )
    cancel = cf.request(client, auth("inspector"), detail["id"], "cancellation", reason="误报")
    cf.decide(client, desk("dispatcher"), cancel["id"], expect=403)
    cf.decide(client, desk("shift_leader"), cancel["id"])
    cancelled = cf.case(client, desk(None), detail["id"])
    assert cancelled["state"] == "cancelled"
    assert cancelled["valid"] is True  # filed, then cancelled: it was a real report


def test_the_admin_sets_a_dispatchers_duty(client, auth, cw, session):
    admin = auth("admin")
    body = {
        "username": "zhang_desk",
        "password": "a-long-password",
        "role": "dispatcher",
        "org_unit_id": cw.world.district.id,
        "duty": "shift_leader",
    }
    created = client.post("/api/v1/admin/users", json=body, headers=admin)
    assert created.status_code == 201, created.get_json()
    user = created.get_json()
    assert user["duty"] == "shift_leader"
    url = f"/api/v1/admin/users/{user['id']}"
    assert client.patch(url, json={"duty": "centre_leader"}, headers=admin).get_json()["duty"] == (
        "centre_leader"
    )
    assert client.patch(url, json={"duty": None}, headers=admin).get_json()["duty"] is None
    assert client.get(url, headers=admin).get_json()["duty"] is None
    listed = client.get("/api/v1/admin/users?role=dispatcher", headers=admin).get_json()
    assert "duty" in listed[0]


@pytest.mark.parametrize(
    "change",
    [
        {"duty": "janitor"},
        {"duty": 3},
        {"duty": ""},
        {"duty": "shift_leader", "role": "inspector", "org_unit_id": None},
    ],
)
def test_bad_duties_are_422_and_change_nothing(client, auth, cw, change):
    admin = auth("admin")
    inspector = cw.users["inspector"]
    before = client.get(f"/api/v1/admin/users/{inspector.id}", headers=admin).get_json()
    bad_patch = {k: v for k, v in change.items() if k != "org_unit_id"}
    response = client.patch(f"/api/v1/admin/users/{inspector.id}", json=bad_patch, headers=admin)
    assert response.status_code == 422, response.get_json()
    assert client.get(f"/api/v1/admin/users/{inspector.id}", headers=admin).get_json() == before
    body = {
        "username": "bad_desk",
        "password": "a-long-password",
        "role": change.get("role", "dispatcher"),
        "org_unit_id": cw.world.district.id if "role" not in change else cw.world.community.id,
        "duty": change["duty"],
    }
    response = client.post("/api/v1/admin/users", json=body, headers=admin)
    assert response.status_code == 422, response.get_json()
    found = client.get("/api/v1/admin/users?q=bad_desk", headers=admin).get_json()
    assert found == []


def test_leaving_the_dispatchers_leaves_the_duty_behind(client, auth, cw, session):
    desk_user = factories.make_user(
        session, "dispatcher", cw.world.district, username="desk_leaving", duty="dispatcher"
    )
    session.commit()
    response = client.patch(
        f"/api/v1/admin/users/{desk_user.id}",
        json={"role": "inspector", "org_unit_id": cw.world.community.id},
        headers=auth("admin"),
    )
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["role"], response.get_json()["duty"]) == ("inspector", None)


# ---------------------------------------------------------------------------------------------
# Extensions


def test_two_approvals_cannot_move_a_four_working_hour_deadline_by_years(
    client, auth, cw, session, clock
):
    """The attack this issue names: a handler asks for a huge extension and one dispatcher
    approves it, twice. Before bounded extensions both went through and the deadline of a
    4-working-hour case (暴露垃圾) moved by years."""
    detail = _dispatched(client, auth, cw)
    first_deadline = _dt(detail["deadline"])
    huge = client.post(
        f"/api/v1/cases/{detail['id']}/requests",
        json={"kind": "extension", "reason": "慢慢来", "extension_amount": 20000},
        headers=auth("handler"),
    )
    cf.refused(huge, 422, "extension_over_limit")
    assert session.scalar(sa.select(sa.func.count()).select_from(CaseRequest)) == 0
    # Within the limit, the first approval by the one dispatcher goes through …
    asked = cf.request(
        client, auth("handler"), detail["id"], "extension", reason="量大", **{"extension_amount": 4}
    )
    cf.decide(client, auth("dispatcher"), asked["id"])
    # … the second is not theirs to give: it needs a centre leader.
    again = cf.request(
        client, auth("handler"), detail["id"], "extension", reason="量大", **{"extension_amount": 4}
    )
    refused = client.post(
        f"/api/v1/case-requests/{again['id']}/decision",
        json={"approve": True},
        headers=auth("dispatcher"),
    )
    cf.refused(refused, 403, "wrong_duty")
    # Nor may the dispatcher extend it directly.
    cf.refused(
        cf.try_act(client, auth("dispatcher"), detail["id"], "approve_extension", opinion="再延"),
        403,
        "wrong_duty",
    )
    after = cf.case(client, auth("dispatcher"), detail["id"])
    assert after["extension_count"] == 1
    # 09:00 Monday + 4 working hours = 15:00 (lunch 12–14); + 4 more = Tuesday 09:00.
    assert first_deadline == local(MONDAY, "15:00")
    assert _dt(after["deadline"]) == local("2026-03-10", "09:00")
    assert _dt(after["deadline"]) - first_deadline < dt.timedelta(days=1)


def test_first_extension_by_a_shift_leader_second_by_a_centre_leader_no_third(
    client, auth, cw, desk, clock
):
    detail = _dispatched(client, auth, cw)
    case_id = detail["id"]
    asked = cf.request(
        client, auth("handler"), case_id, "extension", reason="量大", extension_amount=4
    )
    for duty in ("intake_clerk", "dispatcher"):
        cf.decide(client, desk(duty), asked["id"], expect=403)
    cf.decide(client, desk("shift_leader"), asked["id"])
    first = cf.case(client, desk(None), case_id)
    assert first["extension_count"] == 1
    assert _flow(first)[-1] == ("approve_extension", "shift_leader")
    assert first["flow"][-1]["data"]["extension"] == 1

    second = cf.request(
        client, auth("handler"), case_id, "extension", reason="还要", extension_amount=2
    )
    for duty in ("shift_leader", "dispatcher", None):
        cf.decide(client, desk(duty), second["id"], expect=403)
    cf.decide(client, desk("centre_leader"), second["id"])
    extended = cf.case(client, desk(None), case_id)
    assert extended["extension_count"] == 2
    assert _flow(extended)[-1] == ("approve_extension", "centre_leader")
    assert _dt(extended["deadline"]) == local("2026-03-10", "11:00")

    third = client.post(
        f"/api/v1/cases/{case_id}/requests",
        json={"kind": "extension", "reason": "再延", "extension_amount": 1},
        headers=auth("handler"),
    )
    cf.refused(third, 409, "too_many_extensions")
    cf.refused(
        cf.try_act(client, desk("centre_leader"), case_id, "approve_extension", opinion="再延"),
        409,
        "too_many_extensions",
    )
    assert cf.case(client, desk(None), case_id)["deadline"] == extended["deadline"]


def test_an_extension_over_the_limit_is_refused_at_approval_too(client, auth, cw, session):
    """A request asked within the limit whose category's limit shrank since is refused
    when approved, changing nothing."""
    detail = _dispatched(client, auth, cw)
    asked = cf.request(
        client, auth("handler"), detail["id"], "extension", reason="量大", extension_amount=4
    )
    cw.category.time_limit = 2
    session.commit()
    response = client.post(
        f"/api/v1/case-requests/{asked['id']}/decision",
        json={"approve": True},
        headers=auth("dispatcher"),
    )
    cf.refused(response, 422, "extension_over_limit")
    assert session.get(CaseRequest, uuid.UUID(asked["id"])).status == "pending"
    assert session.get(Case, uuid.UUID(detail["id"])).extension_count == 0


@pytest.mark.parametrize("amount", ["4", True, -1, 0, None])
def test_bad_extension_amounts_are_422(client, auth, cw, session, amount):
    detail = _dispatched(client, auth, cw)
    response = client.post(
        f"/api/v1/cases/{detail['id']}/requests",
        json={"kind": "extension", "reason": "量大", "extension_amount": amount},
        headers=auth("handler"),
    )
    assert response.status_code == 422, response.get_json()
    assert session.scalar(sa.select(sa.func.count()).select_from(CaseRequest)) == 0


def test_a_pushed_extension_request_obeys_the_same_bound(client, auth, cw, session):
    detail = _dispatched(client, auth, cw)
    handle = cf.open_task(detail, "handle")
    headers = factories.login_headers(client, cw.users["handler"].username, device_id="phone-h")
    args = {"action": "request_extension", "note": "量大", "extension_amount": 100}
    answer = push(client, headers, "phone-h", mutation(1, "task.update", handle["id"], args))
    [result] = answer["results"]
    # A workflow move refused is kept as a conflict for a dispatcher, with its reason.
    assert (result["status"], result["reason"]) == ("conflict", "extension_over_limit")
    args["extension_amount"] = 4
    answer = push(client, headers, "phone-h", mutation(2, "task.update", handle["id"], args))
    assert answer["results"][0]["status"] == "applied"
    request = session.scalar(
        sa.select(CaseRequest).where(CaseRequest.case_id == uuid.UUID(detail["id"]))
    )
    assert request.extension_amount == 4
