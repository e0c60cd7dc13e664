"""Grid use cases: importing unit grids and roads, responsibility grids, locating a point.

Imports are all or nothing: every feature is checked first, every problem is reported with
its feature index, and a single problem means nothing is written.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import shapely
import sqlalchemy as sa
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session, selectinload

from app.accounts.models import Role, User
from app.core.db import transaction
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.grids import geo
from app.grids.models import ResponsibilityGrid, ResponsibilityGridMember, Road, UnitGrid
from app.orgunits.models import OrgKind, OrgUnit
from app.orgunits.services import add_org_unit, find_by_code, get_org_unit

GRID_CODE = re.compile(r"^[0-9]{15}$")
STREET_CODE = re.compile(r"^[0-9]{9}$")
MAX_NAME = 128
MAX_ROAD_CODE = 32
MAX_ROAD_BUFFER_M = 500.0
_IN_CHUNK = 500

# Called as progress(stage, count) with stage "read", "validated" or "written".
Progress = Callable[[str, int], None]


@dataclasses.dataclass(frozen=True)
class ImportReport:
    features_read: int
    created: int
    org_units_created: list[str]


# ---------------------------------------------------------------------------------------------
# Reading a FeatureCollection


class _Problems:
    """Messages per feature index, each prefixed with the feature's code when it has one."""

    def __init__(self) -> None:
        self.by_index: dict[int, list[str]] = defaultdict(list)

    def add(self, index: int, code: str | None, message: str) -> None:
        self.by_index[index].append(f"{code}: {message}" if code else message)

    def raise_if_any(self, features: int, what: str) -> None:
        if self.by_index:
            raise ValidationFailed(
                f"{len(self.by_index)} of {features} features have problems; "
                f"no {what} were imported",
                {"features": dict(sorted(self.by_index.items()))},
            )


@dataclasses.dataclass
class _Feature:
    index: int
    code: str | None
    properties: dict
    geometry: BaseGeometry | None


def _features(feature_collection: object) -> list:
    if not isinstance(feature_collection, dict) or (
        feature_collection.get("type") != "FeatureCollection"
    ):
        raise ValidationFailed(
            "expected a GeoJSON FeatureCollection",
            {"type": ["must be 'FeatureCollection'"]},
        )
    features = feature_collection.get("features")
    if not isinstance(features, list):
        raise ValidationFailed(
            "a FeatureCollection has a list of features", {"features": ["must be a list"]}
        )
    if not features:
        raise ValidationFailed("the FeatureCollection has no features", {"features": ["empty"]})
    return features


def _read_features(
    features: list,
    allowed_types: tuple[str, ...],
    code_problem: Callable[[object], str | None],
    problems: _Problems,
) -> list[_Feature]:
    """Each feature's code, properties and valid geometry (None where it is unusable)."""
    read = []
    for index, feature in enumerate(features):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problems.add(index, None, "not a GeoJSON Feature object")
            continue
        properties = feature.get("properties")
        if properties is None:
            properties = {}
        if not isinstance(properties, dict):
            problems.add(index, None, "properties must be an object")
            continue
        raw_code = properties.get("code")
        fault = code_problem(raw_code)
        code = None if fault else raw_code
        if fault:
            problems.add(index, None, fault)
        try:
            geometry = geo.parse_geometry(feature.get("geometry"), allowed_types)
        except geo.GeometryError as error:
            problems.add(index, code, str(error))
            geometry = None
        read.append(_Feature(index, code, properties, geometry))
    return read


def _text_property(
    feature: _Feature, name: str, problems: _Problems, *, required: bool = False, limit: int
) -> str | None:
    """A string property, stripped; a blank one counts as absent."""
    value = feature.properties.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(feature.index, feature.code, f"{name} is required")
        return None
    if not isinstance(value, str):
        problems.add(feature.index, feature.code, f"{name} must be a string")
        return None
    if len(value.strip()) > limit:
        problems.add(feature.index, feature.code, f"{name} is longer than {limit} characters")
        return None
    return value.strip()


