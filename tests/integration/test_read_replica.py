"""Reads off the primary (``DATABASE_REPLICA_URL``, ``app.core.replica``): pulls, lists
and ledger pages come from the replica, except where that would hide a user's own writes.

The replica here is a copy of the primary's SQLite file, taken when the test says
(``replicate``): between two copies it is exactly a replica that is behind. Which database
answered is told by the data itself (the copy lacks what came after it) and by the engine
each read went to."""

from __future__ import annotations

import sqlite3
import types
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import create_app
from app.core import replica as replica_module
from app.core.db import make_engine
from app.models import metadata
from app.sync_api import pull as pull_module
from tests import case_factories as cf
from tests import factories
from tests import push_factories as pf
from tests.conftest import PG_URL


def _copy(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    dst.close()
    src.close()


@pytest.fixture
def city(tmp_path, monkeypatch):
    primary, copy = tmp_path / "primary.sqlite3", tmp_path / "replica.sqlite3"
    engine = make_engine(f"sqlite:///{primary}")
    metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        world = factories.make_world(session)
        cw = cf.make_case_world(session, world)
    engine.dispose()
    _copy(primary, copy)
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URL": f"sqlite:///{primary}",
            "DATABASE_REPLICA_URL": f"sqlite:///{copy}",
            "MEDIA_ROOT": str(tmp_path / "media"),
            "UPLOADS_ROOT": str(tmp_path / "uploads"),
            "REPLICA_STICKY_SECONDS": 60,
        }
    )
    replica_engine = app.extensions[replica_module.ENGINE]
    pulled_from: list[str] = []
    real_page_after = pull_module.page_after

    def page_after(session, *args, **kwargs):
        pulled_from.append("replica" if session.get_bind() is replica_engine else "primary")
        return real_page_after(session, *args, **kwargs)

    monkeypatch.setattr(pull_module, "page_after", page_after)
    yield types.SimpleNamespace(
        app=app,
        client=app.test_client(),
        cw=cw,
        replicate=lambda: _copy(primary, copy),
        pulled_from=pulled_from,
    )
    app.extensions["database_engine"].dispose()
    replica_engine.dispose()


