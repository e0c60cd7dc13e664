"""The aggregate selects behind every figure (docs/assessment.md, "Computing it").

Each is one ``SUM(CASE WHEN …)`` over the month's rows, grouped by the finest key a level
adds up from; the count columns are named as the formulas' numerators and denominators.
Python never sees a case: ``levels`` adds the grouped rows up.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from app.accounts.models import User
from app.cases.models import PUBLIC_SOURCES, Case, FlowEntry, Task
from app.core.db import UTCDateTime
from app.merchants.models import SelfCheck, Shop

# Public channels (监督举报, app.cases.models.PUBLIC_SOURCES) count in 监督举报率; a
# confirmed report in an inspector's grid from any source but the inspector's own is their
# 漏报 (``missed_by_id``, set when the case is filed: MISSED_SOURCES).
REGION_KEYS = ("street_id", "community_id", "grid_id")


@dataclasses.dataclass(frozen=True)
class Window:
    """The month as instants: ``start`` included, ``as_of`` excluded (the month's end, or
    now for the running month)."""

    start: dt.datetime
    as_of: dt.datetime

    def holds(self, column) -> sa.ColumnElement[bool]:
        return sa.and_(column >= self.start, column < self.as_of)


def _count(condition) -> sa.Label:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _valid() -> sa.ColumnElement[bool]:
    return sa.and_(Case.valid.is_(True), Case.state != "cancelled", Case.merged_into_id.is_(None))


def due_cases(window: Window) -> sa.Select:
    """Cases due to close in the month, and of those closed, closed on time, handled and
    handled on time; by street, community, grid and department."""
    closed = Case.closed_at < window.as_of
    handled = Case.handled_at < window.as_of
    keys = [getattr(Case, key) for key in (*REGION_KEYS, "department_id")]
    return (
        sa.select(
            *keys,
            sa.func.count().label("due_to_close"),
            _count(closed).label("closed"),
            _count(sa.and_(closed, Case.closed_on_time.is_(True))).label("closed_on_time"),
            _count(handled).label("handled"),
            _count(sa.and_(handled, Case.handled_on_time.is_(True))).label("handled_on_time"),
        )
        .where(
            _valid(),
            # Closed in the month, or due by its end and not closed before it: written as
            # two ranges of ix_cases_closed_at_deadline (closed since the month began;
            # never closed) so that the month's cases are read, not the year's.
            sa.or_(
                sa.and_(
                    Case.closed_at >= window.start,
                    sa.or_(Case.closed_at < window.as_of, Case.deadline < window.as_of),
                ),
                sa.and_(Case.closed_at.is_(None), Case.deadline < window.as_of),
            ),
        )
        .group_by(*keys)
    )


def reworks(window: Window) -> sa.Select:
    """返工: the month's ``check_fail`` steps, by the case's street, community, grid and
    department."""
    keys = [getattr(Case, key) for key in (*REGION_KEYS, "department_id")]
    return (
        sa.select(*keys, sa.func.count().label("reworks"))
        .select_from(FlowEntry)
        .join(Case, Case.id == FlowEntry.case_id)
        .where(FlowEntry.action == "check_fail", window.holds(FlowEntry.at), _valid())
        .group_by(*keys)
    )


def filings(window: Window) -> sa.Select:
    """Cases filed (立案) or reported in the month: filed, public filed, missed (by
    ``missed_by_id``), and the reporter's decided and valid reports."""
    filed = sa.and_(
        window.holds(Case.registered_at), Case.valid.is_(True), Case.merged_into_id.is_(None)
    )
    reported = sa.and_(window.holds(Case.reported_at), Case.valid.is_not(None))
    keys = [*(getattr(Case, key) for key in REGION_KEYS), Case.reporter_id, Case.missed_by_id]
    return (
        sa.select(
            *keys,
            _count(filed).label("filed"),
            _count(sa.and_(filed, Case.source.in_(sorted(PUBLIC_SOURCES)))).label("public_filed"),
            _count(sa.and_(filed, Case.missed_by_id.is_not(None))).label("missed"),
            _count(reported).label("reports"),
            _count(sa.and_(reported, Case.valid.is_(True))).label("valid_reports"),
        )
        .where(sa.or_(window.holds(Case.registered_at), window.holds(Case.reported_at)))
        .group_by(*keys)
    )


STEP_ACTIONS = ("register", "close", "dispatch")


def duty_steps(window: Window) -> sa.Select:
    """Dispatchers' register, close and dispatch steps of the month, by actor, recorded
    duty and action: how many, and how many on time."""
    return (
        sa.select(
            FlowEntry.actor_id,
            FlowEntry.duty,
            FlowEntry.action,
            sa.func.count().label("steps"),
            _count(FlowEntry.overdue.is_(False)).label("on_time"),
        )
        .where(
            FlowEntry.action.in_(STEP_ACTIONS),
            FlowEntry.actor_role == "dispatcher",
            window.holds(FlowEntry.at),
        )
        .group_by(FlowEntry.actor_id, FlowEntry.duty, FlowEntry.action)
    )


