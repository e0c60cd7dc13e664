"""Read-side selects of cases: the command centre's lists and who may see which case.

Each function returns a SQLAlchemy select, so callers paginate, count or benchmark it.
The two busiest lists use the composite indexes of ``Case`` (see bench/):
``street_open_overdue`` rides the partial index ``ix_cases_street_running_deadline`` and
``grid_recent`` rides ``ix_cases_grid_reported_at``, each in the order the list is read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import sqlalchemy as sa

from app.accounts.models import Role, User
from app.cases import workflow
from app.cases.models import RUNNING_STATES, Case, CaseReporter, Task
from app.core.sqlhints import rare, starts_with
from app.grids.models import ResponsibilityGrid, ResponsibilityGridMember, UnitGrid
from app.merchants.models import Shop

# States in which the handling clock runs, so a passed deadline means overdue.
RUNNING = RUNNING_STATES
OPEN = tuple(sorted(state.value for state in workflow.OPEN))
OPEN_TASK_STATES = ("open", "accepted")
SEE_ALL = frozenset({Role.DISPATCHER, Role.ADMIN})


def is_open() -> sa.ColumnElement[bool]:
    """The case is open: a few thousand of a city's million cases, found on the state index
    (``rare``: SQLite's statistics would have it scan the table)."""
    return rare(Case.state.in_(OPEN))


def overdue(now: dt.datetime) -> sa.ColumnElement[bool]:
    """The clock runs and its deadline has passed."""
    return sa.and_(Case.state.in_(RUNNING), Case.deadline < now)


def street_open_overdue(street_id: int, now: dt.datetime) -> sa.Select:
    """A street's overdue cases whose clock still runs, most overdue first."""
    return (
        sa.select(Case)
        .where(Case.street_id == street_id, overdue(now))
        .order_by(Case.deadline, Case.id)
    )


def grid_recent(grid_id: int, since: dt.datetime) -> sa.Select:
    """A unit grid's cases reported since ``since``, newest first."""
    return (
        sa.select(Case)
        .where(Case.grid_id == grid_id, Case.reported_at >= since)
        .order_by(Case.reported_at.desc(), Case.id.desc())
    )


def _reported_by(user_id: int) -> sa.ColumnElement[bool]:
    # Merged cases keep every reporter, so "own reports" go through case_reporters.
    # Correlated EXISTS, not IN (SELECT …): the IN form read every reporter row of the table
    # (no index on user_id) and every task a handler's department ever had, for each call
    # (bench/feed_bench.py: 3.4–3.9× slower at a million cases than at 100,000).
    return sa.or_(
        Case.reporter_id == user_id,
        sa.exists().where(CaseReporter.case_id == Case.id, CaseReporter.user_id == user_id),
    )


def counts_for_its_people(tasks=Task) -> sa.ColumnElement[bool]:
    """Whether a task still lets its assignee (and department) see its case: not when it
    was reassigned away before they acted on it (accepted or completed it)."""
    return sa.or_(
        tasks.state != "reassigned",
        tasks.accepted_at.is_not(None),
        tasks.completed_at.is_not(None),
    )


def _with_tasks(*criteria) -> sa.ColumnElement[bool]:
    return sa.exists().where(Task.case_id == Case.id, counts_for_its_people(), *criteria)


def visible_to(user: User) -> sa.ColumnElement[bool]:
    """Which cases ``user`` may see: the command centre everything, everyone else their part.

    inspector: own reports, cases in their responsibility grids, cases with their tasks;
    street chief: their street; road chief: their road; handler: their department's cases
    (now or in an earlier task); merchant: own reports, their shops' cases and cases sent to
    them to rectify (门前三包, through their rectify tasks).
    """
    if user.role in SEE_ALL:
        return sa.true()
    part = _PART_OF.get(user.role)
    return part(user) if part is not None else sa.false()


def _inspector_part(user: User) -> sa.ColumnElement[bool]:
    walked = (
        sa.select(ResponsibilityGridMember.unit_grid_id)
        .join(ResponsibilityGrid)
        .where(ResponsibilityGrid.inspector_id == user.id)
    )
    return sa.or_(
        _reported_by(user.id),
        Case.grid_id.in_(walked),
        _with_tasks(Task.assignee_id == user.id),
    )


def _street_chief_part(user: User) -> sa.ColumnElement[bool]:
    return sa.or_(_reported_by(user.id), Case.street_id == user.org_unit_id)


def _road_chief_part(user: User) -> sa.ColumnElement[bool]:
    return sa.or_(
        _reported_by(user.id),
        Case.road_id == user.road_id if user.road_id is not None else sa.false(),
    )


def _handler_part(user: User) -> sa.ColumnElement[bool]:
    if user.org_unit_id is None:
        return _with_tasks(Task.assignee_id == user.id)
    return sa.or_(
        Case.department_id == user.org_unit_id,
        _with_tasks(sa.or_(Task.department_id == user.org_unit_id, Task.assignee_id == user.id)),
    )


def _merchant_part(user: User) -> sa.ColumnElement[bool]:
    shops = sa.select(Shop.id).where(Shop.merchant_id == user.id)
    return sa.or_(
        _reported_by(user.id),
        Case.shop_id.in_(shops),
        _with_tasks(Task.assignee_id == user.id),
    )


_PART_OF = {
    Role.INSPECTOR: _inspector_part,
    Role.STREET_CHIEF: _street_chief_part,
    Role.ROAD_CHIEF: _road_chief_part,
    Role.HANDLER: _handler_part,
    Role.MERCHANT: _merchant_part,
}


@dataclasses.dataclass(frozen=True)
class CaseFilters:
    state: list[str] | None = None
    category_id: int | None = None
    grid_code: str | None = None
    street_id: int | None = None
    department_id: int | None = None
    overdue: bool | None = None
    reported_from: dt.datetime | None = None
    reported_to: dt.datetime | None = None
    source: str | None = None
    routing: str | None = None
    number: str | None = None
    traffic_light: str | None = None


# States whose cases show a traffic light: the clock runs, or stands still (suspended).
LIT = (*RUNNING, workflow.State.SUSPENDED.value)


def lit(now: dt.datetime) -> sa.ColumnElement[bool]:
    """A traffic light shows (its clock runs or is paused) and it is not red."""
    return sa.and_(
        Case.state.in_(LIT),
        Case.limit_started_at.is_not(None),
        Case.deadline.is_not(None),
        sa.not_(overdue(now)),
    )


def _light_criterion(light: str, now: dt.datetime) -> sa.ColumnElement[bool]:
    """Red is exactly "overdue"; green and yellow are narrowed here to the lit cases that
    are not red, and told apart by their share of working time used
    (``reading.refine_light``), which SQL cannot compute."""
    return overdue(now) if light == "red" else lit(now)


def _equal_to(filters: CaseFilters) -> list[sa.ColumnElement[bool]]:
    """The filters that name one value of a column."""
    columns = {
        "category_id": Case.category_id,
        "street_id": Case.street_id,
        "department_id": Case.department_id,
        "source": Case.source,
        "routing": Case.routing,
    }
    return [
        column == getattr(filters, name)
        for name, column in columns.items()
        if getattr(filters, name) not in (None, "")
    ]


def _criteria(filters: CaseFilters, now: dt.datetime) -> list[sa.ColumnElement[bool]]:
    criteria = _equal_to(filters)
    if filters.state:
        criteria.append(Case.state.in_(filters.state))
    if filters.grid_code:
        grid = sa.select(UnitGrid.id).where(UnitGrid.code == filters.grid_code)
        criteria.append(Case.grid_id == grid.scalar_subquery())
    if filters.overdue is True:
        criteria.append(overdue(now))
    elif filters.overdue is False:
        criteria.append(sa.not_(overdue(now)) | Case.deadline.is_(None))
    if filters.reported_from is not None:
        criteria.append(Case.reported_at >= filters.reported_from)
    if filters.reported_to is not None:
        criteria.append(Case.reported_at < filters.reported_to)
    if filters.number:
        criteria.append(starts_with(Case.number, filters.number))
    if filters.traffic_light:
        criteria.append(_light_criterion(filters.traffic_light, now))
    return criteria


def cases_query(user: User, filters: CaseFilters, now: dt.datetime) -> sa.Select:
    """The cases ``user`` may see that match ``filters``, newest report first. A green or
    yellow ``traffic_light`` is only narrowed here: pass the select through
    ``reading.refine_light``."""
    stmt = sa.select(Case).where(visible_to(user), *_criteria(filters, now))
    return stmt.order_by(Case.reported_at.desc(), Case.id)


def visible_case(user: User, case_id: uuid.UUID) -> sa.Select:
    return sa.select(Case).where(Case.id == case_id, visible_to(user))


def open_tasks(case_id: uuid.UUID) -> sa.Select:
    return (
        sa.select(Task)
        .where(Task.case_id == case_id, Task.state.in_(OPEN_TASK_STATES))
        .order_by(Task.created_at, Task.id)
    )
