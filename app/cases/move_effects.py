"""What each workflow action does to its case besides the change of state: the tasks it
opens or ends, the deadline it sets or moves, the pause it starts or ends.

``EFFECTS`` has one small function per ``workflow.Action`` (a test holds it to every
action). Each runs inside the move's transaction, after ``workflow.decide`` said yes, and
adds what the flow log should say of it to ``move.data``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.cases import deadlines, step_clocks
from app.cases.models import MISSED_SOURCES, Case, CasePause, Task
from app.cases.services import CasePolicy, MoveArgs, case_limit, opinion_text, resolve_category
from app.cases.tasks import (
    HANDLING_TASKS,
    end_tasks,
    finish_task,
    new_task,
    open_tasks_of,
    take_task,
)
from app.cases.workflow import FIELD, Action
from app.categories.services import get_category
from app.core import db
from app.core.errors import NotFound, ValidationFailed
from app.grids.models import UnitGrid
from app.merchants.models import Shop
from app.orgunits.models import OrgKind, OrgUnit
from app.workcalendar.worktime import LimitType, WorkCalendar

FIELD_ROLES = frozenset(FIELD)


@dataclasses.dataclass
class CaseMove:
    """A move being applied: what its effect reads, and what it adds to the flow log."""

    session: Session
    case: Case
    user: User
    args: MoveArgs
    task: Task | None
    calendar: WorkCalendar
    policy: CasePolicy
    now: dt.datetime
    action: Action | None = None
    data: dict = dataclasses.field(default_factory=dict)
    opened: list[Task] = dataclasses.field(default_factory=list)

    @property
    def opinion(self) -> str | None:
        return opinion_text(self.args.opinion)

    def limit(self) -> deadlines.Limit:
        return case_limit(self.session, self.case, self.calendar)

    def open_task(self, kind: str, deadline: dt.datetime | None, **assignee) -> Task:
        """A new task of ``kind`` on the case, logged in the flow data by its id."""
        task = new_task(self.session, self.case, kind, self.user, deadline, self.now, **assignee)
        self.data["task_id"] = str(task.id)
        self.opened.append(task)
        return task

    def inspection_deadline(self, hours: float) -> dt.datetime:
        limit = deadlines.Limit(hours, LimitType.WORKING_HOURS)
        return deadlines.round_deadline(self.now, limit, self.calendar)


# ---------------------------------------------------------------------------------------------
# Who and what a move names


def department(session: Session, department_id: int | None) -> OrgUnit | None:
    """The handling department a case is dispatched to (422 for any other unit)."""
    if department_id is None:
        return None
    unit = session.get(OrgUnit, department_id)
    if unit is None or unit.kind != OrgKind.DEPARTMENT:
        raise ValidationFailed(
            f"{department_id} is not a handling department", {"department_id": ["unknown"]}
        )
    return unit


def rectifying_shop(session: Session, shop_id: int) -> Shop:
    """A shop a case can be dispatched to: it exists (else 404) and has an active merchant."""
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise NotFound(f"shop {shop_id} does not exist")
    merchant = session.get(User, shop.merchant_id) if shop.merchant_id is not None else None
    if merchant is None or not merchant.is_active or merchant.role != Role.MERCHANT:
        raise ValidationFailed(
            f"shop {shop.name} has no responsible merchant to rectify it",
            {"shop_id": ["the shop has no active merchant"]},
        )
    return shop


def _field_user(session: Session, user_id: int) -> User:
    found = session.get(User, user_id)
    if found is None or not found.is_active or found.role not in FIELD_ROLES:
        raise ValidationFailed(
            f"user {user_id} is not an active inspector or chief", {"inspector_id": ["invalid"]}
        )
    return found


def responsible_inspector(session: Session, case: Case) -> User | None:
    """The active inspector whose responsibility grid the case's unit grid is in."""
    grid = session.get(UnitGrid, case.grid_id) if case.grid_id else None
    responsible = grid.responsibility_grid if grid else None
    if responsible is not None and responsible.inspector_id is not None:
        inspector = session.get(User, responsible.inspector_id)
        if inspector is not None and inspector.is_active:
            return inspector
    return None


def _inspector_for(session: Session, case: Case, inspector_id: int | None) -> User:
    """The inspector named, or the one whose responsibility grid the case is in."""
    if inspector_id is not None:
        return _field_user(session, inspector_id)
    inspector = responsible_inspector(session, case)
    if inspector is not None:
        return inspector
    raise ValidationFailed(
        f"case {case.number} has no responsible inspector; name one",
        {"inspector_id": ["required: the case's grid has no inspector"]},
    )


