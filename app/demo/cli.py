"""``flask demo load``: the demo district, its users and their password."""

import click
from flask.cli import AppGroup

from app.core.errors import DomainError
from app.demo import services
from app.demo.history import HistoryPlan
from app.demo.open311 import load_open311_client
from app.extensions import db
from app.photos.backends import media

group = AppGroup("demo", help="The demo district.")


@group.command("load")
@click.option(
    "--history/--no-history",
    default=True,
    help="Also write three months of case history and today's desk (once; default: yes).",
)
def load(history: bool):
    """Load the demo district and its history (once) and print its users and password."""
    try:
        report = services.load_demo(
            db.session,
            progress=lambda message: click.echo(message),
            media=media(),
            history=HistoryPlan() if history else None,
        )
    except DomainError as error:
        raise click.ClickException(f"{error.message} {error.errors or ''}".strip()) from None
    click.echo("")
    click.echo(f"Demo users (password for all: {services.DEMO_PASSWORD}):")
    for user in report.users:
        if user.username.startswith("demo_"):
            click.echo(f"  {user.username:<20} {user.role:<13} {user.display_name}")
    others = sum(1 for user in report.users if not user.username.startswith("demo_"))
    if others:
        click.echo(
            f"  … and {others} more inspectors, chiefs, handlers and merchants "
            "with the same password"
        )
    open311_key = load_open311_client(db.session)
    click.echo("")
    click.echo(f"Open311 GeoReport v2: /open311/v2/services.json, api_key {open311_key}")
