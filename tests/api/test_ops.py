"""Operations: ``/readyz``, ``/metrics``, request ids (into jobs too) and trusted proxies."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import uuid

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from app.accounts.models import LoginAttempt
from app.feed.models import FeedChange
from app.notifications.models import Delivery
from app.photos import jobs as photo_jobs
from app.photos.models import Blob
from media.jobs import current_request_id, run_worker
from media.storage import DiskBlobStore
from tests import case_factories as cf
from tests import factories
from tests.media import photos as pictures
from tests.push_factories import mutation, push

REDIS_URL = os.environ.get("OPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/3")
PROXY = "10.0.0.2"  # the reverse proxy the proxied app trusts (10.0.0.0/8)


def _app(database_url, tmp_path, **config):
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URL": database_url,
            "MEDIA_ROOT": str(tmp_path / "media"),
            "UPLOADS_ROOT": str(tmp_path / "uploads"),
            **config,
        }
    )


def sample(client, name: str, **labels) -> float | None:
    """The value of one sample of ``/metrics`` (None when absent)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return None


# -- /readyz ---------------------------------------------------------------------------------


def test_ready_when_database_queue_and_store_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready" and body["failing"] == []
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "queue": True,
        "store": True,
    }
    assert body["checks"]["queue"]["detail"] == "inprocess"


def test_unready_names_the_blob_store_that_takes_no_writes(app, client, tmp_path, monkeypatch):
    store = DiskBlobStore(tmp_path / "gone")
    shutil.rmtree(tmp_path / "gone")
    tools = app.extensions["media"]
    monkeypatch.setitem(app.extensions, "media", dataclasses.replace(tools, store=store))
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unready" and body["failing"] == ["store"]
    assert body["checks"]["database"]["ok"] is True
    # /healthz (alive) is not readiness: it keeps answering 200.
    assert client.get("/healthz").status_code == 200


def test_unready_names_an_unreachable_redis_queue(database_url, tmp_path):
    pytest.importorskip("redis")
    # Nothing listens on port 1: the connection is refused at once.
    application = _app(database_url, tmp_path, JOB_QUEUE="redis", REDIS_URL="redis://127.0.0.1:1/3")
    response = application.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["failing"] == ["queue"]


def test_unready_names_an_unreachable_database(tmp_path):
    application = _app(f"sqlite:///{tmp_path / 'missing' / 'no.sqlite3'}", tmp_path)
    response = application.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["failing"] == ["database"]


# -- /metrics --------------------------------------------------------------------------------


def test_requests_are_counted_by_url_rule_and_status(client, app):
    rule = next(r.rule for r in app.url_map.iter_rules() if r.endpoint == "photos.PhotoView")
    labels = {"method": "GET", "route": rule, "status": "401"}
    before = sample(client, "chengguan_http_requests_total", **labels) or 0
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for photo_id in ids:
        assert client.get(f"/api/v1/photos/{photo_id}").status_code == 401
    assert sample(client, "chengguan_http_requests_total", **labels) == before + 3
    count = sample(
        client, "chengguan_http_request_duration_seconds_count", method="GET", route=rule
    )
    assert count is not None and count >= 3
    text = client.get("/metrics").get_data(as_text=True)
    assert not any(photo_id in text for photo_id in ids)
    client.get("/api/v1/nowhere/12345")
    assert sample(client, "chengguan_http_requests_total", route="unmatched", status="404")
    client.open("/api/v1/nowhere", method="BREW")
    assert sample(client, "chengguan_http_requests_total", method="other", route="unmatched")
    text = client.get("/metrics").get_data(as_text=True)
    labels = " ".join(re.findall(r"\{([^}]*)\}", text))  # values may hold any number
    assert "12345" not in labels and "BREW" not in labels


def test_metrics_are_closed_to_other_clients_and_open_with_the_token(
    database_url, tmp_path, client
):
    outside = {"REMOTE_ADDR": "203.0.113.5"}
    assert client.get("/metrics", environ_overrides=outside).status_code == 403
    guarded = _app(database_url, tmp_path, METRICS_TOKEN="s3cret").test_client()
    assert guarded.get("/metrics").status_code == 403  # loopback, but no token
    wrong = {"Authorization": "Bearer nope"}
    assert guarded.get("/metrics", headers=wrong, environ_overrides=outside).status_code == 403
    right = {"Authorization": "Bearer s3cret"}
    response = guarded.get("/metrics", headers=right, environ_overrides=outside)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"