def _last_rectifier(session: Session, case: Case) -> int | None:
    """The merchant of the case's last rectify task when its handling went to a shop rather
    than a department (a rework goes back to them); None otherwise."""
    if case.department_id is not None:
        return None
    return session.scalar(
        sa.select(Task.assignee_id)
        .where(Task.case_id == case.id, Task.kind == "rectify", Task.state != "reassigned")
        .order_by(Task.created_at.desc(), Task.id.desc())
        .limit(1)
    )


def _close_pause(move: CaseMove) -> CasePause | None:
    pause = move.session.scalar(
        sa.select(CasePause).where(CasePause.case_id == move.case.id, CasePause.ended_at.is_(None))
    )
    if pause is not None:
        pause.ended_at = move.now
        _pauses_changed(move)
    return pause


def _pauses_changed(move: CaseMove) -> None:
    cached = db.unit_cache(move.session, step_clocks.PAUSES)
    if cached is not None:
        cached.pop(move.case.id, None)


def _set_deadline(move: CaseMove, deadline: dt.datetime) -> None:
    move.case.deadline = deadline
    for task in open_tasks_of(move.session, move.case, HANDLING_TASKS):
        task.deadline = deadline


def stage_limit(move: CaseMove) -> deadlines.Limit | None:
    """The first stage's limit of a two-stage category (None for one stage), as urgent as
    the case."""
    category = get_category(move.session, move.case.category_id)
    if category.stage_limit is None or category.stage_limit_type is None:
        return None
    return deadlines.case_limit(
        category.stage_limit, category.stage_limit_type, move.case.urgency, move.calendar
    )


def _start_round(move: CaseMove) -> None:
    """A handling round starts (filing, a rework): its deadline and, for a two-stage
    category, the first stage's."""
    case, now = move.case, move.now
    case.limit_started_at = now
    case.deadline = deadlines.round_deadline(now, move.limit(), move.calendar)
    stage = stage_limit(move)
    case.stage_deadline = deadlines.round_deadline(now, stage, move.calendar) if stage else None
    case.stage_done_at = None


# ---------------------------------------------------------------------------------------------
# The effects


def _register(move: CaseMove) -> None:
    case, args, now = move.case, move.args, move.now
    if args.category_id is not None and args.category_id != case.category_id:
        move.data["category_from"] = case.category_id
        case.category_id = resolve_category(move.session, args.category_id).id
    limit = move.limit()
    case.registered_at = now
    _start_round(move)
    case.valid = True
    if case.source in MISSED_SOURCES:
        # A confirmed report from the public, a camera, a leader or another department in
        # an inspector's grid: the inspector missed it (漏报).
        inspector = responsible_inspector(move.session, case)
        case.missed_by_id = inspector.id if inspector is not None else None
    move.data.update(limit=limit.amount, limit_type=limit.limit_type)
    end_tasks(move.session, case, "cancelled", now, "verify")


def _end_all_work(move: CaseMove) -> None:
    """Cancelled: nothing is asked of anyone any more (a cancelled case stays valid)."""
    end_tasks(move.session, move.case, "cancelled", move.now)
    _close_pause(move)


def _reject(move: CaseMove) -> None:
    """不予受理: not a valid report."""
    move.case.valid = False
    _end_all_work(move)


def _merge(move: CaseMove) -> None:
    """Merged into another case: a report not yet filed is not a valid one of its own."""
    if move.case.valid is None:
        move.case.valid = False
    _end_all_work(move)


def _send_verify(move: CaseMove) -> None:
    inspector = _inspector_for(move.session, move.case, move.args.inspector_id)
    deadline = move.inspection_deadline(move.policy.verify_limit_hours)
    move.open_task("verify", deadline, assignee_id=inspector.id)
    move.data["assignee_id"] = inspector.id


def _record_verification(move: CaseMove) -> None:
    finish_task(move.task, move.args.result, move.opinion, move.now)
    move.data["result"] = move.args.result


def _dispatch(move: CaseMove) -> None:
    case = move.case
    case.dispatched_at = move.now
    if move.args.shop_id is not None:
        # 门前三包: the shop's merchant rectifies the frontage on a rectify task.
        shop = rectifying_shop(move.session, move.args.shop_id)
        case.shop_id = case.shop_id or shop.id
        move.data.update(shop_id=shop.id, assignee_id=shop.merchant_id)
        move.open_task("rectify", case.deadline, assignee_id=shop.merchant_id)
        return
    unit = department(move.session, move.args.department_id)
    case.department_id = unit.id
    move.data["department_id"] = unit.id
    move.open_task("handle", case.deadline, department_id=unit.id)


def _accept(move: CaseMove) -> None:
    if move.task is not None:
        take_task(move.task, move.user, move.now)


