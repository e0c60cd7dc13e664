"""Declarative base with a naming convention, portable column types, and the session."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import TypeVar

import sqlalchemy as sa
from flask import Flask, current_app, g, has_app_context
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware datetimes stored as naive UTC, identical on SQLite and PostgreSQL."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware datetime")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def _app_context_id() -> int:
    return id(g._get_current_object())


def _on_sqlite_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def on_dialect(dialect_name: str):
    """Alembic's ``include_object`` for a database of ``dialect_name``: leaves out what the
    models create only on another database (``Index(...).ddl_if(dialect=…)``), which
    autogenerate and the models-match test would otherwise report as missing."""

    def include_object(obj, _name, type_, _reflected, _compare_to) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None)
        return not (
            type_ == "index" and ddl_if is not None and ddl_if.dialect not in (None, dialect_name)
        )

    return include_object


def database_url(url: str | sa.URL) -> sa.URL:
    """``url`` with the driver this project installs: ``postgres://`` and ``postgresql://``,
    the forms most hosts hand out, mean psycopg 3 (SQLAlchemy would look for psycopg2)."""
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | sa.URL, echo: bool = False) -> sa.Engine:
    """An engine with the settings every backend needs (SQLite: FKs, WAL, busy timeout)."""
    engine = sa.create_engine(database_url(url), echo=echo, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _on_sqlite_connect)
    return engine


SESSION_MAKER = "database_session_maker"


class Database:
    """One engine per app and one session per application context (as Flask-SQLAlchemy)."""

    def __init__(self) -> None:
        self.metadata = Base.metadata
        self._last_engine: sa.Engine | None = None
        self.session = scoped_session(self.new_session, scopefunc=_app_context_id)

    @property
    def engine(self) -> sa.Engine:
        """The current app's engine; outside an app context, the last one created."""
        if has_app_context():
            return current_app.extensions["database_engine"]
        if self._last_engine is None:
            raise RuntimeError("no app has been initialised with the database")
        return self._last_engine

    def new_session(self) -> Session:
        """A session of its own: a request's (``session``), a job's, a subscriber's.

        An app may be handed a maker of its sessions (``app.extensions[SESSION_MAKER]``):
        the tests make every session join one transaction, rolled back after each test.
        """
        if has_app_context():
            make = current_app.extensions.get(SESSION_MAKER)
            if make is not None:
                return make()
        return Session(bind=self.engine, expire_on_commit=False)

    def init_app(self, app: Flask) -> None:
        engine = make_engine(
            app.config["SQLALCHEMY_DATABASE_URL"], echo=app.config.get("SQLALCHEMY_ECHO", False)
        )
        app.extensions["database_engine"] = engine
        self._last_engine = engine

        @app.teardown_appcontext
        def _remove_session(_exc: BaseException | None) -> None:
            self.session.remove()


@contextlib.contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """One use case, one transaction: commit on success, roll back on any error.

    Inside ``joined`` the use case is part of its caller's unit: it is flushed, not
    committed, and a failure is left to the caller, who rolls the whole unit back."""
    if _JOINED in session.info:
        yield session
        session.flush()
        return
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


# -- use cases joined into one unit ------------------------------------------------------------

_JOINED = "joined_unit"


@contextlib.contextmanager
def joined(session: Session) -> Iterator[dict]:
    """Run use cases as one unit of their caller's: each ``transaction`` inside flushes
    instead of committing (no savepoint of its own), and whatever fails is left to the
    caller, who must then roll back everything done inside (a push's run of task moves:
    its batch stops at the first that is not applied and applies the prefix again).

    Yields the unit's cache (see ``unit_cache``), emptied when the unit ends."""
    if _JOINED in session.info:
        yield session.info[_JOINED]
        return
    session.info[_JOINED] = caches = {}
    try:
        yield caches
    finally:
        del session.info[_JOINED]


def unit_cache(session: Session, name: str) -> dict | None:
    """The cache ``name`` of the ``joined`` unit ``session`` is in (None outside one): what
    the unit's use cases would otherwise select again for each, loaded once for all of them.
    Whoever writes what a cache holds drops its entry."""
    caches = session.info.get(_JOINED)
    if caches is None:
        return None
    return caches.setdefault(name, {})


T = TypeVar("T")


# -- reference data held for one unit of work ------------------------------------------------

_HELD = "reference_memo"


def hold_reference_data(session: Session) -> None:
    """Let ``session`` keep what ``held`` computes from reference data (the work calendar …)
    until it is closed: for a unit of work that reads the same reference data again and
    again and is one transaction anyway (a push). Its writers ``forget`` what they change."""
    session.info[_HELD] = {}


def held(session: Session, key: str, compute: Callable[[], T]) -> T:
    """``compute()``, kept in ``session`` if it holds reference data (else computed again)."""
    memo = session.info.get(_HELD)
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def forget(session: Session, key: str) -> None:
    memo = session.info.get(_HELD)
    if memo is not None:
        memo.pop(key, None)
