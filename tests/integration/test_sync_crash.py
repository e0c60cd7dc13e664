"""A real server process killed in the middle of a push: nothing of the push survives, and
the phone's re-send applies every mutation exactly once.

The server is ``gunicorn wsgi:app`` in a process group of its own, configured from the
environment as in production, on a file SQLite database and — when ``TEST_DATABASE_URL``
is set — on a PostgreSQL database of its own (``<name>_crash`` on the same server, created
and dropped here, so the session's schema of the other tests is left alone). The test
process only seeds the data and reads the results through SQLAlchemy.

A push is one transaction, so nothing of it is visible from outside before its commit.
What is visible is that its transaction holds the write lock (SQLite) or a transaction id
(PostgreSQL): the kill is given only once that is seen, after a delay that is a fraction
of the time a push of that size takes (timed on a throwaway phone), and the lock is checked
again right before ``SIGKILL``, so the process dies with the push's transaction open.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases.models import Case, CasePhoto, FlowEntry
from app.core.db import make_engine
from app.models import metadata
from app.photos.models import Photo
from app.sync_api.models import SyncDevice, SyncFailure, SyncMutation
from tests import case_factories as cf
from tests import factories, grid_data
from tests.conftest import PG_URL, backend_params

ROOT = Path(__file__).resolve().parents[2]
FIRST, SECOND = range(1, 101), range(101, 601)  # the batch that lands, the one killed
KILL_AT = (0.3, 0.6)  # fractions of the time a push of SECOND's size takes, one kill each
WARM_UP, TIMED = range(1, 21), range(21, 521)  # the throwaway phone's pushes
# Events of GB/T 47678 (unambiguous five-digit codes): spread over a few categories, the
# reports are not all each other's duplicate candidates within 50 m.
CATEGORIES = ["06010", "06011", "06012", "07001", "08002", "09003", "09005", "09009"]
T0 = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
SCHEMA = "sync_crash"  # PostgreSQL: the test's schema
SERVER_NAME = "sync-crash-server"  # PostgreSQL: the server's connections, for the probe

# -- the database ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Database:
    url: str  # the test's own connections
    server_url: str  # the server's: the same database, its connections named


@pytest.fixture(params=backend_params())
def database(request, tmp_path) -> Iterator[Database]:
    """A database of this test's own, with the app's tables: a file for SQLite; on
    PostgreSQL, a schema of its own in ``TEST_DATABASE_URL``'s database (first on the
    search path), so the other tests' ``public`` schema is never touched."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'crash.sqlite3'}"
        _create_tables(url)
        yield Database(url, url)
        return
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
    url = sa.engine.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={SCHEMA}"})
    _create_tables(url.render_as_string(hide_password=False))
    yield Database(
        url.render_as_string(hide_password=False),
        url.update_query_dict({"application_name": SERVER_NAME}).render_as_string(
            hide_password=False
        ),
    )
    with admin.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    admin.dispose()


def _create_tables(url: str) -> None:
    engine = make_engine(url)
    metadata.create_all(engine)
    engine.dispose()


class WriteProbe:
    """Whether the server holds an open writing transaction: the push's, since nothing
    else writes while it runs. SQLite: the database's one write lock cannot be taken.
    PostgreSQL: a connection of the server's has a transaction id (it has written)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = None if url.startswith("sqlite") else make_engine(url)

    def __call__(self) -> bool:
        if self.engine is None:
            return self._sqlite_locked()
        with self.engine.connect() as connection:
            writing = connection.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = :name AND backend_xid IS NOT NULL"
                ),
                {"name": SERVER_NAME},
            )
        return bool(writing)

    def _sqlite_locked(self) -> bool:
        path = sa.engine.make_url(self.url).database
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError as error:
            if "locked" in str(error) or "busy" in str(error):
                return True
            raise
        finally:
            probe.close()

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


# -- the server ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to ``process``'s group (a server started with ``start_new_session``), then
    SIGKILL if it has not ended within 10 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclasses.dataclass
class Server:
    """``gunicorn wsgi:app`` with one worker, in a process group of its own so that one
    ``killpg`` takes the master and the worker applying the push at once."""

    database_url: str
    folder: Path
    port: int = 0
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.port = _free_port()
        environment = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "MEDIA_ROOT": str(self.folder / "media"),
            "UPLOADS_ROOT": str(self.folder / "uploads"),
            "SECRET_KEY": "crash-test-secret",
            "MEDIA_BACKEND": "disk",
            "JOB_QUEUE": "inprocess",
            "LOG_LEVEL": "WARNING",
            "SYNC_MAX_BATCH": str(len(FIRST) + len(SECOND)),  # the whole queue in one push
        }
        log = (self.folder / "server.log").open("ab")
        gunicorn = ["wsgi:app", "--bind", f"127.0.0.1:{self.port}", "--workers", "1"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *gunicorn, "--timeout", "120"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited at start:\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if request(self.port, "GET", "/healthz", timeout=2)[0] == 200:
                    return
            time.sleep(0.1)
        pytest.fail(f"the server did not answer /healthz within 60 s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL to the whole group: no shutdown handler, no rollback by the app."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
            self.process = None

    def log_tail(self) -> str:
        return (self.folder / "server.log").read_text(errors="replace")[-4000:]


@pytest.fixture
def server(database, tmp_path) -> Iterator[Server]:
    running = Server(database.server_url, tmp_path)
    yield running
    running.stop()


def request(port: int, method: str, path: str, body=None, token=None, timeout=120.0):
    """(status, JSON answer) of one request on a connection of its own."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


