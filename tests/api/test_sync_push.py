"""``POST /api/v1/sync/push`` end to end, on SQLite and PostgreSQL: a phone's queued
mutations applied in mid order, each once, through the services the REST API uses."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from app.cases.models import Case, CasePhoto, CaseRequest
from app.sync_api.apply import Applier
from app.sync_api.models import SyncConflict, SyncDevice, SyncFailure, SyncMutation
from app.sync_api.store import SqlSyncStore
from tests import case_factories as cf
from tests import factories
from tests.push_factories import break_reports, mutation, push


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def phone(client, cw):
    """``phone(role)`` → (headers, device_id) of that role's user on a phone of their own."""
    made: dict[str, tuple[dict, str]] = {}

    def signed_in(role: str = "inspector") -> tuple[dict, str]:
        if role not in made:
            device_id = f"phone-{role}"
            user = cw.users[role]
            made[role] = (
                factories.login_headers(client, user.username, device_id=device_id),
                device_id,
            )
        return made[role]

    return signed_in


def report(mid: int, cw, case_id=None, **overrides) -> dict:
    args = {
        "category_code": "06010",  # 暴露垃圾 in GB/T 47678: a code of one category only
        "description": "路边暴露垃圾",
        "address": "中山路 1 号",
        "location": cf.cell(0, 0),
        "photos": [cf.photo("problem")],
    }
    args.update(overrides)
    return mutation(mid, "report.create", case_id or uuid.uuid4(), args)


def statuses(answer: dict) -> list[str]:
    return [result["status"] for result in answer["results"]]


def cases_with(session, case_id) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Case).where(Case.id == case_id))


def test_a_report_with_photos_not_yet_uploaded_is_applied(client, phone, cw, session):
    headers, device = phone("inspector")
    sent = report(1, cw)
    answer = push(client, headers, device, sent)
    assert answer["last_mid"] == 1
    [result] = answer["results"]
    assert result["status"] == "applied"
    assert (result["entity_type"], result["entity_id"]) == ("case", sent["entity_id"])
    assert result["version"] >= 1
    detail = cf.case(client, headers, sent["entity_id"])
    assert detail["state"] == "reported"
    problem = [p["photo_id"] for p in detail["photos"]["problem"]]
    assert problem == [sent["args"]["photos"][0]["photo_id"]]
    assert detail["flow"][0]["device_id"] == device


def test_the_same_batch_sent_again_is_duplicates_with_the_first_results(client, phone, cw, session):
    headers, device = phone("inspector")
    batch = [report(1, cw), report(2, cw, location=cf.cell(0, 1))]
    first = push(client, headers, device, *batch)
    again = push(client, headers, device, *batch)
    assert statuses(first) == ["applied", "applied"]
    assert statuses(again) == ["duplicate", "duplicate"]
    for before, after in zip(first["results"], again["results"], strict=True):
        assert after["original_status"] == "applied"
        assert {**after, "status": "applied"} == {**before, "original_status": "applied"}
    assert again["last_mid"] == 2
    for sent in batch:
        assert cases_with(session, uuid.UUID(sent["entity_id"])) == 1


def test_a_gap_applies_nothing_from_there_on_and_names_the_expected_mid(client, phone, cw, session):
    headers, device = phone("inspector")
    push(client, headers, device, report(1, cw))
    later = [report(3, cw), report(4, cw)]
    answer = push(client, headers, device, *later)
    assert statuses(answer) == ["gap", "gap"]
    assert {r["reason"] for r in answer["results"]} == {"expected_mid:2"}
    assert {r["expected_mid"] for r in answer["results"]} == {2}
    assert answer["last_mid"] == 1
    for sent in later:
        assert cases_with(session, uuid.UUID(sent["entity_id"])) == 0


