"""Grid imports against a real database: thousands of grids, all-or-nothing, the CLI."""

import json
import time

import pytest
import sqlalchemy as sa

from app.core.errors import ValidationFailed
from app.grids import importing, services
from app.grids.models import Road, UnitGrid
from app.grids.responsibility import add_responsibility_grid
from app.orgunits.models import OrgUnit
from tests import grid_data as gd

pytestmark = pytest.mark.usefixtures("world")


def _count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def _big_lattice() -> dict:
    """2 500 grids of about 55 m × 50 m, numbered across ten communities of one street."""
    features = []
    size = 0.0005
    for row in range(50):
        for col in range(50):
            community = f"350203001{row // 5 + 1:03d}"
            number = (row % 5) * 50 + col + 1
            west, south = 118.05 + col * size, 24.50 - (row + 1) * size
            features.append(
                gd.feature(
                    gd.square(west, south, size),
                    code=f"{community}{number:03d}",
                    community_name=f"社区{row // 5 + 1}",
                )
            )
    return gd.collection(features)


def test_thousands_of_grids_import_quickly_and_all_or_nothing(session):
    fc = _big_lattice()
    started = time.perf_counter()
    report = importing.import_unit_grids(session, fc)
    elapsed = time.perf_counter() - started
    assert report.created == 2500
    assert len(report.org_units_created) == 9  # 350203001001 exists in world
    assert _count(session, UnitGrid) == 2500
    assert elapsed < 30, f"importing 2 500 grids took {elapsed:.1f} s"

    # A second file of 2 500 clean grids plus one overlapping an existing grid: nothing goes in.
    again = _big_lattice()
    for feature in again["features"]:
        feature["properties"]["code"] = "350203002" + feature["properties"]["code"][9:]
        feature["properties"]["street_name"] = "新街道"
        ring = feature["geometry"]["coordinates"][0]
        feature["geometry"]["coordinates"][0] = [[lon + 0.03, lat] for lon, lat in ring]
    again["features"][1234]["geometry"] = gd.square(118.0501, 24.4996, 0.0003)
    started = time.perf_counter()
    with pytest.raises(ValidationFailed) as failure:
        importing.import_unit_grids(session, again)
    assert time.perf_counter() - started < 30
    errors = failure.value.errors["features"]
    assert list(errors) == [1234]
    assert "overlaps existing grid 350203001001001" in errors[1234][0]
    assert _count(session, UnitGrid) == 2500
    assert session.scalar(sa.select(OrgUnit).where(OrgUnit.code == "350203002")) is None


def test_add_variants_join_the_callers_transaction(session, world):
    importing.add_unit_grids(session, gd.lattice(1, 2))
    importing.add_roads(
        session, gd.collection([gd.road([[118.0, 24.0], [118.1, 24.0]], code="R5", name="x")])
    )
    add_responsibility_grid(
        session,
        code="ZR-9",
        name="x",
        unit_grid_codes=[f"{gd.COMMUNITY}001"],
        inspector_id=world.users["inspector"].id,
    )
    session.rollback()
    assert _count(session, UnitGrid) == 0
    assert _count(session, Road) == 1  # world's R001


def test_progress_is_reported_by_stage(session):
    stages = []
    importing.import_unit_grids(session, gd.lattice(), progress=lambda *s: stages.append(s))
    assert stages == [("read", 9), ("validated", 9), ("written", 9)]


def test_conflicting_names_for_a_new_street_are_reported(session):
    fc = gd.lattice(1, 2, community="350203002001", community_name="海岸社区")
    fc["features"][0]["properties"]["street_name"] = "鹭江街道"
    fc["features"][1]["properties"]["street_name"] = "鹭江街"
    with pytest.raises(ValidationFailed) as failure:
        importing.import_unit_grids(session, fc)
    assert list(failure.value.errors["features"]) == [1]
    assert (
        "named '鹭江街' here but '鹭江街道' in feature 0"
        in (failure.value.errors["features"][1][0])
    )


def test_overlap_tolerance_is_a_parameter(session):
    importing.import_unit_grids(session, gd.lattice(1, 1))
    # Shifted 0.0001° (about 10 m) into the first grid: a 10 m × 221 m overlap.
    nudged = gd.square(gd.WEST + gd.CELL - 0.0001, gd.NORTH - gd.CELL)
    fc = gd.collection([gd.feature(nudged, code=f"{gd.COMMUNITY}002")])
    with pytest.raises(ValidationFailed):
        importing.import_unit_grids(session, fc)
    report = importing.import_unit_grids(session, fc, overlap_tolerance_m2=5000)
    assert report.created == 1


