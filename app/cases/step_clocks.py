"""The clock of each workflow step, as the flow log keeps it (``FlowEntry.time_used`` and
``overdue``), and the handling time of a case at closing (``Case.time_used``).

Every clock measures in the case limit's measure: working seconds for a working-hours or
working-days limit, elapsed seconds for calendar days and continuous (urgent) hours; the
time of a suspension (``CasePause``) inside the step is not counted. A step ends at the
move that logs it and started at:

| step | started at | its limit |
|---|---|---|
| register | the report, or the verification's result | ``CasePolicy.register_limit_hours`` |
| dispatch | filing, or the approved return | ``CasePolicy.dispatch_limit_hours`` |
| submit_closure | the dispatch, or the rework | the case's deadline |
| record_verification, check_pass, check_fail | the task's creation | the task's deadline |
| close | the passing check | ``CasePolicy.close_limit_hours`` |
| make_safe | filing, or the rework | the first stage's deadline |

A step with an hour limit is overdue when it used more than that many hours in the
measure; one with a deadline when it ended after the deadline. Other moves have no clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from app.cases.models import CasePause, FlowEntry, Task
from app.cases.services import StepRecord
from app.cases.workflow import Action
from app.core import db
from app.workcalendar.worktime import used_seconds

if TYPE_CHECKING:
    from app.cases.move_effects import CaseMove


#: A ``db.joined`` unit's cache of each case's suspensions (``moves.prepare_moves``); their
#: writers drop the case's entry.
PAUSES = "case_pauses"


def pauses(move: CaseMove) -> list[tuple[dt.datetime, dt.datetime | None]]:
    """The case's suspensions as (started, ended) pairs."""
    cached = db.unit_cache(move.session, PAUSES)
    if cached is not None and move.case.id in cached:
        return cached[move.case.id]
    return [
        (pause.started_at, pause.ended_at)
        for pause in move.session.scalars(
            sa.select(CasePause).where(CasePause.case_id == move.case.id)
        )
    ]


def measured(move: CaseMove, start: dt.datetime, end: dt.datetime | None = None) -> float:
    """Seconds from ``start`` to ``end`` (the move's moment) in the case limit's measure,
    suspensions excluded."""
    end = end or move.now
    return used_seconds(start, end, move.limit().limit_type, move.calendar, pauses(move))


def _within_hours(move: CaseMove, start: dt.datetime | None, hours: float) -> StepRecord | None:
    if start is None:
        return None
    used = measured(move, start)
    return StepRecord(time_used=used, overdue=used > hours * 3600)


def _by_deadline(
    move: CaseMove, start: dt.datetime | None, deadline: dt.datetime | None
) -> StepRecord | None:
    if start is None or deadline is None:
        return None
    return StepRecord(time_used=measured(move, start), overdue=move.now > deadline)


def _last_flow_at(move: CaseMove, action: str) -> dt.datetime | None:
    return move.session.scalar(
        sa.select(sa.func.max(FlowEntry.at)).where(
            FlowEntry.case_id == move.case.id, FlowEntry.action == action
        )
    )


def _last_completed(move: CaseMove, kind: str, result: str | None = None) -> dt.datetime | None:
    stmt = sa.select(sa.func.max(Task.completed_at)).where(
        Task.case_id == move.case.id, Task.kind == kind, Task.state == "completed"
    )
    if result is not None:
        stmt = stmt.where(Task.result == result)
    return move.session.scalar(stmt)


def _register(move: CaseMove) -> StepRecord | None:
    start = _last_completed(move, "verify") or move.case.reported_at
    return _within_hours(move, start, move.policy.register_limit_hours)


def _dispatch(move: CaseMove) -> StepRecord | None:
    starts = [at for at in (move.case.registered_at, _last_flow_at(move, "approve_return")) if at]
    return _within_hours(move, max(starts, default=None), move.policy.dispatch_limit_hours)


def _submit_closure(move: CaseMove) -> StepRecord | None:
    return _by_deadline(move, move.case.dispatched_at, move.case.deadline)


def _task_step(move: CaseMove) -> StepRecord | None:
    if move.task is None:
        return None
    return _by_deadline(move, move.task.created_at, move.task.deadline)


def _close(move: CaseMove) -> StepRecord | None:
    start = _last_completed(move, "check", "pass")
    return _within_hours(move, start, move.policy.close_limit_hours)


def _make_safe(move: CaseMove) -> StepRecord | None:
    return _by_deadline(move, move.case.limit_started_at, move.case.stage_deadline)


CLOCKS: dict[Action, Callable[[CaseMove], StepRecord | None]] = {
    Action.REGISTER: _register,
    Action.DISPATCH: _dispatch,
    Action.SUBMIT_CLOSURE: _submit_closure,
    Action.RECORD_VERIFICATION: _task_step,
    Action.CHECK_PASS: _task_step,
    Action.CHECK_FAIL: _task_step,
    Action.CLOSE: _close,
    Action.MAKE_SAFE: _make_safe,
}


def step_record(move: CaseMove, duty: str | None) -> StepRecord:
    """The duty and clock of ``move`` (after its effect), as its flow entry records them."""
    clock = CLOCKS.get(move.action)
    found = clock(move) if clock is not None else None
    if found is None:
        return StepRecord(duty=duty)
    return StepRecord(duty=duty, time_used=found.time_used, overdue=found.overdue)


def handling_time(move: CaseMove) -> float | None:
    """The case's handling time at closing: from filing (the first round's start) to now, in
    the limit's measure, suspensions excluded; None for a case never filed."""
    if move.case.registered_at is None:
        return None
    return measured(move, move.case.registered_at)
