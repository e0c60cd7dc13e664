"""A case's tasks: their life cycle, what a phone sees of them, a dispatcher's changes.

A task is opened by a move of its case (send_verify, send_check, dispatch, a rework),
taken (``accept``), completed by the move it stands for, and ended with its case's
handling round, or reassigned or cancelled by a dispatcher. Progress on a task, as a
phone reports it, is ``task_progress.update_task``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.cases import deadlines, queries
from app.cases.events import task_assigned
from app.cases.models import Case, Task
from app.cases.notices import add_task_notices
from app.cases.reading import pauses_of
from app.cases.services import Stamp, append_flow, moving
from app.categories.models import Category
from app.core import events
from app.core.clock import utcnow
from app.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.workcalendar.services import get_calendar
from app.workcalendar.worktime import LimitType

# A handling round's task: a department's handle task, or a merchant's rectify task (整改,
# 门前三包) when the case was dispatched to a shop.
HANDLING_TASKS = ("handle", "rectify")
OPEN_STATES = queries.OPEN_TASK_STATES
# Who may take a task of each kind when a dispatcher reassigns it.
ASSIGNEE_ROLES = {
    "verify": frozenset({Role.INSPECTOR, Role.STREET_CHIEF, Role.ROAD_CHIEF}),
    "check": frozenset({Role.INSPECTOR, Role.STREET_CHIEF, Role.ROAD_CHIEF}),
    "handle": frozenset({Role.HANDLER}),
    "rectify": frozenset({Role.MERCHANT}),
}


# ---------------------------------------------------------------------------------------------
# The life cycle, inside a move of the case


def new_task(
    session: Session,
    case: Case,
    kind: str,
    by: User,
    deadline: dt.datetime | None,
    now: dt.datetime,
    *,
    assignee_id: int | None = None,
    department_id: int | None = None,
) -> Task:
    """Open a task of ``kind`` on ``case``, for one assignee or one department."""
    task = Task(
        id=uuid.uuid4(),
        case_id=case.id,
        kind=kind,
        state="open",
        assignee_id=assignee_id,
        department_id=department_id,
        assigned_by=by.id,
        deadline=deadline,
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    return task


def open_tasks_of(
    session: Session, case: Case, kind: str | tuple[str, ...] | None = None
) -> list[Task]:
    """The case's open tasks (all, of one kind, or of several)."""
    stmt = queries.open_tasks(case.id)
    if isinstance(kind, str):
        stmt = stmt.where(Task.kind == kind)
    elif kind is not None:
        stmt = stmt.where(Task.kind.in_(kind))
    return list(session.scalars(stmt))


def end_tasks(
    session: Session,
    case: Case,
    state: str,
    now: dt.datetime,
    kind: str | tuple[str, ...] | None = None,
) -> None:
    """The case's open tasks (of ``kind``) end in ``state``: their work is no longer asked."""
    for task in open_tasks_of(session, case, kind):
        task.state = state
        task.updated_at = now


def take_task(task: Task, user: User, now: dt.datetime) -> None:
    """``user`` takes the task (a department's task becomes theirs)."""
    task.state = "accepted"
    task.accepted_at = now
    task.assignee_id = task.assignee_id or user.id
    task.updated_at = now


def finish_task(task: Task | None, result: str | None, note: str | None, now) -> None:
    """The move ``task`` stood for was made: it is completed with ``result`` and ``note``."""
    if task is None:
        return
    task.state = "completed"
    task.result = result
    task.note = note
    task.accepted_at = task.accepted_at or now
    task.completed_at = now
    task.updated_at = now


def rectify_task(session: Session, case: Case, user: User) -> Task:
    """The merchant's open rectify task on ``case``: a merchant works only on cases sent to
    them, the way a handler works only on their department's."""
    for task in open_tasks_of(session, case, "rectify"):
        if task.assignee_id == user.id:
            return task
    raise Forbidden(f"case {case.number} was not sent to you to rectify")


# ---------------------------------------------------------------------------------------------
# Steps on a task that move no case


@contextlib.contextmanager
def _task_step(
    session: Session, user: User, device_id: str | None, task: Task, action: str
) -> Iterator[tuple[Case, dt.datetime, dict]]:
    """One step on a task (no workflow move): stamp task and case, log it in the flow.
    The caller changes the task inside the block and may add to the logged data."""
    case = session.get(Case, task.case_id)
    now = utcnow()
    data = {"task_id": str(task.id), "kind": task.kind}
    with moving(session):
        yield case, now, data
        task.updated_at = now
        case.updated_at = now
        append_flow(session, case, Stamp(user, device_id, now), action, case.state, data=data)


