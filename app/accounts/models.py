"""Users, the devices they log in from, and failed-login records."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime


class Role(enum.StrEnum):
    INSPECTOR = "inspector"  # 监督员 / 网格员
    STREET_CHIEF = "street_chief"  # 街长
    ROAD_CHIEF = "road_chief"  # 路长
    DISPATCHER = "dispatcher"  # 指挥中心 受理员 / 派遣员 / 值班长
    HANDLER = "handler"  # 处置部门人员
    MERCHANT = "merchant"  # 门前三包 责任人
    ADMIN = "admin"  # 系统管理员


ROLE_VALUES = tuple(role.value for role in Role)


class Duty(enum.StrEnum):
    """A dispatcher's finer duty in the command centre (DOMAIN.md: roles in the command
    centre). A dispatcher without one does the three desk duties; only a centre leader
    approves a second extension."""

    INTAKE_CLERK = "intake_clerk"  # 受理员
    DISPATCHER = "dispatcher"  # 派遣员
    SHIFT_LEADER = "shift_leader"  # 值班长
    CENTRE_LEADER = "centre_leader"  # 指挥中心领导


DUTY_VALUES = tuple(duty.value for duty in Duty)

# The kind of org unit each role is tied to (None: no org unit needed or allowed).
ROLE_ORG_KINDS: dict[Role, tuple[str, ...] | None] = {
    Role.INSPECTOR: ("street", "community"),
    Role.STREET_CHIEF: ("street",),
    Role.ROAD_CHIEF: ("street", "district"),
    Role.DISPATCHER: ("district",),
    Role.HANDLER: ("department",),
    Role.MERCHANT: ("street", "community"),
    Role.ADMIN: None,
}


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint(
            "role IN ('inspector', 'street_chief', 'road_chief', 'dispatcher', 'handler', "
            "'merchant', 'admin')",
            name="role",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(128))
    role: Mapped[str] = mapped_column(sa.String(16), index=True)
    org_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_units.id"), index=True)
    road_id: Mapped[int | None] = mapped_column(sa.ForeignKey("roads.id"), index=True)
    # A dispatcher's duty (``Duty``); None: the three desk duties of a small centre.
    duty: Mapped[str | None] = mapped_column(sa.String(16))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    devices: Mapped[list[Device]] = relationship(back_populates="user")

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"


class Device(Base):
    """One phone (or browser) of one user. Its bearer token is stored only as a hash."""

    __tablename__ = "devices"
    __table_args__ = (sa.UniqueConstraint("user_id", "device_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    device_id: Mapped[str] = mapped_column(sa.String(128))
    name: Mapped[str] = mapped_column(sa.String(128))
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="devices")

    @property
    def active(self) -> bool:
        return self.token_hash is not None and self.revoked_at is None


class LoginAttempt(Base):
    """Failed logins, counted to throttle password guessing per user name and per address."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), index=True)
    remote_addr: Mapped[str] = mapped_column(sa.String(64), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
