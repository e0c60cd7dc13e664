"""Alembic environment: the database URL comes from DATABASE_URL (or the caller's config)."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from app import config as app_config
from app.core.db import make_engine, on_dialect
from app.models import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    return config.attributes.get("url") or app_config.from_environment()["SQLALCHEMY_DATABASE_URL"]


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    if connection.dialect.name == "sqlite":
        _run_sqlite(connection)
        return
    _configure_and_run(connection)


def _run_sqlite(connection) -> None:
    """SQLite changes a constraint by rebuilding the table (batch mode: copy, drop, rename).
    With foreign keys enforced, dropping ``cases`` while ``case_flow`` rows point at it
    fails, so a database holding data could not be upgraded. Enforcement is switched off
    for the migration (outside a transaction, where SQLite honours it) and every foreign
    key is checked after it; a dangling one fails the upgrade loudly."""
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()  # no transaction open: Alembic begins and commits its own
    try:
        _configure_and_run(connection)
        dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if dangling:
            raise RuntimeError(f"foreign keys broken by the migration: {dangling[:10]}")
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


def _configure_and_run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
        include_object=on_dialect(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