class Sender(threading.Thread):
    """A push sent from another thread, so the test can kill the server under it."""

    def __init__(self, port: int, token: str, body: dict):
        super().__init__(daemon=True)
        self.port, self.token, self.body = port, token, body
        self.answer: tuple | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.answer = request(self.port, "POST", "/api/v1/sync/push", self.body, self.token)
        except (OSError, http.client.HTTPException) as error:
            self.error = error


# -- the phone -------------------------------------------------------------------------------


def report(mid: int, rng: random.Random) -> dict:
    """A report somewhere on the 3 × 3 lattice, with one photo named by id and sha256."""
    lat = grid_data.NORTH - rng.uniform(0.0001, 3 * grid_data.CELL - 0.0001)
    lon = grid_data.WEST + rng.uniform(0.0001, 3 * grid_data.CELL - 0.0001)
    return {
        "mid": mid,
        "type": "report.create",
        "entity_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "base_version": None,
        "args": {
            "category_code": rng.choice(CATEGORIES),
            "description": "路边暴露垃圾",
            "address": f"中山路 {mid} 号",
            "location": {"lat": round(lat, 6), "lon": round(lon, 6), "crs": "wgs84"},
            "photos": [cf.photo("problem")],
        },
        "client_ts": (T0 + dt.timedelta(minutes=mid)).isoformat(),
    }


@dataclasses.dataclass
class Phone:
    device_id: str
    token: str
    queue: dict[int, dict]

    def body(self, mids) -> dict:
        return {"device_id": self.device_id, "mutations": [self.queue[mid] for mid in mids]}


def sign_in(server: Server, user: User, device_id: str, mids, seed: int) -> Phone:
    status, answer = request(
        server.port,
        "POST",
        "/api/v1/auth/login",
        {
            "username": user.username,
            "password": factories.PASSWORD,
            "device_id": device_id,
            "device_name": "crash test",
        },
    )
    assert status == 200, answer
    rng = random.Random(seed)
    return Phone(device_id, answer["access_token"], {mid: report(mid, rng) for mid in mids})


def push(server: Server, phone: Phone, mids) -> dict:
    status, answer = request(
        server.port, "POST", "/api/v1/sync/push", phone.body(mids), phone.token
    )
    assert status == 200, answer
    return answer


def statuses(answer: dict) -> dict[int, str]:
    return {result["mid"]: result["status"] for result in answer["results"]}


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {seconds} s")
        time.sleep(0.01)


# -- what the database holds -----------------------------------------------------------------


