"""What the admin pages read: users with their units, roads and responsibility grids; the
devices users signed in from with their phone queues' health; unit grids with their
street, community and people; a year of the work calendar by month. Reads only: every
change goes through the domains' own services (accounts, grids, workcalendar).

The services' refusals are in English for the API; ``user_errors`` and ``import_problems``
say them in Chinese beside the form fields they are about."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence

import chinese_calendar
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import ROLE_ORG_KINDS, ROLE_VALUES, Device, Duty, Role, User
from app.accounts.services import MIN_PASSWORD_LENGTH
from app.core.errors import Conflict, DomainError, NotFound
from app.grids.models import ResponsibilityGrid, ResponsibilityGridMember, Road, UnitGrid
from app.orgunits.models import OrgUnit
from app.sync_api import devices as sync_devices
from app.sync_api.models import SyncDevice
from app.workcalendar import services as workcalendar

KIND_NAMES = {"district": "区", "street": "街道", "community": "社区", "department": "部门"}
DUTY_NAMES = {
    Duty.INTAKE_CLERK: "受理员",
    Duty.DISPATCHER: "派遣员",
    Duty.SHIFT_LEADER: "值班长",
    Duty.CENTRE_LEADER: "指挥中心领导",
}
HOLIDAY_NAMES = {holiday.value: holiday.chinese for holiday in chinese_calendar.Holiday}
WEEKDAYS = "一二三四五六日"


@dataclasses.dataclass(frozen=True)
class Page:
    rows: list
    total: int
    page: int
    pages: int


def paged(session: Session, stmt: sa.Select, page: int, size: int) -> Page:
    """One page of ``stmt``'s rows (the last page when ``page`` is past it)."""
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    pages = max(1, -(-total // size))
    page = min(max(page, 1), pages)
    rows = list(session.scalars(stmt.limit(size).offset((page - 1) * size)))
    return Page(rows, total, page, pages)


def _by_id(session: Session, model, ids: Iterable[int | None]) -> dict:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {row.id: row for row in session.scalars(sa.select(model).where(model.id.in_(wanted)))}


# -- users ------------------------------------------------------------------------------


def user_rows(session: Session, users: Sequence[User]) -> list[dict]:
    """Users with the names of their unit and road, and the responsibility grids they walk."""
    units = _by_id(session, OrgUnit, (u.org_unit_id for u in users))
    roads = _by_id(session, Road, (u.road_id for u in users))
    walks = defaultdict(list)
    if users:
        for grid in session.scalars(
            sa.select(ResponsibilityGrid)
            .where(ResponsibilityGrid.inspector_id.in_([u.id for u in users]))
            .order_by(ResponsibilityGrid.code)
        ):
            walks[grid.inspector_id].append(grid)
    return [
        {
            "user": user,
            "unit": units.get(user.org_unit_id),
            "road": roads.get(user.road_id),
            "duty_name": DUTY_NAMES.get(user.duty, ""),
            "responsibility_grids": walks[user.id],
        }
        for user in users
    ]


def user_choices(session: Session) -> dict:
    """The choices of the user forms: every org unit by kind and code, roads, duties, and
    which kinds of unit each role belongs to."""
    units = list(session.scalars(sa.select(OrgUnit).order_by(OrgUnit.kind, OrgUnit.code)))
    return {
        "units": [(unit, KIND_NAMES.get(unit.kind, unit.kind)) for unit in units],
        "roads": list(session.scalars(sa.select(Road).order_by(Road.name, Road.code))),
        "duties": list(DUTY_NAMES.items()),
        "role_kinds": {role.value: _kinds(role.value) for role in Role},
        "min_password": MIN_PASSWORD_LENGTH,
    }


def responsibility_grid_choices(session: Session) -> list[ResponsibilityGrid]:
    return list(session.scalars(sa.select(ResponsibilityGrid).order_by(ResponsibilityGrid.code)))


def _kinds(role: str | None) -> str:
    kinds = ROLE_ORG_KINDS.get(Role(role)) if role in ROLE_VALUES else None
    return "或".join(KIND_NAMES[kind] for kind in kinds) if kinds else ""


# The accounts services' field faults, in Chinese: by field, then by fault ("" for any).
FIELD_FAULTS = {
    "password": {"": f"密码至少 {MIN_PASSWORD_LENGTH} 个字符"},
    "username": {"taken": "该用户名已被使用", "": "用户名不可用"},
    "org_unit_id": {
        "not allowed": "系统管理员不属于任何单位，请不要选择单位",
        "": "该角色须属于{kinds}，请选择相应的单位",
    },
    "road_id": {"required": "路长须选择负责的道路", "": "只有路长关联道路"},
    "duty": {"": "只有指挥中心人员有岗位"},
}


def _field_message(field: str, fault: str, role: str | None) -> str:
    faults = FIELD_FAULTS.get(field, {})
    message = faults.get(fault) or faults.get("") or "取值不被接受"
    return message.format(kinds=_kinds(role))


def user_errors(error: DomainError, role: str | None) -> dict[str, str]:
    """A refusal of ``accounts.services`` as Chinese messages by form field ("" for the
    form as a whole)."""
    if isinstance(error, NotFound):
        what = error.message.split(" ", 1)[0]
        field = {"org": "org_unit_id", "road": "road_id"}.get(what, "")
        return {field: "所选的单位或道路不存在"}
    faults = {
        field: " ".join(messages) if isinstance(messages, list) else str(messages)
        for field, messages in (error.errors or {}).items()
    }
    if not faults:
        kind = "冲突" if isinstance(error, Conflict) else "未通过校验"
        return {"": f"{kind}：{error.message}"}
    return {field: _field_message(field, fault, role) for field, fault in faults.items()}


# -- devices ----------------------------------------------------------------------------


def devices_stmt(q: str | None = None, active: bool | None = None) -> sa.Select:
    """Devices users signed in from (phones and console browsers), the latest seen first,
    of users whose name or user name holds ``q``."""
    stmt = sa.select(Device).join(User, User.id == Device.user_id)
    if active is True:
        stmt = stmt.where(Device.token_hash.is_not(None), Device.revoked_at.is_(None))
    elif active is False:
        stmt = stmt.where(sa.or_(Device.token_hash.is_(None), Device.revoked_at.is_not(None)))
    if q:
        pattern = f"%{q}%"
        stmt = stmt.where(sa.or_(User.username.ilike(pattern), User.display_name.ilike(pattern)))
    return stmt.order_by(Device.last_seen_at.desc().nulls_last(), Device.id.desc())


def device_rows(session: Session, devices: Sequence[Device], now: dt.datetime) -> list[dict]:
    """Devices with their user, whether their token still works, and the health of the
    phone queue synced from them, if any (``sync_api.devices.device_health``)."""
    users = _by_id(session, User, (d.user_id for d in devices))
    queues = []
    if devices:
        queues = list(
            session.scalars(
                sa.select(SyncDevice).where(
                    SyncDevice.user_id.in_({d.user_id for d in devices}),
                    SyncDevice.device_id.in_({d.device_id for d in devices}),
                )
            )
        )
    health = {
        (view["user"]["id"], view["device_id"]): view
        for view in sync_devices.device_health(session, queues)
    }
    return [
        {
            "device": device,
            "user": users.get(device.user_id),
            "state": _device_state(device, now),
            "console": device.device_id.startswith("console:"),
            "queue": health.get((device.user_id, device.device_id)),
        }
        for device in devices
    ]


def _device_state(device: Device, now: dt.datetime) -> str:
    if not device.active:
        return "已注销"
    if device.expires_at is not None and device.expires_at <= now:
        return "已过期"
    return "有效"


# -- grids ------------------------------------------------------------------------------


def grid_rows(session: Session, grids: Sequence[UnitGrid]) -> list[dict]:
    """Unit grids with their community and street, responsibility grid and inspector, and
    the street's chiefs."""
    communities = _by_id(session, OrgUnit, (g.community_id for g in grids))
    streets = _by_id(session, OrgUnit, (c.parent_id for c in communities.values()))
    members = {}
    if grids:
        members = dict(
            session.execute(
                sa.select(ResponsibilityGridMember.unit_grid_id, ResponsibilityGrid)
                .join(ResponsibilityGrid)
                .where(ResponsibilityGridMember.unit_grid_id.in_([g.id for g in grids]))
            ).all()
        )
    inspectors = _by_id(session, User, (r.inspector_id for r in members.values()))
    chiefs = defaultdict(list)
    if streets:
        for chief in session.scalars(
            sa.select(User)
            .where(
                User.role == Role.STREET_CHIEF,
                User.is_active.is_(True),
                User.org_unit_id.in_(list(streets)),
            )
            .order_by(User.display_name)
        ):
            chiefs[chief.org_unit_id].append(chief)
    rows = []
    for grid in grids:
        community = communities.get(grid.community_id)
        street = streets.get(community.parent_id) if community else None
        responsibility = members.get(grid.id)
        rows.append(
            {
                "grid": grid,
                "community": community,
                "street": street,
                "responsibility_grid": responsibility,
                "inspector": inspectors.get(responsibility.inspector_id)
                if responsibility
                else None,
                "chiefs": chiefs.get(street.id, []) if street else [],
            }
        )
    return rows


def import_problems(error: DomainError) -> list[tuple[str, list[str]]]:
    """An import's refusal as (where, messages): per feature (numbered from 1), or the file."""
    found = (error.errors or {}).get("features")
    if isinstance(found, dict):
        return [
            (f"第 {int(index) + 1} 个要素", list(messages)) for index, messages in found.items()
        ]
    if error.errors and "type" in error.errors:
        return [("文件", ["不是 GeoJSON FeatureCollection（type 应为 FeatureCollection）"])]
    if found:
        return [("文件", ["FeatureCollection 中没有要素（features 为空或不是列表）"])]
    return [("文件", [error.message])]


# -- the work calendar ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CalendarDay:
    date: dt.date
    label: str  # 节假日 / 调休上班 / 本市休息日 / 本市工作日
    name: str  # the holiday's name or the city's note
    override: bool

    @property
    def weekday(self) -> str:
        return "周" + WEEKDAYS[self.date.weekday()]


def calendar_year(session: Session, year: int) -> dict:
    """The year's days that are not what their weekday says (holidays on weekdays, working
    days at weekends) and every day the city overrides, by month; whether the national
    calendar has data for the year; the daily work periods."""
    info = workcalendar.calendar_range(session, dt.date(year, 1, 1), dt.date(year, 12, 31))
    months: dict[int, list[CalendarDay]] = {month: [] for month in range(1, 13)}
    sources = set()
    for day in info.days:
        sources.add(day.source)
        usual = day.date.weekday() < 5
        if day.source != "override" and day.is_workday == usual:
            continue
        months[day.date.month].append(_calendar_day(day))
    return {
        "year": year,
        "months": months,
        "national": "national" in sources,
        "periods": info.periods,
        "timezone": info.timezone,
    }


def _calendar_day(day: workcalendar.DayInfo) -> CalendarDay:
    override = day.source == "override"
    if override:
        label = "本市工作日" if day.is_workday else "本市休息日"
        return CalendarDay(day.date, label, day.note or "", True)
    name = ""
    if not day.is_workday and day.source == "national":
        _, holiday = chinese_calendar.get_holiday_detail(day.date)
        name = HOLIDAY_NAMES.get(holiday, holiday or "")
    return CalendarDay(day.date, "调休上班" if day.is_workday else "节假日", name, False)
