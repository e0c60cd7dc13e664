"""Responsibility grids (责任网格): unit grids grouped for the inspector who walks them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from app.accounts.models import Role, User
from app.core.db import transaction
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.grids.models import ResponsibilityGrid, ResponsibilityGridMember, UnitGrid


def _check_inspector(session: Session, inspector_id: int | None) -> None:
    if inspector_id is None:
        return
    user = session.get(User, inspector_id)
    if user is None:
        fault = f"user {inspector_id} does not exist"
    elif user.role != Role.INSPECTOR:
        fault = f"user {inspector_id} is a {user.role}, not an inspector"
    elif not user.is_active:
        fault = f"user {inspector_id} is deactivated"
    else:
        return
    raise ValidationFailed(fault, {"inspector_id": [fault]})


def _member_grids(
    session: Session, codes: Iterable[str], responsibility_grid_id: int | None
) -> list[UnitGrid]:
    """The unit grids of ``codes``: each must exist and be in no other responsibility grid."""
    wanted = list(dict.fromkeys(codes))
    grids = list(
        session.scalars(
            sa.select(UnitGrid)
            .where(UnitGrid.code.in_(wanted))
            .options(selectinload(UnitGrid.membership))
        )
    )
    found = {grid.code for grid in grids}
    missing = [code for code in wanted if code not in found]
    if missing:
        raise ValidationFailed(
            f"unknown unit grids: {', '.join(missing)}",
            {"unit_grid_codes": [f"unknown unit grid {code}" for code in missing]},
        )
    taken = [
        grid
        for grid in grids
        if grid.membership is not None
        and grid.membership.responsibility_grid_id != responsibility_grid_id
    ]
    if taken:
        raise Conflict(
            "unit grids already belong to another responsibility grid",
            {
                "unit_grid_codes": [
                    f"{grid.code} belongs to {grid.responsibility_grid.code}" for grid in taken
                ]
            },
        )
    return grids


def _set_members(session: Session, responsibility_grid: ResponsibilityGrid, grids) -> None:
    keep = {grid.id for grid in grids}
    for member in list(responsibility_grid.members):
        if member.unit_grid_id not in keep:
            responsibility_grid.members.remove(member)
    have = {member.unit_grid_id for member in responsibility_grid.members}
    for grid in grids:
        if grid.id not in have:
            responsibility_grid.members.append(ResponsibilityGridMember(unit_grid=grid))
    session.flush()


def add_responsibility_grid(
    session: Session,
    *,
    code: str,
    name: str,
    unit_grid_codes: Sequence[str],
    inspector_id: int | None = None,
) -> ResponsibilityGrid:
    """Add a responsibility grid inside the caller's transaction."""
    if session.scalar(sa.select(ResponsibilityGrid.id).where(ResponsibilityGrid.code == code)):
        raise Conflict(f"responsibility grid {code} already exists", {"code": ["taken"]})
    _check_inspector(session, inspector_id)
    grids = _member_grids(session, unit_grid_codes, None)
    responsibility_grid = ResponsibilityGrid(code=code, name=name, inspector_id=inspector_id)
    session.add(responsibility_grid)
    _set_members(session, responsibility_grid, grids)
    return responsibility_grid


def create_responsibility_grid(session: Session, **fields) -> ResponsibilityGrid:
    """Group unit grids into a responsibility grid (责任网格), optionally with its inspector.

    Fields: ``code``, ``name``, ``unit_grid_codes`` (each existing and in no other
    responsibility grid) and ``inspector_id`` (an active inspector, or None).
    """
    with transaction(session):
        return add_responsibility_grid(session, **fields)


def get_responsibility_grid(session: Session, responsibility_grid_id: int) -> ResponsibilityGrid:
    """One responsibility grid; 404 when there is none of that id."""
    responsibility_grid = session.get(ResponsibilityGrid, responsibility_grid_id)
    if responsibility_grid is None:
        raise NotFound(f"responsibility grid {responsibility_grid_id} does not exist")
    return responsibility_grid


def update_responsibility_grid(
    session: Session, responsibility_grid_id: int, changes: dict
) -> ResponsibilityGrid:
    """Rename, (un)assign the inspector, or replace the set of unit grids."""
    with transaction(session):
        responsibility_grid = get_responsibility_grid(session, responsibility_grid_id)
        if "inspector_id" in changes:
            _check_inspector(session, changes["inspector_id"])
            responsibility_grid.inspector_id = changes["inspector_id"]
        if "name" in changes:
            responsibility_grid.name = changes["name"]
        if "unit_grid_codes" in changes:
            grids = _member_grids(session, changes["unit_grid_codes"], responsibility_grid.id)
            _set_members(session, responsibility_grid, grids)
        return responsibility_grid


def responsibility_grids_query(inspector_id: int | None = None) -> sa.Select:
    """Responsibility grids by code, with their unit grids; those of one inspector."""
    stmt = (
        sa.select(ResponsibilityGrid)
        .order_by(ResponsibilityGrid.code)
        .options(
            selectinload(ResponsibilityGrid.members).selectinload(
                ResponsibilityGridMember.unit_grid
            )
        )
    )
    if inspector_id is not None:
        stmt = stmt.where(ResponsibilityGrid.inspector_id == inspector_id)
    return stmt


def responsibility_grids_of(session: Session, inspector_id: int) -> list[ResponsibilityGrid]:
    """The responsibility grids an inspector walks."""
    return list(session.scalars(responsibility_grids_query(inspector_id)))
