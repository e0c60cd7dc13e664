"""Cases, their tasks, their flow log, requests awaiting a dispatcher, photos, reporters,
pauses and comments."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.cases import workflow
from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime

STATES = (
    "reported",
    "verifying",
    "rejected",
    "registered",
    "dispatched",
    "returned",
    "handling",
    "suspended",
    "handled",
    "checking",
    "closed",
    "cancelled",
    "self_handled",
)
SOURCES = (
    "inspector",
    "street_chief",
    "road_chief",
    "merchant",
    "dispatcher",
    "hotline",
    "open311",
    "public",  # 公众: a citizen's report taken by the command centre
    "video",  # 视频智能识别: a camera's AI event (app/cameras)
    "leader",  # 领导批示: a leader's instruction (case_origins: leader, instruction)
    "referral",  # 部门转办: handed over by another department (case_origins: department)
)
# Reports from the public's channels (监督举报): they count in 监督举报率.
PUBLIC_SOURCES = frozenset({"hotline", "open311", "public"})
# Problems found by anyone but the grid's own inspector: a confirmed one in an inspector's
# grid is a report the inspector missed (漏报) — the public's, a camera's, a leader's
# instruction and a department's referral.
MISSED_SOURCES = PUBLIC_SOURCES | {"video", "leader", "referral"}
# What a source needs besides the report (a dispatcher creating the case gives it).
SOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "leader": ("leader_name", "instruction"),
    "referral": ("referring_department_id",),
}
URGENCIES = ("normal", "urgent")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# The states in which the handling clock runs, sorted as the queries write them, so the
# planner matches the partial index to the "open overdue" lists.
RUNNING_STATES = tuple(sorted(state.value for state in workflow.CLOCK_RUNNING))
RUNNING_SQL = _in("state", RUNNING_STATES)


class Case(Base):
    """案卷. The id is the phone's UUID; ``number`` is the human case number."""

    __tablename__ = "cases"
    __table_args__ = (
        sa.CheckConstraint(_in("state", STATES), name="state"),
        sa.CheckConstraint(_in("source", SOURCES), name="source"),
        sa.CheckConstraint(_in("urgency", URGENCIES), name="urgency"),
        sa.CheckConstraint("routing IN ('routed', 'needs_confirmation')", name="routing"),
        # The command centre's two busiest lists: a street's open overdue cases, and a
        # grid's recent cases (see bench/).
        sa.Index(
            "ix_cases_street_running_deadline",
            "street_id",
            "deadline",
            "id",
            sqlite_where=sa.text(RUNNING_SQL),
            postgresql_where=sa.text(RUNNING_SQL),
        ),
        sa.Index("ix_cases_grid_reported_at", "grid_id", "reported_at", "id"),
        sa.Index("ix_cases_state_deadline", "state", "deadline"),
        sa.Index("ix_cases_closed_at", "closed_at"),
        sa.Index("ix_cases_deadline", "deadline"),
        # 考评 (app/assessment/queries.py): a month's due cases are two ranges of this one
        # (closed since the month began; never closed), deadlines read from the index; the
        # month's filings and reports.
        sa.Index("ix_cases_closed_at_deadline", "closed_at", "deadline"),
        sa.Index("ix_cases_registered_at", "registered_at"),
        sa.Index("ix_cases_reported_at", "reported_at"),
        # The console's "all" tab of one street, newest first and counted (bench/console_bench.py);
        # a number prefix search on PostgreSQL (LIKE 'prefix%' needs the pattern operators;
        # SQLite searches the unique index by range: app/core/sqlhints.py).
        sa.Index("ix_cases_street_reported_at", "street_id", "reported_at", "id"),
        sa.Index(
            "ix_cases_number_pattern", "number", postgresql_ops={"number": "text_pattern_ops"}
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    source: Mapped[str] = mapped_column(sa.String(16))
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("categories.id"), index=True)
    description: Mapped[str] = mapped_column(sa.Text)
    address: Mapped[str] = mapped_column(sa.String(256), default="")
    lat: Mapped[float] = mapped_column(sa.Float)  # WGS-84
    lon: Mapped[float] = mapped_column(sa.Float)
    input_crs: Mapped[str] = mapped_column(sa.String(8), default="wgs84")
    grid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("unit_grids.id"))
    community_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_units.id"), index=True)
    street_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_units.id"))
    road_id: Mapped[int | None] = mapped_column(sa.ForeignKey("roads.id"), index=True)
    shop_id: Mapped[int | None] = mapped_column(sa.ForeignKey("shops.id"), index=True)
    # 门前三包: ``far_from_own_shop`` for a merchant's report far from their shops (not bound).
    frontage_flag: Mapped[str | None] = mapped_column(sa.String(24))
    routing: Mapped[str] = mapped_column(sa.String(24), default="routed")
    locate_status: Mapped[str] = mapped_column(sa.String(16))  # inside/near_boundary/outside
    urgency: Mapped[str] = mapped_column(sa.String(8), default="normal")
    state: Mapped[str] = mapped_column(sa.String(16), default="reported")
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_units.id"), index=True)
    reporter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # Deadline of the current handling round (UTC); moves later by suspensions and
    # approved extensions; a rework starts a new round.
    limit_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    rework_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    extension_count: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    # Two-stage limits (arrive / make safe, then fix): the first stage's deadline and when
    # the handler reported it done; None for a category with one stage.
    stage_deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    stage_done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # What assessment reads of a case (docs/assessment.md): a valid report (有效上报, None
    # until decided), handled and closed on time (None until handled / closed), the time
    # its handling used in the limit's measure (seconds, set at closing), and the inspector
    # who missed a confirmed public report in their grid (漏报).
    valid: Mapped[bool | None] = mapped_column()
    handled_on_time: Mapped[bool | None] = mapped_column()
    closed_on_time: Mapped[bool | None] = mapped_column()
    time_used: Mapped[float | None] = mapped_column(sa.Float)
    missed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    check_passed: Mapped[bool] = mapped_column(default=False)
    press_level: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("cases.id"))
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    client_ts: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    registered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    handled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}


