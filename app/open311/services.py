"""The read side of GeoReport v2: categories as services, a two-stage category's
definition, and cases filed through Open311 as service requests (our 13 states as
``open`` / ``closed``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.cases import workflow
from app.cases.models import Case, FlowEntry
from app.categories.models import Category
from app.core.errors import NotFound, ValidationFailed
from app.open311.formats import w3c
from app.open311.models import Open311Client, Open311Request
from app.orgunits.models import OrgUnit

# The states an Open311 client sees as ``closed``: the case reached its end (closed, fixed
# on the spot, not accepted, cancelled); every other state is ``open``.
CLOSED = frozenset(workflow.TERMINAL)
# Flow steps whose opinion is written for the public (the reason a report was not
# accepted, the closing note, the handler's feedback); other opinions stay internal.
PUBLIC_NOTES = ("reject", "merge", "submit_closure", "close", "approve_cancellation")
STATE_NOTES = {
    "reported": "已受理, 等待指挥中心审核",
    "verifying": "等待监督员现场核实",
    "registered": "已立案",
    "dispatched": "已派遣至处置部门",
    "returned": "处置部门退回, 指挥中心重新派遣",
    "handling": "处置中",
    "suspended": "暂缓处置",
    "handled": "处置完毕, 等待核查",
    "checking": "监督员现场核查中",
    "closed": "已结案",
    "self_handled": "已现场处置",
    "rejected": "不予受理",
    "cancelled": "已作废",
}
LIMIT_UNITS = {
    "working_hours": "工作时",
    "working_days": "工作日",
    "calendar_days": "自然日",
    "urgent_hours": "小时",
}
MAX_DAYS = 90
HAZARD = "hazard"


@dataclasses.dataclass(frozen=True)
class Query:
    """``GET requests``: ids (override everything else), or service codes, statuses and a
    ``requested_datetime`` range of at most 90 days (default: the last 90)."""

    ids: list[str]
    service_codes: list[str]
    statuses: list[str]
    start: dt.datetime | None
    end: dt.datetime | None


def service_code(category: Category) -> str:
    """A category's service code: edition, kind and national code (``cjt214-event-0102``)."""
    return f"{category.edition}-{category.kind}-{category.code}"


def find_service(session: Session, code: str) -> Category | None:
    try:
        edition, kind, number = code.split("-")
    except ValueError:
        return None
    return session.scalar(
        sa.select(Category).where(
            Category.edition == edition,
            Category.kind == kind,
            Category.code == number,
            Category.active,
        )
    )


def has_metadata(category: Category) -> bool:
    """A two-stage category (an open manhole, a building site) asks whether it is a hazard
    now: the one attribute a service definition carries."""
    return category.stage_name is not None


def service_row(category: Category) -> dict:
    kind = {"component": "部件", "event": "事件"}[category.kind]
    return {
        "service_code": service_code(category),
        "service_name": category.name,
        "description": f"{kind} {category.major_name} · {category.name}",
        "metadata": has_metadata(category),
        "type": "realtime",
        "keywords": ", ".join([kind, category.major_name, category.code]),
        "group": category.major_name,
    }


def services(session: Session) -> list[dict]:
    stmt = (
        sa.select(Category)
        .where(Category.active)
        .order_by(Category.edition, Category.kind, Category.code)
    )
    return [service_row(category) for category in session.scalars(stmt)]


def definition(session: Session, code: str) -> dict:
    """The service definition of a category with metadata (404 for any other)."""
    category = find_service(session, code)
    if category is None or not has_metadata(category):
        raise NotFound(f"service_code {code} has no definition")
    return {
        "service_code": service_code(category),
        "attributes": [
            {
                "variable": True,
                "code": HAZARD,
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "是否已危及安全 (需先行处置: " + category.stage_name + ")",
                "order": 1,
                "description": "现场是否存在安全隐患?",
                "values": [{"key": "yes", "name": "是"}, {"key": "no", "name": "否"}],
            }
        ],
    }


# ---------------------------------------------------------------------------------------------
# Service requests


def _status_notes(session: Session, case: Case) -> str:
    note = session.scalar(
        sa.select(FlowEntry.opinion)
        .where(
            FlowEntry.case_id == case.id,
            FlowEntry.action.in_(PUBLIC_NOTES),
            FlowEntry.opinion.is_not(None),
        )
        .order_by(FlowEntry.seq.desc())
        .limit(1)
    )
    return note or STATE_NOTES.get(case.state, "")


