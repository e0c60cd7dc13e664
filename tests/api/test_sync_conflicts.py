"""Conflicts and rejects in front of people, end to end over HTTP on SQLite and PostgreSQL:
a phone's work that could not be applied as meant is listed with both sides, and a
dispatcher keeps the server's, accepts the field's, or merges a field edit."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from app.cases.models import Case, FlowEntry, Task
from app.sync_api.models import SyncConflict, SyncMutation
from tests import case_factories as cf
from tests import factories, push_factories
from tests.push_factories import mutation, push

OPEN_CONFLICTS = "/api/v1/sync/conflicts?status=open"


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def phone(client, cw):
    """The world's inspector signed in on a phone of their own: (headers, device_id)."""
    device_id = "phone-inspector"
    headers = factories.login_headers(client, cw.users["inspector"].username, device_id=device_id)
    return headers, device_id


def get(client, headers: dict, url: str, expect: int = 200):
    response = client.get(url, headers=headers)
    assert response.status_code == expect, response.get_json()
    return response


def resolve(client, headers: dict, conflict_id: str, expect: int = 200, **body) -> dict:
    response = client.post(
        f"/api/v1/sync/conflicts/{conflict_id}/resolve", json=body, headers=headers
    )
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def flow_actions(session, case_id) -> list[str]:
    session.expire_all()
    return list(
        session.scalars(
            sa.select(FlowEntry.action)
            .where(FlowEntry.case_id == uuid.UUID(str(case_id)))
            .order_by(FlowEntry.seq)
        )
    )


@pytest.fixture
def reassigned(client, auth, cw, phone):
    """A check task reassigned to another inspector while the first, offline, completed it:
    the push is a ``task_reassigned`` conflict. Returns its ids and what the phone sent."""
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    detail = cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )
    handle = cf.open_task(detail, "handle")
    cf.task_post(client, auth("handler"), handle["id"], "complete", photos=[cf.photo("closure")])
    checking = cf.act(client, auth("dispatcher"), detail["id"], "send_check")
    check = cf.open_task(checking, "check")
    replacement = cf.task_post(
        client, auth("dispatcher"), check["id"], "reassign", assignee_id=cw.other_inspector.id
    )
    headers, device = phone
    evidence = cf.photo("check")
    sent = mutation(
        1,
        "task.update",
        check["id"],
        {"action": "complete", "result": "pass", "note": "已整改", "photos": [evidence]},
        base=1,
    )
    [result] = push(client, headers, device, sent)["results"]
    assert (result["status"], result["reason"]) == ("conflict", "task_reassigned")
    return {
        "conflict_id": result["conflict_id"],
        "case_id": checking["id"],
        "task_id": check["id"],
        "replacement_id": replacement["id"],
        "photo": evidence,
        "sent": sent,
    }


# -- listing ------------------------------------------------------------------------------


def test_an_open_conflict_is_listed_with_the_field_work_and_the_server_now(
    client, auth, cw, reassigned
):
    response = get(client, auth("dispatcher"), OPEN_CONFLICTS)
    assert json.loads(response.headers["X-Pagination"])["total"] == 1
    [item] = response.get_json()
    assert item["id"] == reassigned["conflict_id"]
    assert (item["status"], item["reason"], item["type"]) == (
        "open",
        "task_reassigned",
        "task.update",
    )
    assert (item["entity_type"], item["entity_id"]) == ("task", reassigned["task_id"])
    assert item["user"]["id"] == cw.users["inspector"].id
    assert item["device"]["device_id"] == "phone-inspector"
    assert item["mid"] == 1
    assert item["client_ts"] == reassigned["sent"]["client_ts"]
    assert item["resolution"] is None
    field = item["field"]
    assert field["note"] == "已整改"
    assert field["args"]["result"] == "pass"
    assert field["photos"] == [
        {
            "photo_id": reassigned["photo"]["photo_id"],
            "sha256": reassigned["photo"]["sha256"],
            "kind": "check",
            "status": "pending",  # its bytes have not arrived
            "thumbnail_url": None,
        }
    ]
    server = item["server"]
    assert (server["task"]["state"], server["task"]["replaced_by_id"]) == (
        "reassigned",
        reassigned["replacement_id"],
    )
    assert server["case"]["state"] == "checking"
    [now_open] = server["case"]["open_tasks"]
    assert (now_open["id"], now_open["assignee_id"]) == (
        reassigned["replacement_id"],
        cw.other_inspector.id,
    )
    detail = get(client, auth("admin"), f"/api/v1/sync/conflicts/{item['id']}").get_json()
    assert detail == item


