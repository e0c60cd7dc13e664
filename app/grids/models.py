"""Unit grids, responsibility grids and roads. Geometry is GeoJSON text in WGS-84 plus an
indexed bounding box, so the same schema serves SQLite and PostgreSQL without extensions."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime


class BoundingBoxMixin:
    """The geometry's bounding box, indexed, to pick candidates before exact shapely tests."""

    min_lon: Mapped[float] = mapped_column(sa.Float)
    min_lat: Mapped[float] = mapped_column(sa.Float)
    max_lon: Mapped[float] = mapped_column(sa.Float)
    max_lat: Mapped[float] = mapped_column(sa.Float)

    @classmethod
    def box_overlaps(cls, bounds: Sequence[float]) -> sa.ColumnElement[bool]:
        """Rows whose box overlaps ``bounds`` (min_lon, min_lat, max_lon, max_lat)."""
        min_lon, min_lat, max_lon, max_lat = bounds
        return sa.and_(
            cls.min_lon <= max_lon,
            cls.max_lon >= min_lon,
            cls.min_lat <= max_lat,
            cls.max_lat >= min_lat,
        )

    @property
    def bbox(self) -> list[float]:
        return [self.min_lon, self.min_lat, self.max_lon, self.max_lat]

    @property
    def geojson(self) -> dict:
        return json.loads(self.geometry)


class UnitGrid(BoundingBoxMixin, Base):
    __tablename__ = "unit_grids"
    __table_args__ = (sa.Index("ix_unit_grids_bbox", "min_lon", "max_lon", "min_lat", "max_lat"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(15), unique=True)
    name: Mapped[str | None] = mapped_column(sa.String(128))
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("org_units.id"), index=True)
    geometry: Mapped[str] = mapped_column(sa.Text)
    area_m2: Mapped[float] = mapped_column(sa.Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    membership: Mapped[ResponsibilityGridMember | None] = relationship(back_populates="unit_grid")

    # The code nests its parents' codes: district 6, street 9, community 12 digits.
    @property
    def district_code(self) -> str:
        return self.code[:6]

    @property
    def street_code(self) -> str:
        return self.code[:9]

    @property
    def community_code(self) -> str:
        return self.code[:12]

    @property
    def responsibility_grid(self) -> ResponsibilityGrid | None:
        return self.membership.responsibility_grid if self.membership else None

    def __repr__(self) -> str:
        return f"<UnitGrid {self.code}>"


class ResponsibilityGrid(Base):
    """A set of unit grids walked by one inspector."""

    __tablename__ = "responsibility_grids"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    inspector_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    members: Mapped[list[ResponsibilityGridMember]] = relationship(
        back_populates="responsibility_grid", cascade="all, delete-orphan"
    )

    @property
    def unit_grids(self) -> list[UnitGrid]:
        return sorted((member.unit_grid for member in self.members), key=lambda g: g.code)

    @property
    def unit_grid_codes(self) -> list[str]:
        return [grid.code for grid in self.unit_grids]

    def __repr__(self) -> str:
        return f"<ResponsibilityGrid {self.code}>"


class ResponsibilityGridMember(Base):
    """A unit grid belongs to at most one responsibility grid."""

    __tablename__ = "responsibility_grid_members"

    unit_grid_id: Mapped[int] = mapped_column(sa.ForeignKey("unit_grids.id"), primary_key=True)
    responsibility_grid_id: Mapped[int] = mapped_column(
        sa.ForeignKey("responsibility_grids.id"), index=True
    )

    unit_grid: Mapped[UnitGrid] = relationship(back_populates="membership")
    responsibility_grid: Mapped[ResponsibilityGrid] = relationship(back_populates="members")


class Road(BoundingBoxMixin, Base):
    """A road as a line; a point within ``buffer_m`` metres of it is on the road."""

    __tablename__ = "roads"
    __table_args__ = (sa.Index("ix_roads_bbox", "min_lon", "max_lon", "min_lat", "max_lat"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    street_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_units.id"), index=True)
    geometry: Mapped[str] = mapped_column(sa.Text)
    buffer_m: Mapped[float] = mapped_column(sa.Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<Road {self.code} {self.name}>"