def test_push_outcomes_are_counted_by_status(client, session, world):
    cw = cf.make_case_world(session, world)
    headers = factories.login_headers(client, cw.users["inspector"].username, device_id="ops-1")
    sent = mutation(
        1,
        "report.create",
        uuid.uuid4(),
        {
            "category_code": "06010",
            "description": "路边暴露垃圾",
            "address": "中山路 1 号",
            "location": cf.cell(0, 0),
            "photos": [cf.photo("problem")],
        },
    )
    name = "chengguan_sync_push_outcomes_total"
    applied, duplicate = (sample(client, name, status=s) or 0 for s in ("applied", "duplicate"))
    push(client, headers, "ops-1", sent)
    push(client, headers, "ops-1", sent)
    assert sample(client, name, status="applied") == applied + 1
    assert sample(client, name, status="duplicate") == duplicate + 1


def test_lags_are_read_at_scrape_time(client, session, world):
    assert sample(client, "chengguan_photo_processing_lag_seconds") == 0
    hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    session.add(
        Blob(
            sha256="a" * 64,
            size=1,
            media_type="image/jpeg",
            width=1,
            height=1,
            processing="queued",
            received_at=hour_ago,
        )
    )
    session.add(
        Delivery(
            kind="probe",
            channel="log",
            payload={},
            status="pending",
            created_at=hour_ago,
            next_attempt_at=hour_ago,
        )
    )
    session.add(FeedChange(seq=10**9, key="ops", entity_type="probe", entity_id="1", at=hour_ago))
    session.flush()
    assert 3590 < sample(client, "chengguan_photo_processing_lag_seconds") < 3700
    assert sample(client, "chengguan_queue_depth", queue="notifications") >= 1
    age = sample(client, "chengguan_queue_oldest_age_seconds", queue="notifications")
    assert 3590 < age < 3700
    assert 3590 < sample(client, "chengguan_feed_newest_change_age_seconds") < 3700
    assert sample(client, "chengguan_queue_depth", queue="media") == 0


# -- request ids -----------------------------------------------------------------------------


@pytest.fixture
def proxied(app, committing, clean_db, database_url, tmp_path):
    """The service behind reverse proxies on 10.0.0.0/8."""
    return _app(database_url, tmp_path, TRUSTED_PROXIES="10.0.0.0/8")


def _request_log(capsys) -> list[dict]:
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line[:1] == "{"]
    return [line for line in lines if line.get("msg") == "request"]


def test_a_trusted_proxy_s_request_id_is_kept_and_another_client_s_is_not(proxied, capsys):
    client = proxied.test_client()
    via_proxy = client.get(
        "/healthz", headers={"X-Request-ID": "nginx-7f3a"}, environ_base={"REMOTE_ADDR": PROXY}
    )
    assert via_proxy.headers["X-Request-ID"] == "nginx-7f3a"
    direct = client.get(
        "/healthz",
        headers={"X-Request-ID": "phone-made"},
        environ_base={"REMOTE_ADDR": "198.51.100.4"},
    )
    assert direct.headers["X-Request-ID"] not in ("phone-made", "")
    hostile = client.get(
        "/healthz", headers={"X-Request-ID": "x\u202e; drop"}, environ_base={"REMOTE_ADDR": PROXY}
    )
    assert hostile.headers["X-Request-ID"] != "x\u202e; drop"
    logged = [line["request_id"] for line in _request_log(capsys)]
    assert logged[:2] == ["nginx-7f3a", direct.headers["X-Request-ID"]]


def _upload(client, headers) -> str:
    data = pictures.encode(pictures.scene(320, 240, seed=4), "JPEG")
    sha = hashlib.sha256(data).hexdigest()
    photo = {"id": str(uuid.uuid4()), "sha256": sha, "kind": "problem"}
    assert client.post("/api/v1/photos", json=photo, headers=headers).status_code == 201
    response = client.put(f"/api/v1/blobs/{sha}", data=data, headers=headers)
    assert response.status_code == 201
    return response.headers["X-Request-ID"]


@pytest.fixture
def job_request_ids(monkeypatch):
    """The request id each photo job ran under, and a log line it wrote."""
    seen: list[str | None] = []
    real = photo_jobs.services.process_blob

    def watched(session, media, sha256):
        seen.append(current_request_id())
        logging.getLogger("app.photos.jobs").info("processing %s", sha256[:8])
        return real(session, media, sha256)

    monkeypatch.setattr(photo_jobs.services, "process_blob", watched)
    return seen


