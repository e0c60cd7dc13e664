"""``flask workcalendar …``: override days of the city's work calendar."""

import click
from flask.cli import AppGroup

from app.core.errors import DomainError
from app.extensions import db
from app.workcalendar import services

group = AppGroup("workcalendar", help="Manage the city's work calendar.")


@group.command("set-day")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--workday/--holiday", "is_workday", required=True, help="A workday or a day off.")
@click.option("--note", help="Why, e.g. 台风停工 or 调休上班.")
def set_day(day, is_workday, note):
    """Make DAY (YYYY-MM-DD) a workday or a day off, whatever the national calendar says."""
    override = services.set_day_override(db.session, day.date(), is_workday, note)
    kind = "a workday" if override.is_workday else "a day off"
    click.echo(f"{override.day.isoformat()} is {kind}" + (f" ({note})" if note else ""))


@group.command("remove-day")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
def remove_day(day):
    """Drop the override of DAY; the national calendar applies again."""
    try:
        services.remove_day_override(db.session, day.date())
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"{day.date().isoformat()} follows the national calendar again")
