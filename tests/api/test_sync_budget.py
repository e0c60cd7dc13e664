"""A push stops at its time budget (``SYNC_PUSH_BUDGET_SECONDS``) and answers the decided
prefix with ``complete: false``; the phone sends the rest and nothing is applied twice.
Through the HTTP route and the reference client, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from app.cases.models import Case
from app.sync_api.models import SyncMutation
from fieldclient import walk
from tests import case_factories as cf
from tests import factories
from tests import push_factories as pf
from tests.api.test_client_e2e import NO_WAIT, make_walk
from tests.client.client_support import Flaky, FlaskTransport

TINY = 1e-9  # spent at once: every push decides exactly one new mutation


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def budget(app, monkeypatch):
    def set_to(seconds: float, *, together: bool = True) -> None:
        monkeypatch.setitem(app.config, "SYNC_PUSH_BUDGET_SECONDS", seconds)
        monkeypatch.setitem(app.config, "SYNC_BATCH_APPLY", together)

    return set_to


def test_a_push_past_its_budget_answers_a_prefix_and_the_rest_follows(client, cw, budget, session):
    headers = factories.login_headers(client, cw.users["street_chief"].username, device_id="p1")
    case = cf.report(client, headers, cw.category)
    comments = [
        pf.mutation(mid, "comment.add", uuid.uuid4(), {"case_id": case["id"], "text": f"第{mid}条"})
        for mid in range(1, 6)
    ]
    budget(TINY, together=False)  # one by one: the budget is looked at before each
    first = pf.push(client, headers, "p1", *comments)
    assert (first["complete"], first["last_mid"]) == (False, 1)
    assert pf.outcomes(first) == [("applied", None)]
    answers, sent = [first], comments[1:]
    while not answers[-1]["complete"]:
        answers.append(pf.push(client, headers, "p1", *sent))
        sent = sent[len(answers[-1]["results"]) :]
    assert [len(a["results"]) for a in answers] == [1, 1, 1, 1, 1]
    assert answers[-1]["last_mid"] == 5
    # The whole batch again, with no budget: all duplicates, all answered.
    budget(0)
    again = pf.push(client, headers, "p1", *comments)
    assert again["complete"] is True
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 5
    recorded = session.scalars(sa.select(SyncMutation.status).where(SyncMutation.mid.is_not(None)))
    assert sorted(recorded) == ["applied"] * 5


def test_a_run_taken_together_is_not_cut_inside(client, cw, budget):
    headers = factories.login_headers(client, cw.users["street_chief"].username, device_id="p3")
    case = cf.report(client, headers, cw.category)
    comments = [
        pf.mutation(mid, "comment.add", uuid.uuid4(), {"case_id": case["id"], "text": f"第{mid}条"})
        for mid in range(1, 6)
    ]
    budget(TINY, together=True)
    answer = pf.push(client, headers, "p3", *comments)
    assert answer["complete"] is True and answer["last_mid"] == 5
    assert pf.outcomes(answer) == [("applied", None)] * 5


def test_without_a_budget_the_answer_is_complete(client, cw, budget):
    headers = factories.login_headers(client, cw.users["street_chief"].username, device_id="p2")
    case = cf.report(client, headers, cw.category)
    args = {"case_id": case["id"], "text": "好"}
    budget(0)
    answer = pf.push(client, headers, "p2", pf.mutation(1, "comment.add", uuid.uuid4(), args))
    assert answer["complete"] is True and answer["last_mid"] == 1


def test_the_reference_client_finishes_a_walk_pushed_against_a_spent_budget(
    client, cw, budget, tmp_path, session
):
    budget(TINY, together=False)  # one report per push
    link = Flaky(FlaskTransport(client))
    folder = make_walk(tmp_path / "walk", 4)
    inspector = cw.users["inspector"].username
    summary = walk.replay(folder, link, inspector, factories.PASSWORD, retry=NO_WAIT)
    assert summary.complete, walk.format_summary(summary)
    assert summary.sync.push.counts == {"applied": 4}
    pushes = [entry for entry in link.log if "/sync/push" in entry[1]]
    assert len(pushes) == 4
    session.expire_all()
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 4
