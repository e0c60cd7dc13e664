"""A push's task moves go through the workflow's services as one unit (``db.joined``):
no savepoint of their own, and what each move would select again (its case's last flow
step, suspensions and photos, the photos it names and the blobs its user holds) loaded once
for all of them. That changes nothing but the speed: the same push, batch on and off, makes
the same flow, clocks, photos and links, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import sqlalchemy as sa

from app.cases.models import CasePhoto, FlowEntry
from app.core import db
from app.photos.models import Photo
from app.sync_api import batches
from tests import case_factories as cf
from tests import factories
from tests.clock import local
from tests.evidence_factories import jpeg
from tests.push_factories import mutation, push

HOUR = 3600.0
# Two plain working weeks: one run of the push in each.
WEEKS = {False: ("2026-03-09", "2026-03-10"), True: ("2026-03-16", "2026-03-17")}


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


def _handling(client, auth, cw) -> tuple[str, str]:
    """A case dispatched to the handler's department: its id and its handle task's."""
    case_id = cf.report(client, auth("street_chief"), cw.category, location=cf.cell(0, 1))["id"]
    cf.act(client, auth("dispatcher"), case_id, "register")
    detail = cf.act(
        client, auth("dispatcher"), case_id, "dispatch", department_id=cw.world.department.id
    )
    return case_id, cf.open_task(detail, "handle")["id"]


def _closure(photo: dict | None = None) -> dict:
    return {**(photo or cf.photo("closure")), "kind": "closure"}


def _rows(session, case_id: str) -> dict:
    """What the moves wrote on a case, without what differs by nature between two runs."""
    case_id = uuid.UUID(case_id)
    flow = session.execute(
        sa.select(
            FlowEntry.seq,
            FlowEntry.action,
            FlowEntry.from_state,
            FlowEntry.to_state,
            FlowEntry.time_used,
            FlowEntry.overdue,
            FlowEntry.photo_ids,
        )
        .where(FlowEntry.case_id == case_id)
        .order_by(FlowEntry.seq)
    ).all()
    photos = session.execute(
        sa.select(CasePhoto.kind, Photo.status)
        .join(Photo, Photo.id == CasePhoto.photo_id)
        .where(CasePhoto.case_id == case_id)
        .order_by(CasePhoto.kind, Photo.status)
    ).all()
    return {
        "flow": [(*row[:-1], len(row[-1] or ())) for row in flow],
        "photos": [tuple(row) for row in photos],
    }


def test_a_pushs_task_moves_read_what_they_share_once_and_write_what_one_by_one_writes(
    app, client, auth, cw, session, clock, monkeypatch
):
    """The handler's phone, offline since a suspension: it completes the suspended case's
    handling with a photo whose bytes it sent already, accepts another case's task and
    completes it with a photo it had attached to that case before and a new one. Each cache
    of the unit matters to one of these (a wrong one makes a row differ, or stops the unit
    at a refused flush and sends the move one by one)."""
    units: list[int] = []
    real = batches.FieldBatch._task_moves

    def spy(self, stretch):
        done = real(self, stretch)
        units.append(len(done))
        return done

    monkeypatch.setattr(batches.FieldBatch, "_task_moves", spy)
    runs = {}
    for together in (False, True):
        monday, tuesday = WEEKS[together]
        clock.set(local(monday, "09:00"))
        paused, paused_task = _handling(client, auth, cw)
        cf.task_post(client, auth("handler"), paused_task, "accept")
        clock.set(local(monday, "10:00"))
        asked = cf.request(client, auth("handler"), paused, "suspension", reason="需施工")
        cf.decide(client, auth("dispatcher"), asked["id"])
        clock.set(local(tuesday, "10:00"))
        cf.act(client, auth("handler"), paused, "resume")
        other, other_task = _handling(client, auth, cw)

        device = f"handler-{together}"
        headers = factories.login_headers(client, cw.users["handler"].username, device_id=device)
        data = jpeg(seed=7 if together else 8)
        sha = hashlib.sha256(data).hexdigest()
        put = client.put(f"/api/v1/blobs/{sha}", data=data, headers=auth("handler"))
        assert put.status_code in (200, 201), put.get_json()
        earlier = _closure()
        attached = push(
            client,
            headers,
            device,
            mutation(
                1,
                "photo.attach",
                earlier["photo_id"],
                {"case_id": other, "sha256": earlier["sha256"], "kind": "closure"},
            ),
        )
        assert [r["status"] for r in attached["results"]] == ["applied"], attached

        clock.set(local(tuesday, "11:00"))
        units.clear()
        answer = push(
            client,
            headers,
            device,
            mutation(
                2,
                "task.update",
                paused_task,
                {"action": "complete", "photos": [_closure({**cf.photo(), "sha256": sha})]},
            ),
            mutation(3, "task.update", other_task, {"action": "accept"}),
            mutation(
                4,
                "task.update",
                other_task,
                {"action": "complete", "photos": [earlier, _closure()]},
            ),
        )
        assert [r["status"] for r in answer["results"]] == ["applied"] * 3, answer
        runs[together] = (_rows(session, paused), _rows(session, other), list(units))

    (paused_rows, other_rows, _), (paused_again, other_again, taken) = runs[False], runs[True]
    assert (paused_again, other_again) == (paused_rows, other_rows)
    assert taken == [3], taken  # all three moves in one unit, none stopped
    closure = paused_again["flow"][-1]
    # Monday 09:00–10:00 and Tuesday 10:00–11:00: the suspension read from the unit's cache.
    assert (closure[1], closure[4], closure[5]) == ("submit_closure", 2 * HOUR, False)
    assert ("closure", "available") in paused_again["photos"]  # its bytes were here
    assert [kind for kind, _ in other_again["photos"]].count("closure") == 2
    assert [row[1] for row in other_again["flow"]][-2:] == ["accept", "submit_closure"]


def test_a_joined_unit_flushes_its_use_cases_and_leaves_the_commit_to_its_caller(session, cw):
    """Inside ``db.joined`` a service's transaction is flushed, not committed: the caller's
    rollback takes all of it back; outside, the unit's caches are gone."""
    assert db.unit_cache(session, "anything") is None
    photo_id = uuid.uuid4()
    with db.joined(session) as caches:
        with db.transaction(session):
            session.add(
                Photo(
                    id=photo_id,
                    sha256="0" * 64,
                    kind="problem",
                    owner_id=cw.users["inspector"].id,
                    status="pending",
                )
            )
        assert session.scalar(sa.select(sa.func.count()).where(Photo.id == photo_id)) == 1
        db.unit_cache(session, "seen")["x"] = 1
        assert caches == {"seen": {"x": 1}}
        with pytest.raises(RuntimeError), db.joined(session), db.transaction(session):
            raise RuntimeError("the caller rolls back")
        assert session.in_transaction()  # the failure did not roll the unit back
    assert db.unit_cache(session, "seen") is None
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).where(Photo.id == photo_id)) == 0
