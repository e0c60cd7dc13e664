"""What the case workflow tells people through the notifications outbox: a task given to
them (a merchant's rectify task is a rectify order, 整改通知), and a deadline turning
yellow (a periodic scan, once per case and handling round). ``register`` adds the scan;
``create_app`` calls it.

The task notices are written by the move (or the reassignment) itself, in its own
transaction (``add_task_notices``): the notification rows commit with the tasks or not at
all, so a process dying after the move's commit loses none, and the push path opens no
second session per move. The outbox's dedupe key (task and person) keeps them once."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.cases import deadlines
from app.cases.models import RUNNING_STATES, Case, CasePause, Task
from app.categories.models import Category
from app.core.db import transaction
from app.notifications.services import add_scanner, enqueue
from app.workcalendar.services import get_calendar

log = logging.getLogger(__name__)
OPEN_TASK = ("open", "accepted")


def _task_notice(task: Task, case: Case) -> tuple[str, dict]:
    kind = "rectify_order" if task.kind == "rectify" else "task_assigned"
    return kind, {
        "task_id": str(task.id),
        "task_kind": task.kind,
        "case_id": str(case.id),
        "case_number": case.number,
        "address": case.address,
        "deadline": task.deadline.isoformat() if task.deadline else None,
    }


def _people_of_tasks(session: Session, tasks: list[Task]) -> dict[uuid.UUID, list[int]]:
    """Who each task is for: its assignee, or the active handlers of its department."""
    departments = {task.department_id for task in tasks if task.assignee_id is None}
    handlers: dict[int, list[int]] = defaultdict(list)
    if departments - {None}:
        for user_id, unit_id in session.execute(
            sa.select(User.id, User.org_unit_id)
            .where(
                User.org_unit_id.in_(departments - {None}),
                User.role == Role.HANDLER,
                User.is_active.is_(True),
            )
            .order_by(User.id)
        ):
            handlers[unit_id].append(user_id)
    return {
        task.id: [task.assignee_id] if task.assignee_id else handlers.get(task.department_id, [])
        for task in tasks
    }


def add_task_notices(session: Session, case: Case, tasks: list[Task]) -> int:
    """Tell whoever each of ``tasks`` (just opened on ``case``) is for, in the caller's
    transaction (the caller commits), once per task and person."""
    if not tasks:
        return 0
    people = _people_of_tasks(session, tasks)
    added = 0
    for task in tasks:
        kind, payload = _task_notice(task, case)
        for user_id in people[task.id]:
            key = f"task:{task.id}:{user_id}"
            added += enqueue(session, kind, payload, user_id=user_id, dedupe_key=key) is not None
    return added


def notify_new_tasks(session: Session, case_id: uuid.UUID) -> int:
    """Tell whoever each open task of the case is for, once per task and person, in a
    transaction of its own (a repair: the moves write their notices themselves)."""
    case = session.get(Case, case_id)
    if case is None:
        return 0
    tasks = list(
        session.scalars(sa.select(Task).where(Task.case_id == case_id, Task.state == "open"))
    )
    with transaction(session):
        return add_task_notices(session, case, tasks)


def assignees_of(session: Session, case_ids: list[uuid.UUID]) -> dict[uuid.UUID, set[int]]:
    """The people working on each case: whoever its open tasks are for."""
    tasks = list(
        session.scalars(
            sa.select(Task).where(Task.case_id.in_(case_ids), Task.state.in_(OPEN_TASK))
        )
    )
    people = _people_of_tasks(session, tasks)
    found: dict[uuid.UUID, set[int]] = defaultdict(set)
    for task in tasks:
        found[task.case_id].update(people[task.id])
    return found


def scan_yellow(session: Session, now: dt.datetime) -> int:
    """Tell the people working on a case when its light turns yellow (80% of the limit
    used), once per case and handling round: the outbox's dedupe key is the marker."""
    calendar = get_calendar(session)
    rows = session.execute(
        sa.select(
            Case.id,
            Case.number,
            Case.rework_count,
            sa.func.coalesce(Case.limit_started_at, Case.registered_at, Case.reported_at),
            Case.deadline,
            Case.urgency,
            Category.time_limit,
            Category.limit_type,
        )
        .join(Category, Category.id == Case.category_id)
        .where(Case.state.in_(RUNNING_STATES), Case.deadline.is_not(None), Case.deadline > now)
    ).all()
    pauses: dict[uuid.UUID, list] = defaultdict(list)
    for case_id, begin, end in session.execute(
        sa.select(CasePause.case_id, CasePause.started_at, CasePause.ended_at).where(
            CasePause.case_id.in_([row[0] for row in rows])
        )
    ):
        pauses[case_id].append((begin, end))
    yellow = []
    for case_id, number, round_, start, deadline, urgency, time_limit, limit_type in rows:
        limit = deadlines.case_limit(time_limit, limit_type, urgency, calendar)
        light = deadlines.light(start, now, deadline, limit.limit_type, calendar, pauses[case_id])
        if light == "yellow":
            yellow.append((case_id, number, round_, deadline))
    people = assignees_of(session, [row[0] for row in yellow])
    added = 0
    with transaction(session):
        for case_id, number, round_, deadline in yellow:
            payload = {
                "case_id": str(case_id),
                "case_number": number,
                "deadline": deadline.isoformat(),
            }
            for user_id in sorted(people.get(case_id, ())):
                key = f"yellow:{case_id}:{round_}:{user_id}"
                added += (
                    enqueue(session, "deadline_yellow", payload, user_id=user_id, dedupe_key=key)
                    is not None
                )
    return added


def register() -> None:
    add_scanner("deadline_yellow", scan_yellow)
