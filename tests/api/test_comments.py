"""Comments on cases, over REST and as the offline ``comment.add``: whoever may see a case
may comment on it, append-only by the phone's UUID; a case out of sight does not exist."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from app.cases.models import CaseComment
from app.sync_api.models import SyncMutation
from tests import case_factories as cf
from tests import factories
from tests import push_factories as pf


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def reported(client, auth, cw) -> dict:
    """A case the world's inspector reported in their own grid, on the world's street."""
    return cf.report(client, auth("inspector"), cw.category)


def comment_url(case_id) -> str:
    return f"/api/v1/cases/{case_id}/comments"


def post_comment(client, headers, case_id, expect: int = 201, **body) -> dict:
    response = client.post(comment_url(case_id), json=body, headers=headers)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def stored(session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(CaseComment))


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("inspector", True),  # the reporter
        ("street_chief", True),  # the case is on their street
        ("dispatcher", True),
        ("admin", True),
        ("handler", False),  # not dispatched to their department
        ("merchant", False),  # not their shop's, not reported by them
        ("road_chief", False),  # not on their road
    ],
)
def test_whoever_may_see_the_case_may_comment_others_get_404(
    client, auth, reported, session, role, allowed
):
    comment_id = str(uuid.uuid4())
    body = {"id": comment_id, "text": f"{role} 看过了"}
    if allowed:
        made = post_comment(client, auth(role), reported["id"], **body)
        assert (made["id"], made["case_id"], made["text"]) == (
            comment_id,
            reported["id"],
            body["text"],
        )
        listed = client.get(comment_url(reported["id"]), headers=auth(role))
        assert [c["id"] for c in listed.get_json()] == [comment_id]
    else:
        post_comment(client, auth(role), reported["id"], expect=404, **body)
        listed = client.get(comment_url(reported["id"]), headers=auth(role))
        assert listed.status_code == 404
        assert stored(session) == 0


def test_a_comment_records_its_author_and_device_and_leaves_the_case_alone(
    client, auth, cw, reported
):
    before = cf.case(client, auth("dispatcher"), reported["id"])
    made = post_comment(client, auth("street_chief"), reported["id"], text="  已通知店主  ")
    assert made["text"] == "已通知店主"
    assert made["author_id"] == cw.users["street_chief"].id
    assert made["device_id"] == "test-phone"
    uuid.UUID(made["id"])  # made by the server when the phone gave none
    after = cf.case(client, auth("dispatcher"), reported["id"])
    assert (after["version"], after["flow"]) == (before["version"], before["flow"])


def test_the_same_comment_again_is_stored_once_another_text_is_409(client, auth, reported, session):
    body = {"id": str(uuid.uuid4()), "text": "垃圾还在"}
    first = post_comment(client, auth("inspector"), reported["id"], **body)
    again = post_comment(client, auth("inspector"), reported["id"], expect=200, **body)
    assert again == first
    post_comment(client, auth("inspector"), reported["id"], expect=409, id=body["id"], text="已清")
    # The same UUID and text from someone else is not the same comment either.
    post_comment(client, auth("dispatcher"), reported["id"], expect=409, **body)
    assert stored(session) == 1


def test_a_comment_on_an_unknown_case_is_404(client, auth, cw, session):
    unknown = uuid.uuid4()
    post_comment(client, auth("dispatcher"), unknown, expect=404, text="？")
    assert client.get(comment_url(unknown), headers=auth("dispatcher")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"text": ""},
        {"text": "   "},
        {"text": 5},
        {"text": "x" * 2001},
        {"text": "ok", "id": "not-a-uuid"},
        {"text": "ok", "author_id": 1},
    ],
)
def test_a_bad_comment_is_422_and_stores_nothing(client, auth, reported, session, body):
    post_comment(client, auth("inspector"), reported["id"], expect=422, **body)
    assert stored(session) == 0


def test_comments_are_listed_oldest_first_in_pages(client, auth, reported):
    texts = ["一", "二", "三"]
    for text in texts:
        post_comment(client, auth("inspector"), reported["id"], text=text)
    page = client.get(
        f"{comment_url(reported['id'])}?page=1&page_size=2", headers=auth("inspector")
    )
    assert [c["text"] for c in page.get_json()] == texts[:2]
    assert '"total": 3' in page.headers["X-Pagination"]
    rest = client.get(
        f"{comment_url(reported['id'])}?page=2&page_size=2", headers=auth("inspector")
    )
    assert [c["text"] for c in rest.get_json()] == texts[2:]


# -- comment.add through the sync push ------------------------------------------------------


@pytest.fixture
def phone(client, cw):
    """The street chief's phone (they see every case of their street)."""
    device = "phone-chief"
    headers = factories.login_headers(client, cw.users["street_chief"].username, device_id=device)
    return headers, device


