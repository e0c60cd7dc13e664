"""Datum conversion, GeoJSON checks and metre arithmetic of app.grids.geo, without a database."""

import json
import math

import prcoords
import pytest
from shapely.geometry import LineString, Point, Polygon

from app.grids import geo

XIAMEN = (24.4798, 118.0894)  # lat, lon: 思明区


def metres_between(a: tuple, b: tuple) -> float:
    return prcoords.Coords(*a).distance(prcoords.Coords(*b))


@pytest.mark.parametrize(
    ("lat", "lon"), [XIAMEN, (39.9087, 116.3975), (31.2304, 121.4737), (22.5431, 114.0579)]
)
def test_gcj02_round_trip_is_within_a_metre(lat, lon):
    gcj = prcoords.wgs_gcj(prcoords.Coords(lat, lon))
    back = geo.to_wgs84(gcj.lat, gcj.lon, "gcj02")
    assert metres_between(back, (lat, lon)) < 1.0
    # The offset being undone is real: hundreds of metres.
    assert metres_between((gcj.lat, gcj.lon), (lat, lon)) > 100


def test_bd09_round_trip_is_within_a_metre():
    bd = prcoords.wgs_bd(prcoords.Coords(*XIAMEN))
    back = geo.to_wgs84(bd.lat, bd.lon, "bd09")
    assert metres_between(back, XIAMEN) < 1.0


def test_xiamen_gcj02_offset_is_several_hundred_metres():
    gcj = prcoords.wgs_gcj(prcoords.Coords(*XIAMEN))
    offset = metres_between((gcj.lat, gcj.lon), XIAMEN)
    assert 300 < offset < 900
    bd = prcoords.wgs_bd(prcoords.Coords(*XIAMEN))
    assert metres_between((bd.lat, bd.lon), XIAMEN) > offset


def test_wgs84_is_returned_unchanged():
    assert geo.to_wgs84(*XIAMEN, "wgs84") == XIAMEN


def test_gcj02_outside_china_is_wgs84():
    paris = (48.8566, 2.3522)
    assert geo.to_wgs84(*paris, "gcj02") == pytest.approx(paris)


@pytest.mark.parametrize(
    ("lat", "lon", "crs"),
    [
        (91, 118, "wgs84"),
        (-90.5, 118, "gcj02"),
        (24, 180.1, "bd09"),
        (math.nan, 118, "wgs84"),
        (24, math.inf, "wgs84"),
        (24, 118, "utm50n"),
        (24, 118, "WGS84"),
    ],
)
def test_bad_points_and_unknown_crs_raise_value_error(lat, lon, crs):
    with pytest.raises(ValueError):
        geo.to_wgs84(lat, lon, crs)


def test_one_degree_of_latitude_is_about_111_km():
    polygon_far = Point(118.0, 25.0)
    metres = geo.distance_m(24.0, 118.0, polygon_far)
    assert metres == pytest.approx(110_800, rel=0.005)
    per_lat, per_lon = geo.metres_per_degree(0.0)
    assert per_lat == pytest.approx(110_574, rel=1e-3)
    assert per_lon == pytest.approx(111_320, rel=1e-3)


def test_one_degree_of_longitude_shrinks_with_latitude():
    _, at_xiamen = geo.metres_per_degree(24.48)
    assert at_xiamen == pytest.approx(111_320 * math.cos(math.radians(24.48)), rel=2e-3)


def test_short_distances_agree_with_haversine():
    a = (24.4700, 118.0800)
    b = (24.4731, 118.0847)
    measured = geo.distance_m(a[0], a[1], Point(b[1], b[0]))
    assert measured == pytest.approx(metres_between(a, b), rel=3e-3)


def test_area_of_a_small_square_in_square_metres():
    # 0.001° × 0.001° at 24.48°N: about 110.8 m × 101.4 m.
    square = Polygon([(118.08, 24.48), (118.081, 24.48), (118.081, 24.481), (118.08, 24.481)])
    per_lat, per_lon = geo.metres_per_degree(24.4805)
    assert geo.area_m2(square) == pytest.approx(per_lat * per_lon * 1e-6, rel=1e-4)
    assert 11_000 < geo.area_m2(square) < 11_500


def test_boundary_distance_inside_and_outside_a_polygon():
    square = Polygon([(118.08, 24.47), (118.09, 24.47), (118.09, 24.48), (118.08, 24.48)])
    per_lat, _ = geo.metres_per_degree(24.47)
    # 0.0001° north of the southern edge, inside: about 11 m.
    assert geo.boundary_distance_m(24.4701, 118.085, square) == pytest.approx(
        per_lat * 0.0001, rel=1e-3
    )
    # The same distance south of it, outside.
    assert geo.boundary_distance_m(24.4699, 118.085, square) == pytest.approx(
        per_lat * 0.0001, rel=1e-3
    )
    # Inside, distance to the polygon itself is 0 but to its boundary is not.
    assert geo.distance_m(24.475, 118.085, square) == 0
    assert geo.boundary_distance_m(24.475, 118.085, square) > 500


