"""Retention of the mutation log, end to end: phones push over HTTP, the log is pruned with a
clock 91 days later (the service, and ``flask sync prune``), and what a person must see is
still there; a re-sent mid whose outcome is gone is a ``duplicate``, ``outcome_expired``,
never applied again."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from app.cases.models import Case
from app.core.clock import utcnow
from app.sync_api import cli as sync_cli
from app.sync_api.models import SyncConflict, SyncDevice, SyncFailure, SyncMutation
from app.sync_api.retention import prune_mutations
from tests import case_factories as cf
from tests import factories, push_factories
from tests.push_factories import break_reports, mutation

RETENTION = dt.timedelta(days=90)
LATER = dt.timedelta(days=91)


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def phone(client, cw):
    device_id = "phone-inspector"
    headers = factories.login_headers(client, cw.users["inspector"].username, device_id=device_id)
    return headers, device_id


def report(mid: int, case_id=None, **overrides) -> dict:
    args = {
        "category_code": "06010",
        "description": "路边暴露垃圾",
        "location": cf.cell(0, 0),
        "photos": [cf.photo("problem")],
    }
    args.update(overrides)
    return mutation(mid, "report.create", case_id or uuid.uuid4(), args)


def push(client, phone, *mutations: dict, expect: int = 200) -> dict:
    headers, device_id = phone
    return push_factories.push(client, headers, device_id, *mutations, expect=expect)


def results(answer: dict) -> list[tuple]:
    return [(r["status"], r["reason"]) for r in answer["results"]]


def kept(session) -> list[tuple]:
    session.expire_all()
    rows = session.execute(
        sa.select(SyncMutation.mid, SyncMutation.stray_of, SyncMutation.status).order_by(
            SyncMutation.id
        )
    )
    return [tuple(row) for row in rows]


def count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def pushed(client, auth, cw, phone):
    """mid 1 applied, 2 rejected, 3 a conflict (a check task reassigned while offline),
    plus a stray of mid 1 (re-used with other content)."""
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    detail = cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )
    handle = cf.open_task(detail, "handle")
    cf.task_post(client, auth("handler"), handle["id"], "complete", photos=[cf.photo("closure")])
    check = cf.open_task(cf.act(client, auth("dispatcher"), detail["id"], "send_check"), "check")
    cf.task_post(
        client, auth("dispatcher"), check["id"], "reassign", assignee_id=cw.other_inspector.id
    )
    batch = [
        report(1),
        mutation(2, "case.teleport", uuid.uuid4(), {}),
        mutation(
            3,
            "task.update",
            check["id"],
            {"action": "complete", "result": "pass", "photos": [cf.photo("check")]},
            base=1,
        ),
    ]
    first = push(client, phone, *batch)
    assert results(first) == [
        ("applied", None),
        ("rejected", "unknown_type"),
        ("conflict", "task_reassigned"),
    ]
    stray = {**batch[0], "args": {**batch[0]["args"], "description": "另一处"}}
    assert results(push(client, phone, stray)) == [("rejected", "mid_reused")]
    return {"batch": batch, "conflict_id": first["results"][2]["conflict_id"]}


def test_pruning_forgets_applied_outcomes_and_keeps_what_people_must_see(
    client, phone, session, pushed
):
    assert prune_mutations(session, utcnow(), RETENTION).mutations == 0  # nothing is old yet
    pruned = prune_mutations(session, utcnow() + LATER, RETENTION)
    assert (pruned.mutations, pruned.kept_rejected, pruned.kept_open_conflicts) == (1, 2, 1)
    # mid 1's outcome and payload are gone; the mid and its fingerprint stay (a husk).
    assert kept(session) == [
        (1, None, "expired"),
        (2, None, "rejected"),
        (3, None, "conflict"),
        (None, 1, "rejected"),
    ]
    husk = session.scalar(sa.select(SyncMutation).where(SyncMutation.mid == 1))
    assert husk.payload == {} and husk.fingerprint
    assert session.get(SyncConflict, pushed["conflict_id"]).status == "open"
    assert session.scalar(sa.select(SyncDevice.last_mid)) == 3


def test_a_mid_resent_after_its_outcome_was_pruned_is_an_expired_duplicate(
    client, phone, session, pushed
):
    prune_mutations(session, utcnow() + LATER, RETENTION)
    batch = pushed["batch"]
    again = push(client, phone, *batch, report(4, location=cf.cell(0, 1)))
    assert results(again) == [
        ("duplicate", "outcome_expired"),
        ("duplicate", "unknown_type"),
        ("duplicate", "task_reassigned"),
        ("applied", None),  # a mid never seen still applies
    ]
    assert "original_status" not in again["results"][0]
    assert again["results"][2]["conflict_id"] == pushed["conflict_id"]
    assert again["last_mid"] == 4
    # The report was not applied twice.
    assert count(session, Case) == 3  # the REST report, mid 1 and mid 4


def test_a_pruned_mid_resent_with_new_content_is_rejected_mid_reused_and_kept(
    client, phone, session, pushed
):
    """Issue 11, row 7: a device's used mids and their fingerprints outlive the payloads."""
    prune_mutations(session, utcnow() + LATER, RETENTION)
    other = report(1, description="新的一处", location=cf.cell(0, 2))
    assert results(push(client, phone, other)) == [("rejected", "mid_reused")]
    strays = session.scalars(
        sa.select(SyncMutation).where(SyncMutation.stray_of == 1).order_by(SyncMutation.id)
    ).all()
    assert strays[-1].payload["args"]["description"] == "新的一处"
    assert count(session, Case) == 2  # the REST report and mid 1: nothing new applied


