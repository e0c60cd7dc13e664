"""``GET /api/v1/sync/pull`` end to end, on SQLite and PostgreSQL: each role's feed holds
what it may see, things that leave a scope are revoked, cursors resume exactly, and a cursor
that cannot be continued is a reset."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest
import sqlalchemy as sa

from app.feed import services as feed_services
from app.feed.models import FeedChange
from app.grids.responsibility import create_responsibility_grid
from tests import case_factories as cf
from tests import factories, grid_data
from tests.api.test_sync_push import push, report
from tests.media import photos as images


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def phone(client, cw):
    made: dict[str, tuple[dict, str]] = {}

    def signed_in(role: str = "inspector", user=None) -> tuple[dict, str]:
        user = user or cw.users[role]
        if user.username not in made:
            device_id = f"phone-{user.username}"
            made[user.username] = (
                factories.login_headers(client, user.username, device_id=device_id),
                device_id,
            )
        return made[user.username]

    return signed_in


def pull(client, headers: dict, cursor: str = "", limit: int | None = None, expect: int = 200):
    query = {"cursor": cursor}
    if limit is not None:
        query["limit"] = limit
    response = client.get("/api/v1/sync/pull", query_string=query, headers=headers)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def pull_all(client, headers: dict, cursor: str = "", limit: int = 500) -> tuple[list, str]:
    """Every page until ``has_more`` is false: the changes and the final cursor."""
    changes = []
    for _ in range(1000):
        page = pull(client, headers, cursor, limit)
        assert not page["reset"]
        changes += page["changes"]
        cursor = page["cursor"]
        if not page["has_more"]:
            return changes, cursor
    raise AssertionError("the feed never ended")


def things(changes: list, entity_type: str, op: str = "upsert") -> dict:
    return {c["entity_id"]: c for c in changes if c["entity_type"] == entity_type and c["op"] == op}


def test_an_empty_cursor_pulls_everything_in_scope_and_nothing_else(client, auth, phone, cw):
    mine = cf.report(client, auth("inspector"), cw.category, location=cf.cell(0, 1))
    theirs = cf.report(client, auth("dispatcher"), cw.category, location=cf.cell(1, 1))
    headers, _ = phone("inspector")
    changes, cursor = pull_all(client, headers)
    cases = things(changes, "case")
    assert mine["id"] in cases and theirs["id"] not in cases
    assert cases[mine["id"]]["data"]["state"] == mine["state"]
    assert cases[mine["id"]]["version"] == mine["version"]
    assert len(things(changes, "category")) >= 80  # reference data comes along
    codes = {g["data"]["code"] for g in things(changes, "grid").values()}
    assert codes == {f"{grid_data.COMMUNITY}00{i}" for i in (1, 2, 3)}
    photo_ids = {p["photo_id"] for p in cases[mine["id"]]["data"]["photos"]}
    assert photo_ids <= set(things(changes, "photo"))
    # Nothing new: the same cursor gives an empty page.
    page = pull(client, headers, cursor)
    assert (page["changes"], page["has_more"], page["cursor"]) == ([], False, cursor)


def test_changes_after_the_cursor_arrive_once_and_only_in_scope(client, auth, phone, cw):
    headers, _ = phone("inspector")
    _, cursor = pull_all(client, headers)
    in_grid = cf.report(client, auth("street_chief"), cw.category, location=cf.cell(0, 2))
    elsewhere = cf.report(client, auth("street_chief"), cw.category, location=cf.cell(2, 2))
    changes, cursor = pull_all(client, headers, cursor)
    assert set(things(changes, "case")) == {in_grid["id"]}
    assert [c["seq"] for c in changes] == sorted(c["seq"] for c in changes)
    other_headers, _ = phone(user=cw.other_inspector)
    theirs, _ = pull_all(client, other_headers)
    assert elsewhere["id"] not in things(theirs, "case")  # grid 009 belongs to nobody
    chief_headers, _ = phone("street_chief")
    chiefs, _ = pull_all(client, chief_headers)
    assert {in_grid["id"], elsewhere["id"]} <= set(things(chiefs, "case"))


def test_a_reassigned_task_is_revoked_from_the_first_phone_and_sent_to_the_new_one(
    client, auth, phone, cw
):
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    detail = cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )
    handle = cf.open_task(detail, "handle")
    cf.task_post(client, auth("handler"), handle["id"], "complete", photos=[cf.photo("closure")])
    check = cf.open_task(cf.act(client, auth("dispatcher"), detail["id"], "send_check"), "check")
    headers, _ = phone("inspector")
    changes, cursor = pull_all(client, headers)
    assert check["id"] in things(changes, "task")
    other_headers, _ = phone(user=cw.other_inspector)
    _, other_cursor = pull_all(client, other_headers)

    cf.task_post(
        client, auth("dispatcher"), check["id"], "reassign", assignee_id=cw.other_inspector.id
    )
    changes, _ = pull_all(client, headers, cursor)
    assert check["id"] in things(changes, "task", "revoke")
    assert things(changes, "task", "revoke")[check["id"]]["data"] is None
    theirs, _ = pull_all(client, other_headers, other_cursor)
    new_tasks = [t for t in things(theirs, "task").values() if t["data"]["kind"] == "check"]
    assert [t["data"]["assignee_id"] for t in new_tasks] == [cw.other_inspector.id]
    assert created["id"] in things(theirs, "case")  # the case came into their scope with it


def test_a_handled_task_reaches_the_department_and_the_case_follows(client, auth, phone, cw):
    headers, _ = phone("handler")
    _, cursor = pull_all(client, headers)
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )
    changes, cursor = pull_all(client, headers, cursor)
    assert created["id"] in things(changes, "case")
    [task] = things(changes, "task").values()
    assert task["data"]["case_id"] == created["id"] and task["data"]["kind"] == "handle"
    other, _ = phone(user=cw.other_department_handler)
    theirs, _ = pull_all(client, other)
    assert created["id"] not in things(theirs, "case")


def test_a_pushed_report_is_in_the_feed_with_last_mid_and_its_photo_becomes_available(
    client, phone, cw
):
    headers, device = phone("inspector")
    _, cursor = pull_all(client, headers)
    data = images.encode(images.scene(seed=3), "JPEG")
    sha = hashlib.sha256(data).hexdigest()
    photo_id = str(uuid.uuid4())
    sent = report(1, cw, photos=[{"photo_id": photo_id, "sha256": sha, "kind": "problem"}])
    push(client, headers, device, sent)
    page = pull(client, headers, cursor)
    assert page["last_mid"] == 1
    assert things(page["changes"], "photo")[photo_id]["data"]["status"] == "pending"
    case = things(page["changes"], "case")[sent["entity_id"]]
    assert case["data"]["photos"] == [{"photo_id": photo_id, "kind": "problem"}]
    cursor = page["cursor"]

    stored = client.put(
        f"/api/v1/blobs/{sha}", data=data, headers=headers, content_type="image/jpeg"
    )
    assert stored.status_code in (200, 201), stored.get_json()
    changes, _ = pull_all(client, headers, cursor)
    assert things(changes, "photo")[photo_id]["data"]["status"] == "available"


def test_pages_resume_exactly_where_they_stopped(client, auth, phone, cw):
    headers, _ = phone("inspector")
    _, start = pull_all(client, headers)
    made = {cf.report(client, auth("inspector"), cw.category)["id"] for _ in range(7)}
    paged, cursor = pull_all(client, headers, start, limit=2)
    whole, same_end = pull_all(client, headers, start)
    assert set(things(paged, "case")) == set(things(whole, "case")) == made
    seqs = [c["seq"] for c in paged]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    assert cursor == same_end


def test_a_snapshot_served_in_small_pages_is_whole(client, auth, phone, cw):
    made = {cf.report(client, auth("inspector"), cw.category)["id"] for _ in range(5)}
    headers, _ = phone("inspector")
    small, _ = pull_all(client, headers, limit=7)
    large, _ = pull_all(client, headers)
    assert made <= set(things(small, "case"))
    key = lambda c: (c["entity_type"], c["entity_id"])  # noqa: E731
    assert sorted(map(key, small)) == sorted(map(key, large))
    assert len(small) == len({key(c) for c in small})


def test_the_command_centre_reads_the_whole_feed(client, auth, phone, cw):
    headers, _ = phone("dispatcher")
    _, cursor = pull_all(client, headers)
    created = [
        cf.report(client, auth("inspector"), cw.category, location=cf.cell(r, 2))["id"]
        for r in range(3)
    ]
    changes, _ = pull_all(client, headers, cursor)
    assert set(created) <= set(things(changes, "case"))


def test_a_change_of_scope_or_a_pruned_cursor_is_a_reset(client, auth, phone, cw, session):
    headers, device = phone("inspector")
    push(client, headers, device, report(1, cw))
    _, cursor = pull_all(client, headers)
    create_responsibility_grid(
        session,
        code="RG-9",
        name="九号责任网格",
        unit_grid_codes=[f"{grid_data.COMMUNITY}009"],
        inspector_id=cw.users["inspector"].id,
    )
    page = pull(client, headers, cursor)
    assert (page["reset"], page["changes"], page["cursor"], page["last_mid"]) == (
        True,
        [],
        "",
        1,
    )
    _, cursor = pull_all(client, headers)  # from empty: the new grid's things come in

    cf.report(client, auth("inspector"), cw.category)
    top = session.scalar(sa.select(sa.func.max(FeedChange.seq)))
    session.rollback()
    feed_services.prune(session, top + 1)
    assert pull(client, headers, cursor)["reset"] is True


@pytest.mark.parametrize(
    "query",
    [{"cursor": "banana"}, {"cursor": "12"}, {"cursor": "s.1.zz"}, {"limit": 0}, {"limit": "x"}],
)
def test_bad_pull_arguments_are_422(client, phone, cw, query):
    headers, _ = phone("inspector")
    response = client.get("/api/v1/sync/pull", query_string=query, headers=headers)
    assert response.status_code == 422, response.get_json()


def test_pull_needs_a_token(client, cw):
    assert client.get("/api/v1/sync/pull").status_code == 401


def test_pruning_by_age_keeps_recent_changes_and_resets_older_cursors(
    client, auth, phone, cw, session
):
    headers, _ = phone("inspector")
    _, old_cursor = pull_all(client, headers)
    cf.report(client, auth("inspector"), cw.category)
    _, cursor = pull_all(client, headers, old_cursor)
    session.execute(sa.update(FeedChange).values(at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
    session.commit()
    fresh = cf.report(client, auth("inspector"), cw.category)
    assert feed_services.prune_before(session, dt.datetime(2026, 6, 1, tzinfo=dt.UTC)) > 0
    assert pull(client, headers, old_cursor)["reset"] is True
    changes, _ = pull_all(client, headers, cursor)
    assert fresh["id"] in things(changes, "case")


def test_a_case_moved_to_another_grid_leaves_with_its_photos(client, auth, phone, cw):
    created = cf.report(client, auth("dispatcher"), cw.category, location=cf.cell(0, 0))
    [photo] = created["photos"]["problem"]
    headers, _ = phone("inspector")
    changes, cursor = pull_all(client, headers)
    assert created["id"] in things(changes, "case")
    assert photo["photo_id"] in things(changes, "photo")
    other, _ = phone(user=cw.other_inspector)
    _, other_cursor = pull_all(client, other)

    response = client.post(
        f"/api/v1/cases/{created['id']}/routing",
        json={"grid_code": f"{grid_data.COMMUNITY}005"},
        headers=auth("dispatcher"),
    )
    assert response.status_code == 200, response.get_json()
    changes, _ = pull_all(client, headers, cursor)
    assert created["id"] in things(changes, "case", "revoke")
    assert photo["photo_id"] in things(changes, "photo", "revoke")
    theirs, _ = pull_all(client, other, other_cursor)
    assert created["id"] in things(theirs, "case")
    assert photo["photo_id"] in things(theirs, "photo")


def test_comments_reach_whoever_sees_the_case_and_self_checks_their_merchant(
    client, auth, phone, cw, session
):
    created = cf.report(client, auth("dispatcher"), cw.category, location=cf.cell(0, 0))
    inspector, _ = phone("inspector")
    _, cursor = pull_all(client, inspector)
    other, _ = phone(user=cw.other_inspector)
    _, other_cursor = pull_all(client, other)
    comment_id = str(uuid.uuid4())
    response = client.post(
        f"/api/v1/cases/{created['id']}/comments",
        json={"id": comment_id, "text": "已电话联系物业"},
        headers=auth("dispatcher"),
    )
    assert response.status_code == 201, response.get_json()
    changes, _ = pull_all(client, inspector, cursor)
    comment = things(changes, "comment")[comment_id]["data"]
    assert (comment["case_id"], comment["text"]) == (created["id"], "已电话联系物业")
    theirs, _ = pull_all(client, other, other_cursor)
    assert comment_id not in things(theirs, "comment")

    cf.make_shop(session, cw.world, cw.users["merchant"])
    merchant, _ = phone("merchant")
    check_id = str(uuid.uuid4())
    posted = client.post(
        "/api/v1/selfchecks",
        json={"id": check_id, "sanitation": "ok", "order": "ok", "greenery": "issue"},
        headers=merchant,
    )
    assert posted.status_code == 201, posted.get_json()
    mine, _ = pull_all(client, merchant)
    assert things(mine, "selfcheck")[check_id]["data"]["greenery"] == "issue"
    later, _ = pull_all(client, inspector, cursor)
    assert check_id not in things(later, "selfcheck")


def test_a_refused_mutation_leaves_nothing_in_the_feed(client, phone, cw, session):
    headers, device = phone("inspector")
    photo = cf.photo("problem")
    refused = report(1, cw, category_code="99999", photos=[photo])
    kept = report(2, cw)
    answer = push(client, headers, device, refused, kept)
    assert [r["status"] for r in answer["results"]] == ["rejected", "applied"]
    fed = set(session.scalars(sa.select(FeedChange.entity_id).distinct()))
    assert kept["entity_id"] in fed
    assert refused["entity_id"] not in fed and photo["photo_id"] not in fed


def test_a_first_pull_brings_the_work_calendar_a_phone_needs_offline(client, phone, cw):
    """Issue 11, row 13: with nothing set by an admin, the defaults and the national
    holidays still reach the phone (its traffic lights count working time offline)."""
    headers, _ = phone("inspector")
    changes, _ = pull_all(client, headers, limit=200)
    calendar = {c["entity_id"]: c["data"] for c in changes if c["entity_type"] == "calendar"}
    assert calendar["settings"] == {
        "timezone": "Asia/Shanghai",
        "periods": [["08:00", "12:00"], ["14:00", "18:00"]],
    }
    this_year = dt.date.today().year
    national_day = calendar.get(f"{this_year}-10-01")
    if national_day is not None:  # the years chinese_calendar knows
        assert national_day["is_workday"] is False and national_day["source"] == "national"
    assert any(d.get("is_workday") is False for d in calendar.values()), calendar.keys()
    # A plain weekday is not listed: Monday–Friday says it.
    plain = [k for k in calendar if k != "settings"]
    assert all(
        dt.date.fromisoformat(k).weekday() >= 5 or calendar[k]["is_workday"] is False for k in plain
    )


def test_a_snapshot_serves_reference_data_before_the_cases(client, auth, phone, cw):
    cf.report(client, auth("inspector"), cw.category, location=cf.cell(0, 1))
    headers, _ = phone("inspector")
    changes, _ = pull_all(client, headers, limit=7)
    runs = [c["entity_type"] for c in changes]
    runs = [kind for i, kind in enumerate(runs) if i == 0 or runs[i - 1] != kind]
    assert runs[:4] == ["category", "calendar", "grid", "case"]
    assert len(runs) == len(set(runs)), "each type in one run, phase after phase"
