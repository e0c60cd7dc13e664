"""Fixtures shared by every layer.

Integration and API tests run once per database backend: SQLite always, PostgreSQL when
``TEST_DATABASE_URL`` names one. With ``REQUIRE_POSTGRES=1`` (CI) an unreachable PostgreSQL
fails the run instead of skipping it.
"""

from __future__ import annotations

import os
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from app import create_app
from app.accounts.passwords import use_fast_hashing_for_tests
from app.core.db import make_engine
from app.extensions import db
from app.models import metadata
from tests import database, factories
from tests.clock import TestClock, local

use_fast_hashing_for_tests()

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
REQUIRE_PG = os.environ.get("REQUIRE_POSTGRES") == "1"


def pytest_sessionstart(session):
    if REQUIRE_PG and not PG_URL:
        pytest.exit("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set", returncode=1)
    if PG_URL:
        engine = make_engine(PG_URL)
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.OperationalError as error:
            pytest.exit(f"PostgreSQL at TEST_DATABASE_URL is unreachable: {error}", returncode=1)
        finally:
            engine.dispose()


def backend_params() -> list:
    params = [pytest.param("sqlite", id="sqlite")]
    if PG_URL:
        params.append(pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))
    return params


@pytest.fixture(scope="session", params=backend_params())
def database_url(request, tmp_path_factory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    engine = make_engine(PG_URL)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    return PG_URL


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    application = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URL": database_url,
            "MEDIA_ROOT": str(tmp_path_factory.mktemp("media")),
            "UPLOADS_ROOT": str(tmp_path_factory.mktemp("uploads")),
            "MEDIA_JOB_DELAY": 0.05,
        }
    )
    metadata.create_all(db.engine)
    yield application
    db.engine.dispose()


@pytest.fixture
def committing():
    """This test commits for real (threads or processes of its own write, or another app's
    engine): its tables are emptied after it instead of its transaction rolled back."""


@pytest.fixture
def clean_db(app, request):
    """The test's database (``tests.database``): a transaction rolled back after it, or,
    with the ``committing`` fixture, real commits and the tables emptied. Yields what the
    test's own sessions bind to."""
    if "committing" in request.fixturenames:
        with database.committing(app) as engine:
            yield engine
    else:
        with database.rolled_back(app) as connection:
            yield connection


@pytest.fixture
def session(app, clean_db):
    """A session outside any app context, for arranging data and checking results."""
    if isinstance(clean_db, sa.Connection):
        s = database.joined_session(clean_db)
    else:
        s = Session(clean_db, expire_on_commit=False)
    with s:
        yield s
        s.info[database.TEST_OVER] = True


@pytest.fixture
def client(app, clean_db):
    return app.test_client()


@pytest.fixture
def world(session):
    """A district with a street, a community, a department, a road, and a user of each role."""
    return factories.make_world(session)


@pytest.fixture
def auth(client, world):
    """``auth(role)`` → headers with a bearer token of that role's user in ``world``."""
    cache: dict[str, dict] = {}

    def headers(role: str) -> dict:
        if role not in cache:
            cache[role] = factories.login_headers(client, world.users[role].username)
        return cache[role]

    return headers


@pytest.fixture
def live_server(app, committing, clean_db):
    """The app behind a real HTTP server on a loopback port (threads of its own, so the
    test commits for real): its base URL."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture
def clock(monkeypatch):
    """The server's clock, set by the test (``tests.clock``): it starts standing at Monday
    9 March 2026, 09:00 in Asia/Shanghai, in a plain working week."""
    return TestClock(monkeypatch, local("2026-03-09", "09:00"))
