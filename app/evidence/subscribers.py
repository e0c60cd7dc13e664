"""Run the evidence checks when photos reach a case, when their bytes arrive and when their
perceptual hash is made. ``register`` connects them; ``create_app`` calls it.

Photos reaching a case (a closure, a check, a merge) is an outbox topic
(``case.photos_added``, written in the move's transaction): its check must not be lost, so
it is retried until it ran, and the relay runs it if the process died after the move
committed. The bytes arriving and the pHash being made stay in-process signals of the
photo pipeline (best effort): a check they miss is found by ``flask evidence recheck``
(its result marker is missing, or was left before the pHash existed).

Each works in a session of its own, so the sender's session is left as it was. The signal
subscribers never raise into the sender; the outbox handler raises, so that its row is
tried again.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy.orm import Session

from app.cases.topics import PHOTOS_ADDED
from app.core import outbox
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


def check_added_photos(session: Session, payload: dict) -> None:
    """Closure and check photos are checked at once. Other photos (problem photos, or the
    mixed kinds a merge copies over, ``kind`` None) re-check the case's closure and check
    photos against them. The outbox handler of ``case.photos_added``."""
    kind = payload.get("kind")
    photo_ids = [uuid.UUID(value) for value in payload["photo_ids"]]
    services.check_case_photos(
        session,
        uuid.UUID(payload["case_id"]),
        photo_ids if kind in services.CHECKED_KINDS else None,
        **_limits(),
    )


def check_many_added_photos(session: Session, payloads: list[dict]) -> None:
    """``check_added_photos`` for many rows at once (a push's photos): per case, the union
    of the photos to check, or all of its closure and check photos if any row asks so."""
    wanted: dict[uuid.UUID, set[uuid.UUID] | None] = {}
    for payload in payloads:
        case_id = uuid.UUID(payload["case_id"])
        photo_ids = {uuid.UUID(value) for value in payload["photo_ids"]}
        so_far = wanted.get(case_id, set())
        if so_far is None or payload.get("kind") not in services.CHECKED_KINDS:
            wanted[case_id] = None
        else:
            wanted[case_id] = so_far | photo_ids
    services.check_many_cases(session, wanted, **_limits())


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
    outbox.subscribe(
        PHOTOS_ADDED, "evidence.check_photos", check_added_photos, check_many_added_photos
    )
    photos_available.connect(on_photos_available)
    blob_processed.connect(on_blob_processed)