def _submit_closure(move: CaseMove) -> None:
    case = move.case
    case.handled_at = move.now
    case.handled_on_time = case.deadline is None or move.now <= case.deadline
    finish_task(move.task, None, move.opinion, move.now)


def _make_safe(move: CaseMove) -> None:
    """The first stage of a two-stage case is done (到场 / 处置安全 / 停工)."""
    move.case.stage_done_at = move.now
    move.data["stage_deadline"] = move.case.stage_deadline.isoformat()


def _send_check(move: CaseMove) -> None:
    inspector = _inspector_for(move.session, move.case, move.args.inspector_id)
    move.case.check_passed = False
    deadline = move.inspection_deadline(move.policy.check_limit_hours)
    move.open_task("check", deadline, assignee_id=inspector.id)
    move.data["assignee_id"] = inspector.id


def _check_pass(move: CaseMove) -> None:
    move.case.check_passed = True
    finish_task(move.task, "pass", move.opinion, move.now)


def _check_fail(move: CaseMove) -> None:
    """返工: back to the same department (or merchant), a new handling round with a fresh
    deadline."""
    case, now = move.case, move.now
    finish_task(move.task, "fail", move.opinion, now)
    rectifier = _last_rectifier(move.session, case)
    case.rework_count += 1
    case.check_passed = False
    case.press_level = 0  # pressing counts per handling round
    case.handled_at = case.handled_on_time = None
    case.dispatched_at = now
    _start_round(move)
    if rectifier is not None:
        move.data["assignee_id"] = rectifier
        move.open_task("rectify", case.deadline, assignee_id=rectifier)
    else:
        move.open_task("handle", case.deadline, department_id=case.department_id)
    move.data["rework"] = case.rework_count


def _close(move: CaseMove) -> None:
    case = move.case
    case.closed_at = move.now
    case.closed_on_time = case.deadline is None or move.now <= case.deadline
    case.time_used = step_clocks.handling_time(move)
    end_tasks(move.session, case, "cancelled", move.now)


def _confirm_self_handle(move: CaseMove) -> None:
    """自处理: fixed on the spot by the reporter; a valid report, closed on time."""
    case = move.case
    case.closed_at = move.now
    case.valid = case.closed_on_time = True
    end_tasks(move.session, case, "cancelled", move.now)


def _resume(move: CaseMove) -> None:
    case = move.case
    pause = _close_pause(move)
    if pause is None or case.deadline is None:
        return
    moved = deadlines.resumed(
        case.deadline, pause.started_at, move.now, move.limit().limit_type, move.calendar
    )
    move.data.update(deadline_from=case.deadline.isoformat(), deadline_to=moved.isoformat())
    _set_deadline(move, moved)


def _approve_suspension(move: CaseMove) -> None:
    move.session.add(CasePause(case_id=move.case.id, started_at=move.now))
    _pauses_changed(move)


def _approve_extension(move: CaseMove) -> None:
    limit = move.limit()
    amount = move.args.extension_amount if move.args.extension_amount else limit.amount
    start = move.case.deadline or move.now
    moved = deadlines.extended(start, amount, limit.limit_type, move.calendar)
    move.case.extension_count += 1
    move.data.update(
        amount=amount,
        unit=limit.limit_type,
        deadline_to=moved.isoformat(),
        extension=move.case.extension_count,
    )
    _set_deadline(move, moved)


def _approve_return(move: CaseMove) -> None:
    case = move.case
    move.data["department_id"] = case.department_id
    rectifier = _last_rectifier(move.session, case)
    if rectifier is not None:
        move.data["assignee_id"] = rectifier
    end_tasks(move.session, case, "cancelled", move.now, HANDLING_TASKS)
    case.department_id = None


EFFECTS: dict[Action, Callable[[CaseMove], None]] = {
    Action.SEND_VERIFY: _send_verify,
    Action.RECORD_VERIFICATION: _record_verification,
    Action.REGISTER: _register,
    Action.REJECT: _reject,
    Action.DISPATCH: _dispatch,
    Action.ACCEPT: _accept,
    Action.SUBMIT_CLOSURE: _submit_closure,
    Action.SEND_CHECK: _send_check,
    Action.CHECK_PASS: _check_pass,
    Action.CHECK_FAIL: _check_fail,
    Action.CLOSE: _close,
    Action.RESUME: _resume,
    Action.APPROVE_RETURN: _approve_return,
    Action.APPROVE_SUSPENSION: _approve_suspension,
    Action.APPROVE_EXTENSION: _approve_extension,
    Action.APPROVE_CANCELLATION: _end_all_work,
    Action.CONFIRM_SELF_HANDLE: _confirm_self_handle,
    Action.MERGE: _merge,
    Action.MAKE_SAFE: _make_safe,
}
