"""Read-side selects of the 两图一表 ledger: the cases closed (销号) in a period and a scope,
one row each with its problem and closure photos.

A case counts once it is closed (结案) or its self-handling was confirmed (自处理): both
set ``closed_at``, which is what the period is matched against. Rows come in the order
the ledger is printed, ``closed_at`` then case number, in keyset batches (``WHERE
(closed_at, number) > last``) so a year of a district is never in memory and a writer may
commit its progress between batches.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from app.accounts.models import User
from app.cases.models import Case, CasePhoto
from app.categories.models import Category
from app.grids.models import UnitGrid
from app.orgunits.models import OrgUnit
from app.photos.models import Blob, Photo, PhotoStatus, Processing
from app.workcalendar.periods import Period

CLOSED_STATES = ("closed", "self_handled")
PHOTO_KINDS = ("problem", "closure")
BATCH_ROWS = 200

# The case column each scope filters on; a district is every case.
SCOPE_COLUMNS = {
    "street": Case.street_id,
    "road": Case.road_id,
    "community": Case.community_id,
    "grid": Case.grid_id,
    "department": Case.department_id,
}


@dataclasses.dataclass(frozen=True)
class Scope:
    """Where the ledger looks: ``kind`` (district, street, road, community, grid,
    department), the unit's id, code and name, and the street it lies in (for the chiefs'
    check)."""

    kind: str
    id: int | None
    code: str | None
    name: str
    street_id: int | None = None

    def criterion(self) -> sa.ColumnElement[bool]:
        column = SCOPE_COLUMNS.get(self.kind)
        return sa.true() if column is None else column == self.id

    def echo(self) -> dict:
        return {"kind": self.kind, "id": self.id, "code": self.code, "name": self.name}


@dataclasses.dataclass(frozen=True)
class LedgerPhoto:
    id: uuid.UUID
    thumbnail_sha: str | None  # None: the bytes or the thumbnail are not there (yet)


@dataclasses.dataclass
class LedgerRow:
    case_id: uuid.UUID
    number: str
    category_code: str
    category_name: str
    category_edition: str
    limit_type: str
    address: str
    grid_code: str | None
    street_name: str | None
    community_name: str | None
    source: str
    reporter_name: str | None
    department_name: str | None
    reported_at: dt.datetime
    dispatched_at: dt.datetime | None
    closed_at: dt.datetime
    time_used: float | None
    closed_on_time: bool | None
    rework_count: int
    problem_photos: list[LedgerPhoto] = dataclasses.field(default_factory=list)
    closure_photos: list[LedgerPhoto] = dataclasses.field(default_factory=list)


def closed_in(period: Period, scope: Scope) -> sa.ColumnElement[bool]:
    return sa.and_(
        Case.state.in_(CLOSED_STATES),
        Case.closed_at >= period.start,
        Case.closed_at < period.end,
        Case.merged_into_id.is_(None),
        scope.criterion(),
    )


def count_rows(session: Session, period: Period, scope: Scope) -> int:
    return session.scalar(
        sa.select(sa.func.count()).select_from(Case).where(closed_in(period, scope))
    )


def _row_select(period: Period, scope: Scope) -> sa.Select:
    street = aliased(OrgUnit)
    community = aliased(OrgUnit)
    department = aliased(OrgUnit)
    return (
        sa.select(
            Case.id,
            Case.number,
            Category.code,
            Category.name,
            Category.edition,
            Category.limit_type,
            Case.address,
            UnitGrid.code,
            street.name,
            community.name,
            Case.source,
            User.display_name,
            department.name,
            Case.reported_at,
            Case.dispatched_at,
            Case.closed_at,
            Case.time_used,
            Case.closed_on_time,
            Case.rework_count,
        )
        .join(Category, Category.id == Case.category_id)
        .outerjoin(UnitGrid, UnitGrid.id == Case.grid_id)
        .outerjoin(street, street.id == Case.street_id)
        .outerjoin(community, community.id == Case.community_id)
        .outerjoin(department, department.id == Case.department_id)
        .outerjoin(User, User.id == Case.reporter_id)
        .where(closed_in(period, scope))
        .order_by(Case.closed_at, Case.number)
    )


def _photos_of(session: Session, rows: list[LedgerRow], size: int) -> None:
    by_case = {row.case_id: row for row in rows}
    stmt = (
        sa.select(CasePhoto.case_id, CasePhoto.kind, Photo.id, Blob.thumbnails, Blob.processing)
        .join(Photo, Photo.id == CasePhoto.photo_id)
        .outerjoin(
            Blob, sa.and_(Blob.sha256 == Photo.sha256, Photo.status == PhotoStatus.AVAILABLE)
        )
        .where(CasePhoto.case_id.in_(list(by_case)), CasePhoto.kind.in_(PHOTO_KINDS))
        .order_by(CasePhoto.added_at, Photo.id)
    )
    for case_id, kind, photo_id, thumbnails, processing in session.execute(stmt):
        sha = None
        if processing == Processing.DONE:
            sha = (thumbnails or {}).get(str(size))
        row = by_case[case_id]
        photos = row.problem_photos if kind == "problem" else row.closure_photos
        photos.append(LedgerPhoto(photo_id, sha))


def _batch(session: Session, stmt: sa.Select, thumbnail_size: int) -> list[LedgerRow]:
    rows = [LedgerRow(*values) for values in session.execute(stmt)]
    if rows:
        _photos_of(session, rows, thumbnail_size)
    return rows


def page_rows(
    session: Session, period: Period, scope: Scope, offset: int, limit: int, thumbnail_size: int
) -> list[LedgerRow]:
    """One page of the ledger (the JSON list)."""
    stmt = _row_select(period, scope).offset(offset).limit(limit)
    return _batch(session, stmt, thumbnail_size)


def iter_batches(
    session: Session,
    period: Period,
    scope: Scope,
    thumbnail_size: int,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[list[LedgerRow]]:
    """The whole ledger, ``batch_rows`` at a time, each batch a query of its own (keyset
    on ``closed_at, number``): the caller may commit between batches."""
    after: tuple[dt.datetime, str] | None = None
    while True:
        stmt = _row_select(period, scope).limit(batch_rows)
        if after is not None:
            closed_at, number = after
            stmt = stmt.where(
                sa.or_(
                    Case.closed_at > closed_at,
                    sa.and_(Case.closed_at == closed_at, Case.number > number),
                )
            )
        rows = _batch(session, stmt, thumbnail_size)
        if not rows:
            return
        yield rows
        if len(rows) < batch_rows:
            return
        after = (rows[-1].closed_at, rows[-1].number)
