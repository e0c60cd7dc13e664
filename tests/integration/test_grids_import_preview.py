"""Previewing a grid or road import: the import's own report or problems, nothing written."""

import pytest
import sqlalchemy as sa

from app.core.errors import ValidationFailed
from app.grids import importing, preview
from app.grids.models import Road, UnitGrid
from app.orgunits.models import OrgUnit
from tests import grid_data as gd

pytestmark = pytest.mark.usefixtures("world")


def _count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def test_a_preview_reports_what_the_import_would_do_and_writes_nothing(session):
    units = _count(session, OrgUnit)
    fc = gd.lattice(2, 2, community="350203001002", community_name="新社区")
    report = preview.preview_import(session, importing.add_unit_grids, fc)
    assert (report.features_read, report.created) == (4, 4)
    assert report.org_units_created == ["350203001002"]
    assert _count(session, UnitGrid) == 0 and _count(session, OrgUnit) == units

    imported = importing.import_unit_grids(session, fc)
    assert imported == report
    assert _count(session, UnitGrid) == 4


def test_a_preview_gives_the_imports_problems(session):
    importing.import_unit_grids(session, gd.lattice(1, 1))
    with pytest.raises(ValidationFailed) as caught:
        preview.preview_import(session, importing.add_unit_grids, gd.lattice(1, 2))
    assert "350203001001001: code already exists" in caught.value.errors["features"][0]
    assert 1 not in caught.value.errors["features"]
    assert _count(session, UnitGrid) == 1


def test_a_road_preview_writes_nothing(session):
    fc = gd.collection([gd.road([[118.08, 24.47], [118.09, 24.471]], code="R9", name="湖滨路")])
    report = preview.preview_import(session, importing.add_roads, fc, default_buffer_m=20.0)
    assert report.created == 1
    assert _count(session, Road) == 1  # the world's road only