def _job_log(capsys) -> list[dict]:
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line[:1] == "{"]
    return [line for line in lines if line["msg"].startswith("processing ")]


def test_the_in_process_worker_s_log_lines_carry_the_upload_s_request_id(
    app, committing, clean_db, session, job_request_ids, capsys
):
    factories.make_world(session)
    client = app.test_client()
    request_id = _upload(client, factories.login_headers(client, "t_inspector"))
    assert app.extensions["media"].queue.join(timeout=30)
    assert job_request_ids == [request_id]
    [line] = _job_log(capsys)
    assert line["request_id"] == request_id


@pytest.fixture
def redis_app(app, committing, clean_db, database_url, tmp_path):
    redis = pytest.importorskip("redis")
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    queue_name = f"ops-{uuid.uuid4().hex[:8]}"
    application = _app(
        database_url, tmp_path, JOB_QUEUE="redis", REDIS_URL=REDIS_URL, JOB_QUEUE_NAME=queue_name
    )
    yield application, connection, queue_name
    for key in connection.scan_iter(f"*{queue_name}*"):
        connection.delete(key)


def test_a_redis_worker_s_log_lines_carry_the_upload_s_request_id(
    redis_app, session, job_request_ids, capsys
):
    application, connection, queue_name = redis_app
    factories.make_world(session)
    client = application.test_client()
    request_id = _upload(client, factories.login_headers(client, "t_inspector"))
    client_depth = sample(client, "chengguan_queue_depth", queue="media")
    assert client_depth == 1
    assert sample(client, "chengguan_queue_oldest_age_seconds", queue="media") >= 0
    capsys.readouterr()
    run_worker(connection, queue_name, burst=True, fork=False, with_scheduler=False)
    assert job_request_ids == [request_id]
    [line] = _job_log(capsys)
    assert line["request_id"] == request_id
    assert sample(client, "chengguan_queue_depth", queue="media") == 0


# -- trusted proxies -------------------------------------------------------------------------


def test_forwarded_headers_count_only_from_a_trusted_peer(proxied, capsys):
    client = proxied.test_client()
    forwarded = {
        "X-Forwarded-For": "192.0.2.1, 203.0.113.9, 10.0.0.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "cg.example.cn",
    }
    client.get("/healthz", headers=forwarded, environ_base={"REMOTE_ADDR": PROXY})
    client.get("/healthz", headers=forwarded, environ_base={"REMOTE_ADDR": "198.51.100.4"})
    trusted, untrusted = _request_log(capsys)[:2]
    # From the proxy: the nearest address that is not a proxy of ours (10.0.0.7 is one;
    # 192.0.2.1 was written by the client itself and is not believed).
    assert trusted["remote"] == "203.0.113.9"
    assert untrusted["remote"] == "198.51.100.4"


def test_the_login_throttle_counts_the_real_address_not_a_spoofed_one(proxied, session):
    client = proxied.test_client()
    body = {"username": "nobody", "password": "x", "device_id": "d1", "device_name": "t"}
    spoof = {"X-Forwarded-For": "203.0.113.50"}
    client.post(
        "/api/v1/auth/login", json=body, headers=spoof, environ_base={"REMOTE_ADDR": "198.51.100.4"}
    )
    client.post("/api/v1/auth/login", json=body, headers=spoof, environ_base={"REMOTE_ADDR": PROXY})
    addresses = session.scalars(sa.select(LoginAttempt.remote_addr).order_by(LoginAttempt.id)).all()
    assert addresses == ["198.51.100.4", "203.0.113.50"]


def test_a_gauge_that_fails_leaves_the_others_their_reads(app, session, caplog):
    from app.core.metrics import ScrapeGauges, exposition
    from app.extensions import db

    gauges = ScrapeGauges()
    gauges.isolate_reads_with(lambda: db.session.begin_nested())
    gauges.gauge(
        "ops_broken",
        "reads a table that is not there",
        lambda: db.session.scalar(sa.text("SELECT count(*) FROM no_such_table")),
    )
    gauges.gauge("ops_fine", "reads after it", lambda: db.session.scalar(sa.text("SELECT 7")))
    with app.test_request_context():
        text = exposition(gauges).decode()
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert "chengguan_ops_fine 7.0" in samples
    assert not [line for line in samples if line.startswith("chengguan_ops_broken")]
    assert "metric chengguan_ops_broken could not be read" in caplog.text
