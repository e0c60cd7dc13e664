"""Task use cases: what a phone sees and does with its tasks; a dispatcher's reassignments.

A task's progress is a workflow move on its case: completing a handle task (or a merchant's
rectify task, 门前三包 整改) submits the closure (处理反馈), a check task passes or fails
the check (核查, a fail is 返工), a verify task records the verification (核实).
``update_task`` is the one entry point, called by the REST routes and by the offline-sync
``task.update`` mutation alike.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.cases import deadlines, queries
from app.cases import services as cases
from app.cases.models import Case, CasePause
from app.cases.workflow import Action
from app.categories.models import Category
from app.core.clock import utcnow
from app.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.photos.backends import Media
from app.tasks.models import Task
from app.workcalendar.services import get_calendar
from app.workcalendar.worktime import LimitType

TASK_ACTIONS = ("accept", "complete", "request_return", "request_extension", "request_suspension")
OPEN_STATES = queries.OPEN_TASK_STATES
SEE_ALL = queries.SEE_ALL
# Who may take a task of each kind when a dispatcher reassigns it.
ASSIGNEE_ROLES = {
    "verify": frozenset({Role.INSPECTOR, Role.STREET_CHIEF, Role.ROAD_CHIEF}),
    "check": frozenset({Role.INSPECTOR, Role.STREET_CHIEF, Role.ROAD_CHIEF}),
    "handle": frozenset({Role.HANDLER}),
    "rectify": frozenset({Role.MERCHANT}),
}


def _mine(user: User) -> sa.ColumnElement[bool]:
    if user.role in SEE_ALL:
        return sa.true()
    mine = Task.assignee_id == user.id
    if user.role == Role.HANDLER and user.org_unit_id is not None:
        # A department's task is every handler's there until one of them takes it.
        mine = sa.or_(mine, Task.department_id == user.org_unit_id)
    return mine


def tasks_query(user: User, state: str | None = None, kind: str | None = None) -> sa.Select:
    """The tasks on ``user``'s phone (a handler: their department's); all for a dispatcher."""
    stmt = sa.select(Task).where(_mine(user))
    if state:
        stmt = stmt.where(Task.state == state)
    if kind:
        stmt = stmt.where(Task.kind == kind)
    return stmt.order_by(Task.created_at.desc(), Task.id)


def get_task(session: Session, user: User, task_id: uuid.UUID) -> Task:
    task = session.scalar(sa.select(Task).where(Task.id == task_id, _mine(user)))
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    return task


def task_views(session: Session, tasks: Iterable[Task], now: dt.datetime | None = None) -> list:
    """Tasks with their case in brief and, while open, their traffic light."""
    tasks = list(tasks)
    now = now or utcnow()
    calendar = get_calendar(session)
    case_ids = list({task.case_id for task in tasks})
    by_id = (
        {case.id: case for case in session.scalars(sa.select(Case).where(Case.id.in_(case_ids)))}
        if case_ids
        else {}
    )
    categories = (
        {
            c.id: c
            for c in session.scalars(
                sa.select(Category).where(Category.id.in_({c.category_id for c in by_id.values()}))
            )
        }
        if by_id
        else {}
    )
    pauses: dict[uuid.UUID, list] = {case_id: [] for case_id in case_ids}
    if case_ids:
        for pause in session.scalars(sa.select(CasePause).where(CasePause.case_id.in_(case_ids))):
            pauses[pause.case_id].append((pause.started_at, pause.ended_at))
    views = []
    for task in tasks:
        case = by_id[task.case_id]
        light = None
        if task.state in OPEN_STATES and task.deadline is not None:
            if task.kind in cases.HANDLING_TASKS:
                category = categories[case.category_id]
                limit = deadlines.case_limit(
                    category.time_limit, category.limit_type, case.urgency, calendar
                )
                start, limit_type = case.limit_started_at or task.created_at, limit.limit_type
            else:
                start, limit_type = task.created_at, LimitType.WORKING_HOURS
            light = deadlines.light(
                start, now, task.deadline, limit_type, calendar, pauses[case.id]
            )
        views.append(
            {
                "id": task.id,
                "kind": task.kind,
                "state": task.state,
                "case": case,
                "assignee_id": task.assignee_id,
                "department_id": task.department_id,
                "assigned_by": task.assigned_by,
                "deadline": task.deadline,
                "traffic_light": light,
                "result": task.result,
                "note": task.note,
                "replaced_by_id": task.replaced_by_id,
                "version": task.version,
                "created_at": task.created_at,
                "accepted_at": task.accepted_at,
                "completed_at": task.completed_at,
            }
        )
    return views


def task_view(session: Session, task: Task) -> dict:
    return task_views(session, [task])[0]


def _acting_on(session: Session, user: User, task_id: uuid.UUID) -> Task:
    """A task the user may work on: their own, or for a handler their department's."""
    task = get_task(session, user, task_id)
    if user.role in SEE_ALL:
        raise Forbidden("tasks are worked on by their assignees")
    if task.assignee_id not in (None, user.id):
        raise Forbidden(f"task {task_id} is assigned to someone else")
    return task


