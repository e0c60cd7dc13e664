"""Migrations: one head, upgrade → downgrade → upgrade, and models and migrations agree."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session

from app.core.db import make_engine, on_dialect
from app.models import metadata
from tests.conftest import PG_URL, backend_params

ROOT = Path(__file__).resolve().parents[2]


def _config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = url
    config.attributes["configure_logging"] = False
    return config


@pytest.fixture(params=backend_params())
def empty_database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    base = sa.engine.make_url(PG_URL)
    name = f"{base.database}_migrations"
    admin = make_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_single_head_and_every_revision_reversible():
    script = ScriptDirectory.from_config(_config("sqlite://"))
    assert len(script.get_heads()) == 1
    for revision in script.walk_revisions():
        source = Path(revision.path).read_text()
        assert "def downgrade" in source and "pass\n" not in source.split("def downgrade")[1][:80]


def test_upgrade_downgrade_upgrade_and_models_match(empty_database_url):
    config = _config(empty_database_url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    engine = make_engine(empty_database_url)
    try:
        left = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
        assert left == set(), f"downgrade left tables behind: {left}"
        command.upgrade(config, "head")
        with engine.connect() as connection:
            opts = {"compare_type": True, "include_object": on_dialect(engine.dialect.name)}
            context = MigrationContext.configure(connection, opts=opts)
            differences = compare_metadata(context, metadata)
        assert differences == [], f"models and migrations differ: {differences}"
    finally:
        engine.dispose()


def _a_case_with_a_step(engine: sa.Engine) -> None:
    """A case with a flow step (``case_flow`` → ``cases``): what a rebuild of ``cases``
    (SQLite's way to change one of its constraints) must carry over."""
    from app.cases.models import Case, FlowEntry
    from app.categories.models import Category

    with Session(engine) as session, session.begin():
        category = Category(
            kind="event",
            edition="gbt47678",
            code="06010",
            major_code="06",
            major_name="市容环境",
            name="暴露垃圾",
            time_limit=4,
            limit_type="working_hours",
        )
        session.add(category)
        session.flush()
        case = Case(
            id=uuid.uuid4(),
            number="T1",
            source="inspector",
            category_id=category.id,
            description="x",
            lat=24.4,
            lon=118.1,
            locate_status="inside",
        )
        session.add(case)
        session.flush()
        session.add(
            FlowEntry(
                case_id=case.id, seq=1, action="report", to_state="reported", actor_role="inspector"
            )
        )


def test_a_database_holding_cases_migrates_down_and_up(empty_database_url):
    """Every migration since the first one that rebuilds ``cases`` runs on a database
    with rows pointing at a case (SQLite enforces foreign keys: the rebuild used to fail
    there, and left half its tables behind)."""
    config = _config(empty_database_url)
    command.upgrade(config, "head")
    engine = make_engine(empty_database_url)
    try:
        _a_case_with_a_step(engine)
        command.downgrade(config, "c76f64058164")
        command.upgrade(config, "head")
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM case_flow")).scalar() == 1
            assert connection.execute(sa.text("SELECT number FROM cases")).scalar() == "T1"
            version = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert version.scalar() == ScriptDirectory.from_config(config).get_current_head()
    finally:
        engine.dispose()