def test_conflicts_filter_by_status_thing_and_phone(client, auth, reassigned):
    dispatcher = auth("dispatcher")
    by_entity = f"/api/v1/sync/conflicts?entity_id={reassigned['task_id']}"
    assert len(get(client, dispatcher, by_entity).get_json()) == 1
    other = f"/api/v1/sync/conflicts?entity_id={uuid.uuid4()}"
    assert get(client, dispatcher, other).get_json() == []
    assert len(get(client, dispatcher, "/api/v1/sync/conflicts?device=phone-inspector").json) == 1
    assert get(client, dispatcher, "/api/v1/sync/conflicts?device=phone-x").get_json() == []
    assert get(client, dispatcher, "/api/v1/sync/conflicts?status=resolved").get_json() == []
    get(client, dispatcher, "/api/v1/sync/conflicts?status=maybe", expect=422)


# -- keep_server ---------------------------------------------------------------------------


def test_keep_server_closes_the_conflict_and_changes_nothing_else(
    client, auth, cw, session, reassigned
):
    dispatcher = auth("dispatcher")
    before = cf.case(client, dispatcher, reassigned["case_id"])
    done = resolve(
        client, dispatcher, reassigned["conflict_id"], decision="keep_server", opinion="已另派"
    )
    assert done["status"] == "resolved"
    resolution = done["resolution"]
    assert (resolution["decision"], resolution["opinion"]) == ("keep_server", "已另派")
    assert resolution["by"]["id"] == cw.users["dispatcher"].id
    assert resolution["at"]
    after = cf.case(client, dispatcher, reassigned["case_id"])
    assert after["state"] == before["state"] == "checking"
    assert after["open_tasks"] == before["open_tasks"]
    # The field evidence stays on the case and with the conflict.
    check_photos = [p["photo_id"] for p in after["photos"]["check"]]
    assert reassigned["photo"]["photo_id"] in check_photos
    assert done["field"]["note"] == "已整改"
    entry = after["flow"][-1]
    assert (entry["action"], entry["opinion"]) == ("conflict_resolved", "已另派")
    assert entry["data"]["conflict_id"] == reassigned["conflict_id"]
    assert entry["data"]["decision"] == "keep_server"
    assert get(client, dispatcher, OPEN_CONFLICTS).get_json() == []
    assert len(get(client, dispatcher, "/api/v1/sync/conflicts?status=resolved").json) == 1


def test_resolving_twice_is_a_409_that_changes_nothing(client, auth, session, reassigned):
    dispatcher = auth("dispatcher")
    resolve(client, dispatcher, reassigned["conflict_id"], decision="keep_server")
    flow = flow_actions(session, reassigned["case_id"])
    again = resolve(
        client, dispatcher, reassigned["conflict_id"], decision="accept_field", expect=409
    )
    assert again["errors"]["reason"] == "already_resolved"
    assert flow_actions(session, reassigned["case_id"]) == flow
    conflict = session.get(SyncConflict, reassigned["conflict_id"])
    session.refresh(conflict)
    assert (conflict.resolution, conflict.version) == ("keep_server", 2)


# -- accept_field --------------------------------------------------------------------------


def test_accepting_the_field_completes_the_open_check_task_with_the_field_result(
    client, auth, cw, session, reassigned
):
    dispatcher = auth("dispatcher")
    done = resolve(client, dispatcher, reassigned["conflict_id"], decision="accept_field")
    assert (done["status"], done["resolution"]["decision"]) == ("resolved", "accept_field")
    replacement = session.get(Task, uuid.UUID(reassigned["replacement_id"]))
    session.refresh(replacement)
    assert (replacement.state, replacement.result, replacement.note) == (
        "completed",
        "pass",
        "已整改",
    )
    detail = cf.case(client, dispatcher, reassigned["case_id"])
    check_pass, resolved = detail["flow"][-2:]
    # The move is the field user's, from their phone; the decision is the dispatcher's.
    assert (check_pass["action"], check_pass["actor_id"], check_pass["device_id"]) == (
        "check_pass",
        cw.users["inspector"].id,
        "phone-inspector",
    )
    assert (resolved["action"], resolved["actor_id"]) == (
        "conflict_resolved",
        cw.users["dispatcher"].id,
    )
    assert resolved["data"]["applied"]["task_id"] == reassigned["replacement_id"]
    assert detail["check_passed"] is True
    closed = cf.act(client, dispatcher, reassigned["case_id"], "close")
    assert closed["state"] == "closed"


