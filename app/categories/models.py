"""Categories of cases: 部件 components (things) and 事件 events (situations).

Codes follow the national classification in one of two editions, stored with each code:
``cjt214`` (CJ/T 214: 2-digit major + 2-digit minor, ``0101``) and ``gbt47678``
(GB/T 47678.5: 2-digit major + 3-digit minor, ``01001``). Old event codes restart at 01,
so a code is unique only together with its kind and edition. A city's local codes keep
the edition they extend and are flagged ``is_local``.
"""

from __future__ import annotations

import datetime as dt
import enum
import re

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime
from app.workcalendar.worktime import LIMIT_TYPES


class CategoryKind(enum.StrEnum):
    COMPONENT = "component"  # 部件
    EVENT = "event"  # 事件


class Edition(enum.StrEnum):
    CJT214 = "cjt214"
    GBT47678 = "gbt47678"


KINDS = tuple(kind.value for kind in CategoryKind)
EDITIONS = tuple(edition.value for edition in Edition)

CODE_PATTERNS = {
    Edition.CJT214: re.compile(r"^\d{4}$"),
    Edition.GBT47678: re.compile(r"^\d{5}$"),
}

# Major classes (大类) per kind and edition.
MAJOR_CLASSES: dict[tuple[str, str], dict[str, str]] = {
    (CategoryKind.COMPONENT, Edition.CJT214): {
        "01": "公用设施",
        "02": "道路交通设施",
        "03": "市容环境设施",
        "04": "园林绿化设施",
        "05": "房屋土地",
        "06": "其他设施",
    },
    (CategoryKind.EVENT, Edition.CJT214): {
        "01": "市容环境",
        "02": "宣传广告",
        "03": "施工管理",
        "04": "突发事件",
        "05": "街面秩序",
        "06": "其他事件",
    },
    (CategoryKind.COMPONENT, Edition.GBT47678): {
        "01": "市政公用",
        "02": "交通",
        "03": "市容环卫",
        "04": "园林绿化",
        "05": "其他",
    },
    (CategoryKind.EVENT, Edition.GBT47678): {
        "01": "市政公用部件异常",
        "02": "交通部件异常",
        "03": "市容环卫部件异常",
        "04": "园林绿化部件异常",
        "05": "其他部件异常",
        "06": "市容环境",
        "07": "宣传广告",
        "08": "施工管理",
        "09": "街面秩序",
        "10": "其他",
    },
}


def code_is_well_formed(edition: str, code: str) -> bool:
    pattern = CODE_PATTERNS.get(edition)
    return bool(pattern and pattern.match(code))


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (
        sa.UniqueConstraint("kind", "edition", "code"),
        sa.CheckConstraint("kind IN ('component', 'event')", name="kind"),
        sa.CheckConstraint("edition IN ('cjt214', 'gbt47678')", name="edition"),
        sa.CheckConstraint(
            "limit_type IN (" + ", ".join(f"'{value}'" for value in LIMIT_TYPES) + ")",
            name="limit_type",
        ),
        sa.CheckConstraint("time_limit > 0", name="time_limit_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    edition: Mapped[str] = mapped_column(sa.String(16))
    code: Mapped[str] = mapped_column(sa.String(8))
    major_code: Mapped[str] = mapped_column(sa.String(2), index=True)
    major_name: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(128))
    is_local: Mapped[bool] = mapped_column(default=False)
    time_limit: Mapped[float] = mapped_column(sa.Float)
    limit_type: Mapped[str] = mapped_column(sa.String(16))
    # A first stage where the practice has one (arrive / make safe, then fix: manhole
    # covers, 私搭乱建, muck heaps): its name, limit and limit type; None for one stage.
    stage_name: Mapped[str | None] = mapped_column(sa.String(32))
    stage_limit: Mapped[float | None] = mapped_column(sa.Float)
    stage_limit_type: Mapped[str | None] = mapped_column(sa.String(16))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Category {self.kind} {self.edition} {self.code} {self.name}>"
