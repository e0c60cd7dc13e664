"""Use cases for org units."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.core.db import transaction
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.orgunits.models import CODE_DIGITS, PARENT_KIND, OrgKind, OrgUnit


def get_org_unit(session: Session, org_unit_id: int) -> OrgUnit:
    unit = session.get(OrgUnit, org_unit_id)
    if unit is None:
        raise NotFound(f"org unit {org_unit_id} does not exist")
    return unit


def find_by_code(session: Session, code: str) -> OrgUnit | None:
    return session.scalar(sa.select(OrgUnit).where(OrgUnit.code == code))


def validate_org_unit(
    session: Session, kind: str, code: str, parent_code: str | None
) -> OrgUnit | None:
    """Check an org unit's kind, code and parent; return the parent. Raises on any fault."""
    try:
        kind = OrgKind(kind)
    except ValueError:
        raise ValidationFailed(
            f"unknown org unit kind {kind!r}", {"kind": ["unknown kind"]}
        ) from None
    digits = CODE_DIGITS.get(kind)
    if digits is not None and not (code.isdigit() and len(code) == digits):
        raise ValidationFailed(
            f"a {kind.value} code has {digits} digits", {"code": [f"expected {digits} digits"]}
        )
    wanted_parent = PARENT_KIND[kind]
    parent = None
    if wanted_parent is None:
        if parent_code:
            raise ValidationFailed(
                f"a {kind.value} has no parent", {"parent_code": ["not allowed"]}
            )
    else:
        if not parent_code:
            raise ValidationFailed(
                f"a {kind.value} needs a parent {wanted_parent.value}",
                {"parent_code": ["required"]},
            )
        parent = find_by_code(session, parent_code)
        if parent is None:
            raise NotFound(f"parent org unit {parent_code} does not exist")
        if parent.kind != wanted_parent:
            raise ValidationFailed(
                f"the parent of a {kind.value} must be a {wanted_parent.value}",
                {"parent_code": [f"{parent_code} is a {parent.kind}"]},
            )
        if digits is not None and not code.startswith(parent.code):
            raise ValidationFailed(
                f"code {code} must start with its parent's code {parent.code}",
                {"code": ["does not extend the parent's code"]},
            )
    if find_by_code(session, code) is not None:
        raise Conflict(f"org unit {code} already exists")
    return parent


def add_org_unit(
    session: Session, kind: str, code: str, name: str, parent_code: str | None = None
) -> OrgUnit:
    """Add an org unit inside the caller's transaction."""
    parent = validate_org_unit(session, kind, code, parent_code)
    unit = OrgUnit(kind=kind, code=code, name=name, parent=parent)
    session.add(unit)
    session.flush()
    return unit


def create_org_unit(
    session: Session, kind: str, code: str, name: str, parent_code: str | None = None
) -> OrgUnit:
    """Create a district, street, community or department."""
    with transaction(session):
        return add_org_unit(session, kind, code, name, parent_code)


def list_org_units_query(kind: str | None = None, parent_id: int | None = None) -> sa.Select:
    stmt = sa.select(OrgUnit).order_by(OrgUnit.code)
    if kind:
        stmt = stmt.where(OrgUnit.kind == kind)
    if parent_id is not None:
        stmt = stmt.where(OrgUnit.parent_id == parent_id)
    return stmt