def test_accepting_field_work_the_server_cannot_take_now_is_a_409_and_stays_open(
    client, auth, cw, session, reassigned
):
    """The new inspector failed the check meanwhile (返工): no check task is open now."""
    other = factories.login_headers(client, cw.other_inspector.username, device_id="phone-other")
    cf.task_post(
        client,
        other,
        reassigned["replacement_id"],
        "complete",
        result="fail",
        note="未整改",
        photos=[cf.photo("check")],
    )
    flow = flow_actions(session, reassigned["case_id"])
    refused = resolve(
        client, auth("dispatcher"), reassigned["conflict_id"], decision="accept_field", expect=409
    )
    assert refused["errors"] == {"reason": "not_applicable_now", "cause": "no_open_task"}
    assert flow_actions(session, reassigned["case_id"]) == flow
    listed = get(client, auth("dispatcher"), OPEN_CONFLICTS).get_json()
    assert [c["id"] for c in listed] == [reassigned["conflict_id"]]
    # Keeping the server's is always possible.
    resolve(client, auth("dispatcher"), reassigned["conflict_id"], decision="keep_server")


# -- case.edit: merge ----------------------------------------------------------------------


@pytest.fixture
def field_conflict(client, auth, cw, phone):
    """The inspector reported a case and, offline, corrected description and address while
    the dispatcher corrected both to other values: a ``field_conflict``."""
    headers, device = phone
    return push_factories.field_conflict(
        client, headers, device, auth("dispatcher"), cf.photo("problem")
    )


def test_a_field_conflict_shows_both_values(client, auth, field_conflict):
    item = get(
        client, auth("dispatcher"), f"/api/v1/sync/conflicts/{field_conflict['conflict_id']}"
    ).get_json()
    assert item["field"]["edits"]["address"] == {"base": "中山路 1 号", "new": "中山路 2 号"}
    assert item["server"]["fields"] == {"description": "两袋垃圾", "address": "中山路 3 号"}


def test_merge_takes_each_clashing_field_from_the_side_picked(
    client, auth, session, field_conflict
):
    dispatcher = auth("dispatcher")
    done = resolve(
        client,
        dispatcher,
        field_conflict["conflict_id"],
        decision="merge",
        fields={"description": "field", "address": "server"},
    )
    assert done["resolution"]["fields"] == {"address": "server", "description": "field"}
    case = cf.case(client, dispatcher, field_conflict["case_id"])
    assert (case["description"], case["address"]) == ("一堆建筑垃圾", "中山路 3 号")
    edit, resolved = case["flow"][-2:]
    assert (edit["action"], list(edit["data"]["fields"])) == ("edit", ["description"])
    assert resolved["action"] == "conflict_resolved"


def test_accepting_a_field_edit_writes_the_phones_values(client, auth, field_conflict):
    dispatcher = auth("dispatcher")
    resolve(client, dispatcher, field_conflict["conflict_id"], decision="accept_field")
    case = cf.case(client, dispatcher, field_conflict["case_id"])
    assert (case["description"], case["address"]) == ("一堆建筑垃圾", "中山路 2 号")


def test_keeping_the_server_in_a_field_conflict_writes_nothing(client, auth, field_conflict):
    dispatcher = auth("dispatcher")
    before = cf.case(client, dispatcher, field_conflict["case_id"])
    resolve(client, dispatcher, field_conflict["conflict_id"], decision="keep_server")
    after = cf.case(client, dispatcher, field_conflict["case_id"])
    assert (after["description"], after["address"]) == ("两袋垃圾", "中山路 3 号")
    assert [e["action"] for e in after["flow"]] == [e["action"] for e in before["flow"]] + [
        "conflict_resolved"
    ]