def test_a_mid_reused_with_other_content_is_rejected_and_the_first_stands(
    client, phone, cw, session
):
    headers, device = phone("inspector")
    first = report(1, cw)
    push(client, headers, device, first)
    other = report(1, cw, description="另一处垃圾")
    answer = push(client, headers, device, other)
    [result] = answer["results"]
    assert (result["status"], result["reason"]) == ("rejected", "mid_reused")
    assert cases_with(session, uuid.UUID(other["entity_id"])) == 0
    assert cases_with(session, uuid.UUID(first["entity_id"])) == 1
    stray = session.scalars(sa.select(SyncMutation).where(SyncMutation.stray_of == 1)).one()
    assert stray.payload["args"]["description"] == "另一处垃圾"


def _reassigned_check_task(client, auth, cw) -> dict:
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    detail = cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )
    handle = cf.open_task(detail, "handle")
    cf.task_post(client, auth("handler"), handle["id"], "complete", photos=[cf.photo("closure")])
    checking = cf.act(client, auth("dispatcher"), detail["id"], "send_check")
    check = cf.open_task(checking, "check")
    cf.task_post(
        client, auth("dispatcher"), check["id"], "reassign", assignee_id=cw.other_inspector.id
    )
    return {**check, "case_id": checking["id"]}


def test_completing_a_task_reassigned_while_offline_is_a_conflict_keeping_the_field_work(
    client, auth, phone, cw, session
):
    check = _reassigned_check_task(client, auth, cw)
    headers, device = phone("inspector")
    evidence = cf.photo("check")
    sent = mutation(
        1,
        "task.update",
        check["id"],
        {"action": "complete", "result": "pass", "note": "已整改", "photos": [evidence]},
        base=1,
    )
    answer = push(client, headers, device, sent)
    [result] = answer["results"]
    assert (result["status"], result["reason"]) == ("conflict", "task_reassigned")
    assert result["conflict_id"]
    assert answer["last_mid"] == 1
    conflict = session.get(SyncConflict, result["conflict_id"])
    assert conflict.status == "open"
    assert conflict.payload["args"]["note"] == "已整改"
    assert str(conflict.entity_id) == check["id"]
    kept = session.scalars(
        sa.select(CasePhoto.photo_id).where(CasePhoto.case_id == uuid.UUID(check["case_id"]))
    ).all()
    assert uuid.UUID(evidence["photo_id"]) in kept
    again = push(client, headers, device, sent)
    assert again["results"][0]["conflict_id"] == result["conflict_id"]
    assert session.scalar(sa.select(sa.func.count()).select_from(SyncConflict)) == 1


def test_a_task_completed_offline_is_applied(client, auth, phone, cw):
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    detail = cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )
    handle = cf.open_task(detail, "handle")
    headers, device = phone("handler")
    args = {"action": "complete", "note": "已清理", "photos": [cf.photo("closure")]}
    answer = push(client, headers, device, mutation(1, "task.update", handle["id"], args, base=0))
    [result] = answer["results"]
    assert (result["status"], result["entity_type"]) == ("applied", "task")
    assert cf.case(client, auth("dispatcher"), detail["id"])["state"] == "handled"


def test_a_photo_attached_twice_under_new_mids_is_stored_once(client, phone, cw, session):
    headers, device = phone("inspector")
    sent = report(1, cw)
    extra = cf.photo("problem")
    args = {"case_id": sent["entity_id"], "sha256": extra["sha256"], "kind": "problem"}
    answer = push(
        client,
        headers,
        device,
        sent,
        mutation(2, "photo.attach", extra["photo_id"], args),
        mutation(3, "photo.attach", extra["photo_id"], args),
    )
    assert statuses(answer) == ["applied", "applied", "applied"]
    assert answer["results"][1]["entity_type"] == "photo"
    photos = session.scalars(
        sa.select(CasePhoto.photo_id).where(CasePhoto.case_id == uuid.UUID(sent["entity_id"]))
    ).all()
    assert sorted(photos) == sorted(
        [uuid.UUID(extra["photo_id"]), uuid.UUID(sent["args"]["photos"][0]["photo_id"])]
    )


def test_a_push_for_another_device_than_the_tokens_is_refused(client, phone, cw, session):
    headers, device = phone("inspector")
    push(client, headers, device, report(1, cw))
    other_headers, _other_device = phone("street_chief")
    mismatch = push(client, other_headers, device, report(1, cw), expect=403)
    assert mismatch["errors"]["reason"] == "device_mismatch"
    assert session.scalar(sa.select(SyncDevice.last_mid).where(SyncDevice.device_id == device)) == 1


