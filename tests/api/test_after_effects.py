"""After-effects that must not be lost are written in the move's own transaction: the
notices of the tasks a move opens (no second session), the outbox rows of what runs after
it. A process dying right after the commit loses none of them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.cases import moves
from app.core import outbox
from app.core.models import OutboxMessage
from app.extensions import db
from app.notifications.models import Delivery
from app.pressing import services as pressing_services
from tests import case_factories as cf


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


def registered(client, auth, cw) -> dict:
    created = cf.report(client, auth("inspector"), cw.category)
    return cf.act(client, auth("dispatcher"), created["id"], "register")


def notices(session, kind: str) -> list[Delivery]:
    session.expire_all()
    return list(session.scalars(sa.select(Delivery).where(Delivery.kind == kind)))


def test_a_task_notice_survives_a_process_dying_right_after_the_move_commits(
    app, client, auth, cw, session, monkeypatch
):
    case = registered(client, auth, cw)

    def died(_moves) -> None:
        raise SystemExit("the worker was killed after the commit")

    monkeypatch.setattr(moves, "announce", died)  # no signal, no subscriber runs
    monkeypatch.setattr(outbox, "_session_factory", [])  # nor any outbox dispatch
    with pytest.raises(SystemExit):
        client.post(
            f"/api/v1/cases/{case['id']}/actions",
            json={"action": "dispatch", "department_id": cw.world.department.id},
            headers=auth("dispatcher"),
        )
    [notice] = notices(session, "task_assigned")
    assert notice.recipient_user_id == cw.users["handler"].id
    assert notice.payload["case_id"] == case["id"] and notice.status == "pending"


def test_a_move_opens_no_session_besides_the_requests(app, client, auth, cw, session, monkeypatch):
    case = registered(client, auth, cw)
    opened = []
    new_session = db.new_session

    def counted():
        opened.append(1)
        return new_session()

    monkeypatch.setattr(db, "new_session", counted)
    monkeypatch.setattr(outbox, "_session_factory", [counted])
    cf.act(client, auth("dispatcher"), case["id"], "dispatch", department_id=cw.world.department.id)
    assert opened == []  # the notice was written by the move itself
    assert len(notices(session, "task_assigned")) == 1


def test_a_closing_move_writes_its_outbox_rows_and_other_moves_none(app, client, auth, cw, session):
    case = registered(client, auth, cw)
    cf.act(client, auth("dispatcher"), case["id"], "dispatch", department_id=cw.world.department.id)
    session.expire_all()
    assert session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
    other = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), other["id"], "reject", opinion="不属实")
    session.expire_all()
    rows = session.scalars(sa.select(OutboxMessage)).all()
    assert [(row.topic, row.kind, row.status) for row in rows] == [
        ("case.ended", "hotline.callback", "done")
    ]


def test_a_pressing_notice_survives_a_process_dying_right_after_the_pressing_commits(
    app, client, auth, cw, session, monkeypatch
):
    case = registered(client, auth, cw)
    cf.act(client, auth("dispatcher"), case["id"], "dispatch", department_id=cw.world.department.id)

    class Died:
        @staticmethod
        def send(*_args, **_kwargs) -> None:
            raise SystemExit("the worker was killed after the commit")

    monkeypatch.setattr(pressing_services, "events", Died)
    with pytest.raises(SystemExit):
        client.post(
            f"/api/v1/cases/{case['id']}/press", json={"note": "尽快"}, headers=auth("dispatcher")
        )
    [notice] = notices(session, "case_pressed")
    assert notice.recipient_user_id == cw.users["handler"].id
    assert notice.payload["automatic"] is False