@pytest.mark.parametrize(
    "fields",
    [
        {"description": "field"},  # address missing
        {"description": "field", "address": "server", "category_code": "field"},
        {"description": "both", "address": "server"},
    ],
)
def test_a_merge_must_pick_a_side_for_each_clashing_field(
    client, auth, session, field_conflict, fields
):
    answer = resolve(
        client,
        auth("dispatcher"),
        field_conflict["conflict_id"],
        decision="merge",
        fields=fields,
        expect=422,
    )
    assert answer["code"] == 422
    conflict = session.get(SyncConflict, field_conflict["conflict_id"])
    assert conflict.status == "open"


# -- bad input and permissions ---------------------------------------------------------------


def test_merge_is_for_field_edits_only(client, auth, session, reassigned):
    answer = resolve(
        client,
        auth("dispatcher"),
        reassigned["conflict_id"],
        decision="merge",
        fields={"note": "field"},
        expect=422,
    )
    assert answer["errors"]["reason"] == "merge_not_applicable"
    assert session.get(SyncConflict, reassigned["conflict_id"]).status == "open"


@pytest.mark.parametrize(
    "body",
    [
        {"decision": "ignore"},
        {},
        {"decision": "keep_server", "fields": {"address": "field"}},
        {"decision": "keep_server", "colour": "red"},
    ],
)
def test_a_bad_resolution_is_a_422_that_changes_nothing(client, auth, session, reassigned, body):
    response = client.post(
        f"/api/v1/sync/conflicts/{reassigned['conflict_id']}/resolve",
        json=body,
        headers=auth("dispatcher"),
    )
    assert response.status_code == 422, response.get_json()
    session.expire_all()
    assert session.get(SyncConflict, reassigned["conflict_id"]).status == "open"


def test_an_unknown_conflict_is_a_404(client, auth, world):
    dispatcher = auth("dispatcher")
    get(client, dispatcher, f"/api/v1/sync/conflicts/{uuid.uuid4()}", expect=404)
    resolve(client, dispatcher, str(uuid.uuid4()), decision="keep_server", expect=404)


@pytest.mark.parametrize("role", ["admin", "inspector", "handler"])
def test_only_a_dispatcher_resolves(client, auth, session, reassigned, role):
    answer = resolve(
        client, auth(role), reassigned["conflict_id"], decision="keep_server", expect=403
    )
    assert answer["code"] == 403
    assert session.get(SyncConflict, reassigned["conflict_id"]).status == "open"


def test_field_users_do_not_see_the_conflict_list(client, auth, reassigned):
    get(client, auth("inspector"), OPEN_CONFLICTS, expect=403)


# -- rejected --------------------------------------------------------------------------------


def test_rejected_mutations_are_listed_with_reason_and_payload(client, auth, cw, phone):
    headers, device = phone
    case_id = uuid.uuid4()
    report = {
        "category_code": "06010",
        "description": "路边暴露垃圾",
        "location": cf.cell(0, 0),
    }
    push(
        client,
        headers,
        device,
        mutation(1, "case.teleport", uuid.uuid4(), {}),
        mutation(2, "report.create", case_id, {**report, "category_code": "9999"}),
        mutation(3, "report.create", case_id, report),
    )
    # The same mid again with other content: rejected, kept as a stray.
    push(client, headers, device, mutation(3, "report.create", case_id, {**report, "address": "x"}))
    dispatcher = auth("dispatcher")
    response = get(client, dispatcher, "/api/v1/sync/rejected")
    assert json.loads(response.headers["X-Pagination"])["total"] == 3
    listed = response.get_json()
    assert [(r["mid"], r["stray_of"], r["reason"]) for r in listed] == [
        (None, 3, "mid_reused"),
        (2, None, "validation"),
        (1, None, "unknown_type"),
    ]
    stray = listed[0]
    assert stray["payload"]["args"]["address"] == "x"
    assert stray["user"]["username"] == cw.users["inspector"].username
    assert stray["device"]["device_id"] == device
    assert listed[2]["payload"]["type"] == "case.teleport"
    by_reason = get(client, dispatcher, "/api/v1/sync/rejected?reason=validation").get_json()
    assert [r["mid"] for r in by_reason] == [2]
    mine = f"/api/v1/sync/rejected?user={cw.users['inspector'].id}&device={device}"
    assert len(get(client, auth("admin"), mine).get_json()) == 3
    nobody = f"/api/v1/sync/rejected?user={cw.users['handler'].id}"
    assert get(client, dispatcher, nobody).get_json() == []
    get(client, dispatcher, "/api/v1/sync/rejected?user=someone", expect=422)
    get(client, auth("inspector"), "/api/v1/sync/rejected", expect=403)