def test_two_users_of_one_shared_phone_each_have_their_own_mids(client, phone, cw, session):
    headers, device = phone("inspector")
    mine = report(1, cw)
    push(client, headers, device, mine)
    chief = cw.users["street_chief"]
    on_my_phone = factories.login_headers(client, chief.username, device_id=device)
    theirs = report(1, cw, location=cf.cell(0, 1))
    answer = push(client, on_my_phone, device, theirs)
    assert (statuses(answer), answer["last_mid"]) == (["applied"], 1)
    assert cases_with(session, uuid.UUID(theirs["entity_id"])) == 1
    again = push(client, headers, device, mine, report(2, cw, location=cf.cell(1, 0)))
    assert (statuses(again), again["last_mid"]) == (["duplicate", "applied"], 2)
    queues = session.execute(
        sa.select(SyncDevice.user_id, SyncDevice.last_mid)
        .where(SyncDevice.device_id == device)
        .order_by(SyncDevice.user_id)
    ).all()
    assert sorted(queues) == sorted([(cw.users["inspector"].id, 2), (chief.id, 1)])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "not_an_object"),
        ({"mutations": []}, "missing_device_id"),
        ({"device_id": "phone-inspector", "mutations": {}}, "mutations_not_a_list"),
        ({"device_id": "phone-inspector", "mutations": [{"mid": 0}]}, "invalid_mid"),
    ],
)
def test_a_malformed_envelope_is_a_400_and_changes_nothing(
    client, phone, cw, session, body, reason
):
    headers, _device = phone("inspector")
    response = client.post("/api/v1/sync/push", json=body, headers=headers)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["errors"]["reason"] == reason
    assert session.scalar(sa.select(sa.func.count()).select_from(SyncDevice)) == 0


def test_a_batch_over_the_limit_is_a_413(app, client, phone, cw, session, monkeypatch):
    monkeypatch.setitem(app.config, "SYNC_MAX_BATCH", 2)
    headers, device = phone("inspector")
    answer = push(client, headers, device, *(report(m, cw) for m in (1, 2, 3)), expect=413)
    assert answer["errors"]["reason"] == "batch_too_large"
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


def test_unknown_types_and_refused_mutations_are_rejected_one_by_one(client, phone, cw, session):
    headers, device = phone("inspector")
    sent = report(3, cw)
    # A comment on a case the server does not know yet (it comes later in the queue).
    comment = mutation(2, "comment.add", uuid.uuid4(), {"case_id": sent["entity_id"], "text": "…"})
    answer = push(
        client, headers, device, mutation(1, "case.teleport", uuid.uuid4(), {}), comment, sent
    )
    assert [(r["status"], r["reason"]) for r in answer["results"]] == [
        ("rejected", "unknown_type"),
        ("rejected", "not_found"),
        ("applied", None),
    ]
    assert answer["last_mid"] == 3
    kept = session.scalars(
        sa.select(SyncMutation.payload).where(SyncMutation.status == "rejected")
    ).all()
    assert {p["type"] for p in kept} == {"case.teleport", "comment.add"}


def test_a_refused_report_is_rejected_with_its_reason_and_the_queue_goes_on(
    client, phone, cw, session
):
    headers, device = phone("inspector")
    answer = push(client, headers, device, report(1, cw, category_code="9999"), report(2, cw))
    assert [(r["status"], r["reason"]) for r in answer["results"]] == [
        ("rejected", "validation"),
        ("applied", None),
    ]


