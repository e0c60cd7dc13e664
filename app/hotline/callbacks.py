"""The callback to the 12345 system when a hotline case closes or is rejected: a webhook
delivery in the notifications outbox (retried, and listed as failed if it never gets
through). ``register`` subscribes it to the case workflow's outbox topic ``case.ended``,
written in the closing move's transaction: a callback is not lost if the process dies
after the move commits. ``create_app`` calls it."""

from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from app.cases.models import Case, CasePhoto, FlowEntry
from app.cases.topics import CASE_ENDED
from app.cases.workflow import CLOSED_STATES, State
from app.core import outbox
from app.core.db import transaction
from app.hotline.models import HotlineOrder
from app.notifications.services import enqueue

log = logging.getLogger(__name__)
KIND = "hotline_callback"


def result_of(state: str) -> str | None:
    """What the hotline hears: ``closed`` (结案, also a self-handled case) or ``rejected``."""
    if state == State.REJECTED:
        return "rejected"
    if state in CLOSED_STATES:
        return "closed"
    return None


def callback_payload(session: Session, order: HotlineOrder, case: Case, result: str) -> dict:
    opinion = session.scalar(
        sa.select(FlowEntry.opinion)
        .where(FlowEntry.case_id == case.id, FlowEntry.to_state == case.state)
        .order_by(FlowEntry.seq.desc())
        .limit(1)
    )
    photo_id = session.scalar(
        sa.select(CasePhoto.photo_id)
        .where(CasePhoto.case_id == case.id, CasePhoto.kind == "closure")
        .order_by(CasePhoto.added_at.desc())
        .limit(1)
    )
    base = current_app.config.get("HOTLINE_PHOTO_BASE_URL", "").rstrip("/")
    return {
        "order_number": order.order_number,
        "case_number": case.number,
        "result": result,
        "opinion": opinion,
        "closure_photo_url": f"{base}/api/v1/photos/{photo_id}/original" if photo_id else None,
        "at": case.updated_at.isoformat(),
    }


def call_back(session: Session, case_id: uuid.UUID, to_state: str) -> None:
    """Enqueue the callback of a hotline case that reached ``to_state``, once per order."""
    result = result_of(to_state)
    if result is None:
        return
    order = session.scalar(sa.select(HotlineOrder).where(HotlineOrder.case_id == case_id))
    if order is None:
        return
    endpoint = current_app.config.get("HOTLINE_CALLBACK_URL")
    if not endpoint:
        log.warning("hotline order %s: no HOTLINE_CALLBACK_URL to call back", order.order_number)
        return
    case = session.get(Case, case_id)
    with transaction(session):
        enqueue(
            session,
            KIND,
            callback_payload(session, order, case, result),
            endpoint=endpoint,
            channel="webhook",
            dedupe_key=f"hotline:{order.order_number}:{result}",
        )


def on_case_ended(session: Session, payload: dict) -> None:
    """The outbox handler of ``case.ended``: raises, so that its row is tried again."""
    call_back(session, uuid.UUID(payload["case_id"]), payload["to_state"])


def register() -> None:
    outbox.subscribe(CASE_ENDED, "hotline.callback", on_case_ended)
