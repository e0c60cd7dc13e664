"""Merging a duplicate into another open case (合并)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases import queries
from app.cases.events import case_photos_added
from app.cases.models import Case, CasePhoto, CaseReporter, DuplicateCandidate, FlowEntry
from app.cases.moves import MoveSetting, announce, apply_move
from app.cases.services import (
    CasePolicy,
    MoveArgs,
    Stamp,
    append_flow,
    decide,
    get_case,
    moving,
    opinion_text,
    publish_photos_added,
)
from app.cases.workflow import Action
from app.core import events
from app.core.errors import Conflict, ValidationFailed


def merge_case(
    session: Session,
    user: User,
    device_id: str | None,
    case_id: uuid.UUID,
    into: uuid.UUID,
    opinion: str | None = None,
) -> Case:
    """Merge a duplicate into another open case (合并): the source ends ``rejected``; the
    target keeps every photo and reporter of both. Returns the target."""
    source = get_case(session, user, case_id)
    target = get_case(session, user, into)
    if source.id == target.id:
        raise ValidationFailed("a case cannot be merged into itself", {"into": ["same case"]})
    if target.state not in queries.OPEN or target.merged_into_id is not None:
        raise Conflict(f"case {target.number} is {target.state}", {"reason": "target_closed"})
    decide(Action.MERGE, source.state, user.role, ())
    setting = MoveSetting.now_for(session, user, device_id, CasePolicy())
    now = setting.now
    with moving(session):
        moved = apply_move(session, source, Action.MERGE, MoveArgs(opinion=opinion), setting)
        source.merged_into_id = target.id
        entry = session.scalar(
            sa.select(FlowEntry)
            .where(FlowEntry.case_id == source.id)
            .order_by(FlowEntry.seq.desc())
            .limit(1)
        )
        entry.data = {**entry.data, "into": str(target.id), "into_number": target.number}
        copied = _copy_photos(session, source, target, now)
        _copy_reporters(session, source, target)
        _settle_candidates(session, source, target)
        target.updated_at = now
        append_flow(
            session,
            target,
            Stamp(user, device_id, now),
            "merge_in",
            target.state,
            opinion=opinion_text(opinion),
            photo_ids=copied,
            data={"from": str(source.id), "from_number": source.number},
        )
    announce([moved])
    if copied:
        events.send(case_photos_added, case_id=target.id, photo_ids=copied, kind=None)
    return target


def _copy_photos(session: Session, source: Case, target: Case, now) -> list[uuid.UUID]:
    """The source's photos the target lacks, attached to it as their adder attached them."""
    have = set(session.scalars(sa.select(CasePhoto.photo_id).where(CasePhoto.case_id == target.id)))
    copied = []
    for photo in session.scalars(sa.select(CasePhoto).where(CasePhoto.case_id == source.id)):
        if photo.photo_id not in have:
            session.add(
                CasePhoto(
                    case_id=target.id,
                    photo_id=photo.photo_id,
                    kind=photo.kind,
                    added_by=photo.added_by,
                    added_at=now,
                )
            )
            copied.append(photo.photo_id)
    if copied:
        publish_photos_added(session, target.id, copied, None)
    return copied


def _copy_reporters(session: Session, source: Case, target: Case) -> None:
    have = set(
        session.scalars(sa.select(CaseReporter.user_id).where(CaseReporter.case_id == target.id))
    )
    for reporter in session.scalars(
        sa.select(CaseReporter).where(CaseReporter.case_id == source.id)
    ):
        if reporter.user_id not in have:
            session.add(
                CaseReporter(
                    case_id=target.id,
                    user_id=reporter.user_id,
                    original_case_id=reporter.original_case_id,
                )
            )


def _settle_candidates(session: Session, source: Case, target: Case) -> None:
    """The source's merge candidates: the pair merged now is ``merged``, the rest dismissed."""
    for candidate in session.scalars(
        sa.select(DuplicateCandidate).where(
            sa.or_(
                DuplicateCandidate.case_id == source.id,
                DuplicateCandidate.other_case_id == source.id,
            )
        )
    ):
        pair = {candidate.case_id, candidate.other_case_id}
        candidate.status = "merged" if pair == {source.id, target.id} else "dismissed"
