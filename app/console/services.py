"""What the console's pages read: a queue's page of cases with their traffic lights and
names, the tabs' counts, the choices of the filter and action forms. Reads only; every
change a page makes goes through the domain's own services (app.cases, app.pressing)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.cases import reading
from app.cases.models import SOURCES, Case, CaseRequest
from app.cases.queries import CaseFilters
from app.categories.models import Category
from app.console import queries
from app.grids.models import UnitGrid
from app.orgunits.models import OrgUnit
from app.workcalendar import periods
from app.workcalendar.services import get_calendar

STATE_NAMES = {
    "reported": "上报",
    "verifying": "待核实",
    "rejected": "不予受理",
    "registered": "立案",
    "dispatched": "已派遣",
    "returned": "回退",
    "handling": "处置中",
    "suspended": "挂账",
    "handled": "处理反馈",
    "checking": "核查中",
    "closed": "结案",
    "cancelled": "作废",
    "self_handled": "自处理",
}
SOURCE_NAMES = {
    "inspector": "监督员",
    "street_chief": "街长",
    "road_chief": "路长",
    "merchant": "商户",
    "dispatcher": "指挥中心",
    "hotline": "热线",
    "open311": "公众",
    "public": "公众举报",
    "video": "视频",
    "leader": "领导批示",
    "referral": "部门转办",
}
REQUEST_NAMES = {
    "return": "回退申请",
    "extension": "延期申请",
    "suspension": "挂账申请",
    "cancellation": "作废申请",
    "self_handle": "自处理申请",
}
LIGHT_NAMES = {"green": "绿灯", "yellow": "黄灯", "red": "红灯", None: "无"}


@dataclasses.dataclass(frozen=True)
class QueueFilters:
    """The filter form of the queues, as people type it (local dates, a grid code)."""

    street_id: int | None = None
    grid_code: str | None = None
    category_id: int | None = None
    department_id: int | None = None
    source: str | None = None
    state: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    number: str | None = None

    def case_filters(self, timezone: str) -> CaseFilters:
        reported_from = reported_to = None
        if self.date_from is not None:
            reported_from = periods.period_of_days(self.date_from, self.date_from, timezone).start
        if self.date_to is not None:
            reported_to = periods.period_of_days(self.date_to, self.date_to, timezone).end
        return CaseFilters(
            state=[self.state] if self.state else None,
            category_id=self.category_id,
            grid_code=self.grid_code,
            street_id=self.street_id,
            department_id=self.department_id,
            reported_from=reported_from,
            reported_to=reported_to,
            source=self.source,
            number=self.number,
        )


# A queue's page counts its cases up to here: the "all" tab of a city holds a million, and
# no one pages through more than this (filters narrow it). Shown as "10000+".
COUNT_CAP = 10_000


@dataclasses.dataclass(frozen=True)
class QueuePage:
    queue: queries.Queue
    rows: list[dict]
    total: int
    page: int
    pages: int
    counts: dict[str, int]
    more: bool = False  # more than ``total`` (= COUNT_CAP) cases match


def _case_filters(session: Session, filters: QueueFilters) -> CaseFilters:
    return filters.case_filters(get_calendar(session).timezone)


def queue_counts(
    session: Session, user: User, filters: QueueFilters, now: dt.datetime
) -> dict[str, int]:
    """How many cases wait in each queue (the "all" tab is not counted)."""
    case_filters = _case_filters(session, filters)
    return {
        queue.key: session.scalar(
            queries.count_of(queries.queue_cases(user, queue, case_filters, now))
        )
        for queue in queries.QUEUES
        if queue.key != "all"
    }


def queue_page(
    session: Session,
    user: User,
    key: str,
    filters: QueueFilters,
    page: int,
    page_size: int,
    now: dt.datetime,
) -> QueuePage:
    """One page of a queue, its rows named for people, and every tab's count."""
    queue = queries.BY_KEY[key]
    stmt = queries.queue_cases(user, queue, _case_filters(session, filters), now)
    total = session.scalar(queries.count_of(stmt, COUNT_CAP + 1))
    more = total > COUNT_CAP
    total = min(total, COUNT_CAP)
    pages = max(1, -(-total // page_size))
    page = min(max(page, 1), pages)
    cases = list(session.scalars(stmt.limit(page_size).offset((page - 1) * page_size)))
    rows = described(session, cases, now)
    counts = queue_counts(session, user, filters, now)
    return QueuePage(queue, rows, total, page, pages, counts, more)


def described(session: Session, cases: Sequence[Case], now: dt.datetime) -> list[dict]:
    """List rows (``reading.summaries``) with the names a person reads: street, grid,
    department, state, source, and the kinds of requests pending."""
    rows = reading.summaries(session, cases, now)
    unit_ids = {c.street_id for c in cases} | {c.department_id for c in cases}
    units = _names(session, OrgUnit, unit_ids)
    grids = _codes(session, {c.grid_id for c in cases})
    pending = _pending_requests(session, [c.id for c in cases])
    for row in rows:
        row.update(
            street_name=units.get(row["street_id"], ""),
            department_name=units.get(row["department_id"], ""),
            grid_code=grids.get(row["grid_id"], ""),
            state_name=STATE_NAMES.get(row["state"], row["state"]),
            source_name=SOURCE_NAMES.get(row["source"], row["source"]),
            light_name=LIGHT_NAMES.get(row["traffic_light"], ""),
            requests=[REQUEST_NAMES.get(kind, kind) for kind in pending.get(row["id"], [])],
        )
    return rows


def _names(session: Session, model, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(sa.select(model.id, model.name).where(model.id.in_(wanted))).all())


def _codes(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    stmt = sa.select(UnitGrid.id, UnitGrid.code).where(UnitGrid.id.in_(wanted))
    return dict(session.execute(stmt).all())


def _pending_requests(session: Session, case_ids: list) -> dict:
    found: dict = {}
    if case_ids:
        stmt = sa.select(CaseRequest.case_id, CaseRequest.kind).where(
            CaseRequest.case_id.in_(case_ids), CaseRequest.status == "pending"
        )
        for case_id, kind in session.execute(stmt):
            found.setdefault(case_id, []).append(kind)
    return found


def newest_report(session: Session, user: User, now: dt.datetime) -> dt.datetime | None:
    return session.scalar(queries.newest_report(user, now))


# -- choices of the forms ---------------------------------------------------------------


def units_of_kind(session: Session, kind: str) -> list[OrgUnit]:
    return list(
        session.scalars(sa.select(OrgUnit).where(OrgUnit.kind == kind).order_by(OrgUnit.code))
    )


def categories(session: Session) -> list[Category]:
    return list(
        session.scalars(
            sa.select(Category)
            .where(Category.active.is_(True))
            .order_by(Category.kind, Category.edition, Category.code)
        )
    )


def filter_choices(session: Session) -> dict:
    return {
        "streets": units_of_kind(session, "street"),
        "departments": units_of_kind(session, "department"),
        "categories": categories(session),
        "sources": [(source, SOURCE_NAMES[source]) for source in SOURCES],
        "states": list(STATE_NAMES.items()),
    }


def people(session: Session, role: str, org_unit_id: int | None = None) -> list[User]:
    """Active users of a role (of an org unit), by name: whom a task may go to."""
    stmt = sa.select(User).where(User.role == role, User.is_active.is_(True))
    if org_unit_id is not None:
        stmt = stmt.where(User.org_unit_id == org_unit_id)
    return list(session.scalars(stmt.order_by(User.display_name, User.id)))


FIELD_ROLES = (Role.INSPECTOR, Role.STREET_CHIEF, Role.ROAD_CHIEF)