def decided(url: str, phone: Phone, user: User) -> dict:
    """The phone's queue as stored, and every row the user's reports made."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            device = session.scalars(
                sa.select(SyncDevice).where(
                    SyncDevice.device_id == phone.device_id, SyncDevice.user_id == user.id
                )
            ).one_or_none()
            records = session.execute(
                sa.select(SyncMutation.mid, SyncMutation.status, SyncMutation.entity_id).where(
                    SyncMutation.device_pk == (device.id if device else -1)
                )
            ).all()
            cases = session.scalars(sa.select(Case).where(Case.reporter_id == user.id)).all()
            case_ids = [case.id for case in cases]
            flow = session.execute(
                sa.select(FlowEntry.case_id, FlowEntry.action, FlowEntry.device_id).where(
                    FlowEntry.case_id.in_(case_ids)
                )
            ).all()
            links = session.execute(
                sa.select(CasePhoto.case_id, CasePhoto.photo_id).where(
                    CasePhoto.case_id.in_(case_ids)
                )
            ).all()
            photos = session.scalars(sa.select(Photo.id).where(Photo.owner_id == user.id)).all()
            failures = session.scalar(sa.select(sa.func.count()).select_from(SyncFailure))
            return {
                "last_mid": device.last_mid if device else 0,
                "records": records,
                "cases": {case.id: case for case in cases},
                "flow": flow,
                "links": links,
                "photos": set(photos),
                "failures": failures,
            }
    finally:
        engine.dispose()


def assert_exactly(url: str, phone: Phone, user: User, mids) -> None:
    """The mids ``mids`` are applied, each once, with all their rows; nothing else is."""
    mids = list(mids)
    held = decided(url, phone, user)
    assert held["last_mid"] == mids[-1]
    assert sorted(mid for mid, _status, _entity in held["records"]) == mids  # each mid once
    assert {status for _mid, status, _entity in held["records"]} == {"applied"}
    expected_cases = {uuid.UUID(phone.queue[mid]["entity_id"]) for mid in mids}
    assert {entity for _mid, _status, entity in held["records"]} == expected_cases
    assert set(held["cases"]) == expected_cases  # no case outside the applied mutations
    assert sorted(case_id for case_id, _a, _d in held["flow"]) == sorted(expected_cases)
    assert {(action, device) for _c, action, device in held["flow"]} == {
        ("report", phone.device_id)
    }
    expected_photos = {
        uuid.UUID(phone.queue[mid]["args"]["photos"][0]["photo_id"]): uuid.UUID(
            phone.queue[mid]["entity_id"]
        )
        for mid in mids
    }
    assert sorted(held["links"]) == sorted((case, photo) for photo, case in expected_photos.items())
    assert held["photos"] == set(expected_photos)  # no photo left without its case
    assert held["failures"] == 0  # a kill is no failed attempt: it left no trace at all


# -- the test --------------------------------------------------------------------------------


@pytest.fixture
def writing(database) -> Iterator[WriteProbe]:
    probe = WriteProbe(database.url)
    yield probe
    probe.close()


def test_a_server_killed_mid_push_keeps_nothing_of_it_and_the_resend_applies_each_mid_once(
    database, server, writing
):
    url = database.url
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        world = factories.make_world(session)
        case_world = cf.make_case_world(session, world)
    engine.dispose()
    inspector, throwaway = world.users["inspector"], case_world.other_inspector

    server.start()
    # How long a push of the killed batch's size takes here, now: timed on another phone
    # once the server is warm, at that size (a push in batches grows less than linearly:
    # a fifth of it, scaled up, overshot and the kill came after the push had ended).
    warm = sign_in(server, throwaway, "warm-up-phone", [*WARM_UP, *TIMED], seed=1)
    push(server, warm, WARM_UP)
    started = time.monotonic()
    assert set(statuses(push(server, warm, TIMED)).values()) == {"applied"}
    same_size = (time.monotonic() - started) * len(SECOND) / len(TIMED)

    phone = sign_in(server, inspector, "crash-phone", range(1, SECOND[-1] + 1), seed=2)
    assert set(statuses(push(server, phone, FIRST)).values()) == {"applied"}

    for fraction in KILL_AT:
        sender = Sender(server.port, phone.token, phone.body(SECOND))
        sent = time.monotonic()
        sender.start()
        _wait_for(writing, 30, "the push did not start writing")
        time.sleep(max(0.0, sent + fraction * same_size - time.monotonic()))
        assert writing(), (
            f"the push was over before {fraction:.0%} of {same_size:.1f} s: no kill mid-push"
        )
        server.kill()
        sender.join(timeout=30)
        assert sender.answer is None and sender.error is not None  # the phone heard nothing
        _wait_for(lambda: not writing(), 30, "the dead server's transaction was not ended")
        server.start()
        assert_exactly(url, phone, inspector, FIRST)  # the killed push left nothing

    answer = push(server, phone, range(1, SECOND[-1] + 1))  # the whole queue again
    assert statuses(answer) == {
        **dict.fromkeys(FIRST, "duplicate"),
        **dict.fromkeys(SECOND, "applied"),
    }
    assert answer["last_mid"] == SECOND[-1]
    assert_exactly(url, phone, inspector, range(1, SECOND[-1] + 1))
