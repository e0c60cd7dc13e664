"""``flask demo load``: the demo district, its users and their password."""

import click
from flask.cli import AppGroup

from app.core.errors import DomainError
from app.demo import services
from app.extensions import db

group = AppGroup("demo", help="The demo district.")


@group.command("load")
def load():
    """Load the demo district (once) and print its users and password."""
    try:
        report = services.load_demo(db.session, progress=lambda message: click.echo(message))
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
