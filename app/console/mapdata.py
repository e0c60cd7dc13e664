"""The city map's layers, for the part in view or one street only (never the whole city):
unit grids and open cases as GeoJSON, cases with their traffic light."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases import reading
from app.cases.models import Case
from app.cases.queries import is_open, visible_to
from app.console.casepage import grid_feature
from app.console.services import STATE_NAMES
from app.grids.models import UnitGrid
from app.orgunits.models import OrgUnit

MAX_GRIDS = 1500
MAX_CASES = 2000
# A view wider than this (degrees, about 20 km) shows no layers: zoom in or pick a street.
MAX_SPAN = 0.2


def street_grids(street_id: int) -> sa.Select:
    communities = sa.select(OrgUnit.id).where(OrgUnit.parent_id == street_id)
    return sa.select(UnitGrid).where(UnitGrid.community_id.in_(communities))


def extent(session: Session, street_id: int | None) -> list[float] | None:
    """The box of a street's grids (or all grids): where the map starts."""
    stmt = sa.select(
        sa.func.min(UnitGrid.min_lon),
        sa.func.min(UnitGrid.min_lat),
        sa.func.max(UnitGrid.max_lon),
        sa.func.max(UnitGrid.max_lat),
    )
    if street_id is not None:
        stmt = stmt.where(UnitGrid.id.in_(street_grids(street_id).with_only_columns(UnitGrid.id)))
    box = session.execute(stmt).one()
    return list(box) if box[0] is not None else None


def layers(
    session: Session,
    user: User,
    bbox: Sequence[float],
    street_id: int | None,
    now: dt.datetime,
) -> dict:
    """Grids and open cases the user may see inside ``bbox`` (of one street if given)."""
    min_lon, min_lat, max_lon, max_lat = bbox
    if max_lon - min_lon > MAX_SPAN or max_lat - min_lat > MAX_SPAN:
        return _collections([], [], "范围过大：请放大地图或选择街道。")
    grids_stmt = street_grids(street_id) if street_id is not None else sa.select(UnitGrid)
    grids = list(
        session.scalars(grids_stmt.where(UnitGrid.box_overlaps(bbox)).limit(MAX_GRIDS + 1))
    )
    cases_stmt = sa.select(Case).where(
        visible_to(user),
        is_open(),
        Case.lon.between(min_lon, max_lon),
        Case.lat.between(min_lat, max_lat),
    )
    if street_id is not None:
        cases_stmt = cases_stmt.where(Case.street_id == street_id)
    cases = list(session.scalars(cases_stmt.order_by(Case.reported_at.desc()).limit(MAX_CASES + 1)))
    note = f"显示 {min(len(cases), MAX_CASES)} 件在办案件、{min(len(grids), MAX_GRIDS)} 个网格"
    if len(cases) > MAX_CASES or len(grids) > MAX_GRIDS:
        note += "（已截断：请放大地图）"
    rows = reading.summaries(session, cases[:MAX_CASES], now)
    return _collections([grid_feature(g) for g in grids[:MAX_GRIDS]], rows, note + "。")


def _collections(grids: list[dict], rows: list[dict], note: str) -> dict:
    return {
        "grids": {"type": "FeatureCollection", "features": grids},
        "cases": {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "Point",
                        "coordinates": [row["location"]["lon"], row["location"]["lat"]],
                    },
                    "properties": {
                        "id": str(row["id"]),
                        "number": row["number"],
                        "state": STATE_NAMES.get(row["state"], row["state"]),
                        "light": row["traffic_light"] or "none",
                        "category": row["category"].name,
                    },
                }
                for row in rows
            ],
        },
        "note": note,
    }
