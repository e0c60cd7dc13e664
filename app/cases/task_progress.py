"""Progress on a task, as a phone reports it: a workflow move on its case.

Completing a handle task (or a merchant's rectify task, 门前三包 整改) submits the closure
(处理反馈), a check task passes or fails the check (核查, a fail is 返工), a verify task
records the verification (核实). ``update_task`` is the one entry point, called by the
REST routes and by the offline-sync ``task.update`` mutation alike; ``completion_steps``
says which moves completing a task means, for it and for a dispatcher who accepts a
phone's completion later (sync conflict resolution).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable

from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases.models import Case, Task
from app.cases.moves import move_on_task
from app.cases.requests import NewRequest, create_request
from app.cases.services import CasePolicy, MoveArgs, default_extension
from app.cases.tasks import HANDLING_TASKS, accept_task, acting_on, still_open
from app.cases.workflow import Action
from app.core.errors import Conflict, ValidationFailed
from app.photos.backends import Media
from sync.mutation_types import TASK_ACTIONS  # the same actions over REST and a push


@dataclasses.dataclass(frozen=True)
class TaskUpdate:
    """A task's progress as a phone reports it (see ``update_task``)."""

    action: str
    result: str | None = None
    note: str | None = None
    photos: Iterable = ()
    extension_amount: float | None = None


def update_task(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    task_id: uuid.UUID,
    update: TaskUpdate,
    *,
    policy: CasePolicy = CasePolicy(),
) -> Task:
    """Progress on a task, as a phone reports it (REST and the sync ``task.update``).

    ``action``: ``accept``; ``complete`` (a handle or rectify task submits the closure,
    accepting it first if needed, with ``photos`` of kind closure; a check task needs
    ``result`` pass or fail, with check photos, and a fail needs a ``note``; a verify task
    records the verification with ``result``); ``request_return`` / ``request_extension`` (with
    ``extension_amount`` in the limit's unit, by default one more limit) /
    ``request_suspension`` with ``note`` as the reason; ``make_safe`` on a handle or
    rectify task of a two-stage case reports its first stage done (到场 / 处置安全),
    accepting the task first if needed. Accepting or completing a task
    again is answered with the task as it is (applied once); working on a task that was
    reassigned or cancelled is a 409 with reason ``task_reassigned`` / ``task_cancelled``.
    Completing it again with another ``result`` than the first is not the same move but a
    409 ``task_completed``.
    """
    action = update.action
    if action not in TASK_ACTIONS:
        raise ValidationFailed(f"unknown task action {action!r}", {"action": list(TASK_ACTIONS)})
    if update.result is not None and update.result not in ("pass", "fail"):
        raise ValidationFailed("result is pass or fail", {"result": ["pass", "fail"]})
    task = acting_on(session, user, task_id)
    if _made_already(task, update):
        return task
    still_open(task)
    case = session.get(Case, task.case_id)
    if action.startswith("request_"):
        _ask(session, media, user, device_id, case, update)
        return task
    if action == "accept" and task.kind not in HANDLING_TASKS:
        accept_task(session, user, device_id, task)
        return task
    steps = _steps(case, task, update)
    args = MoveArgs(opinion=update.note, result=update.result, photos=list(update.photos or ()))
    move_on_task(session, media, user, device_id, task, steps, args, policy=policy)
    return task


def _steps(case: Case, task: Task, update: TaskUpdate) -> list[Action]:
    if update.action == "accept":
        return [Action.ACCEPT]
    if update.action == "make_safe":
        if task.kind not in HANDLING_TASKS:
            raise ValidationFailed(
                f"a {task.kind} task has no stage to make safe", {"action": ["make_safe"]}
            )
        return (
            [Action.ACCEPT, Action.MAKE_SAFE] if case.state == "dispatched" else [Action.MAKE_SAFE]
        )
    return completion_steps(case, task, update.result)


def completion_steps(case: Case, task: Task, result: str | None) -> list[Action]:
    """The workflow moves completing ``task`` on ``case`` means, with the verdict
    ``result`` of a check or verify task (422 without one)."""
    if task.kind in HANDLING_TASKS:
        steps = [Action.SUBMIT_CLOSURE]
        if case.state == "dispatched":
            steps.insert(0, Action.ACCEPT)
        return steps
    if result is None:
        raise ValidationFailed(
            f"completing a {task.kind} task needs its result", {"result": ["pass or fail"]}
        )
    if task.kind == "verify":
        return [Action.RECORD_VERIFICATION]
    return [Action.CHECK_PASS if result == "pass" else Action.CHECK_FAIL]


def _made_already(task: Task, update: TaskUpdate) -> bool:
    """Accepting or completing a task again is applied once (API.md, conflict rule 1) — if
    it is the same: a verdict other than the first one's is not a repeat but a 409."""
    if update.action == "accept":
        return task.state == "accepted"
    if update.action != "complete" or task.state != "completed":
        return False
    if update.result is not None and task.result is not None and update.result != task.result:
        raise Conflict(
            f"task {task.id} was completed with result {task.result}",
            {"reason": "task_completed", "result": task.result},
        )
    return True


def _ask(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    case: Case,
    update: TaskUpdate,
) -> None:
    kind = update.action.removeprefix("request_")
    amount = update.extension_amount
    if kind == "extension" and amount is None:
        amount = default_extension(session, case)
    asked = NewRequest(kind, reason=update.note, extension_amount=amount, photos=update.photos)
    create_request(session, media, user, device_id, case.id, asked)
