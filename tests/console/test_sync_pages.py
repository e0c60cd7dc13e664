"""The sync pages with the test client: the conflict queue, one conflict's two sides and a
dispatcher's decision (the same service as the API's resolve), rejected mutations marked
reviewed, and the phone queues' health; roles as the API's, CSRF, bad input."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from app.cases.models import Case, FlowEntry
from app.sync_api.models import SyncConflict, SyncDevice, SyncMutation
from tests import case_factories as cf
from tests import factories, push_factories
from tests.console.support import csrf_token, post_form, sign_in
from tests.push_factories import mutation, push

CONFLICTS = "/console/sync/conflicts"
REJECTED = "/console/sync/rejected"
DEVICES = "/console/sync/devices"


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def phone(client, cw):
    device_id = "phone-inspector"
    headers = factories.login_headers(client, cw.users["inspector"].username, device_id=device_id)
    return headers, device_id


@pytest.fixture
def field_conflict(client, auth, cw, phone):
    """The inspector, offline, corrected description and address of their report while the
    dispatcher corrected both to other values: a ``field_conflict``."""
    headers, device = phone
    dispatcher = auth("dispatcher")
    made = push_factories.field_conflict(client, headers, device, dispatcher, cf.photo("problem"))
    return {**made, "number": cf.case(client, dispatcher, made["case_id"])["number"]}


def _html(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def _conflict(session, conflict_id) -> SyncConflict:
    session.expire_all()
    return session.get(SyncConflict, conflict_id)


def _case(session, case_id) -> Case:
    session.expire_all()
    return session.get(Case, uuid.UUID(case_id))


def _flow(session, case_id) -> list[str]:
    session.expire_all()
    stmt = sa.select(FlowEntry.action).where(FlowEntry.case_id == uuid.UUID(case_id))
    return list(session.scalars(stmt.order_by(FlowEntry.seq)))


# -- the conflict queue and one conflict --------------------------------------------------


def test_the_queue_lists_open_conflicts_with_case_person_and_type(client, cw, field_conflict):
    sign_in(client, cw.users["dispatcher"].username)
    html = _html(client.get(CONFLICTS))
    assert ">同步</a>" in html  # the reserved nav item shows
    assert f'href="/console/cases/{field_conflict["case_id"]}"' in html
    assert field_conflict["number"] in html
    assert "修改案件" in html and "字段冲突" in html
    assert cw.users["inspector"].display_name in html and "phone-inspector" in html
    assert f'data-id="{field_conflict["conflict_id"]}"' in html
    assert "共 1 条" in html
    assert "共 0 条" in _html(client.get(f"{CONFLICTS}?status=resolved"))
    assert "共 1 条" in _html(client.get(f"{CONFLICTS}?status=all&page=7"))
    bad = _html(client.get(f"{CONFLICTS}?status=maybe&page=x"))
    assert "筛选条件有误" in bad and "共 1 条" in bad


def test_the_conflict_page_shows_both_sides_and_the_evidence(client, cw, field_conflict):
    sign_in(client, cw.users["dispatcher"].username)
    html = _html(client.get(f"{CONFLICTS}/{field_conflict['conflict_id']}"))
    for value in ("中山路 1 号", "中山路 2 号", "中山路 3 号", "一堆建筑垃圾", "两袋垃圾"):
        assert value in html
    assert 'id="field-compare"' in html and 'id="case-photos"' in html
    assert "照片未上传" in html  # the report's problem photo: its bytes never came
    assert 'id="form-accept_field"' in html and 'id="form-keep_server"' in html
    assert 'name="pick_address"' in html and 'name="pick_description"' in html
    # An admin reads it, but does not decide.
    client.post("/console/logout", data={"csrf_token": _token(client)})
    sign_in(client, cw.users["admin"].username)
    html = _html(client.get(f"{CONFLICTS}/{field_conflict['conflict_id']}"))
    assert "中山路 2 号" in html and 'id="form-keep_server"' not in html
    assert client.get(f"{CONFLICTS}/{uuid.uuid4()}").status_code == 404


def _token(client) -> str:
    return csrf_token(client, "/console/")


def test_a_merge_takes_each_field_from_the_side_picked(client, cw, session, field_conflict):
    sign_in(client, cw.users["dispatcher"].username)
    page = f"{CONFLICTS}/{field_conflict['conflict_id']}"
    answer = post_form(
        client,
        f"{page}/resolve",
        {
            "decision": "merge",
            "pick_description": "field",
            "pick_address": "server",
            "opinion": "描述以现场为准",
        },
        page,
    )
    assert answer.status_code == 303
    html = _html(client.get(page))
    assert "冲突已处理：逐字段合并" in html and "已处理" in html
    assert 'id="form-merge"' not in html and "描述以现场为准" in html
    case = _case(session, field_conflict["case_id"])
    assert (case.description, case.address) == ("一堆建筑垃圾", "中山路 3 号")
    conflict = _conflict(session, field_conflict["conflict_id"])
    assert (conflict.status, conflict.resolution) == ("resolved", "merge")
    assert conflict.resolved_fields == {"address": "server", "description": "field"}
    assert _flow(session, field_conflict["case_id"])[-2:] == ["edit", "conflict_resolved"]
    case_page = _html(client.get(f"/console/cases/{field_conflict['case_id']}"))
    assert "处理同步冲突" in case_page and "描述以现场为准" in case_page
    # Deciding again: said in Chinese, nothing changes.
    post_form(client, f"{page}/resolve", {"decision": "keep_server"}, page)
    assert "该冲突已由他人处理" in _html(client.get(page))
    assert _conflict(session, field_conflict["conflict_id"]).resolution == "merge"


def test_accept_field_and_keep_server(client, cw, session, field_conflict):
    sign_in(client, cw.users["dispatcher"].username)
    page = f"{CONFLICTS}/{field_conflict['conflict_id']}"
    post_form(client, f"{page}/resolve", {"decision": "accept_field"}, page)
    case = _case(session, field_conflict["case_id"])
    assert (case.description, case.address) == ("一堆建筑垃圾", "中山路 2 号")
    assert "冲突已处理：采用现场操作" in _html(client.get(page))


def test_keep_server_changes_nothing_but_the_conflict(client, cw, session, field_conflict):
    sign_in(client, cw.users["dispatcher"].username)
    page = f"{CONFLICTS}/{field_conflict['conflict_id']}"
    flow = _flow(session, field_conflict["case_id"])
    post_form(client, f"{page}/resolve", {"decision": "keep_server", "opinion": "以中心为准"}, page)
    case = _case(session, field_conflict["case_id"])
    assert (case.description, case.address) == ("两袋垃圾", "中山路 3 号")
    assert _flow(session, field_conflict["case_id"]) == [*flow, "conflict_resolved"]
    assert _conflict(session, field_conflict["conflict_id"]).opinion == "以中心为准"


def test_field_work_the_server_cannot_take_now_is_said_in_chinese(client, auth, cw, session, phone):
    headers, device = phone
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    fixed = mutation(1, "case.self_handle", created["id"], {"photos": [cf.photo("closure")]})
    [result] = push(client, headers, device, fixed)["results"]
    assert result["reason"] == "wrong_state"
    sign_in(client, cw.users["dispatcher"].username)
    page = f"{CONFLICTS}/{result['conflict_id']}"
    html = _html(client.get(page))
    assert "自行处置" in html and "案件状态已变化" in html and "立案" in html
    assert 'id="form-merge"' not in html  # only a field edit is merged
    assert 'data-kind="closure"' in html or "本次提交的照片（1）" in html
    flow = _flow(session, created["id"])
    post_form(client, f"{page}/resolve", {"decision": "accept_field"}, page)
    html = _html(client.get(page))
    assert "现场操作现在无法执行" in html and "案件状态已变化" in html
    assert _conflict(session, result["conflict_id"]).status == "open"
    assert _flow(session, created["id"]) == flow
    post_form(client, f"{page}/resolve", {"decision": "merge", "pick_note": "field"}, page)
    assert "只有字段冲突可以逐字段合并" in _html(client.get(page))
    assert _conflict(session, result["conflict_id"]).status == "open"


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"decision": "ignore"},
        {"decision": "merge", "pick_address": "both", "pick_description": "field"},
        {"decision": "merge", "pick_description": "field"},  # address not picked
        {"decision": "keep_server", "opinion": "x" * 4001},
    ],
)
def test_bad_decisions_are_refused_and_change_nothing(client, cw, session, field_conflict, form):
    sign_in(client, cw.users["dispatcher"].username)
    page = f"{CONFLICTS}/{field_conflict['conflict_id']}"
    answer = post_form(client, f"{page}/resolve", form, page)
    assert answer.status_code == 303
    html = _html(client.get(page))
    assert "操作未完成" in html or "表单填写有误" in html
    assert _conflict(session, field_conflict["conflict_id"]).status == "open"
    case = _case(session, field_conflict["case_id"])
    assert (case.description, case.address) == ("两袋垃圾", "中山路 3 号")


def test_only_a_dispatcher_decides_and_only_with_the_token(client, cw, session, field_conflict):
    path = f"{CONFLICTS}/{field_conflict['conflict_id']}/resolve"
    sign_in(client, cw.users["admin"].username)
    refused = post_form(client, path, {"decision": "keep_server"})
    assert refused.status_code == 403
    client.post("/console/logout", data={"csrf_token": _token(client)})
    sign_in(client, cw.users["inspector"].username)
    assert client.get(CONFLICTS).status_code == 403
    assert client.get(REJECTED).status_code == 403
    client.post("/console/logout", data={"csrf_token": _token(client)})
    sign_in(client, cw.users["dispatcher"].username)
    for token in (None, "forged"):
        data = {"decision": "keep_server"}
        if token:
            data["csrf_token"] = token
        assert client.post(path, data=data).status_code == 400
    assert _conflict(session, field_conflict["conflict_id"]).status == "open"


# -- rejected mutations -------------------------------------------------------------------


@pytest.fixture
def rejected(client, cw, phone, session):
    headers, device = phone
    answer = push(
        client,
        headers,
        device,
        mutation(1, "case.teleport", uuid.uuid4(), {"to": "月球"}),
        mutation(2, "report.create", uuid.uuid4(), {"category_code": "9999", "description": "x"}),
    )
    assert [r["status"] for r in answer["results"]] == ["rejected", "rejected"]
    return list(
        session.scalars(
            sa.select(SyncMutation.id)
            .where(SyncMutation.status == "rejected")
            .order_by(SyncMutation.mid)
        )
    )


def test_rejected_mutations_are_listed_and_marked_reviewed(client, cw, session, rejected):
    teleport, bad_report = rejected
    sign_in(client, cw.users["dispatcher"].username)
    html = _html(client.get(REJECTED))
    assert "共 2 条" in html and "case.teleport" in html and "&#34;to&#34;: &#34;月球&#34;" in html
    assert "未知的操作类型" in html and "phone-inspector" in html
    assert cw.users["inspector"].display_name in html
    assert f'id="review-{teleport}"' in html
    answer = post_form(
        client,
        f"{REJECTED}/{teleport}/review",
        {"note": " 已电话联系监督员 "},
        REJECTED,
    )
    assert answer.status_code == 303
    html = _html(client.get(REJECTED))
    assert "已标记为已复核" in html and "共 1 条" in html
    assert f'data-id="{bad_report}"' in html and f'data-id="{teleport}"' not in html
    done = _html(client.get(f"{REJECTED}?reviewed=yes"))
    assert "已电话联系监督员" in done and f'data-id="{teleport}"' in done
    assert "共 2 条" in _html(client.get(f"{REJECTED}?reviewed=all"))
    session.expire_all()
    row = session.get(SyncMutation, teleport)
    assert (row.review_note, row.reviewed_by) == ("已电话联系监督员", cw.users["dispatcher"].id)
    # Twice: said, nothing changes.
    post_form(client, f"{REJECTED}/{teleport}/review", {"note": "again"}, REJECTED)
    assert "已被复核过" in _html(client.get(REJECTED))
    session.expire_all()
    assert session.get(SyncMutation, teleport).review_note == "已电话联系监督员"


def test_reviews_refuse_bad_input_other_roles_and_missing_tokens(client, cw, session, rejected):
    teleport, _ = rejected
    path = f"{REJECTED}/{teleport}/review"
    sign_in(client, cw.users["admin"].username)
    assert "case.teleport" in _html(client.get(REJECTED))
    assert 'id="review-' not in _html(client.get(REJECTED))
    assert post_form(client, path, {"note": "x"}).status_code == 403
    client.post("/console/logout", data={"csrf_token": _token(client)})
    sign_in(client, cw.users["dispatcher"].username)
    assert client.post(path, data={"note": "x"}).status_code == 400
    post_form(client, path, {"note": "x" * 4001}, REJECTED)
    assert "表单填写有误" in _html(client.get(REJECTED))
    post_form(client, f"{REJECTED}/999999/review", {"note": "x"}, REJECTED)
    assert "找不到该记录" in _html(client.get(REJECTED))
    session.expire_all()
    assert session.get(SyncMutation, teleport).reviewed_at is None


# -- phone queues' health -------------------------------------------------------------------


def test_device_health_shows_quiet_phones_conflicts_and_pending_photos(
    client, cw, session, field_conflict, app
):
    queue = session.scalar(sa.select(SyncDevice).where(SyncDevice.device_id == "phone-inspector"))
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=30)
    queue.last_push_at = queue.last_pull_at = long_ago
    session.commit()
    sign_in(client, cw.users["admin"].username)
    html = _html(client.get(DEVICES))
    assert app.config["CONSOLE_QUIET_HOURS"] == 24
    assert "phone-inspector" in html and 'data-quiet="1"' in html
    assert "静默 30 小时" in html and "1 个静默超过 24 小时" in html
    assert '<td class="open-conflicts"><span class="badge badge-warn">1</span>' in html
    assert '<td class="pending-photos"><span class="badge badge-warn">1</span>' in html
    assert 'data-quiet="0"' in _html(client.get(f"{DEVICES}?hours=48"))
    assert "没有静默的设备" in _html(client.get(f"{DEVICES}?hours=48&show=quiet"))
    assert "phone-inspector" in _html(client.get(f"{DEVICES}?show=quiet"))
    assert "筛选条件有误" in _html(client.get(f"{DEVICES}?hours=0"))
    detail = _html(client.get(f"{DEVICES}/{queue.id}"))
    assert "上报案件" in detail and "修改案件" in detail and "冲突" in detail
    assert field_conflict["conflict_id"] in detail
    assert client.get(f"{DEVICES}/999999").status_code == 404
    client.post("/console/logout", data={"csrf_token": _token(client)})
    sign_in(client, cw.users["dispatcher"].username)
    assert client.get(DEVICES).status_code == 403
    assert client.get(f"{DEVICES}/{queue.id}").status_code == 403
    assert "设备健康" not in _html(client.get(CONFLICTS))
