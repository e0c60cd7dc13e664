"""Importing unit grids and roads from GeoJSON.

Imports are all or nothing: every feature is checked first, every problem is reported with
its feature index, and a single problem means nothing is written.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import shapely
import sqlalchemy as sa
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from app.core.db import transaction
from app.core.errors import ValidationFailed
from app.grids import geo
from app.grids.models import Road, UnitGrid
from app.orgunits.models import OrgKind, OrgUnit
from app.orgunits.services import add_org_unit, find_by_code

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


# The levels under a grid's district, each by the length of its code and the property
# that names it when it is to be created.
_LEVELS = ((OrgKind.STREET, 9, "street_name"), (OrgKind.COMMUNITY, 12, "community_name"))


@dataclasses.dataclass
class _PlannedUnit:
    """An org unit a feature needs: found, or to be created from the names in the file."""

    kind: str
    code: str
    unit: OrgUnit | None = None
    name: str | None = None
    named_in: int | None = None  # the index of the feature that gave ``name``


def _plan_org_units(
    session: Session, rows: list[_Feature], problems: _Problems
) -> dict[str, _PlannedUnit]:
    """The district, street and community of every grid, by code; report what is missing.

    The district must exist. A street or community that does not is created when a feature
    names it (``street_name`` / ``community_name``), and is otherwise an error.
    """
    plan = _OrgUnitPlan(session, problems)
    coded = [row for row in rows if row.code is not None]
    for row in coded:
        if plan.has_district(row):
            plan.add_levels(row)
    for row in coded:
        if row.code[:6] not in plan.missing_districts:
            plan.report_unnamed(row)
    return plan.planned


class _OrgUnitPlan:
    """The org units planned so far (by code), and the districts found missing."""

    def __init__(self, session: Session, problems: _Problems) -> None:
        self.session = session
        self.problems = problems
        self.planned: dict[str, _PlannedUnit] = {}
        self.missing_districts: set[str] = set()

    def has_district(self, row: _Feature) -> bool:
        """Whether the grid's district exists; a problem of the feature when it does not."""
        code = row.code[:6]
        if code not in self.planned and code not in self.missing_districts:
            unit = find_by_code(self.session, code)
            if unit is None or unit.kind != OrgKind.DISTRICT:
                self.missing_districts.add(code)
            else:
                self.planned[code] = _PlannedUnit(OrgKind.DISTRICT, code, unit)
        if code in self.missing_districts:
            self.problems.add(
                row.index, row.code, f"district {code} does not exist; create it first"
            )
            return False
        return True

    def add_levels(self, row: _Feature) -> None:
        """The grid's street and community, found or named by the feature."""
        for kind, digits, name_key in _LEVELS:
            given = _text_property(row, name_key, self.problems, limit=MAX_NAME)
            planned = self._unit(row, kind, row.code[:digits])
            if planned is None:
                break
            if planned.unit is None and given is not None:
                self._name(row, planned, given)

    def _unit(self, row: _Feature, kind: str, code: str) -> _PlannedUnit | None:
        """The planned unit of ``code``; None (a problem) when a unit of another kind has it."""
        planned = self.planned.get(code)
        if planned is None:
            unit = find_by_code(self.session, code)
            if unit is not None and unit.kind != kind:
                self.problems.add(row.index, row.code, f"org unit {code} is a {unit.kind}")
                return None
            planned = self.planned[code] = _PlannedUnit(kind, code, unit)
        return planned

    def _name(self, row: _Feature, planned: _PlannedUnit, given: str) -> None:
        """The name of a unit to create: the first feature's; another name is a problem."""
        if planned.name is None:
            planned.name, planned.named_in = given, row.index
        elif planned.name != given:
            self.problems.add(
                row.index,
                row.code,
                f"{planned.kind} {planned.code} is named {given!r} here but "
                f"{planned.name!r} in feature {planned.named_in}",
            )

    def report_unnamed(self, row: _Feature) -> None:
        """The first of the grid's units that neither exists nor is named, as a problem."""
        for kind, digits, name_key in _LEVELS:
            planned = self.planned.get(row.code[:digits])
            if planned is not None and planned.unit is None and planned.name is None:
                self.problems.add(
                    row.index,
                    row.code,
                    f"{kind} {planned.code} does not exist; give {name_key} to create it",
                )
                return


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
        sa.select(UnitGrid.code, UnitGrid.geometry).where(UnitGrid.box_overlaps(bounds))
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
