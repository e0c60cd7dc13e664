"""Load the demo district through the domains' own services, in one transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from sqlalchemy.orm import Session

from app.accounts import services as accounts
from app.accounts.models import Role
from app.categories.services import seed_national_categories
from app.core.db import transaction
from app.demo import district
from app.demo.desk import DeskReport, write_desk
from app.demo.history import HistoryPlan, HistoryReport, history_written, write_history
from app.grids.importing import add_roads, add_unit_grids
from app.grids.responsibility import add_responsibility_grid
from app.grids.services import roads_query
from app.merchants.services import add_shop
from app.orgunits import services as orgunits
from app.photos.backends import Media

DEMO_PASSWORD = "demo-pass-2026"
Progress = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    display_name: str
    where: str


@dataclasses.dataclass(frozen=True)
class DemoReport:
    loaded: bool
    users: list[DemoUser]
    unit_grids: int = 0
    roads: int = 0
    shops: int = 0
    categories_created: int = 0
    history: HistoryReport | None = None
    desk: DeskReport | None = None


def is_loaded(session: Session) -> bool:
    return orgunits.find_by_code(session, district.DISTRICT[0]) is not None


def _user(session, users, username, role, name, unit, where, road=None):
    user = accounts.add_user(
        session,
        username=username,
        password=DEMO_PASSWORD,
        role=role,
        display_name=name,
        org_unit_id=unit.id if unit else None,
        road_id=road.id if road else None,
    )
    users.append(DemoUser(username, role, name, where))
    return user


def demo_users(session: Session) -> list[DemoUser]:
    """The demo's one user per role (``demo_<role>``), as stored."""
    found = session.scalars(accounts.users_query(q="demo_")).all()
    return [
        DemoUser(user.username, user.role, user.display_name, "")
        for user in found
        if user.username == f"demo_{user.role}"
    ]


def load_demo(
    session: Session,
    progress: Progress = lambda _message: None,
    *,
    media: Media | None = None,
    history: HistoryPlan | None = HistoryPlan(),
    now: dt.datetime | None = None,
) -> DemoReport:
    """Create the demo district once, then its history (``history``; None: none) unless
    it has cases already; a second call changes nothing and says so."""
    categories = seed_national_categories(session)
    progress(f"categories: {categories.created} new, {categories.unchanged} already there")
    if is_loaded(session):
        written = _history(session, media, history, now, progress)
        if written is None:
            progress("the demo district is already loaded; nothing else to do")
        report = DemoReport(loaded=False, users=demo_users(session), history=written)
    else:
        report = _district(session, categories.created, progress)
        report = dataclasses.replace(
            report, history=_history(session, media, history, now, progress)
        )
    if report.history is None:
        return report  # today's desk comes with a history written now, once
    desk = write_desk(session, media, now=report.history.end, progress=progress)
    progress(desk.line())
    for failure in desk.failures:
        progress(f"  today's desk: {failure}")
    return dataclasses.replace(report, desk=desk)


def _history(
    session: Session,
    media: Media | None,
    plan: HistoryPlan | None,
    now: dt.datetime | None,
    progress: Progress,
) -> HistoryReport | None:
    """The district's history, written once: not when there are cases already."""
    if plan is None or media is None or history_written(session):
        return None
    written = write_history(session, media, now=now, plan=plan, progress=progress)
    progress(
        f"history: {written.cases} cases, {written.photos} photos, "
        f"{written.selfchecks} self-checks in {written.seconds:.0f} s"
    )
    return written


def _district(session: Session, categories_created: int, progress: Progress) -> DemoReport:

    users: list[DemoUser] = []
    with transaction(session):
        code, name = district.DISTRICT
        district_unit = orgunits.add_org_unit(session, "district", code, name)
        departments = {
            dept_code: orgunits.add_org_unit(session, "department", dept_code, dept_name, code)
            for dept_code, dept_name in district.DEPARTMENTS
        }
        grid_report = add_unit_grids(session, district.unit_grids())
        progress(f"unit grids: {grid_report.created} in {len(district.STREETS)} streets")
        road_report = add_roads(session, district.roads())
        progress(f"roads: {road_report.created}")
        road_rows = {road.code: road for road in session.scalars(roads_query(session))}

        streets = {s: orgunits.find_by_code(session, s) for s, _n, _c in district.STREETS}
        communities = {
            c: orgunits.find_by_code(session, c)
            for _s, _n, community_list in district.STREETS
            for c, _cn in community_list
        }
        first_community = district.STREETS[0][2][0][0]

        _user(session, users, "demo_admin", Role.ADMIN, "系统管理员", None, "—")
        _user(
            session,
            users,
            "demo_dispatcher",
            Role.DISPATCHER,
            "指挥中心 王派遣",
            district_unit,
            name,
        )
        _user(
            session,
            users,
            "demo_handler",
            Role.HANDLER,
            "环卫处 李师傅",
            departments["D-HW"],
            departments["D-HW"].name,
        )
        for dept_code, dept in departments.items():
            if dept_code != "D-HW":
                _user(
                    session,
                    users,
                    f"handler_{dept_code[2:].lower()}",
                    Role.HANDLER,
                    f"{dept.name} 处置员",
                    dept,
                    dept.name,
                )
        for index, (street_code, street_name, _c) in enumerate(district.STREETS, start=1):
            street = streets[street_code]
            for chief in (1, 2):
                username = (
                    "demo_street_chief"
                    if (index, chief) == (1, 1)
                    else (f"street_chief_{index}_{chief}")
                )
                _user(
                    session,
                    users,
                    username,
                    Role.STREET_CHIEF,
                    f"{street_name}街长{chief}",
                    street,
                    street_name,
                )
        for index, (_code, road) in enumerate(sorted(road_rows.items()), start=1):
            for chief in (1, 2):
                username = (
                    "demo_road_chief"
                    if (index, chief) == (1, 1)
                    else (f"road_chief_{index}_{chief}")
                )
                street = orgunits.get_org_unit(session, road.street_id)
                _user(
                    session,
                    users,
                    username,
                    Role.ROAD_CHIEF,
                    f"{road.name}路长{chief}",
                    street,
                    road.name,
                    road=road,
                )

        for index, (community_code, community) in enumerate(sorted(communities.items()), 1):
            username = (
                "demo_inspector"
                if community_code == first_community
                else (f"inspector_{index:02d}")
            )
            inspector = _user(
                session,
                users,
                username,
                Role.INSPECTOR,
                f"{community.name}监督员",
                community,
                community.name,
            )
            member_codes = [f"{community_code}{n:03d}" for n in range(1, 9)]
            add_responsibility_grid(
                session,
                code=f"RG{community_code}",
                name=f"{community.name}责任网格",
                unit_grid_codes=member_codes,
                inspector_id=inspector.id,
            )

        for index, (shop_name, address, community_code, (lon, lat)) in enumerate(district.SHOPS):
            username = "demo_merchant" if index == 0 else f"merchant_{index + 1:02d}"
            community = communities[community_code]
            merchant = _user(
                session, users, username, Role.MERCHANT, f"{shop_name}店主", community, shop_name
            )
            add_shop(
                session,
                name=shop_name,
                address=address,
                community_id=community.id,
                lat=lat,
                lon=lon,
                merchant_id=merchant.id,
                frontage=district.frontage(lon, lat),
            )
        progress(f"users: {len(users)}; shops: {len(district.SHOPS)}")
    return DemoReport(
        loaded=True,
        users=users,
        unit_grids=grid_report.created,
        roads=road_report.created,
        shops=len(district.SHOPS),
        categories_created=categories_created,
    )
