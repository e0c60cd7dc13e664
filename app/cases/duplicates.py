"""Duplicate reports: open cases of the same category nearby and recent are offered to the
dispatcher for merging (``merge``)."""

from __future__ import annotations

import datetime as dt
import math
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases import queries
from app.cases.models import Case, DuplicateCandidate
from app.cases.services import CasePolicy, get_case
from app.grids import geo


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Metres between two nearby WGS-84 points (flat: fine within a duplicate radius)."""
    per_lat, per_lon = geo.metres_per_degree((lat1 + lat2) / 2)
    return math.hypot((lat2 - lat1) * per_lat, (lon2 - lon1) * per_lon)


def duplicate_row(
    case_id: uuid.UUID, other_id: uuid.UUID, distance: float, now: dt.datetime
) -> dict:
    """The column values of a merge candidate found for a new case."""
    return {
        "case_id": case_id,
        "other_case_id": other_id,
        "distance_m": round(distance, 2),
        "status": "open",
        "found_at": now,
    }


def find_duplicates(session: Session, case: Case, policy: CasePolicy, now: dt.datetime) -> None:
    """Open cases of the same category nearby and recent become merge candidates."""
    min_lon, min_lat, max_lon, max_lat = geo.bounds_around(
        case.lat, case.lon, policy.duplicate_radius_m
    )
    since = now - dt.timedelta(hours=policy.duplicate_window_hours)
    nearby = session.execute(
        sa.select(Case.id, Case.lat, Case.lon).where(
            Case.category_id == case.category_id,
            Case.id != case.id,
            Case.state.in_(queries.OPEN),
            Case.reported_at >= since,
            Case.lat.between(min_lat, max_lat),
            Case.lon.between(min_lon, max_lon),
        )
    ).all()
    for other_id, lat, lon in nearby:
        distance = distance_m(case.lat, case.lon, lat, lon)
        if distance <= policy.duplicate_radius_m:
            session.add(DuplicateCandidate(**duplicate_row(case.id, other_id, distance, now)))


def duplicates_of(session: Session, user: User, case_id: uuid.UUID) -> list[dict]:
    """Open merge candidates of a case, found from either side."""
    case = get_case(session, user, case_id)
    rows = session.scalars(
        sa.select(DuplicateCandidate).where(
            sa.or_(
                DuplicateCandidate.case_id == case.id,
                DuplicateCandidate.other_case_id == case.id,
            ),
            DuplicateCandidate.status == "open",
        )
    ).all()
    result = []
    for row in rows:
        other = session.get(Case, row.other_case_id if row.case_id == case.id else row.case_id)
        result.append(
            {
                "case": other,
                "distance_m": row.distance_m,
                "found_at": row.found_at,
                "status": row.status,
            }
        )
    return result
