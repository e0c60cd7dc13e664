"""Pressing (三级督办): overdue cases escalate to the street, the district and the city;
chiefs and dispatchers press a case by hand.

A case whose clock runs is measured by the share of its round's limit it has used, as its
traffic light is (``app.cases.deadlines.used_fraction``: working or continuous time by the
limit type of its category and urgency, suspensions not counted). Past ``fractions[0]`` of
its limit it is pressed at level 1 (street), past ``fractions[1]`` at level 2 (district),
past ``fractions[2]`` at level 3 (city). Each automatic level is recorded once per
handling round (the rework count): the partial unique index on automatic pressings, not a
prior read, is what keeps a second run, or two runs at once, from recording it twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import uuid
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.cases import deadlines
from app.cases.models import Case, CasePause
from app.cases.workflow import CLOCK_RUNNING, OPEN
from app.categories.models import Category
from app.core import events
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import Conflict, Forbidden, NotFound
from app.feed import capture as feed
from app.pressing.events import case_pressed
from app.pressing.models import LEVELS, Pressing
from app.pressing.notices import add_pressed_notices
from app.workcalendar.worktime import WorkCalendar

BATCH_SIZE = 500


@dataclasses.dataclass
class EscalationReport:
    """What one run did: overdue cases looked at, cases whose level rose, and the
    automatic pressings recorded at each level."""

    checked: int = 0
    escalated: int = 0
    pressed: dict[int, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(LEVELS, 0))


def parse_fractions(values: Sequence[float]) -> tuple[float, float, float]:
    """Three increasing, positive shares of the limit, one per level."""
    fractions = tuple(float(value) for value in values)
    if len(fractions) != len(LEVELS):
        raise ValueError(f"{len(LEVELS)} fractions are needed, one per level; got {fractions}")
    if fractions[0] <= 0 or any(b <= a for a, b in itertools.pairwise(fractions)):
        raise ValueError(f"the fractions must be positive and increasing; got {fractions}")
    return fractions  # type: ignore[return-value]


def level_reached(fraction: float, fractions: Sequence[float]) -> int:
    """The highest level whose share of the limit ``fraction`` is past (0: none)."""
    return sum(1 for threshold in fractions if fraction > threshold)


def escalate_overdue(
    session: Session,
    now: dt.datetime,
    calendar: WorkCalendar,
    fractions: Sequence[float],
    *,
    batch_size: int = BATCH_SIZE,
) -> EscalationReport:
    """Raise every overdue case whose clock runs to the highest level it has reached,
    recording each level it passes once per round. Safe to run as often as cron likes.

    Cases are handled in batches, each in its own transaction, so the row locks on cases
    last only as long as one batch; a run that dies half-way is finished by the next one.
    """
    fractions = parse_fractions(fractions)
    report = EscalationReport()
    running = [
        Case.state.in_([state.value for state in CLOCK_RUNNING]),
        Case.deadline.is_not(None),
    ]
    if fractions[0] >= 1:
        # Past the whole limit means past the deadline: the index on (state, deadline)
        # narrows a million cases to the overdue ones.
        running.append(Case.deadline < now)
    with transaction(session):
        candidates = session.execute(
            sa.select(
                Case.id,
                sa.func.coalesce(Case.limit_started_at, Case.registered_at, Case.reported_at),
                Case.deadline,
                Case.rework_count,
                Case.urgency,
                Category.time_limit,
                Category.limit_type,
            )
            .join(Category, Category.id == Case.category_id)
            .where(*running)
            .order_by(Case.deadline, Case.id)
        ).all()
    for start in range(0, len(candidates), batch_size):
        _escalate_batch(
            session, candidates[start : start + batch_size], now, calendar, fractions, report
        )
    return report


def _escalate_batch(
    session: Session,
    rows: Sequence,
    now: dt.datetime,
    calendar: WorkCalendar,
    fractions: tuple[float, float, float],
    report: EscalationReport,
) -> None:
    case_ids = [row[0] for row in rows]
    recorded_now: list[tuple[uuid.UUID, int, int]] = []
    with transaction(session):
        pauses = defaultdict(list)
        for case_id, started_at, ended_at in session.execute(
            sa.select(CasePause.case_id, CasePause.started_at, CasePause.ended_at).where(
                CasePause.case_id.in_(case_ids)
            )
        ):
            pauses[case_id].append((started_at, ended_at))
        recorded = set(
            session.execute(
                sa.select(Pressing.case_id, Pressing.level, Pressing.round).where(
                    Pressing.case_id.in_(case_ids), Pressing.by_user_id.is_(None)
                )
            ).tuples()
        )
        for case_id, started_at, deadline, round_, urgency, time_limit, limit_type in rows:
            report.checked += 1
            limit = deadlines.case_limit(time_limit, limit_type, urgency, calendar)
            fraction = deadlines.used_fraction(
                started_at, now, deadline, limit.limit_type, calendar, pauses[case_id]
            )
            level = level_reached(fraction, fractions)
            if level == 0:
                continue
            for step in range(1, level + 1):
                if (case_id, step, round_) in recorded:
                    continue
                pressing_id = _record_automatic(session, case_id, step, round_, now, fraction)
                if pressing_id is not None:
                    add_pressed_notices(session, case_id, step, True, pressing_id)
                    report.pressed[step] += 1
                    recorded_now.append((case_id, step, pressing_id))
            raised = session.execute(
                sa.update(Case)
                .where(Case.id == case_id, Case.press_level < level)
                .values(press_level=level)
                .execution_options(synchronize_session=False)
            )
            report.escalated += raised.rowcount
            if raised.rowcount:
                # A Core UPDATE (atomic against a concurrent run): tell the feed by hand.
                feed.touch(session, feed.mention("case", case_id))
    for case_id, step, pressing_id in recorded_now:
        events.send(
            case_pressed, case_id=case_id, level=step, automatic=True, pressing_id=pressing_id
        )


def _record_automatic(
    session: Session,
    case_id: uuid.UUID,
    level: int,
    round_: int,
    now: dt.datetime,
    fraction: float,
) -> int | None:
    """Insert the automatic pressing unless the unique index has it; its id if inserted."""
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    stmt = (
        insert(Pressing)
        .values(
            case_id=case_id,
            level=level,
            round=round_,
            by_user_id=None,
            note=f"{LEVELS[level]} level: {fraction:.0%} of the time limit used",
            at=now,
        )
        .on_conflict_do_nothing(
            index_elements=["case_id", "level", "round"],
            index_where=Pressing.by_user_id.is_(None),
        )
        .returning(Pressing.id)
    )
    return session.execute(stmt).scalar()


# -- by hand ----------------------------------------------------------------------------


def may_press(user: User, case: Case) -> bool:
    """Dispatchers press any case; a street chief the cases of their street, a road chief
    the cases on their road."""
    if user.role == Role.DISPATCHER:
        return True
    if user.role == Role.STREET_CHIEF:
        return user.org_unit_id is not None and user.org_unit_id == case.street_id
    if user.role == Role.ROAD_CHIEF:
        return user.road_id is not None and user.road_id == case.road_id
    return False


def _case_of(session: Session, user: User, case_id: uuid.UUID) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"case {case_id} does not exist")
    if not may_press(user, case):
        raise Forbidden("this case is not on your street or road")
    return case


def press_case(session: Session, user: User, case_id: uuid.UUID, note: str | None) -> Pressing:
    """A chief or dispatcher presses an open case (督办) at the case's current level, at
    least the street's. The automatic level of the case is left as it is."""
    with transaction(session):
        case = _case_of(session, user, case_id)
        if case.state not in OPEN:
            raise Conflict(f"case {case.number} is {case.state}; only open cases are pressed")
        pressing = Pressing(
            case_id=case.id,
            level=max(case.press_level, 1),
            round=case.rework_count,
            by_user_id=user.id,
            note=note,
            at=utcnow(),
        )
        session.add(pressing)
        session.flush()
        add_pressed_notices(session, case.id, pressing.level, False, pressing.id)
    events.send(
        case_pressed,
        case_id=case.id,
        level=pressing.level,
        automatic=False,
        pressing_id=pressing.id,
    )
    return pressing


def pressings_of(session: Session, user: User, case_id: uuid.UUID) -> list[Pressing]:
    """Every pressing of a case, automatic and by hand, oldest first."""
    _case_of(session, user, case_id)
    return list(
        session.scalars(
            sa.select(Pressing)
            .where(Pressing.case_id == case_id)
            .order_by(Pressing.at, Pressing.level, Pressing.id)
        )
    )
