"""``flask hotline anonymise``: forget the callers of old work orders (run by cron)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.extensions import db
from app.hotline import services

group = AppGroup("hotline", help="The 12345 hotline bridge.")


@group.command("anonymise")
@click.option("--days", type=int, default=None, help="Override HOTLINE_PII_RETENTION_DAYS.")
def anonymise(days: int | None):
    """Clear the caller's name and phone of orders older than the retention."""
    retention = days if days is not None else current_app.config["HOTLINE_PII_RETENTION_DAYS"]
    if retention < 0:
        raise click.BadParameter("the retention is a number of days, 0 or more")
    count = services.anonymise(db.session, retention)
    click.echo(f"orders anonymised: {count}")
