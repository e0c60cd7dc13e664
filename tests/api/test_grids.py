"""Unit grids over HTTP: import, lookup of a point in every coordinate system, responsibility
grids, and the failures an import must refuse without writing anything."""

import prcoords
import pytest
import sqlalchemy as sa

from app.grids.models import Road, UnitGrid
from app.orgunits.models import OrgUnit
from tests import grid_data as gd
from tests.factories import login_headers, make_user

IMPORT = "/api/v1/admin/grids/import"
ROAD_IMPORT = "/api/v1/admin/roads/import"
LOCATE = "/api/v1/grids/locate"
RGRIDS = "/api/v1/admin/responsibility-grids"
CODE = gd.COMMUNITY  # 350203001001


def _count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def lattice(client, world, auth):
    """The 3 × 3 lattice imported through the API."""
    response = client.post(IMPORT, json=gd.lattice(), headers=auth("admin"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _locate(client, headers, lat, lon, crs=None):
    query = {"lat": lat, "lon": lon} | ({"crs": crs} if crs else {})
    response = client.get(LOCATE, query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# --- import ------------------------------------------------------------------------------------


def test_import_a_lattice_then_list_and_read_grids(client, session, auth, lattice):
    assert lattice == {"features_read": 9, "created": 9, "org_units_created": []}
    assert _count(session, UnitGrid) == 9

    listed = client.get(f"/api/v1/grids?community_code={CODE}", headers=auth("inspector"))
    assert listed.status_code == 200
    assert [g["code"] for g in listed.get_json()] == [f"{CODE}{n:03d}" for n in range(1, 10)]
    assert "X-Pagination" in listed.headers
    first = listed.get_json()[0]
    assert first["street_code"] == "350203001" and first["district_code"] == "350203"
    assert 44_500 < first["area_m2"] < 45_300  # about 221.6 m × 202.7 m
    assert "geometry" not in first

    one = client.get(f"/api/v1/grids/{CODE}005", headers=auth("dispatcher"))
    assert one.status_code == 200
    body = one.get_json()
    assert body["name"] == "第5网格"
    assert body["geometry"]["type"] == "Polygon"
    assert body["bbox"] == pytest.approx([118.082, 24.472, 118.084, 24.474])

    other_street = client.get("/api/v1/grids?street_code=350203002", headers=auth("inspector"))
    assert other_street.get_json() == []
    assert client.get("/api/v1/grids/350203001001999", headers=auth("admin")).status_code == 404


def test_import_creates_missing_street_and_community_when_named(client, session, auth, world):
    fc = gd.lattice(
        1, 2, community="350203002001", street_name="鹭江街道", community_name="海岸社区"
    )
    response = client.post(IMPORT, json=fc, headers=auth("admin"))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["org_units_created"] == ["350203002", "350203002001"]
    community = session.scalar(sa.select(OrgUnit).where(OrgUnit.code == "350203002001"))
    assert community.name == "海岸社区" and community.kind == "community"
    assert community.parent.code == "350203002" and community.parent.parent.code == "350203"


def test_import_rejects_an_unnamed_missing_street(client, session, auth, world):
    fc = gd.lattice(1, 2, community="350203002001")
    response = client.post(IMPORT, json=fc, headers=auth("admin"))
    assert response.status_code == 422
    errors = response.get_json()["errors"]["features"]
    assert set(errors) == {"0", "1"}
    assert "street 350203002 does not exist; give street_name" in errors["0"][0]
    assert _count(session, UnitGrid) == 0
    assert session.scalar(sa.select(OrgUnit).where(OrgUnit.code == "350203002")) is None


def _bad_import(client, session, auth, fc):
    """Post ``fc``, expect 422, and check nothing at all was written."""
    grids_before = _count(session, UnitGrid)
    units_before = _count(session, OrgUnit)
    response = client.post(IMPORT, json=fc, headers=auth("admin"))
    assert response.status_code == 422, response.get_json()
    assert _count(session, UnitGrid) == grids_before
    assert _count(session, OrgUnit) == units_before
    return response.get_json()


def _bow_tie():
    w, s, e, n = 118.080, 24.470, 118.082, 24.472
    return {"type": "Polygon", "coordinates": [[[w, s], [e, n], [e, s], [w, n], [w, s]]]}


def test_self_intersecting_polygon_is_422_with_the_reason(client, session, auth, world):
    fc = gd.lattice(1, 2)
    fc["features"][1]["geometry"] = _bow_tie()
    body = _bad_import(client, session, auth, fc)
    assert list(body["errors"]["features"]) == ["1"]
    (message,) = body["errors"]["features"]["1"]
    assert message.startswith(f"{CODE}002: ") and "Self-intersection" in message


def test_overlap_within_the_file_is_422_on_both_features(client, session, auth, world):
    fc = gd.lattice(1, 2)
    shifted = gd.square(gd.WEST + gd.CELL / 2, gd.NORTH - gd.CELL)
    fc["features"].append(gd.feature(shifted, code=f"{CODE}003"))
    errors = _bad_import(client, session, auth, fc)["errors"]["features"]
    assert set(errors) == {"0", "1", "2"}
    assert any("overlaps feature 0" in m for m in errors["2"])
    assert any("overlaps feature 2" in m for m in errors["0"])


def test_overlap_with_an_existing_grid_is_422(client, session, auth, lattice):
    overlapping = gd.square(gd.WEST + 0.0015, gd.NORTH - 0.0015)
    fc = gd.collection([gd.feature(overlapping, code=f"{CODE}010")])
    errors = _bad_import(client, session, auth, fc)["errors"]["features"]
    assert "overlaps existing grid 350203001001001" in errors["0"][0]


def test_touching_grids_and_tiny_slivers_are_not_overlaps(client, session, auth, lattice):
    # East of the lattice, sharing its eastern edge, with a 0.5 m² sliver into cell 003.
    east = gd.WEST + 3 * gd.CELL
    height_m, metres_per_lon_degree = 221.6, 101_370
    sliver = 0.5 / height_m / metres_per_lon_degree  # degrees of longitude for about 0.5 m²
    fc = gd.collection(
        [gd.feature(gd.square(east - sliver, gd.NORTH - gd.CELL), code=f"{CODE}010")]
    )
    response = client.post(IMPORT, json=fc, headers=auth("admin"))
    assert response.status_code == 201, response.get_json()


def test_duplicate_codes_in_the_file_and_in_the_database_are_422(client, session, auth, lattice):
    fc = gd.collection(
        [
            gd.feature(gd.square(118.10, 24.47), code=f"{CODE}020"),
            gd.feature(gd.square(118.11, 24.47), code=f"{CODE}020"),
            gd.feature(gd.square(118.12, 24.47), code=f"{CODE}001"),
        ]
    )
    errors = _bad_import(client, session, auth, fc)["errors"]["features"]
    assert "0" not in errors
    assert errors["1"] == [f"{CODE}020: code repeats feature 0"]
    assert errors["2"] == [f"{CODE}001: code already exists"]


@pytest.mark.parametrize("code", ["35020300100100", "3502030010010011", "35020300100100A", 3e14])
def test_bad_codes_are_422(client, session, auth, world, code):
    fc = gd.collection([gd.feature(gd.square(118.10, 24.47), code=code)])
    errors = _bad_import(client, session, auth, fc)["errors"]["features"]
    assert "is not 15 digits" in errors["0"][0]


def test_missing_code_is_422(client, session, auth, world):
    fc = gd.collection([gd.feature(gd.square(118.10, 24.47), name="无编号")])
    errors = _bad_import(client, session, auth, fc)["errors"]["features"]
    assert errors["0"] == ["code is required"]


def test_unknown_district_is_422(client, session, auth, world):
    fc = gd.lattice(1, 1, community="350299001001", street_name="某街道", community_name="某社区")
    errors = _bad_import(client, session, auth, fc)["errors"]["features"]
    assert "district 350299 does not exist" in errors["0"][0]


def test_out_of_range_coordinates_are_422(client, session, auth, world):
    # Latitude and longitude swapped: [24.47, 118.08] is not [lon, lat].
    swapped = gd.square(24.47, 118.08)
    fc = gd.collection([gd.feature(swapped, code=f"{CODE}001")])
    errors = _bad_import(client, session, auth, fc)["errors"]["features"]
    assert "outside longitude -180..180 / latitude -90..90" in errors["0"][0]


def test_wrong_geometry_type_is_422(client, session, auth, world):
    point = {"type": "Point", "coordinates": [118.08, 24.47]}
    fc = gd.lattice(1, 2)
    fc["features"][0]["geometry"] = point
    errors = _bad_import(client, session, auth, fc)["errors"]["features"]
    assert list(errors) == ["0"]
    assert "must be a Polygon or MultiPolygon, not 'Point'" in errors["0"][0]


def test_every_problem_is_reported_at_once(client, session, auth, world):
    fc = gd.lattice(2, 2)
    fc["features"][0]["geometry"] = _bow_tie()
    fc["features"][1]["properties"]["code"] = "123"
    fc["features"][3]["properties"]["code"] = f"{CODE}003"
    fc["features"].append("not a feature")
    errors = _bad_import(client, session, auth, fc)["errors"]["features"]
    assert set(errors) == {"0", "1", "3", "4"}
    assert errors["4"] == ["not a GeoJSON Feature object"]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "Feature", "geometry": gd.square(118.08, 24.47), "properties": {}},
        {"type": "FeatureCollection"},
        {"type": "FeatureCollection", "features": {}},
        [gd.feature(gd.square(118.08, 24.47), code=f"{CODE}001")],
    ],
)
def test_not_a_feature_collection_is_422(client, session, auth, world, body):
    response = client.post(IMPORT, json=body, headers=auth("admin"))
    assert response.status_code == 422
    assert _count(session, UnitGrid) == 0


