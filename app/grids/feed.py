"""The unit grids in the change feed: an inspector keeps the grids they walk, a street chief
their street's, the command centre all of them (each with its outline)."""

from __future__ import annotations

import datetime as dt
import functools
import json

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.feed.capture import mention
from app.feed.queries import ids_after
from app.feed.registry import FeedType, Registry, SeesEverything, keys
from app.grids.models import ResponsibilityGrid, ResponsibilityGridMember, UnitGrid
from app.orgunits.models import OrgUnit


def register(feed: Registry) -> None:
    """Serve the grids; an inspector holds the keys ``g:<unit grid>`` of the grids they walk."""
    sees_everything = feed.sees_everything
    feed.add_type(
        FeedType(
            name="grid",
            parse_id=int,
            audience=_audience,
            visible=functools.partial(_visible, sees_everything),
            load=_load,
            snapshot=functools.partial(_snapshot, sees_everything),
        )
    )
    feed.add_user_keys(_inspector_keys)
    feed.watch(UnitGrid, _grid_changed)
    feed.watch(ResponsibilityGridMember, _member_changed)


def _walked_by(inspector_id: int) -> sa.Select:
    return (
        sa.select(ResponsibilityGridMember.unit_grid_id)
        .join(ResponsibilityGrid)
        .where(ResponsibilityGrid.inspector_id == inspector_id)
    )


def _inspector_keys(session: Session, user: User) -> set[str]:
    if user.role != Role.INSPECTOR:
        return set()
    return {f"g:{grid}" for grid in session.scalars(_walked_by(user.id))}


def _audience(connection: sa.Connection, ids: list[str]) -> dict[str, set[str]]:
    grids, units = UnitGrid.__table__, OrgUnit.__table__
    rows = connection.execute(
        sa.select(grids.c.id, units.c.parent_id)
        .join(units, units.c.id == grids.c.community_id)
        .where(grids.c.id.in_([int(i) for i in ids]))
    )
    return {str(r.id): keys(("g", r.id), ("s", r.parent_id)) for r in rows}


def _grid_changed(grid: UnitGrid, deleted: bool) -> list:
    return mention("grid", grid.id, *([f"g:{grid.id}"] if deleted else []))


def _member_changed(member: ResponsibilityGridMember, deleted: bool) -> list:
    # The inspector's scope itself changes: their cursor gets a reset (scope fingerprint).
    return mention("grid", member.unit_grid_id)


def _user_grids(sees_everything: SeesEverything, user: User) -> sa.ColumnElement[bool]:
    if sees_everything(user):
        return sa.true()
    if user.role == Role.INSPECTOR:
        return UnitGrid.id.in_(_walked_by(user.id))
    if user.role == Role.STREET_CHIEF and user.org_unit_id is not None:
        return UnitGrid.community_id.in_(
            sa.select(OrgUnit.id).where(OrgUnit.parent_id == user.org_unit_id)
        )
    return sa.false()


def _visible(sees_everything: SeesEverything, session: Session, user: User, ids: list) -> set:
    return set(
        session.scalars(
            sa.select(UnitGrid.id).where(UnitGrid.id.in_(ids), _user_grids(sees_everything, user))
        )
    )


def _load(session: Session, ids: list) -> dict:
    table = UnitGrid.__table__
    return {
        row.id: (
            None,
            {
                "id": row.id,
                "code": row.code,
                "name": row.name,
                "community_id": row.community_id,
                "geometry": json.loads(row.geometry),
                "bbox": [row.min_lon, row.min_lat, row.max_lon, row.max_lat],
            },
        )
        for row in session.execute(sa.select(table).where(table.c.id.in_(ids)))
    }


def _snapshot(
    sees_everything: SeesEverything,
    session: Session,
    user: User,
    after,
    limit: int,
    now: dt.datetime,
) -> list:
    stmt = sa.select(UnitGrid.id).where(_user_grids(sees_everything, user))
    return ids_after(session, stmt, UnitGrid.id, after, limit)
