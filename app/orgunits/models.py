"""The org-unit tree: district → street → community, and departments beside it."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime


class OrgKind(enum.StrEnum):
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    DEPARTMENT = "department"


# Which kind of parent each kind of unit must have (None: no parent).
PARENT_KIND = {
    OrgKind.DISTRICT: None,
    OrgKind.STREET: OrgKind.DISTRICT,
    OrgKind.COMMUNITY: OrgKind.STREET,
    OrgKind.DEPARTMENT: OrgKind.DISTRICT,
}

# Grid-code lengths (CJ/T 213): district 6, street 9, community 12 digits.
CODE_DIGITS = {OrgKind.DISTRICT: 6, OrgKind.STREET: 9, OrgKind.COMMUNITY: 12}


class OrgUnit(Base):
    __tablename__ = "org_units"
    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('district', 'street', 'community', 'department')", name="kind"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_units.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    parent: Mapped[OrgUnit | None] = relationship(remote_side=[id])

    def __repr__(self) -> str:
        return f"<OrgUnit {self.kind} {self.code} {self.name}>"
