"""Tasks: verify (核实) and check (核查) for inspectors, handle for departments, rectify for
merchants. A task belongs to one case and one assignee (or one department)."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('verify', 'check', 'handle', 'rectify')", name="kind"),
        sa.CheckConstraint(
            "state IN ('open', 'accepted', 'completed', 'cancelled', 'reassigned')", name="state"
        ),
        sa.CheckConstraint("result IS NULL OR result IN ('pass', 'fail')", name="result"),
        sa.Index("ix_tasks_assignee_state", "assignee_id", "state"),
        sa.Index("ix_tasks_department_state", "department_id", "state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    state: Mapped[str] = mapped_column(sa.String(16), default="open")
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_units.id"))
    assigned_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    result: Mapped[str | None] = mapped_column(sa.String(8))
    note: Mapped[str | None] = mapped_column(sa.Text)
    replaced_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("tasks.id"))
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}
