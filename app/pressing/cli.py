"""``flask pressing …``: escalate overdue cases (run by cron)."""

from __future__ import annotations

import datetime as dt

import click
from flask import current_app
from flask.cli import AppGroup

from app.core.clock import utcnow
from app.extensions import db
from app.pressing import services
from app.pressing.models import LEVELS
from app.workcalendar.services import get_calendar

group = AppGroup("pressing", help="Pressing (三级督办) of overdue cases.")


def _instant(_ctx, _param, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise click.BadParameter("give the time with its offset, e.g. 2026-11-23T11:00+08:00")
    return moment


@group.command("run")
@click.option(
    "--at", "at", callback=_instant, help="Measure as of this time (ISO 8601); default now."
)
def run(at):
    """Press every overdue case at the level it has reached. Idempotent; run it from cron."""
    report = services.escalate_overdue(
        db.session,
        at or utcnow(),
        get_calendar(db.session),
        current_app.config["PRESS_LEVEL_FRACTIONS"],
    )
    click.echo(f"overdue cases checked: {report.checked}; escalated: {report.escalated}")
    for level, name in LEVELS.items():
        click.echo(f"level {level} ({name}): {report.pressed[level]} new")
