"""``flask orgs …``: create org units from the command line."""

import click
from flask.cli import AppGroup

from app.core.errors import DomainError
from app.extensions import db
from app.orgunits import services
from app.orgunits.models import OrgKind

group = AppGroup("orgs", help="Create org units.")


@group.command("create")
@click.option("--kind", required=True, type=click.Choice([kind.value for kind in OrgKind]))
@click.option("--code", required=True)
@click.option("--name", required=True)
@click.option("--parent", "parent_code", help="The parent's code.")
def create_org_unit(kind, code, name, parent_code):
    """Create a district, street, community or department."""
    try:
        unit = services.create_org_unit(db.session, kind, code, name, parent_code)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"created {unit.kind} {unit.code} {unit.name} (id {unit.id})")