def test_a_crash_mid_batch_keeps_the_committed_prefix_which_is_not_applied_again(
    client, phone, cw, session, monkeypatch
):
    headers, device = phone("inspector")
    batch = [report(1, cw), report(2, cw, location=cf.cell(0, 1)), report(3, cw)]
    mend = break_reports(monkeypatch, lambda mid: mid == 2)
    response = client.post(
        "/api/v1/sync/push", json={"device_id": device, "mutations": batch}, headers=headers
    )
    assert response.status_code == 503, response.get_json()
    assert response.headers["Retry-After"]
    assert response.get_json()["errors"] == {"reason": "interrupted", "mid": 2}
    assert cases_with(session, uuid.UUID(batch[0]["entity_id"])) == 1
    assert cases_with(session, uuid.UUID(batch[1]["entity_id"])) == 0
    assert session.scalar(sa.select(SyncFailure.attempts).where(SyncFailure.mid == 2)) == 1
    flow_before = cf.case(client, headers, batch[0]["entity_id"])["flow"]

    mend()
    answer = push(client, headers, device, *batch)
    assert statuses(answer) == ["duplicate", "applied", "applied"]
    assert answer["last_mid"] == 3
    assert cf.case(client, headers, batch[0]["entity_id"])["flow"] == flow_before
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 3


def test_an_error_of_the_store_rolls_the_whole_push_back(
    app, client, phone, cw, session, monkeypatch
):
    """Not a transient failure of one mutation: nothing of the push is kept, not even the
    mutations decided before it (the push is one transaction, on SQLite too)."""
    headers, device = phone("inspector")
    batch = [report(1, cw), report(2, cw)]

    def broken(*_args):
        raise RuntimeError("the store itself failed")

    break_reports(monkeypatch, lambda mid: mid == 2)
    monkeypatch.setattr(SqlSyncStore, "note_failure", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    response = client.post(
        "/api/v1/sync/push", json={"device_id": device, "mutations": batch}, headers=headers
    )
    assert response.status_code == 500
    assert cases_with(session, uuid.UUID(batch[0]["entity_id"])) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(SyncMutation)) == 0


def test_a_case_fixed_on_the_spot_asks_for_self_handling_with_its_after_photo(
    client, auth, phone, cw, session
):
    headers, device = phone("inspector")
    sent = report(1, cw)
    fixed = mutation(
        2,
        "case.self_handle",
        sent["entity_id"],
        {"note": "已当场清理", "photos": [cf.photo("closure")]},
    )
    answer = push(client, headers, device, sent, fixed)
    assert statuses(answer) == ["applied", "applied"]
    assert answer["results"][1]["entity_type"] == "case"
    requests = session.scalars(
        sa.select(CaseRequest.kind).where(CaseRequest.case_id == uuid.UUID(sent["entity_id"]))
    ).all()
    assert requests == ["self_handle"]
    again = push(
        client, headers, device, mutation(3, "case.self_handle", sent["entity_id"], fixed["args"])
    )
    # The same move made twice is applied once (API.md, conflict rule 1).
    assert [(r["status"], r["reason"]) for r in again["results"]] == [("merged", None)]


def test_evidence_checks_run_on_a_closure_pushed_from_the_field(client, auth, phone, cw):
    """Signals wait for the push's commit, so the checks see the pushed closure photo."""
    import hashlib

    from tests.media import photos as pictures

    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    detail = cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )
    handle = cf.open_task(detail, "handle")
    here = cf.cell(0, 0)
    far_away = pictures.exif(gps=pictures.gps_ifd(here["lat"] + 0.01, here["lon"]))  # ≈ 1.1 km
    data = pictures.encode(pictures.scene(320, 240, seed=5), "JPEG", far_away)
    sha = hashlib.sha256(data).hexdigest()
    headers, device = phone("handler")
    assert client.put(f"/api/v1/blobs/{sha}", data=data, headers=headers).status_code == 201
    closure = {"photo_id": str(uuid.uuid4()), "sha256": sha, "kind": "closure"}
    args = {"action": "complete", "note": "已清理", "photos": [closure]}
    answer = push(client, headers, device, mutation(1, "task.update", handle["id"], args, base=0))
    assert statuses(answer) == ["applied"]
    flags = client.get(
        f"/api/v1/evidence-flags?case_id={created['id']}", headers=auth("dispatcher")
    ).get_json()
    assert [(flag["kind"], flag["photo_id"]) for flag in flags] == [
        ("far_from_case", closure["photo_id"])
    ]


