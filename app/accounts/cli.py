"""``flask users …``: create users from the command line."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.accounts import services
from app.accounts.models import ROLE_VALUES
from app.core.errors import DomainError
from app.extensions import db
from app.orgunits.services import find_by_code

group = AppGroup("users", help="Create and manage users.")


@group.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(ROLE_VALUES))
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--display-name")
@click.option("--org-unit", "org_unit_code", help="Code of the user's org unit.")
@click.option("--road-id", type=int, help="For a road chief: the road's id.")
def create_user(username, role, password, display_name, org_unit_code, road_id):
    """Create a user."""
    org_unit_id = None
    if org_unit_code:
        unit = find_by_code(db.session, org_unit_code)
        if unit is None:
            raise click.ClickException(f"org unit {org_unit_code} does not exist")
        org_unit_id = unit.id
    try:
        user = services.create_user(
            db.session,
            username=username,
            password=password,
            role=role,
            display_name=display_name,
            org_unit_id=org_unit_id,
            road_id=road_id,
        )
    except DomainError as error:
        raise click.ClickException(f"{error.message} {error.errors or ''}".strip()) from None
    click.echo(f"created user {user.id} {user.username} ({user.role})")