def test_empty_feature_collection_is_422(client, session, auth, world):
    response = client.post(IMPORT, json=gd.collection([]), headers=auth("admin"))
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"features": ["empty"]}


def test_malformed_json_is_rejected(client, session, auth, world):
    response = client.post(
        IMPORT,
        data='{"type": "FeatureCollection", ',
        content_type="application/json",
        headers=auth("admin"),
    )
    assert response.status_code in (400, 422)
    assert response.get_json()["code"] == response.status_code
    assert _count(session, UnitGrid) == 0


def test_gis_export_members_are_accepted(client, session, auth, world):
    fc = gd.lattice(1, 1) | {
        "name": "grids",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
    }
    fc["features"][0]["properties"]["OBJECTID"] = 17
    assert client.post(IMPORT, json=fc, headers=auth("admin")).status_code == 201


def test_an_import_may_be_larger_than_an_ordinary_request(client, session, auth, world, app):
    fc = gd.lattice()
    padding = "x" * (app.config["MAX_CONTENT_LENGTH"] // 8)
    for feature in fc["features"]:
        feature["properties"]["remark"] = padding  # unknown properties are ignored
    response = client.post(IMPORT, json=fc, headers=auth("admin"))
    assert response.status_code == 201, response.get_json()
    assert _count(session, UnitGrid) == 9
    too_big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    ordinary = client.post(
        RGRIDS, data=too_big, content_type="application/json", headers=auth("admin")
    )
    assert ordinary.status_code == 413


def test_only_an_admin_imports(client, session, auth, world):
    fc = gd.lattice(1, 1)
    for role in ("inspector", "dispatcher", "street_chief"):
        assert client.post(IMPORT, json=fc, headers=auth(role)).status_code == 403
        assert client.post(ROAD_IMPORT, json=fc, headers=auth(role)).status_code == 403
    assert client.post(IMPORT, json=fc).status_code == 401
    assert client.post(ROAD_IMPORT, json=fc).status_code == 401
    assert _count(session, UnitGrid) == 0


def test_reading_grids_needs_a_token(client, world):
    assert client.get("/api/v1/grids").status_code == 401
    assert client.get(LOCATE, query_string={"lat": 24.473, "lon": 118.083}).status_code == 401
    assert client.get("/api/v1/roads").status_code == 401


# --- roads -------------------------------------------------------------------------------------


def test_import_roads_and_list_them(client, session, auth, world):
    fc = gd.collection(
        [
            gd.road([[118.080, 24.474], [118.086, 24.474]], code="R101", name="思明南路"),
            gd.road(
                [[118.083, 24.470], [118.083, 24.476]],
                code="R102",
                name="镇海路",
                buffer_m=8,
                street_code="350203001",
            ),
        ]
    )
    response = client.post(ROAD_IMPORT, json=fc, headers=auth("admin"))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["created"] == 2
    roads = {r["code"]: r for r in client.get("/api/v1/roads", headers=auth("handler")).get_json()}
    assert set(roads) == {"R001", "R101", "R102"}
    assert roads["R101"]["buffer_m"] == 20.0  # ROAD_DEFAULT_BUFFER_M
    assert roads["R102"]["buffer_m"] == 8.0
    assert roads["R102"]["street_id"] == world.street.id
    assert roads["R102"]["geometry"]["type"] == "LineString"
    in_street = client.get("/api/v1/roads?street_code=350203001", headers=auth("handler"))
    assert {r["code"] for r in in_street.get_json()} == {"R001", "R102"}


def test_bad_roads_are_422_and_nothing_is_written(client, session, auth, world):
    fc = gd.collection(
        [
            gd.road([[118.08, 24.47], [118.09, 24.47]], code="R001", name="dup in db"),
            gd.road([[118.08, 24.47], [118.09, 24.47]], code="R200"),
            gd.feature(gd.square(118.08, 24.47), code="R201", name="a polygon"),
            gd.road([[118.08, 24.47], [118.09, 24.47]], code="R202", name="x", buffer_m=-1),
            gd.road([[118.08, 24.47], [118.09, 24.47]], code="R203", name="x", street_code="1"),
            gd.road([[118.08, 24.47], [118.09, 24.47]], code="R204", name="ok"),
        ]
    )
    response = client.post(ROAD_IMPORT, json=fc, headers=auth("admin"))
    assert response.status_code == 422
    errors = response.get_json()["errors"]["features"]
    assert set(errors) == {"0", "1", "2", "3", "4"}
    assert errors["0"] == ["R001: code already exists"]
    assert errors["1"] == ["R200: name is required"]
    assert "LineString or MultiLineString" in errors["2"][0]
    assert _count(session, Road) == 1


# --- locate ------------------------------------------------------------------------------------


def test_locate_inside_a_grid(client, auth, world, lattice):
    body = _locate(client, auth("inspector"), *gd.cell_centre(1, 1))
    assert body["status"] == "inside"
    assert body["grid"]["code"] == f"{CODE}005"
    assert body["community"] == {"id": world.community.id, "code": CODE, "name": "中山社区"}
    assert body["street"]["code"] == "350203001"
    assert body["district"]["code"] == "350203"
    assert 95 < body["boundary_distance_m"] < 115
    assert body["input"] == {"lat": 24.473, "lon": 118.083, "crs": "wgs84"}
    assert body["point"] == body["input"]
    assert body["roads"] == []
    assert [c["code"] for c in body["candidates"]] == [f"{CODE}005"]


def test_locate_near_a_shared_boundary_lists_both_grids(client, auth, lattice):
    lat, _ = gd.cell_centre(1, 1)
    lon = gd.WEST + 2 * gd.CELL - 0.00005  # about 5 m west of the edge between 005 and 006
    body = _locate(client, auth("dispatcher"), lat, lon)
    assert body["status"] == "near_boundary"
    assert body["grid"]["code"] == f"{CODE}005"
    assert body["boundary_distance_m"] == pytest.approx(5.07, abs=0.1)
    candidates = {c["code"]: c for c in body["candidates"]}
    assert set(candidates) == {f"{CODE}005", f"{CODE}006"}
    assert candidates[f"{CODE}005"]["contains"] is True
    assert candidates[f"{CODE}006"]["contains"] is False


def test_locate_just_outside_the_lattice_is_near_boundary_of_the_nearest(client, auth, lattice):
    lat = gd.NORTH + 0.00005  # about 5.5 m north of the lattice
    body = _locate(client, auth("dispatcher"), lat, gd.cell_centre(0, 1)[1])
    assert body["status"] == "near_boundary"
    assert body["grid"]["code"] == f"{CODE}002"
    assert [c["contains"] for c in body["candidates"]] == [False]


def test_locate_far_outside_every_grid(client, auth, lattice):
    body = _locate(client, auth("inspector"), 24.49, 118.10)
    assert body["status"] == "outside"
    assert body["grid"] is None and body["street"] is None and body["inspector"] is None
    assert body["candidates"] == [] and body["boundary_distance_m"] is None


def test_locate_with_no_grids_at_all_is_outside(client, auth, world):
    assert _locate(client, auth("inspector"), 24.473, 118.083)["status"] == "outside"


def test_gcj02_input_lands_in_the_right_grid(client, auth, lattice):
    lat, lon = gd.cell_centre(1, 1)
    gcj = prcoords.wgs_gcj(prcoords.Coords(lat, lon))
    # Taken as WGS-84, the GCJ-02 point would be hundreds of metres away, in no grid of ours.
    naive = _locate(client, auth("inspector"), gcj.lat, gcj.lon)
    assert naive["grid"] is None or naive["grid"]["code"] != f"{CODE}005"
    body = _locate(client, auth("inspector"), gcj.lat, gcj.lon, "gcj02")
    assert body["status"] == "inside"
    assert body["grid"]["code"] == f"{CODE}005"
    assert body["input"]["crs"] == "gcj02"
    assert body["point"]["lat"] == pytest.approx(lat, abs=1e-6)
    assert body["point"]["lon"] == pytest.approx(lon, abs=1e-6)


def test_bd09_input_lands_in_the_right_grid(client, auth, lattice):
    lat, lon = gd.cell_centre(2, 0)
    bd = prcoords.wgs_bd(prcoords.Coords(lat, lon))
    body = _locate(client, auth("inspector"), bd.lat, bd.lon, "bd09")
    assert body["grid"]["code"] == f"{CODE}007"
    assert body["point"]["lat"] == pytest.approx(lat, abs=1e-6)


def test_locate_finds_a_road_within_its_buffer_and_its_chief(client, auth, world, lattice):
    # world's road R001 runs along latitude 24.47 (the lattice's southern edge), buffer 20 m.
    body = _locate(client, auth("inspector"), 24.4701, 118.085)
    assert [r["code"] for r in body["roads"]] == ["R001"]
    road = body["roads"][0]
    assert road["distance_m"] == pytest.approx(11.08, abs=0.1)
    assert [c["username"] for c in road["chiefs"]] == ["t_road_chief"]
    assert body["grid"]["code"] == f"{CODE}009"
    beyond = _locate(client, auth("inspector"), 24.4703, 118.085)  # about 33 m away
    assert beyond["roads"] == []


def test_locate_bad_input_is_422(client, auth, world):
    headers = auth("inspector")
    for query in (
        {"lat": 24.47, "lon": 118.08, "crs": "utm"},
        {"lat": 91, "lon": 118.08},
        {"lat": 24.47, "lon": -181},
        {"lat": 24.47},
        {"lon": 118.08},
        {"lat": "north", "lon": 118.08},
    ):
        response = client.get(LOCATE, query_string=query, headers=headers)
        assert response.status_code == 422, query


# --- responsibility grids ----------------------------------------------------------------------


def _create_rgrid(client, auth, world, codes=("004", "005"), code="ZR-01"):
    body = {
        "code": code,
        "name": "中山一片",
        "inspector_id": world.users["inspector"].id,
        "unit_grid_codes": [f"{CODE}{n}" for n in codes],
    }
    return client.post(RGRIDS, json=body, headers=auth("admin"))


def test_create_a_responsibility_grid_and_locate_names_its_inspector(client, auth, world, lattice):
    created = _create_rgrid(client, auth, world)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["unit_grid_codes"] == [f"{CODE}004", f"{CODE}005"]
    assert body["inspector_id"] == world.users["inspector"].id

    located = _locate(client, auth("dispatcher"), *gd.cell_centre(1, 1))
    assert located["responsibility_grid"]["code"] == "ZR-01"
    assert located["inspector"] == {
        "id": world.users["inspector"].id,
        "username": "t_inspector",
        "display_name": "t_inspector",
    }
    assert [c["username"] for c in located["street_chiefs"]] == ["t_street_chief"]
    elsewhere = _locate(client, auth("dispatcher"), *gd.cell_centre(0, 0))
    assert elsewhere["responsibility_grid"] is None and elsewhere["inspector"] is None
    assert [c["username"] for c in elsewhere["street_chiefs"]] == ["t_street_chief"]

    grid = client.get(f"/api/v1/grids/{CODE}005", headers=auth("inspector")).get_json()
    assert grid["responsibility_grid"]["code"] == "ZR-01"
    member = client.get(
        f"/api/v1/grids?responsibility_grid_id={body['id']}", headers=auth("inspector")
    )
    assert [g["code"] for g in member.get_json()] == [f"{CODE}004", f"{CODE}005"]


def test_inspector_sees_their_own_responsibility_grids(client, auth, world, session, lattice):
    _create_rgrid(client, auth, world)
    other = make_user(session, "inspector", world.community, username="other_inspector")
    session.commit()
    response = client.post(
        RGRIDS,
        json={
            "code": "ZR-02",
            "name": "二片",
            "inspector_id": other.id,
            "unit_grid_codes": [f"{CODE}001"],
        },
        headers=auth("admin"),
    )
    assert response.status_code == 201

    mine = client.get("/api/v1/responsibility-grids/mine", headers=auth("inspector"))
    assert mine.status_code == 200
    (only,) = mine.get_json()
    assert only["code"] == "ZR-01"
    assert [g["code"] for g in only["unit_grids"]] == [f"{CODE}004", f"{CODE}005"]
    assert only["unit_grids"][0]["geometry"]["type"] == "Polygon"
    theirs = client.get(
        "/api/v1/responsibility-grids/mine", headers=login_headers(client, "other_inspector")
    )
    assert [g["code"] for g in theirs.get_json()] == ["ZR-02"]
    assert (
        client.get("/api/v1/responsibility-grids/mine", headers=auth("dispatcher")).status_code
        == 403
    )


def test_responsibility_grid_rules(client, auth, world, lattice):
    assert _create_rgrid(client, auth, world).status_code == 201
    taken = _create_rgrid(client, auth, world, codes=("005", "006"), code="ZR-02")
    assert taken.status_code == 409
    assert taken.get_json()["errors"]["unit_grid_codes"] == [f"{CODE}005 belongs to ZR-01"]
    same_code = _create_rgrid(client, auth, world, codes=("007",))
    assert same_code.status_code == 409
    unknown = _create_rgrid(client, auth, world, codes=("099",), code="ZR-03")
    assert unknown.status_code == 422
    not_inspector = client.post(
        RGRIDS,
        json={
            "code": "ZR-04",
            "name": "x",
            "inspector_id": world.users["dispatcher"].id,
            "unit_grid_codes": [f"{CODE}009"],
        },
        headers=auth("admin"),
    )
    assert not_inspector.status_code == 422
    assert "not an inspector" in not_inspector.get_json()["errors"]["inspector_id"][0]
    empty = client.post(
        RGRIDS, json={"code": "ZR-05", "name": "x", "unit_grid_codes": []}, headers=auth("admin")
    )
    assert empty.status_code == 422
    assert client.post(RGRIDS, json={}, headers=auth("inspector")).status_code == 403


def test_update_members_and_inspector(client, auth, world, session, lattice):
    rgrid = _create_rgrid(client, auth, world).get_json()
    url = f"{RGRIDS}/{rgrid['id']}"
    changed = client.patch(
        url,
        json={"unit_grid_codes": [f"{CODE}005", f"{CODE}006"], "inspector_id": None},
        headers=auth("admin"),
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["unit_grid_codes"] == [f"{CODE}005", f"{CODE}006"]
    assert changed.get_json()["inspector_id"] is None
    # 004 is free again; 005 stayed without a conflict with itself.
    assert _create_rgrid(client, auth, world, codes=("004",), code="ZR-02").status_code == 201
    assert _locate(client, auth("admin"), *gd.cell_centre(1, 1))["inspector"] is None

    fetched = client.get(url, headers=auth("admin"))
    assert fetched.get_json()["unit_grid_codes"] == [f"{CODE}005", f"{CODE}006"]
    listed = client.get(RGRIDS, headers=auth("admin")).get_json()
    assert [r["code"] for r in listed] == ["ZR-01", "ZR-02"]
    assert client.get(f"{RGRIDS}/999999", headers=auth("admin")).status_code == 404
    assert client.patch(f"{RGRIDS}/999999", json={}, headers=auth("admin")).status_code == 404


def test_locate_skips_a_deactivated_inspector(client, auth, world, lattice):
    _create_rgrid(client, auth, world)
    user_id = world.users["inspector"].id
    response = client.patch(
        f"/api/v1/admin/users/{user_id}", json={"is_active": False}, headers=auth("admin")
    )
    assert response.status_code == 200
    located = _locate(client, auth("dispatcher"), *gd.cell_centre(1, 1))
    assert located["responsibility_grid"]["code"] == "ZR-01"
    assert located["inspector"] is None
