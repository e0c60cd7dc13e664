"""The dispatcher's queues as criteria on ``cases``: what is waiting for the command centre,
one tab each. Read-only selects built on ``app.cases.queries``."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa

from app.accounts.models import User
from app.cases import queries as case_queries
from app.cases.models import Case, CaseRequest, Task

OPEN = case_queries.OPEN


def _state(*states: str) -> Callable[[dt.datetime], sa.ColumnElement[bool]]:
    return lambda _now: Case.state.in_(states)


def _open_task(kind: str) -> sa.ColumnElement[bool]:
    return sa.exists().where(
        Task.case_id == Case.id, Task.kind == kind, Task.state.in_(case_queries.OPEN_TASK_STATES)
    )


def _to_accept(_now) -> sa.ColumnElement[bool]:
    """New reports, and those sent to verify whose inspector has not answered yet."""
    return sa.or_(
        Case.state == "reported", sa.and_(Case.state == "verifying", _open_task("verify"))
    )


def _to_file(_now) -> sa.ColumnElement[bool]:
    """Verified (the inspector answered): register (立案) or reject."""
    return sa.and_(Case.state == "verifying", sa.not_(_open_task("verify")))


def _routing(_now) -> sa.ColumnElement[bool]:
    return sa.and_(Case.routing == "needs_confirmation", case_queries.is_open())


def _requests(_now) -> sa.ColumnElement[bool]:
    pending = sa.select(CaseRequest.case_id).where(CaseRequest.status == "pending")
    return Case.id.in_(pending)


def _to_close(_now) -> sa.ColumnElement[bool]:
    return sa.and_(Case.state == "checking", Case.check_passed.is_(True))


def _pressed(_now) -> sa.ColumnElement[bool]:
    return sa.and_(Case.press_level > 0, case_queries.is_open())


@dataclasses.dataclass(frozen=True)
class Queue:
    key: str
    label: str
    criterion: Callable[[dt.datetime], sa.ColumnElement[bool]]
    oldest_first: bool = True


# In the order of a case's way through the centre; the first is the dispatcher's home.
QUEUES: tuple[Queue, ...] = (
    Queue("to_accept", "待受理", _to_accept),
    Queue("to_file", "待立案", _to_file),
    Queue("to_dispatch", "待派遣", _state("registered", "returned")),
    Queue("routing", "待确认定位", _routing),
    Queue("requests", "待审批申请", _requests),
    Queue("to_check", "待派核查", _state("handled")),
    Queue("to_close", "待结案", _to_close),
    Queue("overdue", "超期", case_queries.overdue),
    Queue("pressed", "督办", _pressed),
    Queue("all", "全部案件", lambda _now: sa.true(), oldest_first=False),
)
BY_KEY = {queue.key: queue for queue in QUEUES}


def queue_cases(
    user: User, queue: Queue, filters: case_queries.CaseFilters, now: dt.datetime
) -> sa.Select:
    """The cases of one queue the user may see, matching ``filters``: the oldest waiting
    first (the overdue: the most overdue first), the "all" tab newest first."""
    stmt = case_queries.cases_query(user, filters, now).where(queue.criterion(now))
    if queue.key != "all":
        # Every queue but "all" holds open cases only: said so, the planner starts from the
        # few open cases on the state index instead of walking a million by report time.
        stmt = stmt.where(case_queries.is_open())
    if queue.key == "overdue":
        return stmt.order_by(None).order_by(Case.deadline, Case.id)
    if queue.oldest_first:
        return stmt.order_by(None).order_by(Case.reported_at, Case.id)
    return stmt


def count_of(stmt: sa.Select, limit: int | None = None) -> sa.Select:
    """How many cases ``stmt`` selects, counting at most ``limit`` (a million-case "all"
    tab is not counted to the end: see ``services.COUNT_CAP``)."""
    ids = stmt.order_by(None).with_only_columns(Case.id).limit(limit)
    return sa.select(sa.func.count()).select_from(ids.subquery())


def newest_report(user: User, now: dt.datetime) -> sa.Select:
    """When the newest case the user may see was reported (the queues' "something new")."""
    return sa.select(sa.func.max(Case.reported_at)).where(case_queries.visible_to(user))
