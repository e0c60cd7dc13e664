"""Coordinates and geometry without a framework: datum conversion, GeoJSON checks, metres.

Everything stored is WGS-84 longitude/latitude. Phones send GCJ-02 (AMap, Tencent) or
BD-09 (Baidu); ``to_wgs84`` converts them with ``prcoords``' iterative inverses, accurate
to well under a metre.

Metre distances and areas use a local equirectangular projection around the point or
geometry in question, with the WGS-84 ellipsoid's meridian and prime-vertical radii at that
latitude. The scale is exact at the origin and drifts by about ``tan(lat) * Δlat``: at
China's latitudes that is under 0.1 % within 5 km of the origin (under 5 m on 5 km), plenty
for grids of a few hundred metres and boundary buffers of tens of metres. It is not meant
for distances across a city.
"""

from __future__ import annotations

import math

import numpy as np
import prcoords
import shapely
from shapely.errors import ShapelyError
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

CRS_VALUES = ("wgs84", "gcj02", "bd09")
POLYGON_TYPES = ("Polygon", "MultiPolygon")
LINE_TYPES = ("LineString", "MultiLineString")

_WGS84_A = 6378137.0
_WGS84_E2 = 6.69437999014e-3


class GeometryError(ValueError):
    """A GeoJSON geometry that cannot be used; the message says why."""


def check_point(lat: float, lon: float) -> None:
    """Raise ValueError unless (lat, lon) is a finite point on the globe."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise ValueError("latitude and longitude must be finite numbers")
    if not -90 <= lat <= 90:
        raise ValueError(f"latitude {lat} is outside -90..90")
    if not -180 <= lon <= 180:
        raise ValueError(f"longitude {lon} is outside -180..180")


def to_wgs84(lat: float, lon: float, crs: str = "wgs84") -> tuple[float, float]:
    """Convert a point given in ``crs`` to WGS-84; returns (lat, lon).

    GCJ-02 is defined only inside China: outside it, map SDKs give WGS-84 unchanged, and so
    do we (BD-09 then only removes Baidu's own shift).
    """
    if crs not in CRS_VALUES:
        raise ValueError(f"unknown coordinate system {crs!r}; use one of {', '.join(CRS_VALUES)}")
    check_point(lat, lon)
    if crs == "wgs84":
        return lat, lon
    given = prcoords.Coords(lat, lon)
    if crs == "gcj02":
        wgs = prcoords.gcj_wgs_bored(given) if prcoords.sanity_in_china_p(given) else given
    else:
        gcj = prcoords.bd_gcj_bored(given)
        wgs = prcoords.bd_wgs_bored(given) if prcoords.sanity_in_china_p(gcj) else gcj
    return wgs.lat, wgs.lon


def metres_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of latitude and of longitude at ``lat`` on the WGS-84 ellipsoid."""
    phi = math.radians(lat)
    w = 1 - _WGS84_E2 * math.sin(phi) ** 2
    per_lat = math.radians(_WGS84_A * (1 - _WGS84_E2) / w**1.5)
    per_lon = math.radians(_WGS84_A * math.cos(phi) / math.sqrt(w))
    return per_lat, per_lon


class LocalProjection:
    """Longitude/latitude → metres east/north of an origin (local equirectangular)."""

    def __init__(self, lat: float, lon: float):
        self.lat, self.lon = lat, lon
        per_lat, per_lon = metres_per_degree(lat)
        self._scale = np.array([per_lon, per_lat])
        self._origin = np.array([lon, lat])

    @classmethod
    def around(cls, geometry: BaseGeometry) -> LocalProjection:
        """A projection centred on the middle of the geometry's bounding box."""
        min_lon, min_lat, max_lon, max_lat = geometry.bounds
        return cls((min_lat + max_lat) / 2, (min_lon + max_lon) / 2)

    def project(self, geometry: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geometry, lambda xy: (xy - self._origin) * self._scale)


def area_m2(geometry: BaseGeometry) -> float:
    """Area of a lon/lat polygon in square metres (0 for an empty geometry)."""
    if geometry.is_empty:
        return 0.0
    return LocalProjection.around(geometry).project(geometry).area


def distance_m(lat: float, lon: float, geometry: BaseGeometry) -> float:
    """Metres from a point to the nearest part of a geometry (0 inside a polygon)."""
    return Point(0, 0).distance(LocalProjection(lat, lon).project(geometry))


def boundary_distance_m(lat: float, lon: float, polygon: BaseGeometry) -> float:
    """Metres from a point to a polygon's boundary, whether the point is inside or not."""
    return distance_m(lat, lon, polygon.boundary)


def bounds_around(lat: float, lon: float, metres: float) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat) of a square ``metres`` each side of a point."""
    per_lat, per_lon = metres_per_degree(lat)
    d_lat = metres / per_lat
    d_lon = metres / max(per_lon, 1e-9)
    return lon - d_lon, lat - d_lat, lon + d_lon, lat + d_lat


def parse_geometry(geojson: object, allowed_types: tuple[str, ...]) -> BaseGeometry:
    """A valid, non-empty, 2-D shapely geometry of one of ``allowed_types`` from GeoJSON.

    Raises GeometryError with the reason: not GeoJSON, a wrong type, coordinates off the
    globe, or invalid (shapely's explanation, e.g. ``Self-intersection[118.1 24.4]``).
    """
    if not isinstance(geojson, dict) or "type" not in geojson:
        raise GeometryError("geometry is not a GeoJSON geometry object")
    kind = geojson["type"]
    if kind not in allowed_types:
        raise GeometryError(f"geometry must be a {' or '.join(allowed_types)}, not {kind!r}")
    try:
        geometry = shape(geojson)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, ShapelyError) as error:
        raise GeometryError(f"geometry coordinates are malformed: {error}") from None
    if geometry.is_empty:
        raise GeometryError("geometry is empty")
    geometry = shapely.force_2d(geometry)
    coordinates = shapely.get_coordinates(geometry)
    if not np.isfinite(coordinates).all():
        raise GeometryError("geometry has coordinates that are not finite numbers")
    lons, lats = coordinates[:, 0], coordinates[:, 1]
    if (np.abs(lons) > 180).any() or (np.abs(lats) > 90).any():
        raise GeometryError(
            "coordinates are outside longitude -180..180 / latitude -90..90 "
            "(GeoJSON is [longitude, latitude] in WGS-84)"
        )
    if not geometry.is_valid:
        raise GeometryError(f"geometry is invalid: {explain_validity(geometry)}")
    return geometry


def to_geojson_text(geometry: BaseGeometry) -> str:
    """Compact GeoJSON text of a geometry, for storage."""
    return shapely.to_geojson(geometry)
