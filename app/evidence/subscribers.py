"""Run the evidence checks when photos reach a case, when their bytes arrive and when their
perceptual hash is made. ``register`` connects them; ``create_app`` calls it.

Each subscriber works in a session of its own, so the sender's session is left as it was,
and never raises into the sender: an evidence check that fails is logged, and the photo
or move that triggered it stands.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy.orm import Session

from app.cases.events import case_photos_added
from app.evidence import services
from app.extensions import db
from app.photos.events import blob_processed, photos_available

log = logging.getLogger(__name__)


def _limits() -> dict:
    config = current_app.config
    return {
        "max_distance_m": config["EVIDENCE_MAX_DISTANCE_M"],
        "phash_distance": config["EVIDENCE_PHASH_DISTANCE"],
    }


@contextmanager
def _own_session() -> Iterator[Session]:
    with db.new_session() as session:
        yield session


def _never_raise(subscriber: Callable) -> Callable:
    @functools.wraps(subscriber)
    def guarded(_sender, **kwargs) -> None:
        try:
            subscriber(**kwargs)
        except Exception:
            log.exception("evidence check failed on %s", kwargs)

    return guarded


@_never_raise
def on_case_photos_added(case_id: uuid.UUID, photo_ids: list[uuid.UUID], kind: str | None) -> None:
    """Closure and check photos are checked at once. Other photos (problem photos, or the
    mixed kinds a merge copies over, ``kind`` None) re-check the case's closure and check
    photos against them."""
    with _own_session() as session:
        services.check_case_photos(
            session, case_id, photo_ids if kind in services.CHECKED_KINDS else None, **_limits()
        )


@_never_raise
def on_photos_available(photo_ids: list[uuid.UUID], sha256: str) -> None:
    """Bytes arrived after the photo was attached: the EXIF checks can run now."""
    with _own_session() as session:
        for case_id, photo_id in services.cases_of_photos(session, photo_ids):
            services.check_case_photos(session, case_id, [photo_id], **_limits())


@_never_raise
def on_blob_processed(sha256: str) -> None:
    """The perceptual hash is made: the picture comparisons can run now."""
    with _own_session() as session:
        services.recheck_blob(session, sha256, **_limits())


def register() -> None:
    """Connect the checks to the signals (blinker keeps one connection per receiver)."""
    case_photos_added.connect(on_case_photos_added)
    photos_available.connect(on_photos_available)
    blob_processed.connect(on_blob_processed)