def test_every_mutation_type_is_applied_by_a_service():
    from app.sync_api.apply import _HANDLERS
    from sync.mutation_types import MutationType

    assert set(_HANDLERS) == set(MutationType)
    assert all(callable(getattr(Applier, name)) for name in _HANDLERS.values())


@pytest.mark.parametrize(
    ("extra", "outcome", "kind"),
    [
        ({}, ("rejected", "ambiguous_category"), None),  # 0102: 污水井盖 and 暴露垃圾
        ({"category_kind": "event"}, ("applied", None), "event"),
        ({"category_kind": "component"}, ("applied", None), "component"),
        ({"category_kind": "event", "category_edition": "cjt214"}, ("applied", None), "event"),
        (
            {"category_kind": "event", "category_edition": "gbt47678"},
            ("rejected", "validation"),
            None,
        ),
        ({"category_kind": "animal"}, ("rejected", "validation"), None),
        ({"category_edition": 2005}, ("rejected", "validation"), None),
    ],
)
def test_an_old_category_code_of_two_kinds_needs_its_kind(
    client, phone, cw, session, extra, outcome, kind
):
    from app.categories.models import Category

    headers, device = phone("inspector")
    sent = report(1, cw, category_code="0102", **extra)
    answer = push(client, headers, device, sent)
    assert [(r["status"], r["reason"]) for r in answer["results"]] == [outcome]
    case = session.get(Case, uuid.UUID(sent["entity_id"]))
    if kind is None:
        assert case is None
    else:
        category = session.get(Category, case.category_id)
        assert (category.kind, category.edition, category.code) == (kind, "cjt214", "0102")


def _second_phone(client, cw, role: str) -> tuple[dict, str]:
    device = f"second-phone-{role}"
    return factories.login_headers(client, cw.users[role].username, device_id=device), device


def _photos_of(session, case_id, kind: str) -> set[str]:
    return {
        str(photo_id)
        for photo_id in session.scalars(
            sa.select(CasePhoto.photo_id).where(
                CasePhoto.case_id == uuid.UUID(case_id), CasePhoto.kind == kind
            )
        )
    }


def test_the_same_self_handle_from_two_phones_of_one_user_is_applied_once_keeping_both_photos(
    client, auth, phone, cw, session
):
    headers, device = phone("inspector")
    sent = report(1, cw)
    first = cf.photo("closure")
    fixed = mutation(
        2, "case.self_handle", sent["entity_id"], {"note": "已清理", "photos": [first]}
    )
    assert statuses(push(client, headers, device, sent, fixed)) == ["applied", "applied"]
    other_headers, other_device = _second_phone(client, cw, "inspector")
    second = cf.photo("closure")
    again = mutation(1, "case.self_handle", sent["entity_id"], {"photos": [second]})
    answer = push(client, other_headers, other_device, again)
    [result] = answer["results"]
    assert (result["status"], result["reason"], result["entity_id"]) == (
        "merged",
        None,
        sent["entity_id"],
    )
    requests = session.scalars(
        sa.select(CaseRequest).where(CaseRequest.case_id == uuid.UUID(sent["entity_id"]))
    ).all()
    assert [(r.kind, r.status) for r in requests] == [("self_handle", "pending")]
    assert _photos_of(session, sent["entity_id"], "closure") == {
        first["photo_id"],
        second["photo_id"],
    }
    assert session.scalar(sa.select(sa.func.count()).select_from(SyncConflict)) == 0


