"""``flask notifications deliver``: send the due deliveries (once, or in a loop)."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import AppGroup

from app.core.clock import utcnow
from app.extensions import db
from app.notifications import services

group = AppGroup("notifications", help="The notifications outbox.")


def deliver_once(app) -> services.DeliveryReport:
    """One pass: the domains' scanners enqueue what became due, then the due are sent."""
    now = utcnow()
    services.run_scanners(db.session, now)
    settings = services.DeliverySettings.from_config(app.config)
    return services.deliver_due(db.session, services.senders_of(app), settings, now)


@group.command("deliver")
@click.option("--loop", is_flag=True, help="Keep delivering, a pass every --interval seconds.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between passes.")
def deliver(loop: bool, interval: float):
    """Send the notifications that are due, retrying failures with a backoff."""
    app = current_app._get_current_object()
    while True:
        report = deliver_once(app)
        click.echo(f"sent: {report.sent}; retrying: {report.retrying}; failed: {report.failed}")
        if not loop:
            return
        time.sleep(interval)
