"""The notifications outbox end to end: domains' events reach it (a task given, a case
pressed, a rectify order, a deadline turning yellow), phones pull their own, the worker
delivers with retries, admins see the failed list and retry."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import sqlalchemy as sa

from app.cases.models import Case
from app.cases.notices import notify_new_tasks, scan_yellow
from app.core.clock import utcnow
from app.extensions import db
from app.notifications import services
from app.notifications.models import Delivery
from app.notifications.senders import (
    FakeSmsGateway,
    Sender,
    SendFailed,
    SmsSender,
    WebhookSender,
)
from tests import case_factories as cf
from tests import factories


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


def deliveries(session, **where) -> list[Delivery]:
    session.expire_all()
    stmt = sa.select(Delivery).order_by(Delivery.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(Delivery, name) == value)
    return list(session.scalars(stmt))


def dispatched(client, auth, cw, **target) -> dict:
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    target = target or {"department_id": cw.world.department.id}
    return cf.act(client, auth("dispatcher"), created["id"], "dispatch", **target)


def pull_notifications(client, headers) -> list[dict]:
    page = client.get("/api/v1/sync/pull", query_string={"limit": 500}, headers=headers)
    assert page.status_code == 200, page.get_json()
    return [c["data"] for c in page.get_json()["changes"] if c["entity_type"] == "notification"]


def test_a_dispatched_task_reaches_the_handlers_outbox_and_pull_feed(client, auth, cw, session):
    detail = dispatched(client, auth, cw)
    handler = cw.users["handler"]
    [notice] = deliveries(session, kind="task_assigned")
    assert notice.recipient_user_id == handler.id
    assert notice.payload["case_number"] == detail["number"]
    assert notice.payload["task_kind"] == "handle"
    assert notice.status == "pending" and notice.channel == "log"
    # The phone gets it through the pull feed; nobody else does.
    [pulled] = pull_notifications(client, auth("handler"))
    assert pulled["kind"] == "task_assigned" and pulled["payload"]["case_id"] == detail["id"]
    assert pull_notifications(client, auth("inspector")) == []
    other = factories.login_headers(client, cw.other_department_handler.username)
    assert pull_notifications(client, other) == []


def test_the_same_move_announced_again_notifies_once(client, auth, cw, session, app):
    detail = dispatched(client, auth, cw)
    with app.app_context():
        assert notify_new_tasks(db.session, uuid.UUID(detail["id"])) == 0
    assert len(deliveries(session, kind="task_assigned")) == 1


def test_a_rectify_order_goes_to_the_merchant(client, auth, cw, session):
    shop = cf.make_shop(session, cw.world, cw.users["merchant"])
    dispatched(client, auth, cw, shop_id=shop.id)
    [order] = deliveries(session, kind="rectify_order")
    assert order.recipient_user_id == cw.users["merchant"].id
    assert order.payload["task_kind"] == "rectify"
    [pulled] = pull_notifications(client, auth("merchant"))
    assert pulled["kind"] == "rectify_order"


def test_a_pressed_case_is_told_to_the_people_working_on_it(client, auth, cw, session):
    detail = dispatched(client, auth, cw)
    pressed = client.post(
        f"/api/v1/cases/{detail['id']}/press", json={"note": "尽快"}, headers=auth("dispatcher")
    )
    assert pressed.status_code == 201, pressed.get_json()
    [notice] = deliveries(session, kind="case_pressed")
    assert notice.recipient_user_id == cw.users["handler"].id
    assert notice.payload["level"] == 1 and notice.payload["automatic"] is False
    kinds = {n["kind"] for n in pull_notifications(client, auth("handler"))}
    assert kinds == {"task_assigned", "case_pressed"}


def test_a_deadline_turning_yellow_is_told_once_per_round(client, auth, cw, session, app):
    detail = dispatched(client, auth, cw)
    deadline = session.get(Case, uuid.UUID(detail["id"])).deadline
    with app.app_context():
        assert scan_yellow(db.session, deadline - dt.timedelta(days=3)) == 0  # still green
        assert scan_yellow(db.session, deadline - dt.timedelta(minutes=1)) == 1
        assert scan_yellow(db.session, deadline - dt.timedelta(seconds=30)) == 0  # once
    [notice] = deliveries(session, kind="deadline_yellow")
    assert notice.recipient_user_id == cw.users["handler"].id


class Flaky(Sender):
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[int] = []

    def send(self, delivery) -> None:
        if self.failures:
            self.failures -= 1
            raise SendFailed("gateway down")
        self.sent.append(delivery.id)


def test_delivery_retries_with_backoff_then_fails_and_an_admin_retries(
    client, auth, world, session, app
):
    user = world.users["inspector"]
    settings = services.DeliverySettings(max_attempts=3, backoff_seconds=10)
    flaky = Flaky(failures=10)
    now = utcnow() + dt.timedelta(seconds=1)
    with app.app_context():
        services.notify(db.session, "test", {"n": 1}, user_id=user.id, channel="flaky")
        senders = {"flaky": flaky}
        first = services.deliver_due(db.session, senders, settings, now)
        assert (first.retrying, first.failed) == (1, 0)
        # Not due again before the backoff: 10 s, then 20 s.
        assert services.deliver_due(db.session, senders, settings, now).retrying == 0
        later = now + dt.timedelta(seconds=10)
        assert services.deliver_due(db.session, senders, settings, later).retrying == 1
        last = services.deliver_due(db.session, senders, settings, later + dt.timedelta(seconds=20))
        assert last.failed == 1
    [failed] = deliveries(session, status="failed")
    assert failed.attempts == 3 and failed.last_error == "gateway down"

    listed = client.get(
        "/api/v1/admin/notifications/deliveries?status=failed", headers=auth("admin")
    )
    assert listed.status_code == 200
    assert [d["id"] for d in listed.get_json()] == [failed.id]
    assert listed.headers["X-Pagination"]
    retried = client.post(
        f"/api/v1/admin/notifications/deliveries/{failed.id}/retry", headers=auth("admin")
    )
    assert retried.status_code == 200 and retried.get_json()["status"] == "pending"
    again = client.post(
        f"/api/v1/admin/notifications/deliveries/{failed.id}/retry", headers=auth("admin")
    )
    assert again.status_code == 409
    flaky.failures = 0
    with app.app_context():
        assert services.deliver_due(db.session, {"flaky": flaky}, settings).sent == 1
    assert flaky.sent == [failed.id]
    assert deliveries(session, status="sent")[0].sent_at is not None


@pytest.mark.parametrize(
    "role", ["inspector", "street_chief", "road_chief", "dispatcher", "handler", "merchant"]
)
def test_only_admins_read_and_retry_deliveries(client, auth, role):
    listed = client.get("/api/v1/admin/notifications/deliveries", headers=auth(role))
    assert listed.status_code == 403
    retry = client.post("/api/v1/admin/notifications/deliveries/1/retry", headers=auth(role))
    assert retry.status_code == 403


def test_deliveries_bad_input(client, auth):
    assert client.get("/api/v1/admin/notifications/deliveries").status_code == 401
    bad = client.get("/api/v1/admin/notifications/deliveries?status=lost", headers=auth("admin"))
    assert bad.status_code == 422
    missing = client.post(
        "/api/v1/admin/notifications/deliveries/999999/retry", headers=auth("admin")
    )
    assert missing.status_code == 404


class Receiver(BaseHTTPRequestHandler):
    received: list = []
    answers: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        status = type(self).answers.pop(0) if type(self).answers else 200
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.received, Receiver.answers = [], []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", Receiver
    server.shutdown()


def test_the_webhook_sender_posts_signed_json(receiver):
    url, handler = receiver

    class Out:
        id, kind, recipient_user_id, endpoint = 7, "x", None, url
        payload = {"a": "结案"}

    WebhookSender("s3cret", timeout=5).send(Out())
    [(headers, body)] = handler.received
    assert json.loads(body) == {"a": "结案"}
    expected = hmac.new(
        b"s3cret", headers["X-Timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers["X-Signature"] == expected
    handler.answers.append(500)
    with pytest.raises(SendFailed, match="HTTP 500"):
        WebhookSender("s3cret", timeout=5).send(Out())
    Out.endpoint = "http://127.0.0.1:9/nothing-listens"
    with pytest.raises(SendFailed):
        WebhookSender("s3cret", timeout=1).send(Out())


class Slow(Sender):
    def __init__(self) -> None:
        self.sent: list[int] = []
        self.lock = threading.Lock()

    def send(self, delivery) -> None:
        time.sleep(0.01)
        with self.lock:
            self.sent.append(delivery.id)


def test_two_workers_never_send_one_delivery_twice(app, committing, session, world, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite runs one worker")
    user = world.users["inspector"]
    for n in range(40):
        services.enqueue(session, "load", {"n": n}, user_id=user.id, channel="slow")
    session.commit()
    slow = Slow()
    settings = services.DeliverySettings(batch_size=5)
    start = threading.Barrier(2)

    def worker() -> None:
        with app.app_context(), db.new_session() as own:
            start.wait()
            services.deliver_due(own, {"slow": slow}, settings)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(slow.sent) == sorted(set(slow.sent)) and len(slow.sent) == 40
    assert len(deliveries(session, status="sent")) == 40


def test_the_deliver_command_sends_what_is_due(client, auth, cw, session, app):
    dispatched(client, auth, cw)
    result = app.test_cli_runner().invoke(args=["notifications", "deliver"])
    assert result.exit_code == 0, result.output
    assert "sent: 1; retrying: 0; failed: 0" in result.output
    [notice] = deliveries(session, kind="task_assigned")
    assert notice.status == "sent" and notice.attempts == 1
    # The phone hears the new status too.
    [pulled] = pull_notifications(client, auth("handler"))
    assert pulled["status"] == "sent"


def test_the_sms_interface_with_its_fake_gateway(world, session, app):
    gateway = FakeSmsGateway()
    gateway.failing.add("13900000000")
    senders = {"sms": SmsSender(gateway)}
    settings = services.DeliverySettings(max_attempts=1)
    with app.app_context():
        for phone in ("13812345678", "13900000000"):
            services.notify(
                db.session, "sms_test", {"text": "案件已派遣"}, endpoint=phone, channel="sms"
            )
        report = services.deliver_due(db.session, senders, settings)
    assert (report.sent, report.failed) == (1, 1)
    assert gateway.sent == [("13812345678", "案件已派遣")]
    [failed] = deliveries(session, status="failed")
    assert failed.endpoint == "13900000000" and "refused" in failed.last_error


def test_a_notification_needs_a_recipient(app):
    with app.app_context(), pytest.raises(ValueError):
        services.enqueue(db.session, "x", {})