def test_a_self_handle_sent_again_after_its_approval_keeps_its_photos_on_the_closed_case(
    client, auth, phone, cw, session
):
    headers, device = phone("inspector")
    sent = report(1, cw)
    fixed = mutation(2, "case.self_handle", sent["entity_id"], {"photos": [cf.photo("closure")]})
    push(client, headers, device, sent, fixed)
    [pending] = client.get(
        "/api/v1/case-requests?status=pending", headers=auth("dispatcher")
    ).get_json()
    cf.decide(client, auth("dispatcher"), pending["id"], opinion="确认自处理")
    other_headers, other_device = _second_phone(client, cw, "inspector")
    late = cf.photo("closure")
    again = mutation(1, "case.self_handle", sent["entity_id"], {"photos": [late]})
    answer = push(client, other_headers, other_device, again)
    assert [(r["status"], r["reason"]) for r in answer["results"]] == [("merged", None)]
    assert cf.case(client, auth("dispatcher"), sent["entity_id"])["state"] == "self_handled"
    assert late["photo_id"] in _photos_of(session, sent["entity_id"], "closure")


def test_a_self_handle_by_another_user_is_not_taken_for_the_reporters(
    client, auth, phone, cw, session
):
    headers, device = phone("inspector")
    sent = report(1, cw)
    fixed = mutation(2, "case.self_handle", sent["entity_id"], {"photos": [cf.photo("closure")]})
    push(client, headers, device, sent, fixed)
    chief_headers, chief_device = phone("street_chief")  # sees the case: it is on their street
    theirs = mutation(1, "case.self_handle", sent["entity_id"], {"photos": [cf.photo("closure")]})
    answer = push(client, chief_headers, chief_device, theirs)
    # Only the reporter fixes a case on the spot: never merged into the reporter's request.
    assert [(r["status"], r["reason"]) for r in answer["results"]] == [("rejected", "forbidden")]
    assert session.scalar(sa.select(sa.func.count()).select_from(CaseRequest)) == 1


def _dispatched_handle_task(client, auth, cw) -> tuple[dict, dict]:
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    detail = cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )
    return detail, cf.open_task(detail, "handle")


def test_a_task_completed_from_two_phones_of_its_assignee_is_applied_once_keeping_both_photos(
    client, auth, phone, cw, session
):
    detail, handle = _dispatched_handle_task(client, auth, cw)
    headers, device = phone("handler")
    first, second = cf.photo("closure"), cf.photo("closure")
    done = {"action": "complete", "note": "已清理", "photos": [first]}
    answer = push(client, headers, device, mutation(1, "task.update", handle["id"], done, base=1))
    assert statuses(answer) == ["applied"]
    other_headers, other_device = _second_phone(client, cw, "handler")
    again = {"action": "complete", "note": "清理完毕", "photos": [second]}
    answer = push(
        client, other_headers, other_device, mutation(1, "task.update", handle["id"], again, base=1)
    )
    [result] = answer["results"]
    assert (result["status"], result["reason"], result["entity_type"]) == ("merged", None, "task")
    assert _photos_of(session, detail["id"], "closure") == {first["photo_id"], second["photo_id"]}
    flow = cf.case(client, auth("dispatcher"), detail["id"])["flow"]
    assert [entry["action"] for entry in flow].count("submit_closure") == 1
    assert session.scalar(sa.select(sa.func.count()).select_from(SyncConflict)) == 0


def test_a_check_completed_again_with_another_result_is_a_conflict_keeping_its_photos(
    client, auth, phone, cw, session
):
    detail, handle = _dispatched_handle_task(client, auth, cw)
    cf.task_post(client, auth("handler"), handle["id"], "complete", photos=[cf.photo("closure")])
    check = cf.open_task(cf.act(client, auth("dispatcher"), detail["id"], "send_check"), "check")
    headers, device = phone("inspector")
    passed = {"action": "complete", "result": "pass", "photos": [cf.photo("check")]}
    push(client, headers, device, mutation(1, "task.update", check["id"], passed))
    other_headers, other_device = _second_phone(client, cw, "inspector")
    evidence = cf.photo("check")
    failed = {"action": "complete", "result": "fail", "note": "未整改", "photos": [evidence]}
    answer = push(
        client, other_headers, other_device, mutation(1, "task.update", check["id"], failed)
    )
    [result] = answer["results"]
    assert (result["status"], result["reason"]) == ("conflict", "task_completed")
    assert evidence["photo_id"] in _photos_of(session, detail["id"], "check")
    assert cf.case(client, auth("dispatcher"), detail["id"])["check_passed"] is True
