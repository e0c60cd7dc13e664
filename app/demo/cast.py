"""Who and what the demo history works with: the demo district's users, grids, shops and
the categories its cases are about, looked up once as the loader stored them."""

from __future__ import annotations

import dataclasses
import random

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.categories.models import Category
from app.demo import district
from app.grids.models import UnitGrid
from app.merchants.models import Shop
from app.orgunits.models import OrgUnit

EDITION = "gbt47678"
# (kind, code, handling department, weight, descriptions): what the district's cases are
# about, and who handles each. Weights follow a typical month: litter, ads and parking
# first.
TOPICS = [
    ("event", "06010", "D-HW", 12, ["路边垃圾暴露堆放", "垃圾桶旁散落垃圾未清运"]),
    ("event", "06011", "D-HW", 6, ["人行道旁积存建筑垃圾", "绿化带内渣土堆积"]),
    ("event", "06012", "D-HW", 7, ["路面油污明显", "人行道大面积污渍"]),
    ("event", "06003", "D-HW", 3, ["废弃沙发丢弃在路边", "旧床垫堆放在楼道口"]),
    ("event", "08002", "D-HW", 2, ["渣土车沿路遗撒", "路面泥土遗撒"]),
    ("component", "03005", "D-HW", 4, ["垃圾箱破损", "垃圾箱满溢未清理"]),
    ("event", "06002", "D-SZYL", 3, ["绿地内垃圾杂物较多", "绿地被踩踏裸露"]),
    ("component", "04002", "D-SZYL", 3, ["行道树倾斜", "行道树枯枝悬挂"]),
    ("component", "04010", "D-SZYL", 2, ["绿地围栏损坏", "绿地缺株"]),
    ("component", "01003", "D-SZYL", 2, ["雨水井盖破损", "雨水井盖缺失"]),
    ("event", "07001", "D-ZF", 8, ["电线杆上张贴小广告", "墙面喷涂小广告"]),
    ("event", "07002", "D-ZF", 2, ["违规设置落地广告牌", "店招破损有坠落危险"]),
    ("event", "08003", "D-ZF", 2, ["施工围挡占用人行道", "施工材料占道堆放"]),
    ("event", "09001", "D-ZF", 5, ["流动摊贩占道经营", "三轮车占道卖水果"]),
    ("event", "09005", "D-ZF", 6, ["商铺店外摆卖", "店外占道堆放货物"]),
    ("event", "06001", "D-ZF", 1, ["楼顶私搭乱建", "院内违章搭建雨棚"]),
    ("event", "09003", "D-JJ", 7, ["共享单车乱停放", "非机动车占用盲道"]),
    ("event", "09009", "D-JJ", 4, ["机动车占用人行道停放", "机动车乱停堵塞消防通道"]),
    ("event", "09010", "D-JJ", 1, ["废弃车辆长期停放", "僵尸车占用车位"]),
    ("component", "02017", "D-JJ", 1, ["交通护栏倒伏", "交通护栏缺失"]),
    ("component", "01037", "D-GD", 3, ["路灯不亮", "路灯灯杆倾斜"]),
    ("component", "01005", "D-GD", 1, ["电力井盖松动", "电力井盖破损"]),
    ("component", "01002", "D-GS", 2, ["污水井盖破损", "污水井冒溢"]),
    ("event", "10001", "D-GS", 1, ["暴雨后道路积水", "下穿通道积水"]),
]
# What a merchant's shop front gets reported for (门前三包), dispatched to the shop.
SHOP_TOPICS = ("09005", "06010", "09003")
ROADS = ["中山路", "思明南路", "厦禾路", "大同路", "开元路", "镇海路", "民族路", "新华路"]


@dataclasses.dataclass(frozen=True)
class Topic:
    category: Category
    department: OrgUnit
    weight: int
    descriptions: list[str]


