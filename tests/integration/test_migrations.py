"""Migrations: one head, upgrade → downgrade → upgrade, and models and migrations agree."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

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