def _check_duplicates(
    session: Session, column: sa.Column, rows: list[_Feature], problems: _Problems
) -> None:
    """A code may appear once in the file and must not exist yet."""
    first_seen: dict[str, int] = {}
    for row in rows:
        if row.code is None:
            continue
        if row.code in first_seen:
            problems.add(row.index, row.code, f"code repeats feature {first_seen[row.code]}")
        else:
            first_seen[row.code] = row.index
    codes = list(first_seen)
    existing: set[str] = set()
    for start in range(0, len(codes), _IN_CHUNK):
        chunk = codes[start : start + _IN_CHUNK]
        existing.update(session.scalars(sa.select(column).where(column.in_(chunk))))
    for row in rows:
        if row.code in existing:
            problems.add(row.index, row.code, "code already exists")


def _bbox_overlaps(model, bounds: Sequence[float]) -> sa.ColumnElement[bool]:
    min_lon, min_lat, max_lon, max_lat = bounds
    return sa.and_(
        model.min_lon <= max_lon,
        model.max_lon >= min_lon,
        model.min_lat <= max_lat,
        model.max_lat >= min_lat,
    )


def _bbox_columns(geometry: BaseGeometry) -> dict:
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    return {"min_lon": min_lon, "min_lat": min_lat, "max_lon": max_lon, "max_lat": max_lat}


def _report(progress: Progress | None, stage: str, count: int) -> None:
    if progress is not None:
        progress(stage, count)


# ---------------------------------------------------------------------------------------------
# Unit grids


def _grid_code_problem(code: object) -> str | None:
    if code is None:
        return "code is required"
    if not isinstance(code, str) or not GRID_CODE.match(code):
        return (
            f"code {code!r} is not 15 digits "
            "(district 6 + street 3 + community 3 + grid 3, as a string)"
        )
    return None


@dataclasses.dataclass
class _PlannedUnit:
    """An org unit a feature needs: found, or to be created from the names in the file."""

    kind: str
    code: str
    unit: OrgUnit | None = None
    name: str | None = None


def _plan_org_units(
    session: Session, rows: list[_Feature], problems: _Problems
) -> dict[str, _PlannedUnit]:
    """The district, street and community of every grid, by code; report what is missing.

    The district must exist. A street or community that does not is created when a feature
    names it (``street_name`` / ``community_name``), and is otherwise an error.
    """
    planned: dict[str, _PlannedUnit] = {}
    name_source: dict[str, int] = {}
    missing_district: set[str] = set()
    levels = ((OrgKind.STREET, 9, "street_name"), (OrgKind.COMMUNITY, 12, "community_name"))
    for row in rows:
        if row.code is None:
            continue
        district_code = row.code[:6]
        if district_code not in planned and district_code not in missing_district:
            unit = find_by_code(session, district_code)
            if unit is None or unit.kind != OrgKind.DISTRICT:
                missing_district.add(district_code)
            else:
                planned[district_code] = _PlannedUnit(OrgKind.DISTRICT, district_code, unit)
        if district_code in missing_district:
            problems.add(
                row.index, row.code, f"district {district_code} does not exist; create it first"
            )
            continue
        for kind, digits, name_key in levels:
            code = row.code[:digits]
            given = _text_property(row, name_key, problems, limit=MAX_NAME)
            plan = planned.get(code)
            if plan is None:
                unit = find_by_code(session, code)
                if unit is not None and unit.kind != kind:
                    problems.add(row.index, row.code, f"org unit {code} is a {unit.kind}")
                    break
                plan = planned[code] = _PlannedUnit(kind, code, unit)
            if plan.unit is None and given is not None:
                if plan.name is None:
                    plan.name, name_source[code] = given, row.index
                elif plan.name != given:
                    problems.add(
                        row.index,
                        row.code,
                        f"{kind} {code} is named {given!r} here but "
                        f"{plan.name!r} in feature {name_source[code]}",
                    )
    for row in rows:
        if row.code is None or row.code[:6] in missing_district:
            continue
        for kind, digits, name_key in levels:
            plan = planned.get(row.code[:digits])
            if plan is not None and plan.unit is None and plan.name is None:
                problems.add(
                    row.index,
                    row.code,
                    f"{kind} {plan.code} does not exist; give {name_key} to create it",
                )
                break
    return planned


