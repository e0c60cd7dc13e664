"""A pressed case (督办) is told to the people working on it through the notifications
outbox, by the pressing's own transaction (``pressing.services`` calls
``add_pressed_notices``): a process dying after the pressing commits loses no notice, and
a second run of the escalation, which records nothing new, would not send them again."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from app.cases.models import Case
from app.cases.notices import assignees_of
from app.notifications.services import enqueue
from app.pressing.models import LEVELS


def add_pressed_notices(
    session: Session, case_id: uuid.UUID, level: int, automatic: bool, pressing_id: int | None
) -> int:
    """Tell the people working on the case it was pressed, in the caller's transaction (the
    one recording the pressing: the notices commit with it or not at all)."""
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
    for user_id in sorted(assignees_of(session, [case_id]).get(case_id, ())):
        key = f"press:{pressing_id}:{user_id}" if pressing_id else None
        notice = enqueue(session, "case_pressed", payload, user_id=user_id, dedupe_key=key)
        added += notice is not None
    return added