def _review(client, headers, mutation_id, expect=200, **body):
    response = client.post(
        f"/api/v1/sync/rejected/{mutation_id}/review", json=body, headers=headers
    )
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def test_a_dispatcher_reviews_a_reject_which_leaves_the_list_to_review_and_is_kept(
    client, auth, cw, phone, session
):
    headers, device = phone
    answer = push(
        client,
        headers,
        device,
        mutation(1, "case.teleport", uuid.uuid4(), {}),
        mutation(2, "case.teleport", uuid.uuid4(), {}),
        mutation(3, "comment.add", uuid.uuid4(), {"case_id": str(uuid.uuid4()), "text": "好"}),
    )
    assert [r["status"] for r in answer["results"]] == ["rejected", "rejected", "rejected"]
    dispatcher = auth("dispatcher")
    listed = get(client, dispatcher, "/api/v1/sync/rejected?reviewed=false").get_json()
    assert [r["mid"] for r in listed] == [3, 2, 1]
    assert all(r["review"] is None for r in listed)
    first = listed[2]["id"]

    reviewed = _review(client, dispatcher, first, note="  已电话联系监督员，重新上报  ")
    assert reviewed["review"]["note"] == "已电话联系监督员，重新上报"
    assert reviewed["review"]["by"]["username"] == cw.users["dispatcher"].username
    assert reviewed["review"]["at"] is not None
    assert (reviewed["mid"], reviewed["payload"]["type"]) == (1, "case.teleport")
    _review(client, dispatcher, listed[1]["id"])  # no note: fine

    to_review = get(client, dispatcher, "/api/v1/sync/rejected?reviewed=false").get_json()
    assert [r["mid"] for r in to_review] == [3]
    done = get(client, dispatcher, "/api/v1/sync/rejected?reviewed=true").get_json()
    assert [(r["mid"], r["review"]["note"]) for r in done] == [
        (2, None),
        (1, "已电话联系监督员，重新上报"),
    ]
    assert len(get(client, dispatcher, "/api/v1/sync/rejected").get_json()) == 3, "kept"

    again = _review(client, dispatcher, first, expect=409, note="twice")
    assert again["errors"]["reason"] == "already_reviewed"
    assert (
        get(client, dispatcher, "/api/v1/sync/rejected?reviewed=true").get_json()[1]["review"][
            "note"
        ]
        == "已电话联系监督员，重新上报"
    ), "the second review changed nothing"