def test_a_pushed_comment_is_applied_and_listed(client, auth, phone, reported, session):
    headers, device = phone
    comment_id = uuid.uuid4()
    args = {"case_id": reported["id"], "text": "已现场核实"}
    answer = pf.push(client, headers, device, pf.mutation(1, "comment.add", comment_id, args))
    [result] = answer["results"]
    assert (result["status"], result["entity_type"], result["entity_id"]) == (
        "applied",
        "comment",
        str(comment_id),
    )
    [listed] = client.get(comment_url(reported["id"]), headers=auth("dispatcher")).get_json()
    assert (listed["id"], listed["text"], listed["device_id"]) == (
        str(comment_id),
        "已现场核实",
        device,
    )
    assert listed["client_ts"] == "2026-11-22T00:01:00+00:00"


def test_a_comment_sent_again_under_new_mids_is_stored_once(client, phone, reported, session):
    headers, device = phone
    comment_id = uuid.uuid4()
    args = {"case_id": reported["id"], "text": "已现场核实"}
    answer = pf.push(
        client,
        headers,
        device,
        pf.mutation(1, "comment.add", comment_id, args),
        pf.mutation(2, "comment.add", comment_id, args),
    )
    assert pf.outcomes(answer) == [("applied", None), ("applied", None)]
    again = pf.push(client, headers, device, pf.mutation(3, "comment.add", comment_id, args))
    assert pf.outcomes(again) == [("applied", None)]
    assert stored(session) == 1


def test_comments_pushed_together_list_in_the_order_sent(client, auth, phone, reported):
    headers, device = phone
    texts = ["第一条", "第二条", "第三条", "第四条", "第五条"]
    sent = [
        pf.mutation(mid, "comment.add", uuid.uuid4(), {"case_id": reported["id"], "text": text})
        for mid, text in enumerate(texts, start=1)
    ]
    answer = pf.push(client, headers, device, *sent)
    assert pf.outcomes(answer) == [("applied", None)] * 5
    listed = client.get(comment_url(reported["id"]), headers=auth("dispatcher")).get_json()
    assert [c["text"] for c in listed] == texts
    assert [c["id"] for c in listed] == [m["entity_id"] for m in sent]


def test_a_comment_uuid_reused_for_other_text_is_rejected_id_reused(
    client, phone, reported, session
):
    headers, device = phone
    comment_id = uuid.uuid4()
    first = {"case_id": reported["id"], "text": "已现场核实"}
    other = {"case_id": reported["id"], "text": "另一条"}
    answer = pf.push(
        client,
        headers,
        device,
        pf.mutation(1, "comment.add", comment_id, first),
        pf.mutation(2, "comment.add", comment_id, other),
    )
    assert pf.outcomes(answer) == [("applied", None), ("rejected", "id_reused")]
    assert session.get(CaseComment, comment_id).text == "已现场核实"
    kept = session.scalar(sa.select(SyncMutation.payload).where(SyncMutation.mid == 2))
    assert kept["args"]["text"] == "另一条"


def test_a_pushed_comment_on_an_unseen_or_unknown_case_is_rejected_not_found(
    client, cw, reported, session
):
    device = "phone-handler"
    headers = factories.login_headers(client, cw.users["handler"].username, device_id=device)
    answer = pf.push(
        client,
        headers,
        device,
        pf.mutation(1, "comment.add", uuid.uuid4(), {"case_id": reported["id"], "text": "看"}),
        pf.mutation(2, "comment.add", uuid.uuid4(), {"case_id": str(uuid.uuid4()), "text": "看"}),
    )
    assert pf.outcomes(answer) == [("rejected", "not_found"), ("rejected", "not_found")]
    assert answer["last_mid"] == 2
    assert stored(session) == 0


@pytest.mark.parametrize(
    "args",
    [
        {"text": "没有案卷"},
        {"case_id": "not-a-uuid", "text": "看"},
        {"case_id": None, "text": "看"},
        {"case_id": "CASE", "text": 5},
        {"case_id": "CASE", "text": "   "},
        {"case_id": "CASE", "text": "看", "author_id": 1},
    ],
)
def test_a_malformed_comment_is_rejected_validation(client, phone, reported, session, args):
    headers, device = phone
    args = {name: reported["id"] if value == "CASE" else value for name, value in args.items()}
    answer = pf.push(client, headers, device, pf.mutation(1, "comment.add", uuid.uuid4(), args))
    assert pf.outcomes(answer) == [("rejected", "validation")]
    assert stored(session) == 0
