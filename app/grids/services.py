"""Grid use cases other domains build on: locating a point (its unit grid, community,
street, district and the people in charge), and the lists of unit grids and roads.

Importing grids and roads is ``app.grids.importing``; responsibility grids are
``app.grids.responsibility``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import shapely
import sqlalchemy as sa
from shapely.geometry import Point
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.core.errors import NotFound, ValidationFailed
from app.grids import geo
from app.grids.models import ResponsibilityGrid, ResponsibilityGridMember, Road, UnitGrid
from app.orgunits.models import OrgUnit
from app.orgunits.services import find_by_code, get_org_unit

# ---------------------------------------------------------------------------------------------
# Unit grids and roads


def unit_grids_query(
    street_code: str | None = None,
    community_code: str | None = None,
    responsibility_grid_id: int | None = None,
) -> sa.Select:
    """Unit grids by code; a grid's code starts with its street's and community's codes."""
    stmt = sa.select(UnitGrid).order_by(UnitGrid.code)
    if street_code:
        stmt = stmt.where(UnitGrid.code.startswith(street_code, autoescape=True))
    if community_code:
        stmt = stmt.where(UnitGrid.code.startswith(community_code, autoescape=True))
    if responsibility_grid_id is not None:
        stmt = stmt.join(ResponsibilityGridMember).where(
            ResponsibilityGridMember.responsibility_grid_id == responsibility_grid_id
        )
    return stmt


def get_unit_grid(session: Session, code: str) -> UnitGrid:
    """One unit grid by its 15-digit code; 404 when there is none."""
    grid = session.scalar(sa.select(UnitGrid).where(UnitGrid.code == code))
    if grid is None:
        raise NotFound(f"unit grid {code} does not exist")
    return grid


def roads_query(session: Session, street_code: str | None = None) -> sa.Select:
    """Roads by code; those of one street (none for an unknown street code)."""
    stmt = sa.select(Road).order_by(Road.code)
    if street_code:
        street = find_by_code(session, street_code)
        stmt = stmt.where(Road.street_id == street.id) if street else stmt.where(sa.false())
    return stmt


# ---------------------------------------------------------------------------------------------
# Locating a point


@dataclasses.dataclass(frozen=True)
class GridCandidate:
    grid: UnitGrid
    distance_m: float  # to the grid's boundary
    contains: bool


@dataclasses.dataclass(frozen=True)
class RoadMatch:
    road: Road
    distance_m: float
    chiefs: list[User]


@dataclasses.dataclass(frozen=True)
class LocateResult:
    """Where a point falls.

    ``status`` is ``inside`` (in one grid, farther than the buffer from its boundary),
    ``near_boundary`` (within the buffer of some grid's boundary, inside a grid or not: a
    dispatcher confirms) or ``outside`` (in no grid and near none: 管理真空 / 盲区).
    ``grid`` is the containing grid or, near a boundary outside every grid, the nearest.
    """

    status: str
    lat: float
    lon: float
    input_lat: float
    input_lon: float
    input_crs: str
    boundary_buffer_m: float
    grid: UnitGrid | None = None
    boundary_distance_m: float | None = None
    community: OrgUnit | None = None
    street: OrgUnit | None = None
    district: OrgUnit | None = None
    responsibility_grid: ResponsibilityGrid | None = None
    inspector: User | None = None
    street_chiefs: list[User] = dataclasses.field(default_factory=list)
    roads: list[RoadMatch] = dataclasses.field(default_factory=list)
    candidates: list[GridCandidate] = dataclasses.field(default_factory=list)

    @property
    def point(self) -> dict:
        return {"lat": self.lat, "lon": self.lon, "crs": "wgs84"}

    @property
    def input(self) -> dict:
        return {"lat": self.input_lat, "lon": self.input_lon, "crs": self.input_crs}