def test_reviewing_rejects_refuses_bad_input_and_other_roles(client, auth, cw, phone, session):
    headers, device = phone
    case_id = uuid.uuid4()
    report = {"category_code": "06010", "description": "路边暴露垃圾", "location": cf.cell(0, 0)}
    push(
        client,
        headers,
        device,
        mutation(1, "case.teleport", uuid.uuid4(), {}),
        mutation(2, "report.create", case_id, report),
    )
    dispatcher = auth("dispatcher")
    [rejected] = get(client, dispatcher, "/api/v1/sync/rejected").get_json()
    applied_id = session.scalar(sa.select(SyncMutation.id).where(SyncMutation.status == "applied"))
    _review(client, dispatcher, applied_id, expect=404)  # applied, not rejected
    _review(client, dispatcher, 999_999, expect=404)
    _review(client, dispatcher, rejected["id"], expect=422, note=["not", "text"])
    _review(client, dispatcher, rejected["id"], expect=422, note="x" * 4001)
    response = client.post(
        f"/api/v1/sync/rejected/{rejected['id']}/review",
        data="{not json",
        headers={**dispatcher, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    for role in ("inspector", "admin", "handler"):
        _review(client, auth(role), rejected["id"], expect=403)
    get(client, dispatcher, "/api/v1/sync/rejected?reviewed=maybe", expect=422)
    row = session.get(SyncMutation, rejected["id"])
    session.refresh(row)
    assert (row.reviewed_at, row.reviewed_by, row.review_note) == (None, None, None)


def test_the_conflict_row_is_changed_through_the_orm_with_its_version(
    client, auth, session, reassigned
):
    """The feed captures ORM changes: the resolution bumps the row's version."""
    resolve(client, auth("dispatcher"), reassigned["conflict_id"], decision="keep_server")
    version = session.scalar(
        sa.select(SyncConflict.version).where(SyncConflict.id == reassigned["conflict_id"])
    )
    assert version == 2
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1


# -- accept_field on other field work ----------------------------------------------------------


def test_a_request_refused_as_pending_is_made_once_the_pending_one_is_decided(
    client, auth, cw, session
):
    """Two handlers of one department ask for an extension; the second, offline, gets a
    ``pending_request`` conflict. Once the first is refused, accepting the field makes it."""
    second = factories.make_user(session, "handler", cw.world.department)
    session.commit()
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    detail = cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )
    handle = cf.open_task(detail, "handle")
    first = cf.request(
        client, auth("handler"), created["id"], "extension", reason="材料未到", extension_amount=2
    )
    headers = factories.login_headers(client, second.username, device_id="phone-second")
    asked = mutation(
        1, "task.update", handle["id"], {"action": "request_extension", "note": "需要吊车"}
    )
    [result] = push(client, headers, "phone-second", asked)["results"]
    assert (result["status"], result["reason"]) == ("conflict", "pending_request")
    dispatcher = auth("dispatcher")
    early = resolve(client, dispatcher, result["conflict_id"], decision="accept_field", expect=409)
    assert early["errors"] == {"reason": "not_applicable_now", "cause": "pending_request"}
    cf.decide(client, dispatcher, first["id"], approve=False, opinion="先处理")
    done = resolve(client, dispatcher, result["conflict_id"], decision="accept_field")
    assert done["resolution"]["decision"] == "accept_field"
    [pending] = cf.case(client, dispatcher, created["id"])["pending_requests"]
    assert (pending["kind"], pending["requested_by"], pending["reason"]) == (
        "extension",
        second.id,
        "需要吊车",
    )


def test_a_self_handling_of_a_case_filed_meanwhile_cannot_be_accepted(client, auth, cw, phone):
    headers, device = phone
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    fixed = mutation(1, "case.self_handle", created["id"], {"photos": [cf.photo("closure")]})
    [result] = push(client, headers, device, fixed)["results"]
    assert (result["status"], result["reason"]) == ("conflict", "wrong_state")
    refused = resolve(
        client, auth("dispatcher"), result["conflict_id"], decision="accept_field", expect=409
    )
    assert refused["errors"] == {"reason": "not_applicable_now", "cause": "wrong_state"}
    item = get(client, auth("dispatcher"), f"/api/v1/sync/conflicts/{result['conflict_id']}").json
    assert item["server"]["case"]["state"] == "registered"
    assert [p["kind"] for p in item["field"]["photos"]] == ["closure"]


def test_the_phone_hears_of_its_conflict_and_of_the_resolution_through_the_feed(
    client, auth, reassigned, phone
):
    headers, _ = phone

    def feed(cursor: str = "") -> tuple[dict, str]:
        conflicts = {}
        while True:
            response = client.get(
                "/api/v1/sync/pull", query_string={"cursor": cursor}, headers=headers
            )
            page = response.get_json()
            for change in page["changes"]:
                if change["entity_type"] == "conflict":
                    conflicts[change["entity_id"]] = change
            cursor = page["cursor"]
            if not page["has_more"]:
                return conflicts, cursor

    conflicts, cursor = feed()
    mine = conflicts[reassigned["conflict_id"]]
    assert (mine["op"], mine["data"]["status"], mine["data"]["reason"]) == (
        "upsert",
        "open",
        "task_reassigned",
    )
    resolve(client, auth("dispatcher"), reassigned["conflict_id"], decision="keep_server")
    conflicts, _ = feed(cursor)
    data = conflicts[reassigned["conflict_id"]]["data"]
    assert (data["status"], data["resolution"]) == ("resolved", "keep_server")
    assert conflicts[reassigned["conflict_id"]]["version"] > mine["version"]