@dataclasses.dataclass(frozen=True)
class Grid:
    code: str
    name: str
    street_code: str
    west: float
    north: float
    east: float
    south: float

    def point(self, rng: random.Random) -> tuple[float, float]:
        """(lat, lon) well inside the grid, clear of the boundary buffer."""
        lon = self.west + (self.east - self.west) * rng.uniform(0.15, 0.85)
        lat = self.south + (self.north - self.south) * rng.uniform(0.15, 0.85)
        return round(lat, 6), round(lon, 6)


@dataclasses.dataclass
class Cast:
    dispatcher: User
    handlers: dict[int, User]  # department id → its handler
    departments: dict[str, OrgUnit]  # code → department
    inspectors: dict[str, User]  # community code → its inspector
    chiefs: dict[str, User]  # street code → its first street chief
    streets: dict[str, OrgUnit]
    grids: list[Grid]
    shops: list[Shop]
    merchants: dict[int, User]  # shop id → its merchant
    topics: list[Topic]


def _grids() -> list[Grid]:
    grids = []
    for feature in district.unit_grids()["features"]:
        ring = feature["geometry"]["coordinates"][0]
        lons, lats = [p[0] for p in ring], [p[1] for p in ring]
        code = feature["properties"]["code"]
        grids.append(
            Grid(
                code,
                feature["properties"]["name"],
                code[:9],
                min(lons),
                max(lats),
                max(lons),
                min(lats),
            )
        )
    return grids


def _user(session: Session, username: str) -> User:
    return session.scalar(sa.select(User).where(User.username == username))


def _units(session: Session, codes) -> dict[str, OrgUnit]:
    rows = session.scalars(sa.select(OrgUnit).where(OrgUnit.code.in_(list(codes))))
    return {unit.code: unit for unit in rows}


def load_cast(session: Session) -> Cast:
    """The demo district's people, places and categories, as the loader stored them."""
    departments = _units(session, [code for code, _name in district.DEPARTMENTS])
    handlers = {}
    for user in session.scalars(sa.select(User).where(User.role == Role.HANDLER)):
        handlers.setdefault(user.org_unit_id, user)
    streets = _units(session, [code for code, _n, _c in district.STREETS])
    communities = _units(
        session, [code for _s, _n, members in district.STREETS for code, _name in members]
    )
    by_unit = {unit.id: code for code, unit in communities.items()}
    inspectors = {
        by_unit[user.org_unit_id]: user
        for user in session.scalars(
            sa.select(User).where(User.role == Role.INSPECTOR).order_by(User.id)
        )
        if user.org_unit_id in by_unit
    }
    street_by_id = {unit.id: code for code, unit in streets.items()}
    chiefs: dict[str, User] = {}
    for user in session.scalars(
        sa.select(User).where(User.role == Role.STREET_CHIEF).order_by(User.id)
    ):
        if user.org_unit_id in street_by_id:
            chiefs.setdefault(street_by_id[user.org_unit_id], user)
    shops = list(session.scalars(sa.select(Shop).order_by(Shop.id)))
    merchants = {shop.id: session.get(User, shop.merchant_id) for shop in shops}
    known = {code for code in session.scalars(sa.select(UnitGrid.code))}
    return Cast(
        dispatcher=_user(session, "demo_dispatcher"),
        handlers={unit.id: handlers[unit.id] for unit in departments.values()},
        departments=departments,
        inspectors=inspectors,
        chiefs=chiefs,
        streets=streets,
        grids=[grid for grid in _grids() if grid.code in known],
        shops=shops,
        merchants=merchants,
        topics=_topics(session, departments),
    )


def _topics(session: Session, departments: dict[str, OrgUnit]) -> list[Topic]:
    topics = []
    for kind, code, department, weight, descriptions in TOPICS:
        category = session.scalar(
            sa.select(Category).where(
                Category.kind == kind, Category.edition == EDITION, Category.code == code
            )
        )
        if category is not None and category.active:
            topics.append(Topic(category, departments[department], weight, descriptions))
    return topics
