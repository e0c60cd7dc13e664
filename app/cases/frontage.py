"""门前三包: which shop's frontage a report is about.

A report whose point lies inside a shop's frontage zone (the pledge's polygon) is bound to
that shop, whoever reports it: the case shows on the shop's merchant's list and may be sent
to them to rectify. A merchant's report outside every frontage is bound to the nearest of
their own shops when it is within ``near_m`` of it; farther, it is not bound and the case
is flagged ``far_from_own_shop`` for the dispatcher (a merchant reporting a street away is
worth a look, not a binding).
"""

from __future__ import annotations

import dataclasses
import json

import sqlalchemy as sa
from shapely.geometry import Point, shape
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.grids import geo
from app.merchants.models import Shop

# Frontage zones are drawn around their shop: a shop whose point is farther than this from a
# report cannot have the report in its zone.
SEARCH_M = 200.0
FAR_FROM_OWN_SHOP = "far_from_own_shop"
# Points whose boxes one query ORs together (SQLite's expression depth is 1,000).
_POINTS_PER_QUERY = 100


@dataclasses.dataclass(frozen=True)
class Binding:
    """The shop a report is bound to (None: none), and a flag when a merchant's report is
    far from their own shops, with the distance to the nearest."""

    shop_id: int | None = None
    flag: str | None = None
    distance_m: float | None = None

    def flow_data(self) -> dict:
        if self.flag is None:
            return {"frontage_shop_id": self.shop_id} if self.shop_id else {}
        return {"frontage_flag": self.flag, "own_shop_distance_m": round(self.distance_m or 0)}


def _zone(shop: Shop):
    try:
        return shape(json.loads(shop.frontage))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _near(lat: float, lon: float) -> sa.ColumnElement[bool]:
    min_lon, min_lat, max_lon, max_lat = geo.bounds_around(lat, lon, SEARCH_M)
    return sa.and_(Shop.lat.between(min_lat, max_lat), Shop.lon.between(min_lon, max_lon))


def _holding(shops, lat: float, lon: float, zones: dict) -> Shop | None:
    """Of ``shops``, the one whose zone holds the point (the nearest if zones overlap);
    ``zones`` keeps each shop's parsed zone."""
    min_lon, min_lat, max_lon, max_lat = geo.bounds_around(lat, lon, SEARCH_M)
    point = Point(lon, lat)
    holding = []
    for shop in shops:
        if not (min_lat <= shop.lat <= max_lat and min_lon <= shop.lon <= max_lon):
            continue
        if shop.id not in zones:
            zones[shop.id] = _zone(shop)
        if zones[shop.id] is not None and zones[shop.id].covers(point):
            holding.append(shop)
    return min(holding, key=lambda s: (s.lat - lat) ** 2 + (s.lon - lon) ** 2, default=None)


def frontage_shop(session: Session, lat: float, lon: float) -> Shop | None:
    """The shop whose frontage zone holds the point (the nearest shop if zones overlap)."""
    candidates = session.scalars(
        sa.select(Shop).where(Shop.frontage.is_not(None), _near(lat, lon))
    ).all()
    return _holding(candidates, lat, lon, {})


def _distance_m(shop: Shop, lat: float, lon: float) -> float:
    zone = _zone(shop) if shop.frontage else None
    return geo.distance_m(lat, lon, zone if zone is not None else Point(shop.lon, shop.lat))


def bind_report(session: Session, user: User, lat: float, lon: float, near_m: float) -> Binding:
    """The binding of a report by ``user`` at the point (see the module docstring)."""
    return _bound(session, user, lat, lon, near_m, frontage_shop(session, lat, lon))


def bind_reports(
    session: Session, user: User, points: list[tuple[float, float]], near_m: float
) -> list[Binding]:
    """``bind_report`` for each of many points (a push's reports): the candidate shops of
    them all in one query, each point judged among those near it."""
    candidates: dict[int, Shop] = {}
    for start in range(0, len(points), _POINTS_PER_QUERY):
        near = [_near(lat, lon) for lat, lon in points[start : start + _POINTS_PER_QUERY]]
        shops = session.scalars(sa.select(Shop).where(Shop.frontage.is_not(None), sa.or_(*near)))
        candidates.update((shop.id, shop) for shop in shops)
    zones: dict[int, object] = {}
    return [
        _bound(session, user, lat, lon, near_m, _holding(candidates.values(), lat, lon, zones))
        for lat, lon in points
    ]


def _bound(
    session: Session, user: User, lat: float, lon: float, near_m: float, shop: Shop | None
) -> Binding:
    if shop is not None:
        return Binding(shop.id)
    if user.role != Role.MERCHANT:
        return Binding()
    own = session.scalars(sa.select(Shop).where(Shop.merchant_id == user.id)).all()
    distances = sorted(((_distance_m(s, lat, lon), s.id) for s in own), key=lambda d: d[0])
    if not distances:
        return Binding()
    distance, shop_id = distances[0]
    if distance <= near_m:
        return Binding(shop_id)
    return Binding(None, FAR_FROM_OWN_SHOP, distance)
