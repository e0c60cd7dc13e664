"""The city's periodic jobs: each calls the function its own command runs (``flask pressing
run``, ``flask sync prune`` …) and returns a one-line summary. The intervals are settings
(``SCHEDULE_INTERVALS``); the scheduler (``runner``) makes each run once per due time."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from flask import Flask

from app.core import outbox
from app.core.clock import utcnow
from app.evidence.cli import recheck_all
from app.extensions import db
from app.feed import services as feed
from app.hotline import services as hotline
from app.notifications import services as notifications
from app.photos import uploads
from app.photos.backends import media
from app.pressing import services as pressing
from app.sync_api.retention import prune_mutations
from app.workcalendar.services import get_calendar

log = logging.getLogger(__name__)
Job = Callable[[Flask], str]


def relay_outbox(app: Flask) -> str:
    report = outbox.relay(db.new_session, outbox.OutboxSettings.from_config(app.config))
    keep = dt.timedelta(days=app.config["OUTBOX_KEEP_DAYS"])
    pruned = outbox.prune_done(db.session, utcnow() - keep)
    return (
        f"outbox: {report.done} done, {report.retrying} retrying, {report.failed} failed; "
        f"{pruned} done rows pruned"
    )


def deliver_notifications(app: Flask) -> str:
    now = utcnow()
    notifications.run_scanners(db.session, now)
    settings = notifications.DeliverySettings.from_config(app.config)
    report = notifications.deliver_due(db.session, notifications.senders_of(app), settings, now)
    return f"notifications: {report.sent} sent, {report.retrying} retrying, {report.failed} failed"


def press_overdue(app: Flask) -> str:
    report = pressing.escalate_overdue(
        db.session, utcnow(), get_calendar(db.session), app.config["PRESS_LEVEL_FRACTIONS"]
    )
    return f"pressing: {report.checked} overdue checked, {report.escalated} escalated"


def recheck_evidence(_app: Flask) -> str:
    report = recheck_all(echo=log.info)
    return f"evidence: {report.photos} photos rechecked, {len(report.failed)} cases failed"


def purge_uploads(_app: Flask) -> str:
    count = uploads.purge_uploads(db.session, media())
    return f"uploads: {count} expired partial uploads purged (stalled finishes done on S3)"


def prune_sync(app: Flask) -> str:
    days = app.config["SYNC_RETENTION_DAYS"]
    pruned = prune_mutations(db.session, utcnow(), dt.timedelta(days=days))
    changes = feed.prune_before(db.session, pruned.cutoff)
    return f"sync: {pruned.mutations} outcomes and {changes} feed changes pruned"


def anonymise_callers(app: Flask) -> str:
    count = hotline.anonymise(db.session, app.config["HOTLINE_PII_RETENTION_DAYS"])
    return f"hotline: {count} orders' callers forgotten"


#: Every job the scheduler knows, by the name its interval setting uses. Monthly
#: assessment publishing is not here: it is a person's act (a user publishes a month).
JOBS: dict[str, Job] = {
    "outbox_relay": relay_outbox,
    "notifications": deliver_notifications,
    "pressing": press_overdue,
    "evidence_recheck": recheck_evidence,
    "purge_uploads": purge_uploads,
    "sync_prune": prune_sync,
    "hotline_anonymise": anonymise_callers,
}
