"""``flask sync …``: housekeeping of the offline-sync log."""

from __future__ import annotations

import datetime as dt

import click
from flask import current_app
from flask.cli import AppGroup

from app.core.clock import utcnow
from app.extensions import db
from app.feed import services as feed
from app.sync_api.retention import prune_mutations

group = AppGroup("sync", help="Offline sync housekeeping.")


@group.command("prune")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Keep outcomes this many days (default: SYNC_RETENTION_DAYS, 90).",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=1000, show_default=True)
def prune(days, batch_size):
    """Forget mutation outcomes and feed changes past retention (run daily from cron).

    Rejected mutations and conflicts still open are kept, whatever their age. A phone whose
    pull cursor is older than the changes kept gets a reset and pulls from empty.
    """
    days = days or current_app.config["SYNC_RETENTION_DAYS"]
    pruned = prune_mutations(
        db.session,
        utcnow(),
        dt.timedelta(days=days),
        batch_size=batch_size,
        on_progress=lambda done: click.echo(f"  … {done} outcomes pruned"),
    )
    click.echo(
        f"pruned {pruned.mutations} mutation outcomes and {pruned.failures} failure records "
        f"decided before {pruned.cutoff:%Y-%m-%d %H:%M} UTC ({days} days); kept "
        f"{pruned.kept_rejected} rejected and {pruned.kept_open_conflicts} of open conflicts"
    )
    changes = feed.prune_before(db.session, pruned.cutoff)
    click.echo(f"pruned {changes} feed rows committed before the same cutoff")