class GeometryIndex:
    """Grids and roads with their shapes parsed once, for placing many points.

    ``GeometryIndex.around(session, points, buffer_m)`` loads the grids and roads whose
    bounding boxes could matter to any of the points (one query each); ``place`` then does
    what ``locate`` does for one point, without another query: the same bounding-box
    filter, then the same exact tests. ``locate`` itself uses an index of one point.
    """

    def __init__(self, grids: Sequence[UnitGrid], roads: Sequence[Road], widest_road_m) -> None:
        self.grids = [(grid, shapely.from_geojson(grid.geometry)) for grid in grids]
        self.roads = [(road, shapely.from_geojson(road.geometry)) for road in roads]
        self.widest_road_m = widest_road_m
        self._grid_boxes = _boxes(grids)
        self._road_boxes = _boxes(roads)

    @classmethod
    def around(
        cls, session: Session, points: Sequence[tuple[float, float]], buffer_m: float
    ) -> GeometryIndex:
        """The index for WGS-84 ``(lat, lon)`` points."""
        widest = session.scalar(sa.select(sa.func.max(Road.buffer_m)))
        grids = list(session.scalars(sa.select(UnitGrid).where(_cover(UnitGrid, points, buffer_m))))
        roads = (
            list(session.scalars(sa.select(Road).where(_cover(Road, points, widest))))
            if widest is not None
            else []
        )
        return cls(grids, roads, widest)

    def grid_candidates(self, lat: float, lon: float, buffer_m: float) -> list[GridCandidate]:
        point = Point(lon, lat)
        candidates = []
        for index in _overlapping(self._grid_boxes, geo.bounds_around(lat, lon, buffer_m)):
            grid, polygon = self.grids[index]
            contains = polygon.covers(point)
            distance = geo.boundary_distance_m(lat, lon, polygon)
            if contains or distance <= buffer_m:
                candidates.append(GridCandidate(grid, round(distance, 2), contains))
        candidates.sort(
            key=lambda c: (not c.contains, -c.distance_m if c.contains else c.distance_m)
        )
        return candidates

    def roads_near(self, lat: float, lon: float) -> list[tuple[Road, float]]:
        """Roads whose buffer holds the point, nearest first, with the distance."""
        if self.widest_road_m is None:
            return []
        near = []
        for index in _overlapping(
            self._road_boxes, geo.bounds_around(lat, lon, self.widest_road_m)
        ):
            road, line = self.roads[index]
            distance = geo.distance_m(lat, lon, line)
            if distance <= road.buffer_m:
                near.append((road, round(distance, 2)))
        near.sort(key=lambda pair: pair[1])
        return near

    def place(self, lat: float, lon: float, buffer_m: float) -> Placed:
        """Where a WGS-84 point falls, geometry only (``located`` adds the rest)."""
        candidates = self.grid_candidates(lat, lon, buffer_m)
        containing = [c for c in candidates if c.contains]
        within_buffer = [c for c in candidates if c.distance_m <= buffer_m]
        if len(containing) == 1 and not within_buffer:
            status = "inside"
        elif candidates:
            status = "near_boundary"
        else:
            status = "outside"
        return Placed(status, lat, lon, candidates, self.roads_near(lat, lon))


@dataclasses.dataclass(frozen=True)
class Placed:
    status: str
    lat: float  # WGS-84
    lon: float
    candidates: list[GridCandidate]
    roads: list[tuple[Road, float]]


def _boxes(rows: Sequence) -> np.ndarray:
    return np.array(
        [(row.min_lon, row.min_lat, row.max_lon, row.max_lat) for row in rows], dtype=float
    ).reshape(-1, 4)


def _overlapping(boxes: np.ndarray, bounds: Sequence[float]) -> list[int]:
    """Indexes of the boxes that overlap ``bounds`` (the predicate of ``box_overlaps``)."""
    min_lon, min_lat, max_lon, max_lat = bounds
    mask = (
        (boxes[:, 0] <= max_lon)
        & (boxes[:, 2] >= min_lon)
        & (boxes[:, 1] <= max_lat)
        & (boxes[:, 3] >= min_lat)
    )
    return [int(index) for index in np.flatnonzero(mask)]


