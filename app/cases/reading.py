"""What the command centre reads of cases: list rows with their traffic light, and one
case with everything around it. The selects behind the lists are in ``queries``."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.cases import deadlines, queries, workflow
from app.cases.duplicates import duplicates_of
from app.cases.models import Case, CaseOrigin, CasePause, CasePhoto, CaseRequest, FlowEntry
from app.cases.services import get_case
from app.categories.models import Category
from app.core.clock import utcnow
from app.core.errors import ValidationFailed
from app.grids.models import UnitGrid
from app.workcalendar.services import get_calendar


def pauses_of(session: Session, case_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list]:
    """Each case's suspensions as (started, ended) pairs: the clock stood still then."""
    found: dict[uuid.UUID, list] = {case_id: [] for case_id in case_ids}
    if case_ids:
        for pause in session.scalars(sa.select(CasePause).where(CasePause.case_id.in_(case_ids))):
            found[pause.case_id].append((pause.started_at, pause.ended_at))
    return found


# The name of the stage every case has: handling (处置), after a first stage if any.
HANDLING_STAGE = "处置"


def _clock_runs(case: Case) -> bool:
    return case.state in workflow.CLOCK_RUNNING or case.state == workflow.State.SUSPENDED


def _light(case: Case, category: Category, calendar, pauses, now) -> str | None:
    if not _clock_runs(case):
        return None
    limit = deadlines.case_limit(category.time_limit, category.limit_type, case.urgency, calendar)
    return deadlines.light(
        case.limit_started_at, now, case.deadline, limit.limit_type, calendar, pauses
    )


def _stage_light(case: Case, category: Category, calendar, pauses, now) -> str | None:
    if not _clock_runs(case) or case.stage_done_at is not None or category.stage_limit is None:
        return None
    limit = deadlines.case_limit(
        category.stage_limit, category.stage_limit_type, case.urgency, calendar
    )
    return deadlines.light(
        case.limit_started_at, now, case.stage_deadline, limit.limit_type, calendar, pauses
    )


def _stages(case: Case, category: Category, light: str | None, calendar, pauses, now) -> list:
    """The case's stages, each with its deadline, when it was done and its own light: a
    two-stage category's first stage (到场, 停工 …), then the handling."""
    handling = {
        "name": HANDLING_STAGE,
        "deadline": case.deadline,
        "done_at": case.handled_at,
        "traffic_light": light,
    }
    if case.stage_deadline is None:
        return [handling]
    first = {
        "name": category.stage_name or "",
        "deadline": case.stage_deadline,
        "done_at": case.stage_done_at,
        "traffic_light": _stage_light(case, category, calendar, pauses, now),
    }
    return [first, handling]


# Green and yellow are told apart in Python over the lit cases of a list (not red, clock
# running or paused); past this many the caller is asked to narrow the list first.
MAX_LIGHT_CANDIDATES = 20_000


def refine_light(
    session: Session, stmt: sa.Select, light: str | None, now: dt.datetime
) -> sa.Select:
    """``stmt`` (a ``queries.cases_query`` select) keeping only the cases whose traffic
    light is ``light``. Red and no filter are exact in SQL already; green and yellow need
    each case's share of working time used, computed here on the narrowed candidates."""
    if light not in ("green", "yellow"):
        return stmt
    candidates = stmt.with_only_columns(
        Case.id,
        Case.category_id,
        Case.urgency,
        Case.state,
        Case.limit_started_at,
        Case.deadline,
    ).limit(MAX_LIGHT_CANDIDATES + 1)
    rows = session.execute(candidates).all()
    if len(rows) > MAX_LIGHT_CANDIDATES:
        raise ValidationFailed(
            f"more than {MAX_LIGHT_CANDIDATES} cases to light: narrow the list first",
            {"traffic_light": ["add a street, grid, category or date filter"]},
        )
    calendar = get_calendar(session)
    categories = _categories(session, {row.category_id for row in rows})
    pauses = pauses_of(session, [row.id for row in rows if row.state == "suspended"])
    keep = [
        row.id
        for row in rows
        if _light(row, categories[row.category_id], calendar, pauses.get(row.id, []), now) == light
    ]
    return stmt.where(Case.id.in_(keep)) if keep else stmt.where(sa.false())


