"""Which ledger a caller asks for and whether they may have it.

One scope filter at most: ``street``, ``community``, ``department`` (org-unit ids, as
``/org-units`` gives them), ``road`` (a road id, as ``/roads`` gives it), ``grid`` (the
15-digit unit-grid code, as ``/grids/{code}`` and the case list's ``grid_code`` take it)
or ``chief`` (a street or road chief's user id: their street or road). None is the whole
district for the command centre, and the caller's own area for everyone else.

Who may (issue 12): dispatchers and admins everything; a street chief their street and
the communities and grids in it; a road chief their road; a handler their department;
inspectors and merchants nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.core.errors import Forbidden, ValidationFailed
from app.grids.models import Road, UnitGrid
from app.ledger.queries import Scope
from app.orgunits.models import OrgKind, OrgUnit

SCOPE_KEYS = ("street", "road", "community", "grid", "department", "chief")
READERS = (Role.DISPATCHER, Role.ADMIN, Role.STREET_CHIEF, Role.ROAD_CHIEF, Role.HANDLER)
SEE_ALL = frozenset({Role.DISPATCHER, Role.ADMIN})


def _unknown(key: str, value) -> ValidationFailed:
    return ValidationFailed(f"no {key} {value!r}", {key: [f"no {key} {value!r}"]})


def _org_unit(session: Session, kind: str, unit_id: int) -> Scope:
    unit = session.get(OrgUnit, unit_id)
    if unit is None or unit.kind != kind:
        raise _unknown(kind, unit_id)
    street_id = unit.id if kind == OrgKind.STREET else None
    if kind == OrgKind.COMMUNITY:
        street_id = unit.parent_id
    return Scope(kind, unit.id, unit.code, unit.name, street_id)


def _road(session: Session, road_id: int) -> Scope:
    road = session.get(Road, road_id)
    if road is None:
        raise _unknown("road", road_id)
    return Scope("road", road.id, road.code, road.name, road.street_id)


def _grid(session: Session, code: str) -> Scope:
    found = session.execute(
        sa.select(UnitGrid, OrgUnit.parent_id)
        .join(OrgUnit, OrgUnit.id == UnitGrid.community_id)
        .where(UnitGrid.code == code)
    ).first()
    if found is None:
        raise _unknown("grid", code)
    grid, street_id = found
    return Scope("grid", grid.id, grid.code, grid.name or grid.code, street_id)


def _chief(session: Session, user_id: int) -> Scope:
    chief = session.get(User, user_id)
    if chief is not None and chief.role == Role.STREET_CHIEF and chief.org_unit_id:
        return _org_unit(session, OrgKind.STREET, chief.org_unit_id)
    if chief is not None and chief.role == Role.ROAD_CHIEF and chief.road_id:
        return _road(session, chief.road_id)
    raise ValidationFailed(
        f"user {user_id} is not a street or road chief with a street or road",
        {"chief": ["not a street or road chief"]},
    )


def _district(session: Session) -> Scope:
    district = session.scalar(
        sa.select(OrgUnit).where(OrgUnit.kind == OrgKind.DISTRICT).order_by(OrgUnit.id).limit(1)
    )
    if district is None:
        return Scope("district", None, None, "全区")
    return Scope("district", None, district.code, district.name)


def asked_scope(session: Session, args: dict) -> Scope | None:
    """The scope the filters name (422 for two filters or one naming nothing)."""
    given = [key for key in SCOPE_KEYS if args.get(key) is not None]
    if len(given) > 1:
        raise ValidationFailed(
            f"one scope filter at most, not {', '.join(given)}",
            {key: ["only one scope filter"] for key in given},
        )
    if not given:
        return None
    key = given[0]
    value = args[key]
    if key in ("street", "community", "department"):
        return _org_unit(session, key, value)
    if key == "road":
        return _road(session, value)
    if key == "grid":
        return _grid(session, value)
    return _chief(session, value)


def _own_area(session: Session, user: User) -> Scope:
    if user.role == Role.STREET_CHIEF and user.org_unit_id:
        return _org_unit(session, OrgKind.STREET, user.org_unit_id)
    if user.role == Role.ROAD_CHIEF and user.road_id:
        return _road(session, user.road_id)
    if user.role == Role.HANDLER and user.org_unit_id:
        return _org_unit(session, OrgKind.DEPARTMENT, user.org_unit_id)
    raise Forbidden(f"a {user.role} without a street, road or department has no ledger")


def _may_read(user: User, scope: Scope) -> bool:
    if user.role == Role.STREET_CHIEF:
        within = scope.kind in ("street", "community", "grid")
        return within and scope.street_id is not None and scope.street_id == user.org_unit_id
    if user.role == Role.ROAD_CHIEF:
        return scope.kind == "road" and scope.id == user.road_id
    if user.role == Role.HANDLER:
        return scope.kind == "department" and scope.id == user.org_unit_id
    return False


def resolve(session: Session, user: User, args: dict) -> Scope:
    """The scope ``user`` asked for, checked: 422 for a bad filter, 403 for another's area."""
    if user.role not in READERS:
        raise Forbidden(f"the role {user.role} may not read the ledger")
    scope = asked_scope(session, args)
    if user.role in SEE_ALL:
        return scope or _district(session)
    if scope is None:
        return _own_area(session, user)
    if not _may_read(user, scope):
        raise Forbidden(f"a {user.role} may not read the ledger of {scope.kind} {scope.name}")
    return scope