def _check_overlaps(
    session: Session, rows: list[_Feature], tolerance_m2: float, problems: _Problems
) -> None:
    """No two grids may share more than ``tolerance_m2`` of area; shared edges are fine."""
    shaped = [row for row in rows if row.geometry is not None]
    if not shaped:
        return
    geometries = np.array([row.geometry for row in shaped], dtype=object)
    tree = shapely.STRtree(geometries)
    for i, j in zip(*tree.query(geometries, predicate="intersects"), strict=True):
        if i >= j:
            continue
        overlap = geo.area_m2(geometries[i].intersection(geometries[j]))
        if overlap > tolerance_m2:
            a, b = shaped[i], shaped[j]
            problems.add(a.index, a.code, f"overlaps feature {b.index} by {overlap:.1f} m²")
            problems.add(b.index, b.code, f"overlaps feature {a.index} by {overlap:.1f} m²")

    bounds = shapely.total_bounds(geometries)
    existing = session.execute(
        sa.select(UnitGrid.code, UnitGrid.geometry).where(_bbox_overlaps(UnitGrid, bounds))
    ).all()
    if not existing:
        return
    stored = shapely.from_geojson([geometry for _, geometry in existing])
    tree = shapely.STRtree(stored)
    for i, j in zip(*tree.query(geometries, predicate="intersects"), strict=True):
        overlap = geo.area_m2(geometries[i].intersection(stored[j]))
        if overlap > tolerance_m2:
            row = shaped[i]
            problems.add(
                row.index, row.code, f"overlaps existing grid {existing[j][0]} by {overlap:.1f} m²"
            )


def add_unit_grids(
    session: Session,
    feature_collection: dict,
    *,
    overlap_tolerance_m2: float = 1.0,
    progress: Progress | None = None,
) -> ImportReport:
    """Check and add unit grids inside the caller's transaction (see ``import_unit_grids``)."""
    features = _features(feature_collection)
    _report(progress, "read", len(features))
    problems = _Problems()
    rows = _read_features(features, geo.POLYGON_TYPES, _grid_code_problem, problems)
    names = {row.index: _text_property(row, "name", problems, limit=MAX_NAME) for row in rows}
    _check_duplicates(session, UnitGrid.code, rows, problems)
    planned = _plan_org_units(session, rows, problems)
    _check_overlaps(session, rows, overlap_tolerance_m2, problems)
    problems.raise_if_any(len(features), "unit grids")
    _report(progress, "validated", len(rows))

    created = []
    for plan in sorted(planned.values(), key=lambda plan: len(plan.code)):
        if plan.unit is None:
            parent_code = plan.code[:6] if plan.kind == OrgKind.STREET else plan.code[:9]
            plan.unit = add_org_unit(session, plan.kind, plan.code, plan.name, parent_code)
            created.append(plan.code)
    session.execute(
        sa.insert(UnitGrid),
        [
            {
                "code": row.code,
                "name": names[row.index],
                "community_id": planned[row.code[:12]].unit.id,
                "geometry": geo.to_geojson_text(row.geometry),
                "area_m2": round(geo.area_m2(row.geometry), 2),
                **_bbox_columns(row.geometry),
            }
            for row in rows
        ],
    )
    return ImportReport(features_read=len(features), created=len(rows), org_units_created=created)


def import_unit_grids(
    session: Session,
    feature_collection: dict,
    *,
    overlap_tolerance_m2: float = 1.0,
    progress: Progress | None = None,
) -> ImportReport:
    """Import unit grids (单元网格) from a GeoJSON FeatureCollection in WGS-84.

    Each feature is a Polygon or MultiPolygon with properties ``code`` (15 digits), and
    optionally ``name``, ``street_name`` and ``community_name`` (to create a street or
    community that does not exist yet; the district must). Grids may share edges but not
    more than ``overlap_tolerance_m2`` of area, with each other or with stored grids.
    All or nothing: any problem raises ValidationFailed with
    ``errors={"features": {index: [messages]}}`` and nothing is written.
    """
    with transaction(session):
        report = add_unit_grids(
            session,
            feature_collection,
            overlap_tolerance_m2=overlap_tolerance_m2,
            progress=progress,
        )
    _report(progress, "written", report.created)
    return report


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
    grid = session.scalar(sa.select(UnitGrid).where(UnitGrid.code == code))
    if grid is None:
        raise NotFound(f"unit grid {code} does not exist")
    return grid


# ---------------------------------------------------------------------------------------------
# Roads


def _road_code_problem(code: object) -> str | None:
    if code is None:
        return "code is required"
    if not isinstance(code, str) or not code.strip() or len(code) > MAX_ROAD_CODE:
        return f"code {code!r} must be a string of 1–{MAX_ROAD_CODE} characters"
    return None


