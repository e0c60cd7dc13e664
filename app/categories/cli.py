"""``flask categories …``: load the national categories."""

import click
from flask.cli import AppGroup

from app.categories import services
from app.extensions import db

group = AppGroup("categories", help="Load and inspect case categories.")


@group.command("seed")
def seed():
    """Add the national categories that are missing; existing ones are left as they are."""
    counts = services.seed_national_categories(db.session)
    click.echo(f"categories: {counts.created} created, {counts.unchanged} already present")