def accept_task(session: Session, user: User, device_id: str | None, task: Task) -> Task:
    """An inspector takes a verify or check task (no workflow move; logged in the flow)."""
    with _task_step(session, user, device_id, task, "accept_task") as (_case, now, _data):
        take_task(task, user, now)
    return task


def reassign_task(
    session: Session, user: User, device_id: str | None, task_id: uuid.UUID, assignee_id: int
) -> Task:
    """Give an open task to someone else: the old one becomes ``reassigned`` (and leaves
    the old assignee's phone), a new one with the same deadline goes to ``assignee_id``."""
    task = get_task(session, user, task_id)
    still_open(task)
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
    replacement = _replace_task(session, user, device_id, task, assignee.id)
    events.send(task_assigned, case_id=replacement.case_id, task_id=replacement.id)
    return replacement


def _replace_task(
    session: Session, user: User, device_id: str | None, task: Task, assignee_id: int
) -> Task:
    """Reassign: the old task is ``reassigned`` and points at its replacement."""
    with _task_step(session, user, device_id, task, "reassign_task") as (case, now, data):
        replacement = new_task(
            session,
            case,
            task.kind,
            user,
            task.deadline,
            now,
            assignee_id=assignee_id,
            department_id=task.department_id,
        )
        session.flush()
        add_task_notices(session, case, [replacement])
        task.state = "reassigned"
        task.replaced_by_id = replacement.id
        data.update(replaced_by=str(replacement.id), to=assignee_id)
        data["from"] = task.assignee_id
    return replacement


def cancel_task(session: Session, user: User, device_id: str | None, task_id: uuid.UUID) -> Task:
    """Withdraw an open task; its case stays where it is for the dispatcher to decide."""
    task = get_task(session, user, task_id)
    still_open(task)
    with _task_step(session, user, device_id, task, "cancel_task"):
        task.state = "cancelled"
    return task


# ---------------------------------------------------------------------------------------------
# Who works on which task


def _mine(user: User) -> sa.ColumnElement[bool]:
    if user.role in queries.SEE_ALL:
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


def _is_mine(task: Task, user: User) -> bool:
    """``_mine`` of one task in hand (the same rule, in Python)."""
    if user.role in queries.SEE_ALL or task.assignee_id == user.id:
        return True
    return (
        user.role == Role.HANDLER
        and user.org_unit_id is not None
        and task.department_id == user.org_unit_id
    )


def get_task(session: Session, user: User, task_id: uuid.UUID) -> Task:
    """A task on ``user``'s phone (any task for a dispatcher); any other does not exist.
    By primary key: a task the session holds already (a push's, loaded for its many
    moves) is not selected again."""
    task = session.get(Task, task_id)
    if task is not None and not _is_mine(task, user):
        task = None
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    return task


def acting_on(session: Session, user: User, task_id: uuid.UUID) -> Task:
    """A task the user may work on: their own, or for a handler their department's."""
    task = get_task(session, user, task_id)
    if user.role in queries.SEE_ALL:
        raise Forbidden("tasks are worked on by their assignees")
    if task.assignee_id not in (None, user.id):
        raise Forbidden(f"task {task_id} is assigned to someone else")
    return task


def still_open(task: Task) -> None:
    """Work on a task reassigned, cancelled or completed is a 409 ``task_<state>``."""
    if task.state not in OPEN_STATES:
        raise Conflict(f"task {task.id} is {task.state}", {"reason": f"task_{task.state}"})


# ---------------------------------------------------------------------------------------------
# Reading


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
    pauses = pauses_of(session, case_ids)
    views = []
    for task in tasks:
        case = by_id[task.case_id]
        light = None
        if task.state in OPEN_STATES and task.deadline is not None:
            if task.kind in HANDLING_TASKS:
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
        views.append(_view(task, case, light))
    return views


def _view(task: Task, case: Case, light: str | None) -> dict:
    return {
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


def task_view(session: Session, task: Task) -> dict:
    """One task as ``task_views`` shows it."""
    return task_views(session, [task])[0]