class CaseNumberCounter(Base):
    """One row per district and day; the case number's sequence comes from here."""

    __tablename__ = "case_number_counters"

    prefix: Mapped[str] = mapped_column(sa.String(16), primary_key=True)  # district + date
    last: Mapped[int] = mapped_column(sa.Integer, default=0)


class FlowEntry(Base):
    """One step of a case's flow log: who, from which device, when, opinion, photos."""

    __tablename__ = "case_flow"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "seq"),
        # 考评: a month's steps of one kind (reworks, filings, dispatches, closings).
        sa.Index("ix_case_flow_action_at", "action", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"))
    seq: Mapped[int] = mapped_column(sa.Integer)
    action: Mapped[str] = mapped_column(sa.String(32))
    from_state: Mapped[str | None] = mapped_column(sa.String(16))
    to_state: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(sa.String(16))
    device_id: Mapped[str | None] = mapped_column(sa.String(128))
    opinion: Mapped[str | None] = mapped_column(sa.Text)
    photo_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # The command-centre duty the step belongs to (受理员 / 派遣员 / 值班长, ``Duty``), the
    # time the step used (seconds, in the case limit's measure) and whether it ended past
    # its deadline; None where the step has no clock.
    duty: Mapped[str | None] = mapped_column(sa.String(16))
    time_used: Mapped[float | None] = mapped_column(sa.Float)
    overdue: Mapped[bool | None] = mapped_column()
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CasePhoto(Base):
    """A photo attached to a case, by kind; append-only."""

    __tablename__ = "case_photos"
    __table_args__ = (sa.Index("ix_case_photos_photo_id", "photo_id"),)

    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), primary_key=True)
    photo_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("photos.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    added_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CaseComment(Base):
    """A note on a case (comment.add), append-only. The id is the phone's UUID: the same
    comment sent twice is stored once."""

    __tablename__ = "case_comments"
    __table_args__ = (
        sa.Index("ix_case_comments_case_id_created_at", "case_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(sa.String(128))
    text: Mapped[str] = mapped_column(sa.Text)
    client_ts: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # audit only
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CaseReporter(Base):
    """Everyone who reported the problem (more than one after a merge)."""

    __tablename__ = "case_reporters"

    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    original_case_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)


class CaseOrigin(Base):
    """What a case's source needs besides the report: a leader's name and instruction
    (领导批示), the department that referred it (部门转办)."""

    __tablename__ = "case_origins"

    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), primary_key=True)
    leader_name: Mapped[str | None] = mapped_column(sa.String(64))
    instruction: Mapped[str | None] = mapped_column(sa.Text)
    referring_department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_units.id"))
    reference: Mapped[str | None] = mapped_column(sa.String(64))  # their document number


class CaseRequest(Base):
    """A return, extension, suspension, cancellation or self-handling awaiting approval."""

    __tablename__ = "case_requests"
    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('return', 'extension', 'suspension', 'cancellation', 'self_handle')",
            name="kind",
        ),
        sa.CheckConstraint("status IN ('pending', 'approved', 'refused')", name="status"),
        sa.Index("ix_case_requests_status", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    requested_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    extension_amount: Mapped[float | None] = mapped_column(sa.Float)  # in the limit's unit
    photo_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decision_opinion: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class CasePause(Base):
    """A suspension: the clock stopped from ``started_at`` to ``ended_at``."""

    __tablename__ = "case_pauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class DuplicateCandidate(Base):
    """An open case of the same category nearby and recent, offered for merging."""

    __tablename__ = "case_duplicates"

    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), primary_key=True)
    other_case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), primary_key=True)
    distance_m: Mapped[float] = mapped_column(sa.Float)
    status: Mapped[str] = mapped_column(sa.String(16), default="open")  # open/merged/dismissed
    found_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RoutingGap(Base):
    """A report outside every grid or on a boundary: recorded so the map can be fixed."""

    __tablename__ = "routing_gaps"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    lat: Mapped[float] = mapped_column(sa.Float)
    lon: Mapped[float] = mapped_column(sa.Float)
    locate_status: Mapped[str] = mapped_column(sa.String(16))
    candidates: Mapped[list] = mapped_column(sa.JSON, default=list)
    resolved_grid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("unit_grids.id"))
    resolved_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Task(Base):
    """A case's work for one person or department: verify (核实) and check (核查) for
    inspectors, handle (处置) for departments, rectify (整改) for merchants."""

    __tablename__ = "tasks"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('verify', 'check', 'handle', 'rectify')", name="kind"),
        sa.CheckConstraint(
            "state IN ('open', 'accepted', 'completed', 'cancelled', 'reassigned')", name="state"
        ),
        sa.CheckConstraint("result IS NULL OR result IN ('pass', 'fail')", name="result"),
        sa.Index("ix_tasks_assignee_state", "assignee_id", "state"),
        sa.Index("ix_tasks_department_state", "department_id", "state"),
        # 考评: a month's verify and check tasks by their deadline.
        sa.Index("ix_tasks_kind_deadline", "kind", "deadline"),
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
