"""The 12345 hotline bridge end to end through HTTP: signed work orders become cases once,
callers stay masked but for dispatchers, are forgotten after the retention, and the
hotline is called back (through the outbox, with retries and a failed list) when the case
closes or is rejected."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import sqlalchemy as sa

from app.cases.models import Case
from app.core.clock import utcnow
from app.extensions import db
from app.hotline.models import HotlineOrder
from app.notifications import services as outbox
from app.notifications.models import Delivery
from app.notifications.senders import WebhookSender
from tests import case_factories as cf

SECRET = "hotline-shared-secret"
URL = "/api/v1/hotline/orders"
PHONE = "13812345678"
NAME = "张三丰"


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def bridge(app, monkeypatch, cw):
    monkeypatch.setitem(app.config, "HOTLINE_SECRET", SECRET)
    monkeypatch.setitem(app.config, "HOTLINE_MAX_BODY_BYTES", 8 * 1024)
    return cw


def order(number: str = "12345-2026-000001", **overrides) -> dict:
    body = {
        "order_number": number,
        "caller_name": NAME,
        "caller_phone": PHONE,
        "content": "小区门口垃圾堆放三天无人清理",
        "location_text": "思明区中华街道中山路 1 号",
        "category_hint": "暴露垃圾",
        "urgency": "normal",
    }
    body.update(overrides)
    return body


def signed(body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict:
    timestamp = str(int(at if at is not None else time.time()))
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return {
        "Content-Type": "application/json",
        "X-Hotline-Timestamp": timestamp,
        "X-Hotline-Signature": mac.hexdigest(),
    }


def send(client, payload, **signing):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(URL, data=body, headers=signed(body, **signing))


def hotline_cases(session) -> int:
    session.expire_all()
    return session.scalar(sa.select(sa.func.count()).where(Case.source == "hotline"))


def test_a_signed_order_becomes_a_hotline_case_for_the_dispatcher(client, auth, bridge, session):
    response = send(client, order())
    assert response.status_code == 201, response.get_json()
    filed = response.get_json()
    assert filed["caller_name"] == "张**" and filed["caller_phone"] == "138****5678"
    case = session.get(Case, uuid.UUID(filed["case_id"]))
    assert case.source == "hotline" and case.state == "reported"
    # No point given: the dispatcher places the case.
    assert case.routing == "needs_confirmation"
    assert case.address == "思明区中华街道中山路 1 号"
    detail = cf.case(client, auth("dispatcher"), filed["case_id"])
    assert detail["source"] == "hotline"
    # The caller is not on the case.
    assert PHONE not in json.dumps(detail, ensure_ascii=False)


def test_an_order_with_a_point_is_routed(client, bridge, session):
    point = cf.cell(0, 0)
    response = send(client, order(lat=point["lat"], lon=point["lon"]))
    assert response.status_code == 201, response.get_json()
    case = session.get(Case, uuid.UUID(response.get_json()["case_id"]))
    assert case.routing == "routed" and case.grid_id is not None


@pytest.mark.parametrize(
    "why, headers",
    [
        ("unsigned", {"Content-Type": "application/json"}),
        ("wrong secret", "wrong"),
        ("stale", "stale"),
        ("future", "future"),
    ],
)
def test_a_badly_signed_or_stale_order_is_refused(client, bridge, session, why, headers):
    body = json.dumps(order()).encode()
    if headers == "wrong":
        headers = signed(body, secret="guess")
    elif headers == "stale":
        headers = signed(body, at=time.time() - 301)
    elif headers == "future":
        headers = signed(body, at=time.time() + 301)
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == 401, why
    assert hotline_cases(session) == 0


def test_a_body_changed_after_signing_is_refused(client, bridge, session):
    body = json.dumps(order()).encode()
    headers = signed(body)
    tampered = body.replace(b"normal", b"urgent")
    assert tampered != body
    assert client.post(URL, data=tampered, headers=headers).status_code == 401
    assert hotline_cases(session) == 0


def test_a_replayed_request_is_refused(client, bridge, session):
    body = json.dumps(order()).encode()
    headers = signed(body)
    assert client.post(URL, data=body, headers=headers).status_code == 201
    replay = client.post(URL, data=body, headers=headers)
    assert replay.status_code == 401
    assert replay.get_json()["errors"]["reason"] == "replayed"
    assert hotline_cases(session) == 1


def test_the_same_order_again_is_answered_with_its_case(client, bridge, session):
    first = send(client, order())
    again = send(client, order(), at=time.time() + 1)  # signed anew: not a replay
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["case_id"] == first.get_json()["case_id"]
    assert hotline_cases(session) == 1


def test_other_content_under_the_same_number_is_a_conflict(client, bridge, session):
    assert send(client, order()).status_code == 201
    conflict = send(client, order(content="另一件事"), at=time.time() + 1)
    assert conflict.status_code == 409
    other_caller = send(client, order(caller_phone="13900000000"), at=time.time() + 2)
    assert other_caller.status_code == 409
    assert hotline_cases(session) == 1


@pytest.mark.parametrize(
    "body, status",
    [
        (b"{not json", 400),
        (b"[]", 422),
        (json.dumps(order(content="")).encode(), 422),
        (json.dumps(order(lat="north", lon=1)).encode(), 422),
        (json.dumps(order(lat=24.4)).encode(), 422),
        (json.dumps(order(lat=95, lon=118)).encode(), 422),
        (json.dumps(order(urgency="now")).encode(), 422),
        (json.dumps(order(order_number="a/b")).encode(), 422),
        (json.dumps(order(caller_phone="call me")).encode(), 422),
        (json.dumps({**order(), "extra": 1}).encode(), 422),
        (json.dumps({k: v for k, v in order().items() if k != "content"}).encode(), 422),
    ],
)
def test_bad_input_is_refused_and_files_nothing(client, bridge, session, body, status):
    response = send(client, body)
    assert response.status_code == status, response.get_json()
    assert hotline_cases(session) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(HotlineOrder)) == 0


def test_an_oversize_body_is_refused(client, bridge, session):
    response = send(client, order(content="垃圾" * 5000))
    assert response.status_code == 413
    assert hotline_cases(session) == 0


def test_the_bridge_without_a_secret_takes_nothing(client, cw, app, monkeypatch, session):
    monkeypatch.setitem(app.config, "HOTLINE_SECRET", "")
    assert send(client, order(), secret="").status_code == 401
    assert hotline_cases(session) == 0


def test_callers_are_masked_in_lists_and_logs_and_whole_only_for_dispatchers(
    client, auth, bridge, caplog
):
    with caplog.at_level(logging.DEBUG):
        filed = send(client, order()).get_json()
    assert PHONE not in caplog.text and NAME not in caplog.text
    assert "138****5678" in caplog.text
    for role in ("dispatcher", "admin"):
        listed = client.get(URL, headers=auth(role))
        assert listed.status_code == 200
        [row] = listed.get_json()
        assert (row["caller_name"], row["caller_phone"]) == ("张**", "138****5678")
    for ref in (filed["case_id"], filed["order_number"]):
        detail = client.get(f"{URL}/{ref}", headers=auth("dispatcher"))
        assert detail.status_code == 200
        assert (detail.get_json()["caller_name"], detail.get_json()["caller_phone"]) == (
            NAME,
            PHONE,
        )
    assert client.get(f"{URL}/no-such-order", headers=auth("dispatcher")).status_code == 404


@pytest.mark.parametrize(
    "role, may_list, may_read",
    [
        ("dispatcher", True, True),
        ("admin", True, False),
        ("inspector", False, False),
        ("street_chief", False, False),
        ("road_chief", False, False),
        ("handler", False, False),
        ("merchant", False, False),
    ],
)
def test_who_reads_hotline_orders(client, auth, bridge, role, may_list, may_read):
    filed = send(client, order()).get_json()
    listed = client.get(URL, headers=auth(role))
    assert listed.status_code == (200 if may_list else 403)
    detail = client.get(f"{URL}/{filed['case_id']}", headers=auth(role))
    assert detail.status_code == (200 if may_read else 403)
    assert client.get(URL).status_code == 401
    assert client.get(f"{URL}/{filed['case_id']}").status_code == 401


def test_callers_are_forgotten_after_the_retention(client, auth, bridge, session, app):
    old = send(client, order("OLD-1")).get_json()
    recent = send(client, order("NEW-1"), at=time.time() + 1).get_json()
    row = session.scalar(sa.select(HotlineOrder).where(HotlineOrder.order_number == "OLD-1"))
    row.received_at = utcnow() - dt.timedelta(days=181)
    session.commit()
    result = app.test_cli_runner().invoke(args=["hotline", "anonymise"])
    assert result.exit_code == 0, result.output
    assert "orders anonymised: 1" in result.output
    forgotten = client.get(f"{URL}/{old['case_id']}", headers=auth("dispatcher")).get_json()
    assert forgotten["caller_phone"] is None and forgotten["caller_name"] == "已匿名"
    assert forgotten["anonymised"] is True
    kept = client.get(f"{URL}/{recent['case_id']}", headers=auth("dispatcher")).get_json()
    assert kept["caller_phone"] == PHONE
    # The order stays idempotent after it.
    assert send(client, order("OLD-1"), at=time.time() + 2).status_code == 200
    again = app.test_cli_runner().invoke(args=["hotline", "anonymise"])
    assert "orders anonymised: 0" in again.output


class Hotline(BaseHTTPRequestHandler):
    received: list = []
    answers: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), json.loads(body), body))
        self.send_response(type(self).answers.pop(0) if type(self).answers else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hotline(app, monkeypatch):
    Hotline.received, Hotline.answers = [], []
    server = HTTPServer(("127.0.0.1", 0), Hotline)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setitem(
        app.config, "HOTLINE_CALLBACK_URL", f"http://127.0.0.1:{server.server_port}/cb"
    )
    yield Hotline
    server.shutdown()


def deliver(app, at: dt.datetime) -> outbox.DeliveryReport:
    settings = outbox.DeliverySettings(max_attempts=2, backoff_seconds=60)
    with app.app_context():
        senders = {"webhook": WebhookSender("cb-secret", timeout=5)}
        return outbox.deliver_due(db.session, senders, settings, at)


def test_a_rejected_order_is_called_back_with_retries_and_a_failed_list(
    client, auth, bridge, hotline, app, session
):
    filed = send(client, order()).get_json()
    cf.act(client, auth("dispatcher"), filed["case_id"], "reject", opinion="不属于城管职责")
    hotline.answers += [503, 500]
    now = utcnow() + dt.timedelta(seconds=1)
    assert deliver(app, now).retrying == 1
    assert deliver(app, now + dt.timedelta(seconds=61)).failed == 1
    failed = client.get(
        "/api/v1/admin/notifications/deliveries?status=failed&kind=hotline_callback",
        headers=auth("admin"),
    ).get_json()
    assert len(failed) == 1 and failed[0]["last_error"] == "HTTP 500"
    retried = client.post(
        f"/api/v1/admin/notifications/deliveries/{failed[0]['id']}/retry", headers=auth("admin")
    )
    assert retried.status_code == 200
    assert deliver(app, utcnow() + dt.timedelta(seconds=1)).sent == 1
    assert len(hotline.received) == 3
    headers, payload, raw = hotline.received[-1]
    assert payload["order_number"] == filed["order_number"]
    assert payload["result"] == "rejected" and payload["opinion"] == "不属于城管职责"
    assert payload["closure_photo_url"] is None
    mac = hmac.new(b"cb-secret", headers["X-Timestamp"].encode() + b"." + raw, hashlib.sha256)
    assert headers["X-Signature"] == mac.hexdigest()
    # The caller's data never leaves in a callback.
    assert PHONE not in raw.decode() and NAME not in raw.decode()


def test_a_closed_order_is_called_back_with_the_closure_photo(
    client, auth, bridge, hotline, app, session
):
    point = cf.cell(0, 0)
    filed = send(client, order(lat=point["lat"], lon=point["lon"])).get_json()
    case_id = filed["case_id"]
    dispatcher, handler, inspector = auth("dispatcher"), auth("handler"), auth("inspector")
    cf.act(client, dispatcher, case_id, "register")
    cf.act(client, dispatcher, case_id, "dispatch", department_id=bridge.world.department.id)
    cf.act(client, handler, case_id, "accept")
    closure = cf.photo("closure")
    cf.act(client, handler, case_id, "submit_closure", opinion="已清理", photos=[closure])
    cf.act(client, dispatcher, case_id, "send_check")
    cf.act(client, inspector, case_id, "check_pass", photos=[cf.photo("check")])
    cf.act(client, dispatcher, case_id, "close", opinion="已结案")
    assert deliver(app, utcnow() + dt.timedelta(seconds=1)).sent == 1
    [(_headers, payload, _raw)] = hotline.received
    assert payload["result"] == "closed" and payload["opinion"] == "已结案"
    assert payload["closure_photo_url"].endswith(f"/api/v1/photos/{closure['photo_id']}/original")
    # Once per order, however often the case is announced.
    session.expire_all()
    callbacks = session.scalars(sa.select(Delivery).where(Delivery.kind == "hotline_callback"))
    assert len(list(callbacks)) == 1


def test_the_console_case_page_shows_the_caller_to_dispatchers_only(client, bridge, app):
    from tests.console.support import sign_in

    filed = send(client, order()).get_json()
    page = f"/console/cases/{filed['case_id']}"
    sign_in(client, bridge.users["dispatcher"].username)
    html = client.get(page).get_data(as_text=True)
    assert "12345 工单" in html and PHONE in html and NAME in html
    other = app.test_client()
    sign_in(other, bridge.users["street_chief"].username)
    shown = other.get(page)
    assert PHONE not in shown.get_data(as_text=True)


def test_a_rejection_whose_process_died_after_the_commit_is_called_back_by_the_relay(
    client, auth, bridge, hotline, app, session, monkeypatch
):
    from app.core import outbox as after_effects

    filed = send(client, order()).get_json()
    monkeypatch.setattr(after_effects, "_session_factory", [])  # dies before the dispatch
    cf.act(client, auth("dispatcher"), filed["case_id"], "reject", opinion="不属于城管职责")
    session.expire_all()
    assert session.scalars(sa.select(Delivery)).all() == []  # no callback enqueued yet
    with app.app_context():
        assert after_effects.relay(db.new_session).done == 1  # the scheduler's relay job
    assert deliver(app, utcnow() + dt.timedelta(seconds=1)).sent == 1
    [(_headers, payload, _raw)] = hotline.received
    assert payload["order_number"] == filed["order_number"] and payload["result"] == "rejected"
