"""What the monthly pages read: the 两图一表 ledger's form choices (scopes by name, the
caller's own only) and a page of its rows, the caller's exports, the 考评 rankings of a
month and their trend over months, and a chief's board (open and overdue cases of their
street or road). Reads only, through ``app.ledger`` and ``app.assessment``'s services and
queries; exports are started by ``app.ledger.services.request_export``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.assessment import services as assessment
from app.assessment.formulas import LEVEL_SUBJECTS, level_formulas
from app.cases import queries as case_queries
from app.cases import reading
from app.cases.models import Case
from app.console import services as console_services
from app.core.errors import ValidationFailed
from app.grids.models import Road, UnitGrid
from app.ledger import queries as ledger_queries
from app.ledger import scopes as ledger_scopes
from app.ledger import services as ledger
from app.ledger.models import Export
from app.orgunits.models import OrgKind, OrgUnit
from app.workcalendar import periods
from app.workcalendar.services import get_calendar

SCOPE_KINDS = {
    "street": "街道",
    "road": "道路",
    "community": "社区",
    "grid": "单元网格",
    "department": "处置部门",
    "chief": "街长 / 路长",
}
EXPORT_STATUS = {"queued": "排队中", "running": "生成中", "done": "已完成", "failed": "失败"}
# The form fields a scope or period error names, and what to tell a person.
FIELD_MESSAGES = {
    "from": "开始日期不能晚于今天（所选月份尚未开始）",
    "to": "结束日期不能早于开始日期，时段最长 366 天",
    "period": "月份格式应为 YYYY-MM，且不能是尚未开始的月份",
    "chief": "所选人员不是有街道或道路的街长、路长",
}
GRID_CHOICES_MAX = 3000
ASSESSMENT_LEVELS = {"street": "街道", "department": "处置部门"}
TREND_MONTHS = 6
TREND_TOP = 3


def chinese_error(error: ValidationFailed) -> str:
    """A period's or scope's refusal (422) in words a person reads."""
    said = []
    for field in error.errors or {}:
        if field in FIELD_MESSAGES:
            said.append(FIELD_MESSAGES[field])
        elif field in SCOPE_KINDS:
            said.append(f"所选{SCOPE_KINDS[field]}不存在，或不是{SCOPE_KINDS[field]}")
    return "；".join(dict.fromkeys(said)) or "查询条件有误"


# -- periods --------------------------------------------------------------------------


def local_today(session: Session, now: dt.datetime) -> dt.date:
    return periods.local_today(now, get_calendar(session).timezone)


def month_label(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def previous_month_label(session: Session, now: dt.datetime) -> str:
    first = local_today(session, now).replace(day=1)
    return month_label(first - dt.timedelta(days=1))


def this_month_label(session: Session, now: dt.datetime) -> str:
    return month_label(local_today(session, now))


def month_days(text: str) -> tuple[dt.date, dt.date]:
    """The first and last day of month ``YYYY-MM`` (422 for anything else)."""
    first = periods.parse_month(text)
    after = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first, after - dt.timedelta(days=1)


def months_back(text: str, count: int) -> list[str]:
    """``count`` months ending with ``text``, oldest first."""
    first = periods.parse_month(text)
    labels = []
    for _ in range(count):
        labels.append(month_label(first))
        first = (first - dt.timedelta(days=1)).replace(day=1)
    return labels[::-1]


# -- the ledger's form ---------------------------------------------------------------


def _units(session: Session, kind: str, **where) -> list[OrgUnit]:
    stmt = sa.select(OrgUnit).where(OrgUnit.kind == kind).order_by(OrgUnit.code)
    for column, value in where.items():
        stmt = stmt.where(getattr(OrgUnit, column) == value)
    return list(session.scalars(stmt))


def _grids(session: Session, street_id: int | None = None) -> list[tuple[str, str]]:
    stmt = sa.select(UnitGrid.code, UnitGrid.name).order_by(UnitGrid.code)
    if street_id is not None:
        stmt = stmt.join(OrgUnit, OrgUnit.id == UnitGrid.community_id).where(
            OrgUnit.parent_id == street_id
        )
    rows = session.execute(stmt.limit(GRID_CHOICES_MAX)).all()
    return [(f"grid:{code}", f"{code} {name or ''}".strip()) for code, name in rows]


def _roads(session: Session, **where) -> list[tuple[str, str]]:
    stmt = sa.select(Road).order_by(Road.code)
    for column, value in where.items():
        stmt = stmt.where(getattr(Road, column) == value)
    return [(f"road:{road.id}", f"{road.name}（{road.code}）") for road in session.scalars(stmt)]


def _chiefs(session: Session) -> list[tuple[str, str]]:
    stmt = (
        sa.select(User)
        .where(User.role.in_((Role.STREET_CHIEF, Role.ROAD_CHIEF)), User.is_active.is_(True))
        .order_by(User.role.desc(), User.display_name, User.id)
    )
    names = {Role.STREET_CHIEF: "街长", Role.ROAD_CHIEF: "路长"}
    return [
        (f"chief:{user.id}", f"{user.display_name}（{names[user.role]}）")
        for user in session.scalars(stmt)
    ]


def _named(units: list[OrgUnit], kind: str) -> list[tuple[str, str]]:
    return [(f"{kind}:{unit.id}", unit.name) for unit in units]


def scope_choices(session: Session, user: User) -> list[tuple[str, list[tuple[str, str]]]]:
    """The scopes ``user`` may ask for, by name, in groups: ``(group, [(value, label)])``;
    a value is ``kind:id`` (``grid:code``). The empty value is the caller's default."""
    if user.role in ledger_scopes.SEE_ALL:
        groups = [
            ("全区", [("", "全区")]),
            ("街道", _named(_units(session, OrgKind.STREET), "street")),
            ("道路", _roads(session)),
            ("社区", _named(_units(session, OrgKind.COMMUNITY), "community")),
            ("单元网格", _grids(session)),
            ("处置部门", _named(_units(session, OrgKind.DEPARTMENT), "department")),
            ("街长 / 路长", _chiefs(session)),
        ]
    elif user.role == Role.STREET_CHIEF and user.org_unit_id:
        street = session.get(OrgUnit, user.org_unit_id)
        groups = [
            ("本街道", _named([street], "street")),
            ("社区", _named(_units(session, OrgKind.COMMUNITY, parent_id=street.id), "community")),
            ("单元网格", _grids(session, street.id)),
        ]
    elif user.role == Role.ROAD_CHIEF and user.road_id:
        groups = [("本道路", _roads(session, id=user.road_id))]
    elif user.role == Role.HANDLER and user.org_unit_id:
        groups = [("本部门", _named([session.get(OrgUnit, user.org_unit_id)], "department"))]
    else:
        groups = []
    return [(name, items) for name, items in groups if items]