def test_point_to_line_distance():
    line = LineString([(118.08, 24.47), (118.09, 24.47)])
    per_lat, _ = geo.metres_per_degree(24.47)
    assert geo.distance_m(24.4702, 118.085, line) == pytest.approx(per_lat * 0.0002, rel=1e-3)


def test_bounds_around_contain_the_circle():
    min_lon, min_lat, max_lon, max_lat = geo.bounds_around(24.47, 118.08, 100)
    assert geo.distance_m(24.47, 118.08, Point(max_lon, 24.47)) == pytest.approx(100, rel=1e-6)
    assert geo.distance_m(24.47, 118.08, Point(118.08, min_lat)) == pytest.approx(100, rel=1e-6)
    assert min_lon < 118.08 < max_lon and min_lat < 24.47 < max_lat


def _polygon(*ring):
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}


def test_parse_geometry_accepts_a_valid_polygon_and_multipolygon():
    polygon = _polygon((118.08, 24.47), (118.09, 24.47), (118.09, 24.48), (118.08, 24.47))
    assert geo.parse_geometry(polygon, geo.POLYGON_TYPES).geom_type == "Polygon"
    multi = {"type": "MultiPolygon", "coordinates": [polygon["coordinates"]]}
    assert geo.parse_geometry(multi, geo.POLYGON_TYPES).geom_type == "MultiPolygon"


def test_parse_geometry_drops_a_third_dimension():
    polygon = {
        "type": "Polygon",
        "coordinates": [[[118.08, 24.47, 5], [118.09, 24.47, 5], [118.09, 24.48, 5]]],
    }
    assert not geo.parse_geometry(polygon, geo.POLYGON_TYPES).has_z


def test_bow_tie_polygon_is_invalid_with_the_reason():
    bow_tie = _polygon(
        (118.08, 24.47), (118.09, 24.48), (118.09, 24.47), (118.08, 24.48), (118.08, 24.47)
    )
    with pytest.raises(geo.GeometryError, match="Self-intersection"):
        geo.parse_geometry(bow_tie, geo.POLYGON_TYPES)


@pytest.mark.parametrize(
    ("geometry", "reason"),
    [
        (None, "not a GeoJSON geometry"),
        ({"coordinates": []}, "not a GeoJSON geometry"),
        ({"type": "Point", "coordinates": [118.08, 24.47]}, "must be a Polygon or MultiPolygon"),
        ({"type": "Polygon", "coordinates": "nope"}, "malformed"),
        ({"type": "Polygon", "coordinates": [[[118.08, 24.47], [118.09, 24.47]]]}, "malformed"),
        ({"type": "Polygon", "coordinates": []}, "empty"),
        (
            _polygon((24.47, 118.08), (24.48, 118.09), (24.47, 118.09), (24.47, 118.08)),
            "outside longitude",
        ),
        (
            _polygon((500000, 2700000), (500100, 2700000), (500100, 2700100), (500000, 2700000)),
            "outside longitude",
        ),
    ],
)
def test_unusable_polygons_are_rejected_with_a_reason(geometry, reason):
    with pytest.raises(geo.GeometryError, match=reason):
        geo.parse_geometry(geometry, geo.POLYGON_TYPES)


def test_parse_geometry_checks_line_types():
    line = {"type": "LineString", "coordinates": [[118.08, 24.47], [118.09, 24.47]]}
    assert geo.parse_geometry(line, geo.LINE_TYPES).length > 0
    with pytest.raises(geo.GeometryError, match="LineString or MultiLineString"):
        geo.parse_geometry(line | {"type": "Polygon"}, geo.LINE_TYPES)
    degenerate = {"type": "LineString", "coordinates": [[118.08, 24.47], [118.08, 24.47]]}
    with pytest.raises(geo.GeometryError, match="invalid"):
        geo.parse_geometry(degenerate, geo.LINE_TYPES)


def test_stored_text_round_trips():
    polygon = _polygon((118.08, 24.47), (118.09, 24.47), (118.09, 24.48), (118.08, 24.47))
    parsed = geo.parse_geometry(polygon, geo.POLYGON_TYPES)
    again = geo.parse_geometry(json.loads(geo.to_geojson_text(parsed)), geo.POLYGON_TYPES)
    assert again.equals(parsed)
