"""What becomes of each case of the demo history, drawn from the seeded random source when
it is reported: who reports it, where, about what, and the road it will take (verified,
rejected, self-handled, returned, extended, suspended, reworked, late, cancelled).

The shares are those of a believable district: most cases closed on time, some streets
and departments slower than others (so the rankings differ), a few reworks, a few
rejected, hotline and 12345 reports the inspectors missed (漏报).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import uuid

from app.accounts.models import User
from app.demo.cast import ROADS, SHOP_TOPICS, Cast, Grid, Topic
from app.merchants.models import Shop
from app.orgunits.models import OrgUnit

# The share of a department's cases closed in time, and each street's lead or lag on it.
ON_TIME = {"D-HW": 0.9, "D-SZYL": 0.8, "D-ZF": 0.82, "D-JJ": 0.68, "D-GD": 0.72, "D-GS": 0.85}
STREET_BONUS = {"350203001": 0.06, "350203002": 0.0, "350203003": -0.09}
# Where reports come from, on workdays and days off.
WORKDAY_SOURCES = [
    ("inspector", 58),
    ("street_chief", 8),
    ("hotline", 16),
    ("open311", 10),
    ("merchant", 8),
]
DAY_OFF_SOURCES = [("inspector", 15), ("street_chief", 10), ("hotline", 45), ("open311", 30)]
PUBLIC = ("hotline", "open311", "merchant")
# Fixed on the spot by whoever saw it (自处理).
SELF_HANDLED_TOPICS = ("07001", "09003", "06012")
# Streets do not see the same number of cases: the old town's first street the most.
STREET_WEIGHTS = {"350203001": 5, "350203002": 3, "350203003": 4}


@dataclasses.dataclass
class Fate:
    case_id: uuid.UUID
    scene: int
    source: str
    reporter: User
    topic: Topic
    grid_street: str
    lat: float
    lon: float
    address: str
    description: str
    urgent: bool
    shop: Shop | None = None  # 门前三包: dispatched to the shop's merchant
    verify: bool = False
    rejected: bool = False
    self_handled: bool = False
    cancelled: bool = False
    returned_from: OrgUnit | None = None
    extension: bool = False
    suspension: bool = False
    reworks: int = 0
    late: bool = False
    late_dispatch: bool = False
    pressed_by_hand: bool = False


def _pick(rng: random.Random, weighted):
    items, weights = zip(*weighted, strict=True)
    return rng.choices(items, weights)[0]


def _place(rng: random.Random, cast: Cast, source: str) -> tuple[Grid, Shop | None]:
    street = _pick(rng, STREET_WEIGHTS.items())
    grid = rng.choice([grid for grid in cast.grids if grid.street_code == street])
    return grid, None


def _reporter(rng: random.Random, cast: Cast, source: str, grid: Grid) -> User:
    if source == "inspector":
        return cast.inspectors[grid.code[:12]]
    if source == "street_chief":
        return cast.chiefs[grid.street_code]
    return cast.dispatcher


def draw_fate(rng: random.Random, cast: Cast, workday: bool) -> Fate:
    """One case's reporter, place, topic and road, from ``rng``."""
    source = _pick(rng, WORKDAY_SOURCES if workday else DAY_OFF_SOURCES)
    topic = rng.choices(cast.topics, [t.weight for t in cast.topics])[0]
    shop = None
    if source == "merchant" or (
        source == "inspector" and topic.category.code in SHOP_TOPICS and rng.random() < 0.35
    ):
        shop = rng.choice(cast.shops)
    if shop is not None:
        lat, lon = round(shop.lat - rng.uniform(0.00001, 0.00003), 6), shop.lon
        grid = next(g for g in cast.grids if g.west <= lon < g.east and g.south < lat <= g.north)
        address = f"{shop.address}门前"
    else:
        grid, _ = _place(rng, cast, source)
        lat, lon = grid.point(rng)
        address = f"{rng.choice(ROADS)}{rng.randint(1, 300)}号附近"
    reporter = (
        cast.merchants[shop.id] if source == "merchant" else _reporter(rng, cast, source, grid)
    )
    fate = Fate(
        case_id=uuid.UUID(int=rng.getrandbits(128), version=4),
        scene=rng.getrandbits(48),
        source=source,
        reporter=reporter,
        topic=topic,
        grid_street=grid.street_code,
        lat=lat,
        lon=lon,
        address=address,
        description=rng.choice(topic.descriptions),
        urgent=topic.category.limit_type == "urgent_hours",
        shop=shop if source == "inspector" else None,
    )
    _decide_road(rng, cast, fate)
    return fate


def _decide_road(rng: random.Random, cast: Cast, fate: Fate) -> None:
    fate.verify = fate.source in PUBLIC
    fixable = fate.topic.category.code in SELF_HANDLED_TOPICS and fate.shop is None
    if fate.source in ("inspector", "street_chief") and fixable and rng.random() < 0.3:
        fate.self_handled = True
        return
    fate.rejected = rng.random() < (0.12 if fate.verify else 0.02)
    if fate.rejected:
        return
    by_department = fate.shop is None
    fate.cancelled = by_department and rng.random() < 0.015
    fate.late_dispatch = rng.random() < 0.04
    if by_department and rng.random() < 0.03:
        others = [d for d in cast.departments.values() if d.id != fate.topic.department.id]
        fate.returned_from = rng.choice(others)
    long_limit = fate.topic.category.limit_type == "working_days"
    if by_department and not fate.urgent:
        fate.extension = rng.random() < (0.12 if long_limit else 0.03)
        fate.suspension = long_limit and not fate.extension and rng.random() < 0.06
    roll = rng.random()
    fate.reworks = 2 if roll < 0.012 else 1 if roll < 0.065 else 0
    on_time = ON_TIME[fate.topic.department.code] + STREET_BONUS.get(fate.grid_street, 0.0)
    fate.late = rng.random() > on_time
    fate.pressed_by_hand = fate.late and rng.random() < 0.4


def arrival_times(
    rng: random.Random, day_periods: list[tuple[dt.datetime, dt.datetime]], day_start: dt.datetime
) -> dt.datetime:
    """A report's time on a day: in its work periods if it has them, else 08:00–21:00."""
    if day_periods and rng.random() < 0.85:
        start, end = rng.choice(day_periods)
        return start + (end - start) * rng.random()
    return day_start + dt.timedelta(hours=rng.uniform(8, 21))