def test_the_outcome_of_a_resolved_conflict_is_pruned_and_the_conflict_kept(
    client, auth, phone, session, pushed
):
    response = client.post(
        f"/api/v1/sync/conflicts/{pushed['conflict_id']}/resolve",
        json={"decision": "keep_server"},
        headers=auth("dispatcher"),
    )
    assert response.status_code == 200, response.get_json()
    pruned = prune_mutations(session, utcnow() + LATER, RETENTION)
    assert (pruned.mutations, pruned.kept_open_conflicts) == (2, 0)
    assert kept(session) == [
        (1, None, "expired"),
        (2, None, "rejected"),
        (3, None, "expired"),
        (None, 1, "rejected"),
    ]
    conflict = session.get(SyncConflict, pushed["conflict_id"])
    assert (conflict.status, conflict.payload["mid"]) == ("resolved", 3)
    assert results(push(client, phone, pushed["batch"][2])) == [("duplicate", "outcome_expired")]


def test_failed_attempts_are_pruned_once_their_mid_is_decided_and_old(
    client, phone, session, pushed, monkeypatch
):
    mend = break_reports(monkeypatch)
    push(client, phone, report(4), expect=503)
    push(client, phone, report(5), expect=200)  # a gap: mid 4 is still expected
    prune_mutations(session, utcnow() + LATER, RETENTION)
    assert count(session, SyncFailure) == 1, "mid 4 is not decided: its failures stay"
    mend()
    assert results(push(client, phone, report(4)))[0] == ("applied", None)
    prune_mutations(session, utcnow(), RETENTION)
    assert count(session, SyncFailure) == 1, "decided, but not old yet"
    prune_mutations(session, utcnow() + LATER, RETENTION)
    assert count(session, SyncFailure) == 0


def test_pruning_in_small_batches_reports_its_progress(client, phone, session, pushed):
    push(client, phone, *(report(mid, location=cf.cell(0, mid % 3)) for mid in range(4, 9)))
    progress: list[int] = []
    pruned = prune_mutations(
        session, utcnow() + LATER, RETENTION, batch_size=2, on_progress=progress.append
    )
    assert pruned.mutations == 6
    assert progress == [2, 4, 6]


def test_flask_sync_prune_uses_the_configured_retention(
    app, client, phone, session, pushed, monkeypatch
):
    runner = app.test_cli_runner()
    now = runner.invoke(args=["sync", "prune"])
    assert now.exit_code == 0, now.output
    assert "pruned 0 mutation outcomes" in now.output
    assert "pruned 0 feed rows" in now.output
    monkeypatch.setattr(sync_cli, "utcnow", lambda: utcnow() + LATER)
    monkeypatch.setitem(app.config, "SYNC_RETENTION_DAYS", 90)
    later = runner.invoke(args=["sync", "prune", "--batch-size", "1"])
    assert later.exit_code == 0, later.output
    assert "… 1 outcomes pruned" in later.output
    assert "pruned 1 mutation outcomes" in later.output
    assert "kept 2 rejected and 1 of open conflicts" in later.output
    assert "(90 days)" in later.output
    assert "pruned 0 feed rows" not in later.output  # the pushes' changes are past retention
    longer = runner.invoke(args=["sync", "prune", "--days", "0"])
    assert longer.exit_code != 0  # at least one day
    assert (2, None, "rejected") in kept(session)
