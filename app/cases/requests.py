"""Requests a dispatcher decides: a return (回退), an extension (延期), a suspension (挂账),
a cancellation (作废) or self-handling (自处理). An approved request is the workflow move
it asked for (``workflow.REQUESTS``)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.cases import workflow
from app.cases.bounds import check_extension_amount
from app.cases.events import case_photos_added
from app.cases.models import Case, CaseRequest
from app.cases.moves import MoveSetting, announce, apply_move, check_move
from app.cases.services import (
    CasePolicy,
    MoveArgs,
    PhotoRef,
    Stamp,
    add_case_photos,
    append_flow,
    attach_photos,
    get_case,
    may_request,
    moving,
    opinion_text,
    register_photos,
    unique_photo_refs,
)
from app.cases.tasks import rectify_task
from app.cases.workflow import Evidence, RequestKind
from app.core import events
from app.core.clock import utcnow
from app.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.photos.backends import Media

REQUEST_PHOTO_KIND = {RequestKind.SELF_HANDLE: "closure"}


@dataclasses.dataclass(frozen=True)
class NewRequest:
    """A request as asked: its kind, the reason, for an extension the amount in the limit's
    unit, and photos (a self-handling request's after-photos)."""

    kind: str
    reason: str | None = None
    extension_amount: float | None = None
    photos: Iterable = ()


def create_request(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    case_id: uuid.UUID,
    asked: NewRequest,
) -> CaseRequest:
    """Ask a dispatcher for a return, extension, suspension, cancellation or self-handling.

    One pending request of a kind per case (a second is a 409). A handler asks only for
    their department's case, a merchant only for a case sent to them to rectify (a return:
    "not my frontage"); a self-handling request carries the after-photo.
    """
    case = get_case(session, user, case_id)
    try:
        kind = RequestKind(asked.kind)
    except ValueError:
        raise ValidationFailed(f"no such request {asked.kind!r}", {"kind": ["unknown"]}) from None
    refs = unique_photo_refs(asked.photos, REQUEST_PHOTO_KIND.get(kind))
    _check_asker(session, case, user, kind, _carried(asked.reason, refs))
    extension_amount = _extension_amount(kind, asked.extension_amount)
    if extension_amount is not None:
        _extension_left(case)
        check_extension_amount(session, case, extension_amount)
    _pending_conflict(session, case, kind)
    register_photos(session, media, user, refs)
    now = utcnow()
    with moving(session):
        _pending_conflict(session, case, kind)
        request = CaseRequest(
            id=uuid.uuid4(),
            case_id=case.id,
            kind=kind,
            status="pending",
            requested_by=user.id,
            reason=opinion_text(asked.reason),
            extension_amount=extension_amount,
            photo_ids=[str(ref.photo_id) for ref in refs],
            created_at=now,
        )
        session.add(request)
        attached = add_case_photos(session, case, user, refs, now)
        case.updated_at = now  # bumps the version: two racing requests cannot both land
        append_flow(
            session,
            case,
            Stamp(user, device_id, now),
            f"request_{kind}",
            case.state,
            opinion=request.reason,
            photo_ids=[ref.photo_id for ref in refs],
            data={"request_id": str(request.id), "extension_amount": extension_amount},
        )
    if attached:
        events.send(case_photos_added, case_id=case.id, photo_ids=attached, kind=refs[0].kind)
    return request


def _carried(reason: str | None, refs: list[PhotoRef]) -> set[Evidence]:
    carried: set[Evidence] = set()
    if opinion_text(reason):
        carried.add(Evidence.OPINION)
    if any(ref.kind == "closure" for ref in refs):
        carried.add(Evidence.CLOSURE_PHOTO)
    return carried


def _check_asker(
    session: Session, case: Case, user: User, kind: RequestKind, carried: set[Evidence]
) -> None:
    """The workflow lets ``user`` ask this now, and the case is theirs to ask about."""
    may_request(kind, case.state, user.role, carried)
    if user.role == Role.HANDLER and case.department_id != user.org_unit_id:
        raise Forbidden(f"case {case.number} is not your department's")
    if user.role == Role.MERCHANT:
        rectify_task(session, case, user)
    if kind == RequestKind.SELF_HANDLE and case.reporter_id != user.id:
        raise Forbidden("only the reporter fixes a case on the spot")


def _extension_amount(kind: RequestKind, amount: float | None) -> float | None:
    if kind != RequestKind.EXTENSION:
        return None
    if amount is None or not amount > 0:
        raise ValidationFailed(
            "an extension asks for a positive amount in the limit's unit",
            {"extension_amount": ["required, > 0"]},
        )
    return amount


def _extension_left(case: Case) -> None:
    """A case extended twice cannot be extended again: asking is a 409 at once."""
    if case.extension_count >= workflow.MAX_EXTENSIONS:
        raise Conflict(
            f"case {case.number} was extended {case.extension_count} times, the most it may be",
            {"reason": "too_many_extensions"},
        )


def ask_self_handling(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    case_id: uuid.UUID,
    *,
    note: str | None = None,
    photos: Iterable = (),
) -> tuple[CaseRequest, bool]:
    """Fixed on the spot (自处理): a ``self_handle`` request with its after-photos; the
    request and whether it was a repeat.

    The same move made twice — the reporter's two phones, each queueing it offline — is
    applied once (API.md, conflict rule 1): while the user's own self-handling request is
    pending or approved, a second one adds its after-photos to the case as evidence and
    returns that request (``True``). Anything else goes through ``create_request``.
    """
    case = get_case(session, user, case_id)
    earlier = session.scalar(
        sa.select(CaseRequest)
        .where(
            CaseRequest.case_id == case.id,
            CaseRequest.kind == RequestKind.SELF_HANDLE,
            CaseRequest.requested_by == user.id,
            CaseRequest.status.in_(("pending", "approved")),
        )
        .order_by(CaseRequest.created_at.desc())
        .limit(1)
    )
    if earlier is None:
        asked = NewRequest(RequestKind.SELF_HANDLE, reason=note, photos=photos)
        return create_request(session, media, user, device_id, case.id, asked), False
    refs = unique_photo_refs(photos, REQUEST_PHOTO_KIND[RequestKind.SELF_HANDLE])
    if refs:
        attach_photos(session, media, user, device_id, case.id, refs)
    return earlier, True


def _pending_conflict(session: Session, case: Case, kind: str) -> None:
    pending = session.scalar(
        sa.select(CaseRequest.id).where(
            CaseRequest.case_id == case.id,
            CaseRequest.kind == kind,
            CaseRequest.status == "pending",
        )
    )
    if pending is not None:
        raise Conflict(
            f"case {case.number} already has a pending {kind} request",
            {"reason": "pending_request", "request_id": str(pending)},
        )


def requests_query(status: str | None = None, kind: str | None = None) -> sa.Select:
    """Requests by status and kind, oldest first."""
    stmt = sa.select(CaseRequest)
    if status:
        stmt = stmt.where(CaseRequest.status == status)
    if kind:
        stmt = stmt.where(CaseRequest.kind == kind)
    return stmt.order_by(CaseRequest.created_at, CaseRequest.id)


def decide_request(
    session: Session,
    user: User,
    device_id: str | None,
    request_id: uuid.UUID,
    *,
    approve: bool,
    opinion: str | None = None,
    policy: CasePolicy = CasePolicy(),
) -> CaseRequest:
    """A dispatcher approves (the request's move is applied) or refuses a request."""
    request = session.get(CaseRequest, request_id)
    if request is None:
        raise NotFound(f"request {request_id} does not exist")
    if request.status != "pending":
        raise Conflict(
            f"request {request_id} was already {request.status}", {"reason": "already_decided"}
        )
    case = session.get(Case, request.case_id)
    rule = workflow.REQUESTS[RequestKind(request.kind)]
    args = MoveArgs(
        opinion=opinion_text(opinion) or request.reason,
        extension_amount=request.extension_amount,
        request_id=request.id,
    )
    if approve:
        check_move(session, case, user, rule.approve, args)
    setting = MoveSetting.now_for(session, user, device_id, policy)
    moved = []
    with moving(session):
        request.status = "approved" if approve else "refused"
        request.decided_by = user.id
        request.decided_at = setting.now
        request.decision_opinion = opinion_text(opinion)
        if approve:
            moved.append(apply_move(session, case, rule.approve, args, setting))
        else:
            case.updated_at = setting.now
            append_flow(
                session,
                case,
                Stamp(user, device_id, setting.now),
                f"refuse_{request.kind}",
                case.state,
                opinion=opinion_text(opinion),
                data={"request_id": str(request.id)},
            )
    announce(moved)
    return request
