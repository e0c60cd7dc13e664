"""Where a case belongs: the grid, community, street and road its point falls in, the
routing gaps a point near a boundary or outside every grid leaves for the map, and the
dispatcher's confirmation of a case's grid."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases import queries
from app.cases.models import Case, RoutingGap
from app.cases.services import Stamp, append_flow, get_case, moving
from app.core.clock import utcnow
from app.core.errors import Conflict
from app.grids.services import LocateResult, get_unit_grid
from app.orgunits.models import OrgUnit


def routing_of(located: LocateResult) -> dict:
    """The case columns a located point sets: grid, community, street, road and whether a
    dispatcher must confirm the grid (a point near a boundary or outside every grid)."""
    grid = located.grid
    return {
        "grid_id": grid.id if grid else None,
        "community_id": located.community.id if located.community else None,
        "street_id": located.street.id if located.street else None,
        "road_id": located.roads[0].road.id if located.roads else None,
        "routing": "routed" if located.status == "inside" else "needs_confirmation",
        "locate_status": located.status,
    }


def routing_gap_row(case_id: uuid.UUID, located: LocateResult, now: dt.datetime) -> dict | None:
    """The column values of the routing gap a located point leaves: a point outside every
    grid or near a boundary, so the map can be fixed; None for a point well inside one."""
    if located.status == "inside":
        return None
    return {
        "case_id": case_id,
        "lat": located.lat,
        "lon": located.lon,
        "locate_status": located.status,
        "candidates": [
            {"grid_code": c.grid.code, "distance_m": c.distance_m, "contains": c.contains}
            for c in located.candidates
        ],
        "created_at": now,
    }


def record_routing_gap(
    session: Session, case: Case, located: LocateResult, now: dt.datetime
) -> RoutingGap | None:
    """Keep the routing gap ``located`` leaves for ``case`` (``routing_gap_row``)."""
    row = routing_gap_row(case.id, located, now)
    if row is None:
        return None
    gap = RoutingGap(**row)
    session.add(gap)
    return gap


def settle_routing_gaps(session: Session, case: Case, user: User, now: dt.datetime) -> None:
    """The case's open routing gaps are settled by ``user`` with the grid it is in now."""
    for gap in session.scalars(
        sa.select(RoutingGap).where(RoutingGap.case_id == case.id, RoutingGap.resolved_at.is_(None))
    ):
        gap.resolved_grid_id = case.grid_id
        gap.resolved_by = user.id
        gap.resolved_at = now


def confirm_routing(
    session: Session, user: User, device_id: str | None, case_id: uuid.UUID, grid_code: str
) -> Case:
    """A dispatcher puts a case in a unit grid (a boundary report, a gap, a wrong route)."""
    case = get_case(session, user, case_id)
    if case.state not in queries.OPEN:
        raise Conflict(f"case {case.number} is {case.state}", {"reason": "wrong_state"})
    grid = get_unit_grid(session, grid_code)
    community = session.get(OrgUnit, grid.community_id)
    now = utcnow()
    with moving(session):
        before_grid = case.grid_id
        case.grid_id = grid.id
        case.community_id = community.id
        case.street_id = community.parent_id
        case.routing = "routed"
        case.updated_at = now
        settle_routing_gaps(session, case, user, now)
        append_flow(
            session,
            case,
            Stamp(user, device_id, now),
            "confirm_routing",
            case.state,
            data={"grid_code": grid.code, "previous_grid_id": before_grid},
        )
    return case
