"""Two phones' worth of retries at once: the same batch of one device pushed concurrently
is applied exactly once, on SQLite and PostgreSQL (the device row's lock serialises the
pushes; ``UNIQUE(device, mid)`` is the backstop)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import sqlalchemy as sa

from app.cases.models import Case
from app.sync_api.models import SyncMutation
from tests import case_factories as cf
from tests import factories
from tests.api.test_sync_push import report

# Threads of their own push at once: real commits.
pytestmark = pytest.mark.usefixtures("committing")

SENDERS = 4
BATCH = 15


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


def test_the_same_batch_pushed_at_once_is_applied_once(app, client, cw, session):
    device = "phone-concurrent"
    headers = factories.login_headers(client, cw.users["inspector"].username, device_id=device)
    batch = [report(mid, cw, location=cf.cell(mid % 3, mid % 3)) for mid in range(1, BATCH + 1)]
    answers: list = []
    errors: list = []
    start = threading.Barrier(SENDERS)

    def send() -> None:
        try:
            start.wait()
            response = app.test_client().post(
                "/api/v1/sync/push", json={"device_id": device, "mutations": batch}, headers=headers
            )
            answers.append((response.status_code, response.get_json()))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=send) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert [status for status, _ in answers] == [200] * SENDERS, answers
    applied = Counter(
        r["mid"] for _, answer in answers for r in answer["results"] if r["status"] == "applied"
    )
    assert applied == Counter(range(1, BATCH + 1))  # each mid applied by exactly one push
    for _, answer in answers:
        assert answer["last_mid"] == BATCH
        assert {r["status"] for r in answer["results"]} <= {"applied", "duplicate"}
    mids = session.scalars(sa.select(SyncMutation.mid).where(SyncMutation.mid.is_not(None))).all()
    assert sorted(mids) == list(range(1, BATCH + 1))
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == BATCH


def test_one_users_two_phones_pushing_the_same_reports_at_once_make_each_case_once(
    app, client, cw, session
):
    """A walk copied to a second phone: two queues, the same case ids. Whichever push
    inserts a case first has it; the other's run of reports fails on the key (PostgreSQL:
    after waiting for the first to commit) or finds the ids taken (SQLite), and its
    reports are answered one by one as the replays they are."""
    user = cw.users["inspector"].username
    phones = {
        device: factories.login_headers(client, user, device_id=device)
        for device in ("phone-a", "phone-b")
    }
    batch = [report(mid, cw, location=cf.cell(mid % 3, mid % 3)) for mid in range(1, BATCH + 1)]
    answers: dict = {}
    errors: list = []
    start = threading.Barrier(len(phones))

    def send(device: str) -> None:
        try:
            start.wait()
            response = app.test_client().post(
                "/api/v1/sync/push",
                json={"device_id": device, "mutations": batch},
                headers=phones[device],
            )
            answers[device] = (response.status_code, response.get_json())
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=send, args=(device,)) for device in phones]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for status, answer in answers.values():
        assert status == 200, answer
        assert answer["last_mid"] == BATCH
        assert [r["status"] for r in answer["results"]] == ["applied"] * BATCH
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == BATCH
    assert session.scalar(sa.select(sa.func.count()).select_from(SyncMutation)) == 2 * BATCH