def _still_open(task: Task) -> None:
    if task.state not in OPEN_STATES:
        raise Conflict(f"task {task.id} is {task.state}", {"reason": f"task_{task.state}"})


def update_task(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    task_id: uuid.UUID,
    action: str,
    *,
    result: str | None = None,
    note: str | None = None,
    photos: Iterable = (),
    extension_amount: float | None = None,
    policy: cases.CasePolicy = cases.CasePolicy(),
) -> Task:
    """Progress on a task, as a phone reports it (REST and the sync ``task.update``).

    ``action``: ``accept``; ``complete`` (a handle or rectify task submits the closure,
    accepting it first if needed, with ``photos`` of kind closure; a check task needs
    ``result`` pass or fail, with check photos, and a fail needs a ``note``; a verify task
    records the verification with ``result``); ``request_return`` / ``request_extension`` (with
    ``extension_amount`` in the limit's unit, by default one more limit) /
    ``request_suspension`` with ``note`` as the reason. Accepting or completing a task
    again is answered with the task as it is (applied once); working on a task that was
    reassigned or cancelled is a 409 with reason ``task_reassigned`` / ``task_cancelled``.
    Completing it again with another ``result`` than the first is not the same move but a
    409 ``task_completed``.
    """
    if action not in TASK_ACTIONS:
        raise ValidationFailed(f"unknown task action {action!r}", {"action": list(TASK_ACTIONS)})
    if result is not None and result not in ("pass", "fail"):
        raise ValidationFailed("result is pass or fail", {"result": ["pass", "fail"]})
    task = _acting_on(session, user, task_id)
    if action == "accept" and task.state == "accepted":
        return task
    if action == "complete" and task.state == "completed":
        _same_completion(task, result)
        return task
    _still_open(task)
    case = session.get(Case, task.case_id)
    args = cases.MoveArgs(opinion=note, result=result, photos=list(photos or ()))

    if action.startswith("request_"):
        kind = action.removeprefix("request_")
        if kind == "extension" and extension_amount is None:
            extension_amount = cases.default_extension(session, case)
        cases.create_request(
            session,
            media,
            user,
            device_id,
            case.id,
            kind=kind,
            reason=note,
            extension_amount=extension_amount,
            photos=photos,
        )
        return task

    if action == "accept":
        if task.kind in cases.HANDLING_TASKS:
            cases.move_on_task(
                session, media, user, device_id, task, [Action.ACCEPT], args, policy=policy
            )
        else:
            cases.accept_task(session, user, device_id, task)
        return task

    if task.kind in cases.HANDLING_TASKS:
        steps = [Action.SUBMIT_CLOSURE]
        if case.state == "dispatched":
            steps.insert(0, Action.ACCEPT)
    else:  # check or verify
        if result is None:
            raise ValidationFailed(
                f"completing a {task.kind} task needs its result", {"result": ["pass or fail"]}
            )
        if task.kind == "verify":
            steps = [Action.RECORD_VERIFICATION]
        else:
            steps = [Action.CHECK_PASS if result == "pass" else Action.CHECK_FAIL]
    cases.move_on_task(session, media, user, device_id, task, steps, args, policy=policy)
    return task


def _same_completion(task: Task, result: str | None) -> None:
    """A completion made twice is applied once (API.md, conflict rule 1) — if it is the
    same: a verdict other than the first one's is not a repeat."""
    if result is not None and task.result is not None and result != task.result:
        raise Conflict(
            f"task {task.id} was completed with result {task.result}",
            {"reason": "task_completed", "result": task.result},
        )


def reassign_task(
    session: Session, user: User, device_id: str | None, task_id: uuid.UUID, assignee_id: int
) -> Task:
    """Give an open task to someone else: the old one becomes ``reassigned`` (and leaves
    the old assignee's phone), a new one with the same deadline goes to ``assignee_id``."""
    task = get_task(session, user, task_id)
    _still_open(task)
    assignee = session.get(User, assignee_id)
    if (
        assignee is None
        or not assignee.is_active
        or assignee.role not in ASSIGNEE_ROLES[task.kind]
        or (task.kind == "handle" and assignee.org_unit_id != task.department_id)
    ):
        raise ValidationFailed(
            f"user {assignee_id} cannot take a {task.kind} task"
            + (
                " of this department (return the case to change departments)"
                if task.kind == "handle"
                else ""
            ),
            {"assignee_id": ["invalid"]},
        )
    if assignee.id == task.assignee_id:
        raise Conflict(
            f"task {task_id} is already assigned to user {assignee_id}", {"reason": "same_assignee"}
        )
    return cases.replace_task(session, user, device_id, task, assignee.id)


def cancel_task(session: Session, user: User, device_id: str | None, task_id: uuid.UUID) -> Task:
    """Withdraw an open task; its case stays where it is for the dispatcher to decide."""
    task = get_task(session, user, task_id)
    _still_open(task)
    cases.cancel_task(session, user, device_id, task)
    return task
