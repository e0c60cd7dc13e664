"""The export job, run on the photo pipeline's queue (in-process worker or `flask photos
worker` on Redis)."""

from __future__ import annotations

import functools
import uuid

from flask import Flask, current_app

from app.extensions import db
from app.ledger import services
from app.photos.backends import app_for_token, media, registry


@functools.cache
def _worker_app() -> Flask:
    # A separate worker process (Redis queue) builds the app from the environment once.
    from app import create_app

    return create_app()


def run_export(payload: dict) -> None:
    """Make one export's file (``payload``: ``export_id``, the queuing app's token)."""
    app = app_for_token(payload.get("app")) or _worker_app()
    with app.app_context():
        settings = services.LedgerSettings.from_config(current_app.config)
        services.run_export(db.session, media(), uuid.UUID(payload["export_id"]), settings)


def register() -> None:
    """Enroll the export job in the queue's registry (called by create_app; the worker
    process builds the app too, so both know it)."""
    registry.register(services.JOB_NAME, run_export)
