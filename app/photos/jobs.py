"""Job functions of the photo pipeline, run by the in-process worker or `flask photos worker`."""

from __future__ import annotations

import functools

from flask import Flask

from app.extensions import db
from app.photos import services
from app.photos.backends import app_for_token, media, registry


@functools.cache
def _worker_app() -> Flask:
    # A separate worker process (Redis queue) builds the app from the environment once.
    from app import create_app

    return create_app()


@registry.job("process_blob")
def process_blob(payload: dict) -> str:
    """Make a blob's thumbnails and perceptual hash."""
    app = app_for_token(payload.get("app")) or _worker_app()
    with app.app_context():
        blob = services.process_blob(db.session, media(), payload["sha256"])
        return blob.processing