def _road_buffer(row: _Feature, default_buffer_m: float, problems: _Problems) -> float | None:
    value = row.properties.get("buffer_m")
    if value is None:
        return default_buffer_m
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.add(row.index, row.code, "buffer_m must be a number of metres")
        return None
    if not 0 < value <= MAX_ROAD_BUFFER_M:
        problems.add(row.index, row.code, f"buffer_m must be in (0, {MAX_ROAD_BUFFER_M:g}]")
        return None
    return float(value)


def _road_street(session: Session, row: _Feature, problems: _Problems, cache: dict) -> int | None:
    code = row.properties.get("street_code")
    if code is None:
        return None
    if not isinstance(code, str) or not STREET_CODE.match(code):
        problems.add(row.index, row.code, f"street_code {code!r} is not 9 digits")
        return None
    if code not in cache:
        cache[code] = find_by_code(session, code)
    street = cache[code]
    if street is None or street.kind != OrgKind.STREET:
        problems.add(row.index, row.code, f"street {code} does not exist")
        return None
    return street.id


def add_roads(
    session: Session,
    feature_collection: dict,
    *,
    default_buffer_m: float = 20.0,
    progress: Progress | None = None,
) -> ImportReport:
    """Check and add roads inside the caller's transaction (see ``import_roads``)."""
    features = _features(feature_collection)
    _report(progress, "read", len(features))
    problems = _Problems()
    rows = _read_features(features, geo.LINE_TYPES, _road_code_problem, problems)
    _check_duplicates(session, Road.code, rows, problems)
    streets: dict[str, OrgUnit | None] = {}
    values = [
        {
            "code": row.code,
            "name": _text_property(row, "name", problems, required=True, limit=MAX_NAME),
            "buffer_m": _road_buffer(row, default_buffer_m, problems),
            "street_id": _road_street(session, row, problems, streets),
        }
        for row in rows
    ]
    problems.raise_if_any(len(features), "roads")
    _report(progress, "validated", len(rows))
    session.execute(
        sa.insert(Road),
        [
            {
                **value,
                "geometry": geo.to_geojson_text(row.geometry),
                **_bbox_columns(row.geometry),
            }
            for row, value in zip(rows, values, strict=True)
        ],
    )
    return ImportReport(features_read=len(features), created=len(rows), org_units_created=[])


def import_roads(
    session: Session,
    feature_collection: dict,
    *,
    default_buffer_m: float = 20.0,
    progress: Progress | None = None,
) -> ImportReport:
    """Import roads from a GeoJSON FeatureCollection of (Multi)LineStrings in WGS-84.

    Properties: ``code`` and ``name`` (required), ``buffer_m`` (how far from the line a
    point is still on the road; ``default_buffer_m`` if absent) and ``street_code``.
    All or nothing, with per-feature errors, as ``import_unit_grids``.
    """
    with transaction(session):
        report = add_roads(
            session, feature_collection, default_buffer_m=default_buffer_m, progress=progress
        )
    _report(progress, "written", report.created)
    return report


def roads_query(session: Session, street_code: str | None = None) -> sa.Select:
    stmt = sa.select(Road).order_by(Road.code)
    if street_code:
        street = find_by_code(session, street_code)
        stmt = stmt.where(Road.street_id == street.id) if street else stmt.where(sa.false())
    return stmt


# ---------------------------------------------------------------------------------------------
# Responsibility grids


def _check_inspector(session: Session, inspector_id: int | None) -> None:
    if inspector_id is None:
        return
    user = session.get(User, inspector_id)
    if user is None:
        fault = f"user {inspector_id} does not exist"
    elif user.role != Role.INSPECTOR:
        fault = f"user {inspector_id} is a {user.role}, not an inspector"
    elif not user.is_active:
        fault = f"user {inspector_id} is deactivated"
    else:
        return
    raise ValidationFailed(fault, {"inspector_id": [fault]})