def own_scope_value(user: User) -> str:
    """A chief's or handler's own area as the form's scope value ("" for the district)."""
    if user.role == Role.STREET_CHIEF and user.org_unit_id:
        return f"street:{user.org_unit_id}"
    if user.role == Role.ROAD_CHIEF and user.road_id:
        return f"road:{user.road_id}"
    if user.role == Role.HANDLER and user.org_unit_id:
        return f"department:{user.org_unit_id}"
    return ""


def scope_args(value: str | None) -> dict:
    """The ledger services' scope filter of a form's ``kind:id`` value (422 if malformed)."""
    if not value:
        return {}
    kind, _, raw = value.partition(":")
    if kind not in SCOPE_KINDS or not raw:
        raise ValidationFailed(f"bad scope {value!r}", {"scope": ["kind:id"]})
    if kind == "grid":
        return {"grid": raw}
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise ValidationFailed(f"bad scope {value!r}", {kind: ["not an id"]})
    return {kind: int(raw)}


# -- the ledger's rows and exports ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LedgerPage:
    query: ledger.LedgerQuery
    rows: list[ledger_queries.LedgerRow]
    total: int
    page: int
    pages: int


def ledger_page(
    session: Session, query: ledger.LedgerQuery, page: int, page_size: int, thumbnail_size: int
) -> LedgerPage:
    total = ledger_queries.count_rows(session, query.period, query.scope)
    pages = max(1, -(-total // page_size))
    page = min(max(page, 1), pages)
    rows = ledger_queries.page_rows(
        session, query.period, query.scope, (page - 1) * page_size, page_size, thumbnail_size
    )
    return LedgerPage(query, rows, total, page, pages)


def my_exports(session: Session, user: User, limit: int = 10) -> list[Export]:
    """The caller's latest exports (the API shows an export to its requester only)."""
    stmt = (
        sa.select(Export)
        .where(Export.requested_by == user.id)
        .order_by(Export.created_at.desc(), Export.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def export_label(export: Export) -> str:
    scope = export.params.get("scope", {})
    kind = SCOPE_KINDS.get(scope.get("kind"), "")
    return f"{kind}{scope.get('name', '')} {export.params.get('from')}—{export.params.get('to')}"


# -- 考评 -----------------------------------------------------------------------------


def assessment_levels(user: User) -> list[str]:
    """The ranking levels of this page the caller may read (street, department)."""
    readable = assessment.READERS.get(user.role, ())
    return [level for level in ASSESSMENT_LEVELS if level in readable]


def formulas_of(level: str) -> list:
    return [f for subject in LEVEL_SUBJECTS[level] for f in level_formulas(level, subject)]


def ranked(rows: list[dict]) -> list[dict]:
    """Ranked rows first, by rank and name; rows without a score last."""
    return sorted(rows, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["code"] or ""))


@dataclasses.dataclass(frozen=True)
class Trend:
    months: list[str]
    series: list[tuple[str, list[float | None]]]


def trend(
    session: Session,
    user: User,
    level: str,
    month: str,
    unit_ids: list[int],
    now: dt.datetime,
    count: int = TREND_MONTHS,
    known: dict[str, list[dict]] | None = None,
) -> Trend:
    """Each unit's score in the ``count`` months up to ``month`` (each month as the
    assessment service answers it: published, else computed; ``known``: months' rows
    the caller already has)."""
    months = months_back(month, count)
    known = known or {}
    scores: dict[int, list[float | None]] = {unit: [] for unit in unit_ids}
    names: dict[int, str] = {}
    for label in months:
        answered = known.get(label)
        if answered is None:
            answered = assessment.assessment(session, user, label, level, now=now)["rows"]
        rows = {row["id"]: row for row in answered}
        for unit in unit_ids:
            row = rows.get(unit)
            scores[unit].append(row["score"] if row else None)
            if row:
                names[unit] = row["name"]
    return Trend(months, [(names.get(unit, str(unit)), scores[unit]) for unit in unit_ids])


# -- a chief's board ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Area:
    kind: str  # street or road
    id: int
    name: str
    criterion: sa.ColumnElement[bool]


def chief_area(session: Session, user: User) -> Area | None:
    """A street chief's street (``org_unit_id``), a road chief's road (``road_id``): the
    same as the ledger's ``chief`` scope."""
    if user.role == Role.STREET_CHIEF and user.org_unit_id:
        street = session.get(OrgUnit, user.org_unit_id)
        if street is not None and street.kind == OrgKind.STREET:
            return Area("street", street.id, street.name, Case.street_id == street.id)
    if user.role == Role.ROAD_CHIEF and user.road_id:
        road = session.get(Road, user.road_id)
        if road is not None:
            return Area("road", road.id, road.name, Case.road_id == road.id)
    return None


@dataclasses.dataclass(frozen=True)
class Board:
    area: Area
    open_count: int
    overdue_count: int
    lights: dict[str, int | None]
    overdue: list[dict]
    recent: list[dict]


def _open_in(area: Area) -> sa.Select:
    return sa.select(Case).where(
        area.criterion, Case.state.in_(case_queries.OPEN), Case.merged_into_id.is_(None)
    )


def _count(session: Session, stmt: sa.Select) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))


def _rows(session: Session, user: User, cases: list[Case], now: dt.datetime) -> list[dict]:
    rows = console_services.described(session, cases, now)
    ids = [case.id for case in cases]
    visible = set()
    if ids:
        visible = set(
            session.scalars(
                sa.select(Case.id).where(Case.id.in_(ids), case_queries.visible_to(user))
            )
        )
    for row in rows:
        row["visible"] = row["id"] in visible
    return rows


def board(session: Session, user: User, area: Area, now: dt.datetime, limit: int = 50) -> Board:
    """The open cases of the chief's area: counts by traffic light, the overdue ones
    (most overdue first) and the latest reported."""
    open_cases = _open_in(area)
    overdue = open_cases.where(case_queries.overdue(now))
    overdue_cases = list(session.scalars(overdue.order_by(Case.deadline, Case.id).limit(limit)))
    recent = list(
        session.scalars(open_cases.order_by(Case.reported_at.desc(), Case.id).limit(limit))
    )
    overdue_count = _count(session, overdue)
    return Board(
        area,
        _count(session, open_cases),
        overdue_count,
        {"red": overdue_count, "yellow": _yellow(session, open_cases, now)},
        _rows(session, user, overdue_cases, now),
        _rows(session, user, recent, now),
    )


def _yellow(session: Session, open_cases: sa.Select, now: dt.datetime) -> int | None:
    """How many open cases show yellow (None: too many to light at once)."""
    try:
        return _count(session, reading.refine_light(session, open_cases, "yellow", now))
    except ValidationFailed:
        return None
