"""Intake (上报): a new case from a report, numbered, routed by its location, checked for
duplicates. ``bulk_intake`` takes a run of reports the same way, writing the same rows
(``reports.report_rows``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases.duplicates import find_duplicates
from app.cases.events import case_photos_added, case_reported
from app.cases.frontage import bind_report
from app.cases.models import (
    Case,
    CaseNumberCounter,
    CaseOrigin,
    CasePhoto,
    CaseReporter,
    FlowEntry,
    RoutingGap,
)
from app.cases.reports import (
    REPORTED_COLUMNS,
    CheckedReport,
    Intake,
    NewReport,
    check_origin,
    check_report,
    check_reporter,
    report_rows,
    report_source,
    reported_columns,
)
from app.cases.services import CasePolicy, register_photos, resolve_category
from app.core import events
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import Conflict, ValidationFailed
from app.grids.services import LocateResult, locate
from app.orgunits.models import OrgKind, OrgUnit
from app.photos.backends import Media
from app.workcalendar.services import get_calendar


@dataclasses.dataclass(frozen=True)
class Reported:
    """The case a report made, or found (``created`` False: the same report again)."""

    case: Case
    created: bool


def report_case(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    report: NewReport,
    *,
    source: str | None = None,
    policy: CasePolicy = CasePolicy(),
) -> Reported:
    """Take in a report (上报): a new case routed by its location, never rejected for it.

    Idempotent by the phone's ``case_id``: the same report again returns the stored case
    (``created`` False); the same id with other content is a 409. A point near a grid
    boundary or outside every grid is routed ``needs_confirmation`` and recorded as a
    routing gap for the dispatcher.
    """
    check_reporter(user)
    checked = check_report(report)
    source = report_source(user, source)
    origin = check_origin(source, report.origin)
    if origin is not None:
        _check_referrer(session, origin)
    category = resolve_category(session, report.category)
    located = locate(session, checked.lat, checked.lon, checked.crs, policy.boundary_buffer_m)
    intake = Intake(user, source, category.id, located)
    existing = session.get(Case, report.case_id)
    if existing is not None:
        return _replayed(session, existing, checked, intake)

    register_photos(session, media, user, checked.refs)
    now = utcnow()
    calendar = get_calendar(session)
    try:
        with transaction(session):
            prefix = case_number_prefix(session, located, user, calendar.local_date(now))
            rows = report_rows(
                checked,
                intake,
                number=reserve_case_numbers(session, [prefix])[0],
                binding=bind_report(
                    session, user, located.lat, located.lon, policy.merchant_near_m
                ),
                device_id=device_id,
                now=now,
            )
            case = Case(**rows.case)
            session.add(case)
            session.flush()
            session.add(CaseReporter(**rows.reporter))
            session.add_all(CasePhoto(**row) for row in rows.photos)
            if rows.routing_gap is not None:
                session.add(RoutingGap(**rows.routing_gap))
            session.add(FlowEntry(**rows.flow))
            if origin is not None:
                session.add(CaseOrigin(case_id=case.id, **origin))
            find_duplicates(session, case, policy, now)
    except sa.exc.IntegrityError:
        # A concurrent twin of this report won the primary key: answer as its retry.
        existing = session.get(Case, report.case_id)
        if existing is None:
            raise
        return _replayed(session, existing, checked, intake)
    events.send(case_reported, case_id=case.id)
    if checked.refs:
        photo_ids = [ref.photo_id for ref in checked.refs]
        events.send(case_photos_added, case_id=case.id, photo_ids=photo_ids, kind="problem")
    return Reported(case, True)


def _check_referrer(session: Session, origin: dict) -> None:
    department_id = origin.get("referring_department_id")
    if department_id is None:
        return
    unit = session.get(OrgUnit, department_id)
    if unit is None or unit.kind != OrgKind.DEPARTMENT:
        raise ValidationFailed(
            f"unknown department {department_id}",
            {"origin": {"referring_department_id": ["not a department"]}},
        )


def _replayed(session: Session, case: Case, checked: CheckedReport, intake: Intake) -> Reported:
    reported = reported_columns(checked, intake)
    same = all(getattr(case, name) == reported[name] for name in REPORTED_COLUMNS)
    stored_photos = set(
        session.scalars(
            sa.select(CasePhoto.photo_id).where(
                CasePhoto.case_id == case.id,
                CasePhoto.kind == "problem",
                CasePhoto.added_by == case.reporter_id,
            )
        )
    )
    if not same or not {ref.photo_id for ref in checked.refs} <= stored_photos:
        raise Conflict(f"case {case.id} exists with other content", {"case_id": ["already used"]})
    return Reported(case, False)


def district_code(session: Session, located: LocateResult, user: User) -> str:
    """The district a case is numbered in: where its point is, else the reporter's."""
    if located.district is not None:
        return located.district.code
    unit = session.get(OrgUnit, user.org_unit_id) if user.org_unit_id else None
    while unit is not None and unit.kind != OrgKind.DISTRICT:
        unit = unit.parent
    if unit is not None:
        return unit.code
    first = session.scalar(
        sa.select(OrgUnit.code).where(OrgUnit.kind == OrgKind.DISTRICT).order_by(OrgUnit.id)
    )
    return first or "000000"


def case_number_prefix(session: Session, located: LocateResult, user: User, day: dt.date) -> str:
    """District code + YYYYMMDD: the part of a case number before its sequence."""
    return f"{district_code(session, located, user)}{day:%Y%m%d}"


def reserve_case_numbers(session: Session, prefixes: Sequence[str]) -> list[str]:
    """One case number for each prefix in turn: the prefix and a 5-digit sequence.

    One upsert statement per prefix (INSERT … ON CONFLICT DO UPDATE … RETURNING) on both
    SQLite and PostgreSQL: the counter row stays locked until the case's transaction ends,
    so two reports never get one number and a rolled-back report gives its number back.
    """
    counts: dict[str, int] = {}
    for prefix in prefixes:
        counts[prefix] = counts.get(prefix, 0) + 1
    table = CaseNumberCounter.__table__
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    following: dict[str, int] = {}
    for prefix, count in counts.items():
        stmt = (
            insert(table)
            .values(prefix=prefix, last=count)
            .on_conflict_do_update(
                index_elements=[table.c.prefix], set_={"last": table.c.last + count}
            )
            .returning(table.c.last)
        )
        following[prefix] = session.execute(stmt).scalar_one() - count + 1
    numbers = []
    for prefix in prefixes:
        numbers.append(f"{prefix}{following[prefix]:05d}")
        following[prefix] += 1
    return numbers
