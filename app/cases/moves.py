"""Workflow moves (立案, 派遣, 处置, 核查, 结案 …): decided by ``workflow.decide``, applied with
their effects (``move_effects``) and flow-log entry in one transaction, announced after
the commit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.cases import bounds, step_clocks, workflow
from app.cases.events import case_moved, case_photos_added
from app.cases.models import Case, CasePause, CasePhoto, CaseRequest, FlowEntry, Task
from app.cases.move_effects import EFFECTS, CaseMove, department, rectifying_shop
from app.cases.notices import add_task_notices
from app.cases.services import (
    CASE_PHOTOS,
    FLOW_SEQ,
    CasePolicy,
    MoveArgs,
    Stamp,
    add_case_photos,
    append_flow,
    decide,
    get_case,
    moving,
    opinion_text,
    refusal,
    register_photos,
    unique_photo_refs,
)
from app.cases.tasks import open_tasks_of, rectify_task
from app.cases.topics import CASE_ENDED
from app.cases.workflow import Action, Evidence
from app.core import db, events, outbox
from app.core.clock import utcnow
from app.core.errors import Forbidden, ValidationFailed
from app.photos.backends import Media
from app.photos.services import prepare_photos
from app.workcalendar.services import get_calendar
from app.workcalendar.worktime import WorkCalendar

# The photo kind a move's photos have when the phone does not say.
ACTION_PHOTO_KIND = {
    Action.SUBMIT_CLOSURE: "closure",
    Action.CHECK_PASS: "check",
    Action.CHECK_FAIL: "check",
    Action.RECORD_VERIFICATION: "check",
}
# Moves a field user, handler or merchant makes on a task: which task kind carries them.
TASK_OF_ACTION = {
    Action.RECORD_VERIFICATION: "verify",
    Action.CHECK_PASS: "check",
    Action.CHECK_FAIL: "check",
    Action.ACCEPT: "handle",
    Action.SUBMIT_CLOSURE: "handle",
    Action.MAKE_SAFE: "handle",
}


@dataclasses.dataclass(frozen=True)
class Moved:
    """A move made, as it is announced after the commit."""

    case_id: uuid.UUID
    action: str
    from_state: str
    to_state: str
    photo_ids: list[uuid.UUID]
    photo_kind: str | None


@dataclasses.dataclass(frozen=True)
class MoveSetting:
    """What every move of one transaction shares: who makes it, from which device, when,
    under which calendar and policy."""

    user: User
    device_id: str | None
    calendar: WorkCalendar
    policy: CasePolicy
    now: dt.datetime

    @classmethod
    def now_for(
        cls, session: Session, user: User, device_id: str | None, policy: CasePolicy
    ) -> MoveSetting:
        return cls(user, device_id, get_calendar(session), policy, utcnow())


def _has_closure_photo(session: Session, case: Case, since: dt.datetime | None) -> bool:
    stmt = sa.select(CasePhoto.photo_id).where(
        CasePhoto.case_id == case.id, CasePhoto.kind == "closure"
    )
    if since is not None:
        stmt = stmt.where(CasePhoto.added_at >= since)
    return session.scalar(stmt.limit(1)) is not None


def _needs(action: str) -> frozenset[Evidence]:
    try:
        return workflow.MOVES[Action(action)].needs
    except (ValueError, KeyError):
        return frozenset()


def evidence(session: Session, case: Case, action: str, args: MoveArgs) -> set[Evidence]:
    """What ``action`` on ``case`` would carry with ``args`` of what it needs, for
    ``workflow.decide``."""
    present: set[Evidence] = set()
    if case.category_id is not None or args.category_id is not None:
        present.add(Evidence.CATEGORY)
    if args.department_id is not None or args.shop_id is not None:
        present.add(Evidence.DEPARTMENT)
    if opinion_text(args.opinion):
        present.add(Evidence.OPINION)
    kinds = {ref.kind for ref in args.photos}
    # A handling round's closure needs an after-photo of this round (a rework's new one).
    since = case.limit_started_at if action == Action.SUBMIT_CLOSURE else None
    # The case's photos are read only for a move that needs one (a check's pass does not).
    if "closure" in kinds or (
        Evidence.CLOSURE_PHOTO in _needs(action) and _has_closure_photo(session, case, since)
    ):
        present.add(Evidence.CLOSURE_PHOTO)
    if "check" in kinds:
        present.add(Evidence.CHECK_PHOTO)
    if case.check_passed:
        present.add(Evidence.CHECK_PASSED)
    return present


def check_move(
    session: Session,
    case: Case,
    user: User,
    action: str,
    args: MoveArgs,
    state: str | None = None,
) -> tuple[workflow.State, str | None]:
    """Whether ``user`` may make ``action`` on ``case`` now (from ``state``, by default the
    case's): the one place every move is decided, made directly, on a task, by an approved
    request or through a push. The state it leads to, and the desk duty it belongs to
    (None for a move not a dispatcher's).

    The state machine first (409 state, 403 role, 422 evidence), then a dispatcher's desk
    duty (403 ``wrong_duty``; a third extension is a 409 ``too_many_extensions``), then an
    extension's amount (422 ``extension_over_limit``) and a first stage to make safe.
    """
    after = decide(action, state or case.state, user.role, evidence(session, case, action, args))
    duty = None
    if user.role == Role.DISPATCHER:
        try:
            duty = workflow.check_duty(action, user.duty, case.extension_count)
        except workflow.TransitionRefused as error:
            raise refusal(error) from None
    if action == Action.APPROVE_EXTENSION:
        bounds.check_extension_amount(session, case, args.extension_amount)
    if action == Action.MAKE_SAFE:
        bounds.check_stage(case)
    return after, duty


def _settle_requests(session: Session, case: Case, user: User, now: dt.datetime) -> None:
    """A case that reached its end answers every request still pending on it."""
    for pending in session.scalars(
        sa.select(CaseRequest).where(
            CaseRequest.case_id == case.id, CaseRequest.status == "pending"
        )
    ):
        pending.status = "refused"
        pending.decided_by = user.id
        pending.decided_at = now
        pending.decision_opinion = f"case is {case.state}"


def apply_move(
    session: Session,
    case: Case,
    action: str,
    args: MoveArgs,
    setting: MoveSetting,
    task: Task | None = None,
) -> Moved:
    """Decide and apply one move inside the caller's transaction; log it in the flow."""
    user, now = setting.user, setting.now
    before = case.state
    after, duty = check_move(session, case, user, action, args)
    action = Action(action)
    case.state = after
    case.updated_at = now
    move = CaseMove(session, case, user, args, task, setting.calendar, setting.policy, now, action)
    EFFECTS[action](move)
    if case.state in workflow.TERMINAL:
        _settle_requests(session, case, user, now)
    if args.request_id is not None:
        move.data["request_id"] = str(args.request_id)
    attached = add_case_photos(session, case, user, args.photos, now)
    append_flow(
        session,
        case,
        Stamp(user, setting.device_id, now, step_clocks.step_record(move, duty)),
        action.value,
        before,
        opinion=move.opinion,
        photo_ids=[ref.photo_id for ref in args.photos],
        data=move.data,
    )
    # What must not be lost goes in this transaction: the notices of the tasks it opened
    # (no session of their own), and the outbox rows of an ended case's after-effects.
    add_task_notices(session, case, move.opened)
    if case.state in workflow.TERMINAL and before not in workflow.TERMINAL:
        outbox.publish(
            session,
            CASE_ENDED,
            {
                "case_id": str(case.id),
                "action": action.value,
                "from_state": before,
                "to_state": case.state,
            },
        )
    kinds = {ref.kind for ref in args.photos}
    return Moved(
        case.id,
        action.value,
        before,
        case.state,
        attached,
        next(iter(kinds)) if len(kinds) == 1 else None,
    )


def prepare_moves(
    session: Session,
    user: User,
    case_ids: Iterable[uuid.UUID],
    photos: Iterable[tuple[uuid.UUID, str]] = (),
) -> None:
    """Inside a ``db.joined`` unit of ``user``'s moves on ``case_ids`` with ``photos`` (id,
    sha256): load at once what each move would select again, the last step of each case's
    flow, its suspensions and its photos, and the photos and the blobs the user holds
    (kept in the unit's caches; their writers keep them right)."""
    ids = sorted(set(case_ids))
    seqs = db.unit_cache(session, FLOW_SEQ)
    pauses = db.unit_cache(session, step_clocks.PAUSES)
    on_cases = db.unit_cache(session, CASE_PHOTOS)
    if seqs is None or pauses is None or on_cases is None:
        return
    prepare_photos(session, user.id, photos)
    if not ids:
        return
    for case_id, last in session.execute(
        sa.select(FlowEntry.case_id, sa.func.max(FlowEntry.seq))
        .where(FlowEntry.case_id.in_(ids))
        .group_by(FlowEntry.case_id)
    ):
        seqs[case_id] = last
    found: dict[uuid.UUID, list] = {case_id: [] for case_id in ids}
    for row in session.execute(
        sa.select(CasePause.case_id, CasePause.started_at, CasePause.ended_at)
        .where(CasePause.case_id.in_(ids))
        .order_by(CasePause.id)
    ):
        found[row.case_id].append((row.started_at, row.ended_at))
    pauses.update(found)
    linked: dict[uuid.UUID, set[uuid.UUID]] = {case_id: set() for case_id in ids}
    for case_id, photo_id in session.execute(
        sa.select(CasePhoto.case_id, CasePhoto.photo_id).where(CasePhoto.case_id.in_(ids))
    ):
        linked[case_id].add(photo_id)
    on_cases.update(linked)


def announce(moves: Sequence[Moved]) -> None:
    """Signal the moves made, once their transaction is committed."""
    for moved in moves:
        events.send(
            case_moved,
            case_id=moved.case_id,
            action=moved.action,
            from_state=moved.from_state,
            to_state=moved.to_state,
        )
        if moved.photo_ids:
            events.send(
                case_photos_added,
                case_id=moved.case_id,
                photo_ids=moved.photo_ids,
                kind=moved.photo_kind,
            )


def _prepare(raw: MoveArgs | Mapping | None, action: str) -> MoveArgs:
    if isinstance(raw, MoveArgs):
        args = raw
    else:
        raw = dict(raw or {})
        photos = raw.pop("photos", ())
        args = MoveArgs(**raw)
        args.photos = photos
    try:
        default_kind = ACTION_PHOTO_KIND.get(Action(action))
    except ValueError:
        default_kind = None
    args.photos = unique_photo_refs(args.photos, default_kind)
    return args


def _task_for_move(session: Session, case: Case, user: User, action: str) -> Task | None:
    """The open task a field user's, handler's or merchant's move completes; it must be
    theirs."""
    kind = TASK_OF_ACTION.get(action)
    if kind is None or user.role == Role.DISPATCHER:
        return None
    if kind == "handle" and user.role == Role.MERCHANT:
        return rectify_task(session, case, user)
    if kind == "handle" and case.department_id != user.org_unit_id:
        raise Forbidden(f"case {case.number} is not your department's")
    tasks = open_tasks_of(session, case, kind)
    mine = [t for t in tasks if t.assignee_id in (None, user.id)]
    if tasks and not mine:
        raise Forbidden(f"the {kind} task of case {case.number} is someone else's")
    return mine[0] if mine else None


def _check_dispatch_target(session: Session, args: MoveArgs) -> None:
    """A dispatch names a handling department or a shop, not both (neither: the workflow's
    missing_department); either must exist and be able to take it."""
    if args.department_id is not None and args.shop_id is not None:
        raise ValidationFailed(
            "dispatch to a department or to a shop, not both",
            {"shop_id": ["give department_id or shop_id"]},
        )
    if args.shop_id is not None:
        rectifying_shop(session, args.shop_id)
    else:
        department(session, args.department_id)


def move_case(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    case_id: uuid.UUID,
    action: str,
    args: MoveArgs | Mapping | None = None,
    *,
    policy: CasePolicy = CasePolicy(),
) -> Case:
    """Apply one workflow move to a case the user may see (POST /cases/{id}/actions).

    Refused moves change nothing: wrong state 409, wrong role 403, missing evidence 422,
    each with the workflow's reason. ``args``: opinion, department_id or shop_id
    (dispatch: to a handling department, or to a shop's merchant to rectify), category_id
    (register), inspector_id (send_verify / send_check), result, photos.
    """
    args = _prepare(args, action)
    case = get_case(session, user, case_id)
    check_move(session, case, user, action, args)
    task = _task_for_move(session, case, user, action)
    if action == Action.DISPATCH:
        _check_dispatch_target(session, args)
    register_photos(session, media, user, args.photos)
    setting = MoveSetting.now_for(session, user, device_id, policy)
    with moving(session):
        moved = [apply_move(session, case, action, args, setting, task)]
    announce(moved)
    return case


def move_on_task(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    task: Task,
    actions: Sequence[str],
    args: MoveArgs,
    *,
    policy: CasePolicy = CasePolicy(),
) -> Case:
    """Apply the moves a task's progress means, in one transaction (``args`` go with the
    last; see ``task_progress.completion_steps``)."""
    case = session.get(Case, task.case_id)
    args = _prepare(args, actions[-1])
    steps = [MoveArgs() for _ in actions[:-1]] + [args]
    state = case.state
    for action, step in zip(actions, steps, strict=True):
        state, _duty = check_move(session, case, user, action, step, state)
    register_photos(session, media, user, args.photos)
    setting = MoveSetting.now_for(session, user, device_id, policy)
    with moving(session):
        moved = [
            apply_move(session, case, action, step, setting, task)
            for action, step in zip(actions, steps, strict=True)
        ]
    announce(moved)
    return case
