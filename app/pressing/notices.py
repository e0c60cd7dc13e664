"""A pressed case (督办) is told to the people working on it through the notifications
outbox. ``register`` connects it; ``create_app`` calls it."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.orm import Session

from app.cases.models import Case
from app.cases.notices import assignees_of
from app.core.db import transaction
from app.extensions import db
from app.notifications.services import enqueue
from app.pressing.events import case_pressed
from app.pressing.models import LEVELS

log = logging.getLogger(__name__)


def notify_pressed(
    session: Session, case_id: uuid.UUID, level: int, automatic: bool, pressing_id: int | None
) -> int:
    case = session.get(Case, case_id)
    if case is None:
        return 0
    payload = {
        "case_id": str(case_id),
        "case_number": case.number,
        "level": level,
        "level_name": LEVELS.get(level),
        "automatic": automatic,
    }
    added = 0
    with transaction(session):
        for user_id in sorted(assignees_of(session, [case_id]).get(case_id, ())):
            key = f"press:{pressing_id}:{user_id}" if pressing_id else None
            added += (
                enqueue(session, "case_pressed", payload, user_id=user_id, dedupe_key=key)
                is not None
            )
    return added


def on_case_pressed(
    _sender, case_id: uuid.UUID, level: int, automatic: bool, pressing_id: int | None = None
) -> None:
    try:
        with db.new_session() as session:
            notify_pressed(session, case_id, level, automatic, pressing_id)
    except Exception:
        log.exception("pressing notification of case %s not enqueued", case_id)


def register() -> None:
    case_pressed.connect(on_case_pressed)