def _cover(model, points: Sequence[tuple[float, float]], metres: float) -> sa.ColumnElement:
    """Rows whose box overlaps the box of every point widened by ``metres``."""
    boxes = [geo.bounds_around(lat, lon, metres) for lat, lon in points]
    return model.box_overlaps(
        (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
    )


def to_wgs84(lat: float, lon: float, crs: str) -> tuple[float, float]:
    """``geo.to_wgs84`` with a bad point or datum as a 422."""
    if crs not in geo.CRS_VALUES:
        raise ValidationFailed(
            f"unknown coordinate system {crs!r}", {"crs": [f"one of {', '.join(geo.CRS_VALUES)}"]}
        )
    try:
        return geo.to_wgs84(lat, lon, crs)
    except ValueError as error:
        raise ValidationFailed(str(error), {"point": [str(error)]}) from None


def _active_users(session: Session, *criteria) -> list[User]:
    stmt = sa.select(User).where(User.is_active, *criteria).order_by(User.id)
    return list(session.scalars(stmt))


def locate(
    session: Session,
    lat: float,
    lon: float,
    crs: str = "wgs84",
    boundary_buffer_m: float = 15.0,
) -> LocateResult:
    """Resolve a point to its unit grid, community, street, district and the people in charge.

    The point is converted to WGS-84; grids are picked by their indexed bounding boxes
    (widened by the buffer), then tested exactly.
    """
    wgs_lat, wgs_lon = to_wgs84(lat, lon, crs)
    index = GeometryIndex.around(session, [(wgs_lat, wgs_lon)], boundary_buffer_m)
    placed = index.place(wgs_lat, wgs_lon, boundary_buffer_m)
    return located(session, placed, (lat, lon, crs), boundary_buffer_m)


def located(
    session: Session,
    placed: Placed,
    given: tuple[float, float, str],
    boundary_buffer_m: float,
    *,
    people: bool = True,
) -> LocateResult:
    """``locate``'s answer for a placed point given as ``(lat, lon, crs)``; ``people``
    False leaves out the inspector and the street and road chiefs (routing needs none of
    them, and they cost queries)."""
    best = placed.candidates[0] if placed.candidates else None
    found: dict = {}
    if best is not None:
        grid = best.grid
        community = get_org_unit(session, grid.community_id)
        street = community.parent
        found = {
            "grid": grid,
            "boundary_distance_m": best.distance_m,
            "community": community,
            "street": street,
            "district": street.parent if street else None,
        }
        if people:
            found.update(_people_of(session, grid, street))
    if people:
        roads = _road_matches(session, placed.roads)
    else:
        roads = [RoadMatch(road, distance, []) for road, distance in placed.roads]
    input_lat, input_lon, input_crs = given
    return LocateResult(
        status=placed.status,
        lat=placed.lat,
        lon=placed.lon,
        input_lat=input_lat,
        input_lon=input_lon,
        input_crs=input_crs,
        boundary_buffer_m=boundary_buffer_m,
        roads=roads,
        candidates=placed.candidates,
        **found,
    )


def _people_of(session: Session, grid: UnitGrid, street: OrgUnit | None) -> dict:
    """The grid's responsibility grid and its active inspector, the street's chiefs."""
    responsibility_grid = grid.responsibility_grid
    inspector = None
    if responsibility_grid is not None and responsibility_grid.inspector_id is not None:
        inspector = session.get(User, responsibility_grid.inspector_id)
        inspector = inspector if inspector is not None and inspector.is_active else None
    return {
        "responsibility_grid": responsibility_grid,
        "inspector": inspector,
        "street_chiefs": _active_users(
            session, User.role == Role.STREET_CHIEF, User.org_unit_id == street.id
        )
        if street
        else [],
    }


def _road_matches(session: Session, near: list[tuple[Road, float]]) -> list[RoadMatch]:
    if not near:
        return []
    chiefs = _active_users(
        session, User.role == Role.ROAD_CHIEF, User.road_id.in_([road.id for road, _ in near])
    )
    return [
        RoadMatch(road, distance, [chief for chief in chiefs if chief.road_id == road.id])
        for road, distance in near
    ]