def _pull(city, headers, cursor=""):
    response = city.client.get(f"/api/v1/sync/pull?cursor={cursor}&limit=500", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _pull_all(city, headers) -> tuple[set[str], str]:
    cases, cursor = set(), ""
    while True:
        page = _pull(city, headers, cursor)
        cases |= {c["entity_id"] for c in page["changes"] if c["entity_type"] == "case"}
        cursor = page["cursor"]
        if not page["has_more"]:
            return cases, cursor


def _report(mid: int, case_id: str) -> dict:
    lat, lon = cf.cell(0, 0)["lat"], cf.cell(0, 0)["lon"]
    return pf.mutation(
        mid,
        "report.create",
        case_id,
        {
            "category_code": "0102",
            "category_kind": "event",
            "description": "路边暴露垃圾",
            "location": {"lat": lat, "lon": lon, "crs": "wgs84"},
            "photos": [],
        },
    )


def _listed(city, headers) -> set[str]:
    response = city.client.get("/api/v1/cases?page_size=100", headers=headers)
    assert response.status_code == 200, response.get_json()
    return {case["id"] for case in response.get_json()}


def test_a_phone_reads_its_own_push_from_the_primary_until_the_replica_has_it(city):
    inspector = city.cw.users["inspector"].username
    headers = factories.login_headers(city.client, inspector, device_id="walk-1")
    _pull_all(city, headers)
    assert set(city.pulled_from) == {"replica"}, "nothing of its own to wait for"
    city.pulled_from.clear()

    case_id = str(uuid.uuid4())
    answer = pf.push(city.client, headers, "walk-1", _report(1, case_id))
    assert pf.outcomes(answer) == [("applied", None)]
    seen, _cursor = _pull_all(city, headers)
    assert case_id in seen  # the replica has not got it: the primary answered
    assert set(city.pulled_from) == {"primary"}

    city.replicate()
    city.pulled_from.clear()
    seen, _cursor = _pull_all(city, headers)
    assert case_id in seen and set(city.pulled_from) == {"replica"}


def test_a_cursor_the_replica_has_not_reached_is_read_on_the_primary(city):
    chief = city.cw.users["street_chief"].username
    inspector = city.cw.users["inspector"].username
    reporter = factories.login_headers(city.client, inspector, device_id="walk-2")
    phone = factories.login_headers(city.client, chief, device_id="chief-phone")
    pf.push(city.client, reporter, "walk-2", _report(1, str(uuid.uuid4())))
    city.replicate()
    pf.push(city.client, reporter, "walk-2", _report(2, str(uuid.uuid4())))
    city.pulled_from.clear()
    # The chief's phone pulled the newest changes from the primary once (say, before a
    # replica existed); its cursor is past the replica's head now.
    city.app.config["REPLICA_MAX_LAG_SECONDS"] = -1  # the replica is "too far behind"
    _cases, cursor = _pull_all(city, phone)
    assert set(city.pulled_from) == {"primary"}
    city.app.config["REPLICA_MAX_LAG_SECONDS"] = 5
    city.app.extensions["replica_lag"].measured_at = -10.0  # measure again now
    city.pulled_from.clear()
    _pull(city, phone, cursor)
    assert city.pulled_from == ["primary"]
    city.replicate()
    city.pulled_from.clear()
    _pull(city, phone, cursor)
    assert city.pulled_from == ["replica"]


def test_lists_come_from_the_replica_but_not_right_after_ones_own_write(city):
    inspector = city.cw.users["inspector"].username
    reporter = factories.login_headers(city.client, inspector, device_id="walk-3")
    dispatcher = factories.login_headers(city.client, city.cw.users["dispatcher"].username)
    chief = factories.login_headers(city.client, city.cw.users["street_chief"].username)
    before = _listed(city, dispatcher)

    case = cf.report(city.client, reporter, city.cw.category)  # a write on the primary
    assert case["id"] not in _listed(city, dispatcher), "the replica is behind"
    assert case["id"] not in _listed(city, chief)
    # The reporter wrote a moment ago: their own reads come from the primary.
    assert case["id"] in _listed(city, reporter)

    # The dispatcher writes something (a comment): from then on they read the primary.
    comment = city.client.post(
        f"/api/v1/cases/{case['id']}/comments", json={"text": "已阅"}, headers=dispatcher
    )
    assert comment.status_code == 201, comment.get_json()
    assert case["id"] in _listed(city, dispatcher)
    assert case["id"] not in _listed(city, chief)  # the chief did not write: replica

    city.replicate()
    assert case["id"] in _listed(city, chief)
    assert before <= _listed(city, chief)


def test_a_replica_too_far_behind_or_unreachable_is_not_read(city, tmp_path):
    reporter = factories.login_headers(city.client, city.cw.users["inspector"].username)
    chief = factories.login_headers(city.client, city.cw.users["street_chief"].username)
    case = cf.report(city.client, reporter, city.cw.category)
    assert case["id"] not in _listed(city, chief)

    city.app.config["REPLICA_MAX_LAG_SECONDS"] = -1
    city.app.extensions["replica_lag"].measured_at = -10.0
    assert case["id"] in _listed(city, chief)

    city.app.config["REPLICA_MAX_LAG_SECONDS"] = 5
    gone = make_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.sqlite3'}")
    city.app.extensions[replica_module.ENGINE] = gone
    city.app.extensions["replica_lag"].measured_at = -10.0
    assert case["id"] in _listed(city, chief)


def test_marks_of_writers_are_shared_through_redis_and_expire():
    url = pytest.importorskip("os").environ.get("TEST_REDIS_URL", "")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set")
    base = url.rsplit("/", 1)[0]
    one, other = (replica_module.RedisMarks(f"{base}/7") for _ in range(2))
    key = f"pytest-{uuid.uuid4()}"
    assert not other.recent(key)
    one.mark(key, 0.3)
    assert other.recent(key)  # another app server sees it
    import time

    time.sleep(0.5)
    assert not other.recent(key)


def test_local_marks_expire_by_their_clock():
    now = [100.0]
    marks = replica_module.LocalMarks(clock=lambda: now[0])
    marks.mark("7", 10)
    assert marks.recent("7") and not marks.recent("8")
    now[0] += 11
    assert not marks.recent("7")


@pytest.mark.postgres
def test_the_lag_of_a_postgresql_primary_is_zero():
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URL": PG_URL})
    app.config["DATABASE_REPLICA_URL"] = PG_URL
    replica_module.init_replica(app)
    with app.app_context():
        engine = app.extensions[replica_module.ENGINE]
        assert replica_module.replica_lag(engine) == 0.0
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT pg_is_in_recovery()")).scalar() is False
        engine.dispose()