def _notice(category: Category) -> str:
    """The category's time limit: ``处置时限 4 工作时``."""
    unit = LIMIT_UNITS.get(category.limit_type, category.limit_type)
    return f"处置时限 {category.time_limit:g} {unit}"


def request_row(
    session: Session, filed: Open311Request, case: Case, zone: ZoneInfo, photo_url
) -> dict:
    """One service request as the specification writes it."""
    category = session.get(Category, case.category_id)
    department = session.get(OrgUnit, case.department_id) if case.department_id else None
    # Our copy of an uploaded photo, else the client's own link (never fetched).
    media_url = photo_url(filed.photo_id) if filed.photo_id else (filed.media_url or "")
    return {
        "service_request_id": case.number,
        "status": "closed" if case.state in CLOSED else "open",
        "status_notes": _status_notes(session, case),
        "service_name": category.name,
        "service_code": filed.service_code,
        "description": case.description,
        "agency_responsible": department.name if department else "城市管理指挥中心",
        "service_notice": _notice(category),
        "requested_datetime": w3c(case.reported_at, zone),
        "updated_datetime": w3c(case.updated_at, zone),
        "expected_datetime": w3c(case.deadline, zone),  # null (empty in XML) before 立案
        "address": case.address or filed.address_string or "",
        "address_id": "",
        "lat": case.lat,
        "long": case.lon,
        "media_url": media_url,
    }


def _filed(session: Session) -> sa.Select:
    return sa.select(Open311Request, Case).join(Case, Case.id == Open311Request.case_id)


def get_request(session: Session, number: str) -> tuple[Open311Request, Case]:
    row = session.execute(_filed(session).where(Case.number == number)).first()
    if row is None:
        raise NotFound(f"service_request_id {number} does not exist")
    return row[0], row[1]


def by_token(session: Session, token: str) -> tuple[Open311Request, Case]:
    try:
        key = uuid.UUID(token)
    except ValueError:
        raise NotFound(f"token {token} does not exist") from None
    row = session.execute(_filed(session).where(Open311Request.token == key)).first()
    if row is None:
        raise NotFound(f"token {token} does not exist")
    return row[0], row[1]


def check_range(query: Query, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    end = query.end or now
    start = query.start or end - dt.timedelta(days=MAX_DAYS)
    if start > end:
        raise ValidationFailed("start_date is after end_date")
    if end - start > dt.timedelta(days=MAX_DAYS):
        raise ValidationFailed(f"a date range spans at most {MAX_DAYS} days")
    return start, end


def find_requests(
    session: Session, query: Query, now: dt.datetime, limit: int
) -> Sequence[tuple[Open311Request, Case]]:
    """Requests by id list, else by service code, status and date range; newest first."""
    stmt = _filed(session)
    if query.ids:
        stmt = stmt.where(Case.number.in_(query.ids))
    else:
        start, end = check_range(query, now)
        stmt = stmt.where(Case.reported_at >= start, Case.reported_at <= end)
        if query.service_codes:
            stmt = stmt.where(Open311Request.service_code.in_(query.service_codes))
        states = _states(query.statuses)
        if states is not None:
            stmt = stmt.where(Case.state.in_(states))
    stmt = stmt.order_by(Case.reported_at.desc(), Case.id).limit(limit)
    return [(row[0], row[1]) for row in session.execute(stmt)]


def _states(statuses: list[str]) -> list[str] | None:
    unknown = set(statuses) - {"open", "closed"}
    if unknown:
        raise ValidationFailed(f"status is open or closed, not {', '.join(sorted(unknown))}")
    if not statuses or set(statuses) == {"open", "closed"}:
        return None
    if statuses[0] == "closed" and len(set(statuses)) == 1:
        return sorted(CLOSED)
    return sorted(set(workflow.State) - CLOSED)


def filed_for_case(session: Session, case_id: uuid.UUID) -> dict:
    """The Open311 request a case came from, with its client's name (404 for another)."""
    filed = session.scalar(sa.select(Open311Request).where(Open311Request.case_id == case_id))
    if filed is None:
        raise NotFound(f"case {case_id} did not come through Open311")
    client = session.get(Open311Client, filed.client_id)
    columns = {column.key: getattr(filed, column.key) for column in Open311Request.__table__.c}
    return columns | {"client": client.name}