def _member_grids(
    session: Session, codes: Iterable[str], responsibility_grid_id: int | None
) -> list[UnitGrid]:
    """The unit grids of ``codes``: each must exist and be in no other responsibility grid."""
    wanted = list(dict.fromkeys(codes))
    grids = list(
        session.scalars(
            sa.select(UnitGrid)
            .where(UnitGrid.code.in_(wanted))
            .options(selectinload(UnitGrid.membership))
        )
    )
    found = {grid.code for grid in grids}
    missing = [code for code in wanted if code not in found]
    if missing:
        raise ValidationFailed(
            f"unknown unit grids: {', '.join(missing)}",
            {"unit_grid_codes": [f"unknown unit grid {code}" for code in missing]},
        )
    taken = [
        grid
        for grid in grids
        if grid.membership is not None
        and grid.membership.responsibility_grid_id != responsibility_grid_id
    ]
    if taken:
        raise Conflict(
            "unit grids already belong to another responsibility grid",
            {
                "unit_grid_codes": [
                    f"{grid.code} belongs to {grid.responsibility_grid.code}" for grid in taken
                ]
            },
        )
    return grids


def _set_members(session: Session, responsibility_grid: ResponsibilityGrid, grids) -> None:
    keep = {grid.id for grid in grids}
    for member in list(responsibility_grid.members):
        if member.unit_grid_id not in keep:
            responsibility_grid.members.remove(member)
    have = {member.unit_grid_id for member in responsibility_grid.members}
    for grid in grids:
        if grid.id not in have:
            responsibility_grid.members.append(ResponsibilityGridMember(unit_grid=grid))
    session.flush()


def add_responsibility_grid(
    session: Session,
    *,
    code: str,
    name: str,
    unit_grid_codes: Sequence[str],
    inspector_id: int | None = None,
) -> ResponsibilityGrid:
    """Add a responsibility grid inside the caller's transaction."""
    if session.scalar(sa.select(ResponsibilityGrid.id).where(ResponsibilityGrid.code == code)):
        raise Conflict(f"responsibility grid {code} already exists", {"code": ["taken"]})
    _check_inspector(session, inspector_id)
    grids = _member_grids(session, unit_grid_codes, None)
    responsibility_grid = ResponsibilityGrid(code=code, name=name, inspector_id=inspector_id)
    session.add(responsibility_grid)
    _set_members(session, responsibility_grid, grids)
    return responsibility_grid


def create_responsibility_grid(session: Session, **fields) -> ResponsibilityGrid:
    """Group unit grids into a responsibility grid (责任网格), optionally with its inspector.

    Fields: ``code``, ``name``, ``unit_grid_codes`` (each existing and in no other
    responsibility grid) and ``inspector_id`` (an active inspector, or None).
    """
    with transaction(session):
        return add_responsibility_grid(session, **fields)


def get_responsibility_grid(session: Session, responsibility_grid_id: int) -> ResponsibilityGrid:
    responsibility_grid = session.get(ResponsibilityGrid, responsibility_grid_id)
    if responsibility_grid is None:
        raise NotFound(f"responsibility grid {responsibility_grid_id} does not exist")
    return responsibility_grid


def update_responsibility_grid(
    session: Session, responsibility_grid_id: int, changes: dict
) -> ResponsibilityGrid:
    """Rename, (un)assign the inspector, or replace the set of unit grids."""
    with transaction(session):
        responsibility_grid = get_responsibility_grid(session, responsibility_grid_id)
        if "inspector_id" in changes:
            _check_inspector(session, changes["inspector_id"])
            responsibility_grid.inspector_id = changes["inspector_id"]
        if "name" in changes:
            responsibility_grid.name = changes["name"]
        if "unit_grid_codes" in changes:
            grids = _member_grids(session, changes["unit_grid_codes"], responsibility_grid.id)
            _set_members(session, responsibility_grid, grids)
        return responsibility_grid


def responsibility_grids_query(inspector_id: int | None = None) -> sa.Select:
    stmt = (
        sa.select(ResponsibilityGrid)
        .order_by(ResponsibilityGrid.code)
        .options(
            selectinload(ResponsibilityGrid.members).selectinload(
                ResponsibilityGridMember.unit_grid
            )
        )
    )
    if inspector_id is not None:
        stmt = stmt.where(ResponsibilityGrid.inspector_id == inspector_id)
    return stmt


def responsibility_grids_of(session: Session, inspector_id: int) -> list[ResponsibilityGrid]:
    """The responsibility grids an inspector walks."""
    return list(session.scalars(responsibility_grids_query(inspector_id)))


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
    """Indexes of the boxes that overlap ``bounds`` (the predicate of ``_bbox_overlaps``)."""
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
    return _bbox_overlaps(
        model,
        (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        ),
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