def _categories(session: Session, ids: set[int]) -> dict[int, Category]:
    if not ids:
        return {}
    return {c.id: c for c in session.scalars(sa.select(Category).where(Category.id.in_(ids)))}


def summaries(session: Session, cases: Sequence[Case], now: dt.datetime | None = None) -> list:
    """List rows of cases with their category and traffic light."""
    now = now or utcnow()
    calendar = get_calendar(session)
    pauses = pauses_of(session, [case.id for case in cases])
    categories = _categories(session, {case.category_id for case in cases})
    return [
        _summary(case, categories[case.category_id], calendar, pauses[case.id], now)
        for case in cases
    ]


def _summary(case: Case, category: Category, calendar, pauses, now) -> dict:
    light = _light(case, category, calendar, pauses, now)
    return {
        "id": case.id,
        "number": case.number,
        "state": case.state,
        "source": case.source,
        "category": category,
        "description": case.description,
        "address": case.address,
        "location": {"lat": case.lat, "lon": case.lon, "crs": "wgs84"},
        "urgency": case.urgency,
        "routing": case.routing,
        "locate_status": case.locate_status,
        "grid_id": case.grid_id,
        "community_id": case.community_id,
        "street_id": case.street_id,
        "road_id": case.road_id,
        "shop_id": case.shop_id,
        "frontage_flag": case.frontage_flag,
        "department_id": case.department_id,
        "reporter_id": case.reporter_id,
        "deadline": case.deadline,
        "limit_started_at": case.limit_started_at,
        "traffic_light": light,
        "overdue": bool(
            case.deadline is not None
            and case.state in workflow.CLOCK_RUNNING
            and case.deadline < now
        ),
        "rework_count": case.rework_count,
        "extension_count": case.extension_count,
        "stages": _stages(case, category, light, calendar, pauses, now),
        "valid": case.valid,
        "handled_on_time": case.handled_on_time,
        "closed_on_time": case.closed_on_time,
        "time_used": case.time_used,
        "missed_by_id": case.missed_by_id,
        "check_passed": case.check_passed,
        "press_level": case.press_level,
        "merged_into_id": case.merged_into_id,
        "version": case.version,
        "reported_at": case.reported_at,
        "registered_at": case.registered_at,
        "dispatched_at": case.dispatched_at,
        "handled_at": case.handled_at,
        "closed_at": case.closed_at,
    }


def case_detail(
    session: Session, user: User, case_id: uuid.UUID, now: dt.datetime | None = None
) -> dict:
    """One case with everything the command centre shows: photos by kind, flow log, open
    tasks, pending requests, duplicate candidates and the actions the caller could make."""
    case = get_case(session, user, case_id)
    view = summaries(session, [case], now)[0]
    grid = session.get(UnitGrid, case.grid_id) if case.grid_id else None
    photos: dict[str, list] = {"problem": [], "closure": [], "check": [], "selfcheck": []}
    for photo in session.scalars(
        sa.select(CasePhoto)
        .where(CasePhoto.case_id == case.id)
        .order_by(CasePhoto.added_at, CasePhoto.photo_id)
    ):
        photos.setdefault(photo.kind, []).append(photo)
    view.update(
        grid_code=grid.code if grid else None,
        origin=session.get(CaseOrigin, case.id),
        photos=photos,
        flow=list(
            session.scalars(
                sa.select(FlowEntry).where(FlowEntry.case_id == case.id).order_by(FlowEntry.seq)
            )
        ),
        open_tasks=list(session.scalars(queries.open_tasks(case.id))),
        pending_requests=list(
            session.scalars(
                sa.select(CaseRequest)
                .where(CaseRequest.case_id == case.id, CaseRequest.status == "pending")
                .order_by(CaseRequest.created_at)
            )
        ),
        duplicates=duplicates_of(session, user, case.id) if user.role == Role.DISPATCHER else [],
        available_actions=[a.value for a in workflow.available_actions(case.state, user.role)],
    )
    return view