def cancelled_filings(window: Window) -> sa.Select:
    """The month's register steps whose case is cancelled now (准确立案率), by actor and
    duty: read from the few cancelled cases, not from every step."""
    return (
        sa.select(FlowEntry.actor_id, FlowEntry.duty, sa.func.count().label("cancelled"))
        .select_from(Case)
        .join(FlowEntry, FlowEntry.case_id == Case.id)
        .where(
            Case.state == "cancelled",
            FlowEntry.action == "register",
            FlowEntry.actor_role == "dispatcher",
            window.holds(FlowEntry.at),
        )
        .group_by(FlowEntry.actor_id, FlowEntry.duty)
    )


def returned_dispatches(window: Window) -> sa.Select:
    """Wrong dispatches (准确派遣率): each return approved before ``as_of`` belongs to the
    case's last dispatch before it; counted for that dispatch's actor and duty when it was
    in the month. Read from the few returns, not from every dispatch."""
    back, dispatch, earlier = aliased(FlowEntry), aliased(FlowEntry), aliased(FlowEntry)
    last_dispatch = (
        sa.select(sa.func.max(earlier.seq))
        .where(
            earlier.case_id == back.case_id, earlier.action == "dispatch", earlier.seq < back.seq
        )
        .scalar_subquery()
    )
    return (
        sa.select(dispatch.actor_id, dispatch.duty, sa.func.count().label("returned"))
        .select_from(back)
        .join(dispatch, sa.and_(dispatch.case_id == back.case_id, dispatch.seq == last_dispatch))
        .where(
            back.action == "approve_return",
            window.holds(back.at),  # after its dispatch, so not before the month
            dispatch.action == "dispatch",
            dispatch.actor_role == "dispatcher",
            window.holds(dispatch.at),
        )
        .group_by(dispatch.actor_id, dispatch.duty)
    )


def inspection_tasks(window: Window) -> sa.Select:
    """Verify and check tasks due in the month (not cancelled or reassigned), and those
    completed by their deadline; by assignee and kind."""
    on_time = sa.and_(Task.state == "completed", Task.completed_at <= Task.deadline)
    return (
        sa.select(
            Task.assignee_id,
            Task.kind,
            sa.func.count().label("due"),
            _count(on_time).label("on_time"),
        )
        .where(
            Task.kind.in_(("verify", "check")),
            window.holds(Task.deadline),
            Task.state.not_in(("cancelled", "reassigned")),
        )
        .group_by(Task.assignee_id, Task.kind)
    )


@dataclasses.dataclass(frozen=True)
class Day:
    """A local calendar day as UTC instants."""

    day: dt.date
    start: dt.datetime
    end: dt.datetime


def _days_table(days: list[Day]) -> sa.Subquery:
    selects = [
        sa.select(
            sa.literal(index).label("n"),
            sa.literal(day.day, sa.Date()).label("day"),
            sa.literal(day.start, UTCDateTime()).label("day_start"),
            sa.literal(day.end, UTCDateTime()).label("day_end"),
        )
        for index, day in enumerate(days)
    ]
    return sa.union_all(*selects).subquery("days")


def _owed(days: sa.Subquery) -> sa.ColumnElement[bool]:
    """The shop owes a check that day: it existed by the day's end, its pledge is signed
    by then (or has no date) and its merchant is active."""
    return sa.and_(
        days.c.day_end > Shop.created_at,
        sa.or_(Shop.pledge_signed_on.is_(None), Shop.pledge_signed_on <= days.c.day),
        User.is_active.is_(True),
    )


def selfcheck_days_due(days: list[Day]) -> sa.Select:
    """Shop-days owed a self-check, by community."""
    table = _days_table(days)
    return (
        sa.select(Shop.community_id, sa.func.count().label("days_due"))
        .select_from(Shop)
        .join(User, User.id == Shop.merchant_id)
        .join(table, _owed(table))
        .group_by(Shop.community_id)
    )


def selfcheck_days_done(days: list[Day]) -> sa.Select:
    """Shop-days owed and self-checked at least once, by community."""
    table = _days_table(days)
    checked = sa.exists().where(
        SelfCheck.shop_id == Shop.id,
        SelfCheck.created_at >= table.c.day_start,
        SelfCheck.created_at < table.c.day_end,
    )
    return (
        sa.select(Shop.community_id, sa.func.count().label("days_selfchecked"))
        .select_from(Shop)
        .join(User, User.id == Shop.merchant_id)
        .join(table, _owed(table))
        .where(checked)
        .group_by(Shop.community_id)
    )