def test_multipolygon_with_a_hole_is_located_exactly(session):
    outer = [[118.08, 24.47], [118.09, 24.47], [118.09, 24.48], [118.08, 24.48], [118.08, 24.47]]
    hole = [[118.084, 24.474], [118.086, 24.474], [118.086, 24.476], [118.084, 24.476]]
    islet = gd.square(118.095, 24.47, 0.001)["coordinates"]
    geometry = {"type": "MultiPolygon", "coordinates": [[outer, [*hole, hole[0]]], islet]}
    importing.import_unit_grids(
        session, gd.collection([gd.feature(geometry, code=f"{gd.COMMUNITY}001")])
    )
    assert services.locate(session, 24.4705, 118.0955).status == "inside"  # the islet
    in_hole = services.locate(session, 24.475, 118.085)
    assert in_hole.status == "outside"  # 100 m from the hole's edge, beyond the buffer
    near_hole = services.locate(session, 24.475, 118.0859)
    assert near_hole.status == "near_boundary"
    assert [c.contains for c in near_hole.candidates] == [False]
    assert services.locate(session, 24.472, 118.082).status == "inside"


def test_bbox_prefilter_does_not_miss_a_point_just_outside_a_bbox(session):
    importing.import_unit_grids(session, gd.lattice(1, 1))
    east_edge = gd.WEST + gd.CELL
    result = services.locate(session, gd.NORTH - gd.CELL / 2, east_edge + 0.0001)  # ~10 m east
    assert result.status == "near_boundary"
    assert result.grid.code == f"{gd.COMMUNITY}001"
    assert result.boundary_distance_m == pytest.approx(10.1, abs=0.2)


def test_import_roads_service_uses_the_default_buffer(session):
    fc = gd.collection(
        [gd.road([[118.08, 24.48], [118.09, 24.48], [118.09, 24.49]], code="R9", name="环岛路")]
    )
    report = importing.import_roads(session, fc, default_buffer_m=12.5)
    assert report.created == 1
    road = session.scalar(sa.select(Road).where(Road.code == "R9"))
    assert road.buffer_m == 12.5
    assert road.bbox == [118.08, 24.48, 118.09, 24.49]
    assert [m.road.code for m in services.locate(session, 24.4801, 118.085).roads] == ["R9"]


# --- the CLI -----------------------------------------------------------------------------------


@pytest.fixture
def runner(app, session):
    return app.test_cli_runner()


def test_cli_import_prints_progress(runner, session, tmp_path):
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps(gd.lattice(), ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(args=["grids", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "read: 9 features" in result.output
    assert "validated: 9 features" in result.output
    assert "written: 9 features" in result.output
    assert "imported 9 unit grids" in result.output
    assert _count(session, UnitGrid) == 9


def test_cli_import_lists_every_error_and_exits_non_zero(runner, session, tmp_path):
    fc = gd.lattice(1, 3)
    fc["features"][1]["properties"]["code"] = "1"
    fc["features"][2]["geometry"] = {"type": "Point", "coordinates": [118.08, 24.47]}
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(fc), encoding="utf-8")
    result = runner.invoke(args=["grids", "import", str(path)])
    assert result.exit_code != 0
    assert "feature 1: code '1' is not 15 digits" in result.output
    assert "feature 2: 350203001001003: geometry must be a Polygon" in result.output
    assert "nothing was written" in result.output
    assert _count(session, UnitGrid) == 0


def test_cli_import_refuses_a_file_that_is_not_json(runner, session, tmp_path):
    path = tmp_path / "broken.geojson"
    path.write_text('{"type": "FeatureCollection", ', encoding="utf-8")
    result = runner.invoke(args=["grids", "import", str(path)])
    assert result.exit_code != 0
    assert "is not JSON" in result.output


def test_cli_import_roads_and_locate(runner, session, tmp_path):
    grids = tmp_path / "grids.geojson"
    grids.write_text(json.dumps(gd.lattice()), encoding="utf-8")
    assert runner.invoke(args=["grids", "import", str(grids)]).exit_code == 0
    roads = tmp_path / "roads.geojson"
    line = [[118.080, 24.473], [118.086, 24.473]]
    roads.write_text(json.dumps(gd.collection([gd.road(line, code="R7", name="思明南路")])))
    result = runner.invoke(args=["grids", "import-roads", str(roads), "--buffer", "30"])
    assert result.exit_code == 0, result.output
    assert "imported 1 roads" in result.output
    assert session.scalar(sa.select(Road.buffer_m).where(Road.code == "R7")) == 30

    lat, lon = gd.cell_centre(1, 1)
    located = runner.invoke(args=["grids", "locate", str(lat), str(lon)])
    assert located.exit_code == 0, located.output
    assert "status: inside" in located.output
    assert "grid: 350203001001005" in located.output
    assert "street: 350203001 中华街道" in located.output
    assert "road: R7 思明南路" in located.output
    bad = runner.invoke(args=["grids", "locate", "24.47", "118.08", "--crs", "utm"])
    assert bad.exit_code != 0
