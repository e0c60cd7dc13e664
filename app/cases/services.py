"""Case use cases: intake, routing, workflow moves, requests, merging, reading.

Every move goes through ``workflow.decide``; the state change, its side effects (tasks,
deadlines, pauses) and the flow-log entry are written in one transaction, and the case's
version column makes a concurrent move lose with a 409 instead of half-applying. Signals
(``app.cases.events``) are sent only after the commit.

Photos are registered first (``register_photo`` is idempotent by the phone's UUID and
commits on its own), then attached to the case inside the use case's transaction; a move
that is refused is refused before any photo is registered.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.accounts.models import Role, User
from app.cases import deadlines, queries, workflow
from app.cases.events import case_moved, case_photos_added, case_reported
from app.cases.models import (
    SOURCES,
    Case,
    CaseNumberCounter,
    CasePause,
    CasePhoto,
    CaseReporter,
    CaseRequest,
    DuplicateCandidate,
    FlowEntry,
    RoutingGap,
)
from app.categories.models import Category
from app.categories.services import find_category, get_category
from app.core import events
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from app.grids import geo
from app.grids.models import UnitGrid
from app.grids.services import LocateResult, get_unit_grid, locate
from app.merchants.models import Shop
from app.orgunits.models import OrgKind, OrgUnit
from app.photos.backends import Media
from app.photos.models import Photo
from app.photos.services import add_visibility_rule, register_photo
from app.tasks.models import Task
from app.workcalendar.services import get_calendar
from app.workcalendar.worktime import LimitType, WorkCalendar

Action = workflow.Action
State = workflow.State
Evidence = workflow.Evidence

FIELD_ROLES = frozenset(workflow.FIELD)
REPORTER_ROLES = frozenset(workflow.REPORTERS)
URGENCIES = ("normal", "urgent")
# The photo kind a move's photos have when the phone does not say.
ACTION_PHOTO_KIND = {
    Action.SUBMIT_CLOSURE: "closure",
    Action.CHECK_PASS: "check",
    Action.CHECK_FAIL: "check",
    Action.RECORD_VERIFICATION: "check",
}
REQUEST_PHOTO_KIND = {workflow.RequestKind.SELF_HANDLE: "closure"}
# Moves a field user, handler or merchant makes on a task: which task kind carries them.
TASK_OF_ACTION = {
    Action.RECORD_VERIFICATION: "verify",
    Action.CHECK_PASS: "check",
    Action.CHECK_FAIL: "check",
    Action.ACCEPT: "handle",
    Action.SUBMIT_CLOSURE: "handle",
}
# A handling round's task: a department's handle task, or a merchant's rectify task (整改,
# 门前三包) when the case was dispatched to a shop.
HANDLING_TASKS = ("handle", "rectify")
OPEN_TASK_STATES = queries.OPEN_TASK_STATES


@dataclasses.dataclass(frozen=True)
class CasePolicy:
    """The configurable numbers of the workflow (app config keys in ``from_config``)."""

    boundary_buffer_m: float = 15.0
    duplicate_radius_m: float = 50.0
    duplicate_window_hours: float = 72.0
    verify_limit_hours: float = 4.0  # working hours an inspector has for a verify task
    check_limit_hours: float = 4.0  # … and for a check task

    @classmethod
    def from_config(cls, config: Mapping) -> CasePolicy:
        return cls(
            boundary_buffer_m=config.get("GRID_BOUNDARY_BUFFER_M", cls.boundary_buffer_m),
            duplicate_radius_m=config.get("CASE_DUPLICATE_RADIUS_M", cls.duplicate_radius_m),
            duplicate_window_hours=config.get(
                "CASE_DUPLICATE_WINDOW_HOURS", cls.duplicate_window_hours
            ),
            verify_limit_hours=config.get("CASE_VERIFY_LIMIT_HOURS", cls.verify_limit_hours),
            check_limit_hours=config.get("CASE_CHECK_LIMIT_HOURS", cls.check_limit_hours),
        )


@dataclasses.dataclass(frozen=True)
class PhotoRef:
    """A photo the phone names in a report or a move: its UUID, hash and kind."""

    photo_id: uuid.UUID
    sha256: str
    kind: str
    taken_at: dt.datetime | None = None
    lat: float | None = None
    lon: float | None = None

    @classmethod
    def of(cls, raw: Mapping | PhotoRef, default_kind: str | None) -> PhotoRef:
        if isinstance(raw, PhotoRef):
            return raw
        kind = raw.get("kind") or default_kind
        if kind is None:
            raise ValidationFailed("a photo needs its kind", {"photos": ["kind is required"]})
        return cls(
            photo_id=raw["photo_id"],
            sha256=raw["sha256"],
            kind=kind,
            taken_at=raw.get("taken_at"),
            lat=raw.get("lat"),
            lon=raw.get("lon"),
        )


def unique_photo_refs(photos: Iterable, default_kind: str | None) -> list[PhotoRef]:
    refs = [PhotoRef.of(photo, default_kind) for photo in photos or ()]
    seen: set[uuid.UUID] = set()
    unique = []
    for ref in refs:
        if ref.photo_id not in seen:
            seen.add(ref.photo_id)
            unique.append(ref)
    return unique


def _register_photos(session: Session, media: Media, user: User, refs: Sequence[PhotoRef]):
    for ref in refs:
        register_photo(
            session,
            media,
            user,
            photo_id=ref.photo_id,
            sha256=ref.sha256,
            kind=ref.kind,
            taken_at=ref.taken_at,
            lat=ref.lat,
            lon=ref.lon,
        )


def _attach(
    session: Session, case: Case, user: User, refs: Sequence[PhotoRef], now: dt.datetime
) -> list[uuid.UUID]:
    """CasePhoto rows for photos not yet on the case; the ids newly attached."""
    if not refs:
        return []
    have = set(
        session.scalars(
            sa.select(CasePhoto.photo_id).where(
                CasePhoto.case_id == case.id,
                CasePhoto.photo_id.in_([ref.photo_id for ref in refs]),
            )
        )
    )
    added = []
    for ref in refs:
        if ref.photo_id in have:
            continue
        session.add(
            CasePhoto(
                case_id=case.id,
                photo_id=ref.photo_id,
                kind=ref.kind,
                added_by=user.id,
                added_at=now,
            )
        )
        added.append(ref.photo_id)
    return added


# ---------------------------------------------------------------------------------------------
# Refusals


def refusal(error: workflow.TransitionRefused) -> DomainError:
    """A refused move as the API answers it: 409 state, 403 role, 422 evidence."""
    errors = {"reason": error.reason}
    if error.reason == "wrong_state":
        return Conflict(error.message, errors)
    if error.reason == "wrong_role":
        return Forbidden(error.message, errors)
    return ValidationFailed(error.message, errors)


def _decide(action: str, state: str, role: str, evidence: Iterable[Evidence]) -> State:
    try:
        return workflow.decide(action, state, role, evidence)
    except workflow.TransitionRefused as error:
        raise refusal(error) from None


def _may_request(kind: str, state: str, role: str, evidence: Iterable[Evidence]):
    try:
        return workflow.may_request(kind, state, role, evidence)
    except workflow.TransitionRefused as error:
        raise refusal(error) from None


# ---------------------------------------------------------------------------------------------
# Lookups


def resolve_category(session: Session, category: int | Mapping) -> Category:
    """A category by id, or by ``{kind, edition, code}``; edition follows from the code's
    length when absent, and kind may be left out when the code is unambiguous (an old
    four-digit code of both a component and an event is a 422 ``ambiguous_category``)."""
    if isinstance(category, int) and not isinstance(category, bool):
        found = session.get(Category, category)
    elif isinstance(category, Mapping):
        code = str(category.get("code") or "")
        edition = category.get("edition") or {4: "cjt214", 5: "gbt47678"}.get(len(code))
        kind = category.get("kind")
        if kind:
            found = find_category(session, kind, edition, code) if edition else None
        else:
            matches = list(
                session.scalars(
                    sa.select(Category).where(Category.edition == edition, Category.code == code)
                )
            )
            if len(matches) > 1:
                raise ValidationFailed(
                    f"code {code} is both a component and an event; give its kind",
                    {"reason": "ambiguous_category", "category": ["ambiguous: give kind"]},
                )
            found = matches[0] if matches else None
    else:
        found = None
    if found is None:
        raise ValidationFailed(f"unknown category {category!r}", {"category": ["unknown"]})
    if not found.active:
        raise ValidationFailed(
            f"category {found.code} {found.name} is no longer in use", {"category": ["inactive"]}
        )
    return found


def _department(session: Session, department_id: int | None) -> OrgUnit | None:
    if department_id is None:
        return None
    unit = session.get(OrgUnit, department_id)
    if unit is None or unit.kind != OrgKind.DEPARTMENT:
        raise ValidationFailed(
            f"{department_id} is not a handling department", {"department_id": ["unknown"]}
        )
    return unit


def _rectifying_shop(session: Session, shop_id: int) -> Shop:
    """A shop a case can be dispatched to: it exists (else 404) and has an active merchant."""
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise NotFound(f"shop {shop_id} does not exist")
    merchant = session.get(User, shop.merchant_id) if shop.merchant_id is not None else None
    if merchant is None or not merchant.is_active or merchant.role != Role.MERCHANT:
        raise ValidationFailed(
            f"shop {shop.name} has no responsible merchant to rectify it",
            {"shop_id": ["the shop has no active merchant"]},
        )
    return shop


def _check_dispatch_target(session: Session, args: MoveArgs) -> None:
    """A dispatch names a handling department or a shop, not both (neither: the workflow's
    missing_department); either must exist and be able to take it."""
    if args.department_id is not None and args.shop_id is not None:
        raise ValidationFailed(
            "dispatch to a department or to a shop, not both",
            {"shop_id": ["give department_id or shop_id"]},
        )
    if args.shop_id is not None:
        _rectifying_shop(session, args.shop_id)
    else:
        _department(session, args.department_id)


def district_code(session: Session, located, user: User) -> str:
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


def next_case_number(session: Session, district_code: str, day: dt.date) -> str:
    """District code + YYYYMMDD + a 5-digit sequence, atomically per district and day.

    One upsert statement (INSERT … ON CONFLICT DO UPDATE … RETURNING) on both SQLite and
    PostgreSQL: the counter row stays locked until the case's transaction ends, so two
    reports never get one number and a rolled-back report gives its number back.
    """
    prefix = f"{district_code}{day:%Y%m%d}"
    table = CaseNumberCounter.__table__
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(table)
        .values(prefix=prefix, last=1)
        .on_conflict_do_update(index_elements=[table.c.prefix], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
    sequence = session.execute(stmt).scalar_one()
    return f"{prefix}{sequence:05d}"


def get_case(session: Session, user: User, case_id: uuid.UUID) -> Case:
    """A case ``user`` may see; any other does not exist for them."""
    case = session.scalar(queries.visible_case(user, case_id))
    if case is None:
        raise NotFound(f"case {case_id} does not exist")
    return case


def append_flow(
    session: Session,
    case: Case,
    user: User,
    device_id: str | None,
    action: str,
    before: str | None,
    *,
    opinion: str | None = None,
    photo_ids: Sequence[uuid.UUID] = (),
    data: dict | None = None,
    now: dt.datetime,
    first: bool = False,
) -> FlowEntry:
    """Add a step to ``case``'s flow log. ``first``: the case was inserted in this very
    transaction, so the step is its first (no query; the unique (case, seq) still guards)."""
    last = (
        0
        if first
        else session.scalar(
            sa.select(sa.func.max(FlowEntry.seq)).where(FlowEntry.case_id == case.id)
        )
    )
    entry = FlowEntry(
        case_id=case.id,
        seq=(last or 0) + 1,
        action=action,
        from_state=before,
        to_state=case.state,
        actor_id=user.id,
        actor_role=user.role,
        device_id=device_id,
        opinion=opinion,
        photo_ids=[str(photo_id) for photo_id in photo_ids],
        data=data or {},
        at=now,
    )
    session.add(entry)
    return entry


# ---------------------------------------------------------------------------------------------
# Intake


@dataclasses.dataclass(frozen=True)
class Reported:
    case: Case
    created: bool


def report_source(user: User, source: str | None) -> str:
    if source is None:
        if user.role not in SOURCES:
            raise ValidationFailed("say where the report comes from", {"source": ["required"]})
        return user.role
    if source not in SOURCES:
        raise ValidationFailed(f"unknown source {source!r}", {"source": [f"one of {SOURCES}"]})
    if source != user.role and user.role != Role.DISPATCHER:
        raise ValidationFailed(
            f"a {user.role} reports as {user.role}", {"source": [f"must be {user.role}"]}
        )
    return source


def check_location(location: Mapping) -> tuple[float, float, str]:
    try:
        lat, lon = float(location["lat"]), float(location["lon"])
    except (KeyError, TypeError, ValueError):
        raise ValidationFailed("location needs lat and lon", {"location": ["lat, lon"]}) from None
    try:
        geo.check_point(lat, lon)
    except ValueError as error:
        raise ValidationFailed(str(error), {"location": [str(error)]}) from None
    return lat, lon, location.get("crs") or "wgs84"


def _same_report(case: Case, fields: dict, photo_ids: set[uuid.UUID], session: Session) -> bool:
    stored_photos = set(
        session.scalars(
            sa.select(CasePhoto.photo_id).where(
                CasePhoto.case_id == case.id,
                CasePhoto.kind == "problem",
                CasePhoto.added_by == case.reporter_id,
            )
        )
    )
    return (
        all(getattr(case, name) == value for name, value in fields.items())
        and photo_ids <= stored_photos
    )


def _merchant_shop(session: Session, user: User, lat: float, lon: float) -> int | None:
    if user.role != Role.MERCHANT:
        return None
    shops = list(session.scalars(sa.select(Shop).where(Shop.merchant_id == user.id)))
    if not shops:
        return None
    return min(shops, key=lambda shop: (shop.lat - lat) ** 2 + (shop.lon - lon) ** 2).id


def report_case(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    *,
    case_id: uuid.UUID,
    category: int | Mapping,
    description: str,
    location: Mapping,
    address: str = "",
    urgency: str = "normal",
    photos: Iterable = (),
    source: str | None = None,
    client_ts: dt.datetime | None = None,
    policy: CasePolicy = CasePolicy(),
) -> Reported:
    """Take in a report (上报): a new case routed by its location, never rejected for it.

    Idempotent by the phone's ``case_id``: the same report again returns the stored case
    (``created`` False); the same id with other content is a 409. ``category`` is an id or
    ``{kind, edition, code}``; ``location`` is ``{lat, lon, crs}`` (wgs84, gcj02, bd09);
    ``photos`` are ``{photo_id, sha256, kind: problem, taken_at, lat, lon}``.
    A point near a grid boundary or outside every grid is routed ``needs_confirmation``
    and recorded as a routing gap for the dispatcher.
    """
    if user.role not in REPORTER_ROLES:
        raise Forbidden(f"a {user.role} does not report cases")
    if urgency not in URGENCIES:
        raise ValidationFailed(f"unknown urgency {urgency!r}", {"urgency": list(URGENCIES)})
    description = (description or "").strip()
    if not description:
        raise ValidationFailed("describe the problem", {"description": ["required"]})
    lat, lon, crs = check_location(location)
    refs = unique_photo_refs(photos, "problem")
    if any(ref.kind != "problem" for ref in refs):
        raise ValidationFailed("a report carries problem photos", {"photos": ["kind: problem"]})
    source = report_source(user, source)
    found = resolve_category(session, category)
    located = locate(session, lat, lon, crs, policy.boundary_buffer_m)
    fields = {
        "reporter_id": user.id,
        "category_id": found.id,
        "description": description,
        "address": address or "",
        "urgency": urgency,
        "source": source,
        "input_crs": crs,
        "lat": located.lat,
        "lon": located.lon,
    }
    existing = session.get(Case, case_id)
    if existing is not None:
        return _replayed(session, existing, fields, refs)

    _register_photos(session, media, user, refs)
    now = utcnow()
    calendar = get_calendar(session)
    try:
        with transaction(session):
            case = Case(
                id=case_id,
                number=next_case_number(
                    session, district_code(session, located, user), calendar.local_date(now)
                ),
                **fields,
                **routing_of(located),
                shop_id=_merchant_shop(session, user, located.lat, located.lon),
                state=State.REPORTED,
                client_ts=client_ts,
                reported_at=now,
                updated_at=now,
            )
            session.add(case)
            session.flush()
            session.add(CaseReporter(case_id=case.id, user_id=user.id, original_case_id=case.id))
            attached = _attach(session, case, user, refs, now)
            record_routing_gap(session, case, located, now)
            append_flow(
                session,
                case,
                user,
                device_id,
                "report",
                None,
                photo_ids=attached,
                data={"locate_status": located.status, "input": located.input},
                now=now,
                first=True,
            )
            _find_duplicates(session, case, policy, now)
    except sa.exc.IntegrityError:
        # A concurrent twin of this report won the primary key: answer as its retry.
        existing = session.get(Case, case_id)
        if existing is None:
            raise
        return _replayed(session, existing, fields, refs)
    events.send(case_reported, case_id=case.id)
    if attached:
        events.send(case_photos_added, case_id=case.id, photo_ids=attached, kind="problem")
    return Reported(case, True)


def routing_of(located: LocateResult) -> dict:
    """The case columns a located point sets: grid, community, street, road and whether a
    dispatcher must confirm the grid (a point near a boundary or outside every grid)."""
    grid = located.grid
    return {
        "grid_id": grid.id if grid else None,
        "community_id": located.community.id if located.community else None,
        "street_id": located.street.id if located.street else None,
        "road_id": located.roads[0].road.id if located.roads else None,
        "routing": "routed" if located.status == "inside" else "needs_confirmation",
        "locate_status": located.status,
    }


def record_routing_gap(
    session: Session, case: Case, located: LocateResult, now: dt.datetime
) -> RoutingGap | None:
    """A point outside every grid or near a boundary is kept as a routing gap, so the map
    can be fixed; None for a point well inside one grid."""
    if located.status == "inside":
        return None
    gap = RoutingGap(
        case_id=case.id,
        lat=located.lat,
        lon=located.lon,
        locate_status=located.status,
        candidates=[
            {"grid_code": c.grid.code, "distance_m": c.distance_m, "contains": c.contains}
            for c in located.candidates
        ],
        created_at=now,
    )
    session.add(gap)
    return gap


def _replayed(session: Session, case: Case, fields: dict, refs: list[PhotoRef]) -> Reported:
    if not _same_report(case, fields, {ref.photo_id for ref in refs}, session):
        raise Conflict(f"case {case.id} exists with other content", {"case_id": ["already used"]})
    return Reported(case, False)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    per_lat, per_lon = geo.metres_per_degree((lat1 + lat2) / 2)
    return math.hypot((lat2 - lat1) * per_lat, (lon2 - lon1) * per_lon)


def _find_duplicates(session: Session, case: Case, policy: CasePolicy, now: dt.datetime) -> None:
    """Open cases of the same category nearby and recent become merge candidates."""
    min_lon, min_lat, max_lon, max_lat = geo.bounds_around(
        case.lat, case.lon, policy.duplicate_radius_m
    )
    since = now - dt.timedelta(hours=policy.duplicate_window_hours)
    nearby = session.execute(
        sa.select(Case.id, Case.lat, Case.lon).where(
            Case.category_id == case.category_id,
            Case.id != case.id,
            Case.state.in_(queries.OPEN),
            Case.reported_at >= since,
            Case.lat.between(min_lat, max_lat),
            Case.lon.between(min_lon, max_lon),
        )
    ).all()
    for other_id, lat, lon in nearby:
        distance = distance_m(case.lat, case.lon, lat, lon)
        if distance <= policy.duplicate_radius_m:
            session.add(
                DuplicateCandidate(
                    case_id=case.id,
                    other_case_id=other_id,
                    distance_m=round(distance, 2),
                    found_at=now,
                )
            )


def duplicates_of(session: Session, user: User, case_id: uuid.UUID) -> list[dict]:
    """Open merge candidates of a case, found from either side."""
    case = get_case(session, user, case_id)
    rows = session.scalars(
        sa.select(DuplicateCandidate).where(
            sa.or_(
                DuplicateCandidate.case_id == case.id,
                DuplicateCandidate.other_case_id == case.id,
            ),
            DuplicateCandidate.status == "open",
        )
    ).all()
    result = []
    for row in rows:
        other = session.get(Case, row.other_case_id if row.case_id == case.id else row.case_id)
        result.append(
            {
                "case": other,
                "distance_m": row.distance_m,
                "found_at": row.found_at,
                "status": row.status,
            }
        )
    return result


# ---------------------------------------------------------------------------------------------
# Routing confirmation


def confirm_routing(
    session: Session, user: User, device_id: str | None, case_id: uuid.UUID, grid_code: str
) -> Case:
    """A dispatcher puts a case in a unit grid (a boundary report, a gap, a wrong route)."""
    case = get_case(session, user, case_id)
    if case.state not in queries.OPEN:
        raise Conflict(f"case {case.number} is {case.state}", {"reason": "wrong_state"})
    grid = get_unit_grid(session, grid_code)
    community = session.get(OrgUnit, grid.community_id)
    now = utcnow()
    with _moving(session):
        before_grid = case.grid_id
        case.grid_id = grid.id
        case.community_id = community.id
        case.street_id = community.parent_id
        case.routing = "routed"
        case.updated_at = now
        for gap in session.scalars(
            sa.select(RoutingGap).where(
                RoutingGap.case_id == case.id, RoutingGap.resolved_at.is_(None)
            )
        ):
            gap.resolved_grid_id = grid.id
            gap.resolved_by = user.id
            gap.resolved_at = now
        append_flow(
            session,
            case,
            user,
            device_id,
            "confirm_routing",
            case.state,
            data={"grid_code": grid.code, "previous_grid_id": before_grid},
            now=now,
        )
    return case


@contextlib.contextmanager
def _moving(session: Session) -> Iterator[Session]:
    """One move's transaction. A concurrent change of the same case (its version column, or
    its flow log's sequence) makes this one lose with a 409, having changed nothing."""
    try:
        with transaction(session):
            yield session
    except (StaleDataError, sa.exc.IntegrityError) as error:
        raise Conflict(
            "the case changed while this move was made; reload it and try again",
            {"reason": "concurrent_change"},
        ) from error


# ---------------------------------------------------------------------------------------------
# Moves


@dataclasses.dataclass
class MoveArgs:
    """What a move may carry besides its action."""

    opinion: str | None = None
    department_id: int | None = None
    shop_id: int | None = None  # dispatch to the shop's merchant (门前三包) instead
    category_id: int | None = None
    inspector_id: int | None = None
    result: str | None = None
    photos: list[PhotoRef] = dataclasses.field(default_factory=list)
    extension_amount: float | None = None
    request_id: uuid.UUID | None = None


@dataclasses.dataclass
class _Moved:
    case_id: uuid.UUID
    action: str
    from_state: str
    to_state: str
    photo_ids: list[uuid.UUID]
    photo_kind: str | None


def _opinion(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


def _has_closure_photo(session: Session, case: Case, since: dt.datetime | None) -> bool:
    stmt = sa.select(CasePhoto.photo_id).where(
        CasePhoto.case_id == case.id, CasePhoto.kind == "closure"
    )
    if since is not None:
        stmt = stmt.where(CasePhoto.added_at >= since)
    return session.scalar(stmt.limit(1)) is not None


def _evidence(session: Session, case: Case, action: str, args: MoveArgs) -> set[Evidence]:
    present: set[Evidence] = set()
    if case.category_id is not None or args.category_id is not None:
        present.add(Evidence.CATEGORY)
    if args.department_id is not None or args.shop_id is not None:
        present.add(Evidence.DEPARTMENT)
    if _opinion(args.opinion):
        present.add(Evidence.OPINION)
    kinds = {ref.kind for ref in args.photos}
    # A handling round's closure needs an after-photo of this round (a rework's new one).
    since = case.limit_started_at if action == Action.SUBMIT_CLOSURE else None
    if "closure" in kinds or _has_closure_photo(session, case, since):
        present.add(Evidence.CLOSURE_PHOTO)
    if "check" in kinds:
        present.add(Evidence.CHECK_PHOTO)
    if case.check_passed:
        present.add(Evidence.CHECK_PASSED)
    return present


def _case_limit(session: Session, case: Case, calendar: WorkCalendar) -> deadlines.Limit:
    category = get_category(session, case.category_id)
    return deadlines.case_limit(category.time_limit, category.limit_type, case.urgency, calendar)


def _open_tasks(
    session: Session, case: Case, kind: str | tuple[str, ...] | None = None
) -> list[Task]:
    stmt = queries.open_tasks(case.id)
    if isinstance(kind, str):
        stmt = stmt.where(Task.kind == kind)
    elif kind is not None:
        stmt = stmt.where(Task.kind.in_(kind))
    return list(session.scalars(stmt))


def _rectify_task(session: Session, case: Case, user: User) -> Task:
    """The merchant's open rectify task on ``case``: a merchant works only on cases sent to
    them, the way a handler works only on their department's."""
    for task in _open_tasks(session, case, "rectify"):
        if task.assignee_id == user.id:
            return task
    raise Forbidden(f"case {case.number} was not sent to you to rectify")


def _task_for_move(session: Session, case: Case, user: User, action: str) -> Task | None:
    """The open task a field user's, handler's or merchant's move completes; it must be
    theirs."""
    kind = TASK_OF_ACTION.get(action)
    if kind is None or user.role == Role.DISPATCHER:
        return None
    if kind == "handle" and user.role == Role.MERCHANT:
        return _rectify_task(session, case, user)
    tasks = _open_tasks(session, case, kind)
    if kind == "handle":
        if case.department_id != user.org_unit_id:
            raise Forbidden(f"case {case.number} is not your department's")
        mine = [t for t in tasks if t.assignee_id in (None, user.id)]
    else:
        mine = [t for t in tasks if t.assignee_id in (None, user.id)]
    if tasks and not mine:
        raise Forbidden(f"the {kind} task of case {case.number} is someone else's")
    return mine[0] if mine else None


def _last_rectifier(session: Session, case: Case) -> int | None:
    """The merchant of the case's last rectify task when its handling went to a shop rather
    than a department (a rework goes back to them); None otherwise."""
    if case.department_id is not None:
        return None
    return session.scalar(
        sa.select(Task.assignee_id)
        .where(Task.case_id == case.id, Task.kind == "rectify", Task.state != "reassigned")
        .order_by(Task.created_at.desc(), Task.id.desc())
        .limit(1)
    )


def _field_user(session: Session, user_id: int) -> User:
    found = session.get(User, user_id)
    if found is None or not found.is_active or found.role not in FIELD_ROLES:
        raise ValidationFailed(
            f"user {user_id} is not an active inspector or chief", {"inspector_id": ["invalid"]}
        )
    return found


def _inspector_for(session: Session, case: Case, inspector_id: int | None) -> User:
    """The inspector named, or the one whose responsibility grid the case is in."""
    if inspector_id is not None:
        return _field_user(session, inspector_id)
    grid = session.get(UnitGrid, case.grid_id) if case.grid_id else None
    responsible = grid.responsibility_grid if grid else None
    if responsible is not None and responsible.inspector_id is not None:
        inspector = session.get(User, responsible.inspector_id)
        if inspector is not None and inspector.is_active:
            return inspector
    raise ValidationFailed(
        f"case {case.number} has no responsible inspector; name one",
        {"inspector_id": ["required: the case's grid has no inspector"]},
    )


def _new_task(
    session: Session,
    case: Case,
    kind: str,
    by: User,
    deadline: dt.datetime | None,
    now: dt.datetime,
    *,
    assignee_id: int | None = None,
    department_id: int | None = None,
) -> Task:
    task = Task(
        id=uuid.uuid4(),
        case_id=case.id,
        kind=kind,
        state="open",
        assignee_id=assignee_id,
        department_id=department_id,
        assigned_by=by.id,
        deadline=deadline,
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    return task


def _end_tasks(session: Session, case: Case, state: str, now: dt.datetime, kind=None) -> None:
    for task in _open_tasks(session, case, kind):
        task.state = state
        task.updated_at = now


def _finish_task(task: Task | None, result: str | None, note: str | None, now) -> None:
    if task is None:
        return
    task.state = "completed"
    task.result = result
    task.note = note
    task.accepted_at = task.accepted_at or now
    task.completed_at = now
    task.updated_at = now


def _set_deadline(session: Session, case: Case, deadline: dt.datetime) -> None:
    case.deadline = deadline
    for task in _open_tasks(session, case, HANDLING_TASKS):
        task.deadline = deadline


def _close_pause(session: Session, case: Case, now: dt.datetime) -> CasePause | None:
    pause = session.scalar(
        sa.select(CasePause).where(CasePause.case_id == case.id, CasePause.ended_at.is_(None))
    )
    if pause is not None:
        pause.ended_at = now
    return pause


def _settle_requests(session: Session, case: Case, user: User, now: dt.datetime) -> None:
    """A case that reached its end answers every request still pending on it."""
    for pending in session.scalars(
        sa.select(CaseRequest).where(
            CaseRequest.case_id == case.id, CaseRequest.status == "pending"
        )
    ):
        pending.status = "refused"
        pending.decided_by = user.id
        pending.decided_at = now
        pending.decision_opinion = f"case is {case.state}"


def _apply(
    session: Session,
    case: Case,
    user: User,
    device_id: str | None,
    action: str,
    args: MoveArgs,
    *,
    calendar: WorkCalendar,
    policy: CasePolicy,
    now: dt.datetime,
    task: Task | None = None,
) -> _Moved:
    """Decide and apply one move inside the caller's transaction; log it in the flow."""
    before = case.state
    after = _decide(action, before, user.role, _evidence(session, case, action, args))
    action = Action(action)
    data: dict = {}
    opinion = _opinion(args.opinion)
    case.state = after
    case.updated_at = now

    if action == Action.REGISTER:
        if args.category_id is not None and args.category_id != case.category_id:
            data["category_from"] = case.category_id
            case.category_id = resolve_category(session, args.category_id).id
        limit = _case_limit(session, case, calendar)
        case.registered_at = case.limit_started_at = now
        case.deadline = deadlines.round_deadline(now, limit, calendar)
        data.update(limit=limit.amount, limit_type=limit.limit_type)
        _end_tasks(session, case, "cancelled", now, "verify")
    elif action in (Action.REJECT, Action.APPROVE_CANCELLATION, Action.MERGE):
        _end_tasks(session, case, "cancelled", now)
        _close_pause(session, case, now)
    elif action == Action.SEND_VERIFY:
        inspector = _inspector_for(session, case, args.inspector_id)
        created = _new_task(
            session,
            case,
            "verify",
            user,
            deadlines.round_deadline(
                now, deadlines.Limit(policy.verify_limit_hours, LimitType.WORKING_HOURS), calendar
            ),
            now,
            assignee_id=inspector.id,
        )
        data.update(task_id=str(created.id), assignee_id=inspector.id)
    elif action == Action.RECORD_VERIFICATION:
        _finish_task(task, args.result, opinion, now)
        data["result"] = args.result
    elif action == Action.DISPATCH and args.shop_id is not None:
        # 门前三包: the shop's merchant rectifies the frontage on a rectify task.
        shop = _rectifying_shop(session, args.shop_id)
        case.shop_id = case.shop_id or shop.id
        case.dispatched_at = now
        created = _new_task(
            session, case, "rectify", user, case.deadline, now, assignee_id=shop.merchant_id
        )
        data.update(shop_id=shop.id, assignee_id=shop.merchant_id, task_id=str(created.id))
    elif action == Action.DISPATCH:
        department = _department(session, args.department_id)
        case.department_id = department.id
        case.dispatched_at = now
        created = _new_task(
            session, case, "handle", user, case.deadline, now, department_id=department.id
        )
        data.update(department_id=department.id, task_id=str(created.id))
    elif action == Action.ACCEPT:
        if task is not None:
            task.state = "accepted"
            task.accepted_at = now
            task.assignee_id = task.assignee_id or user.id
            task.updated_at = now
    elif action == Action.SUBMIT_CLOSURE:
        case.handled_at = now
        _finish_task(task, None, opinion, now)
    elif action == Action.SEND_CHECK:
        inspector = _inspector_for(session, case, args.inspector_id)
        case.check_passed = False
        created = _new_task(
            session,
            case,
            "check",
            user,
            deadlines.round_deadline(
                now, deadlines.Limit(policy.check_limit_hours, LimitType.WORKING_HOURS), calendar
            ),
            now,
            assignee_id=inspector.id,
        )
        data.update(task_id=str(created.id), assignee_id=inspector.id)
    elif action == Action.CHECK_PASS:
        case.check_passed = True
        _finish_task(task, "pass", opinion, now)
    elif action == Action.CHECK_FAIL:
        # 返工: back to the same department (or merchant), a new handling round with a fresh
        # deadline.
        _finish_task(task, "fail", opinion, now)
        rectifier = _last_rectifier(session, case)
        case.rework_count += 1
        case.check_passed = False
        case.press_level = 0  # pressing counts per handling round
        case.handled_at = None
        case.limit_started_at = case.dispatched_at = now
        case.deadline = deadlines.round_deadline(
            now, _case_limit(session, case, calendar), calendar
        )
        if rectifier is not None:
            created = _new_task(
                session, case, "rectify", user, case.deadline, now, assignee_id=rectifier
            )
            data["assignee_id"] = rectifier
        else:
            created = _new_task(
                session, case, "handle", user, case.deadline, now, department_id=case.department_id
            )
        data.update(rework=case.rework_count, task_id=str(created.id))
    elif action == Action.CLOSE or action == Action.CONFIRM_SELF_HANDLE:
        case.closed_at = now
        _end_tasks(session, case, "cancelled", now)
    elif action == Action.RESUME:
        pause = _close_pause(session, case, now)
        if pause is not None and case.deadline is not None:
            limit = _case_limit(session, case, calendar)
            moved = deadlines.resumed(
                case.deadline, pause.started_at, now, limit.limit_type, calendar
            )
            data.update(deadline_from=case.deadline.isoformat(), deadline_to=moved.isoformat())
            _set_deadline(session, case, moved)
    elif action == Action.APPROVE_SUSPENSION:
        session.add(CasePause(case_id=case.id, started_at=now))
    elif action == Action.APPROVE_EXTENSION:
        limit = _case_limit(session, case, calendar)
        amount = args.extension_amount if args.extension_amount else limit.amount
        start = case.deadline or now
        moved = deadlines.extended(start, amount, limit.limit_type, calendar)
        data.update(amount=amount, unit=limit.limit_type, deadline_to=moved.isoformat())
        _set_deadline(session, case, moved)
    elif action == Action.APPROVE_RETURN:
        data["department_id"] = case.department_id
        rectifier = _last_rectifier(session, case)
        if rectifier is not None:
            data["assignee_id"] = rectifier
        _end_tasks(session, case, "cancelled", now, HANDLING_TASKS)
        case.department_id = None

    if case.state in workflow.TERMINAL:
        _settle_requests(session, case, user, now)
    if args.request_id is not None:
        data["request_id"] = str(args.request_id)
    attached = _attach(session, case, user, args.photos, now)
    append_flow(
        session,
        case,
        user,
        device_id,
        action.value,
        before,
        opinion=opinion,
        photo_ids=[ref.photo_id for ref in args.photos],
        data=data,
        now=now,
    )
    kinds = {ref.kind for ref in args.photos}
    return _Moved(
        case.id,
        action.value,
        before,
        case.state,
        attached,
        next(iter(kinds)) if len(kinds) == 1 else None,
    )


def _announce(moves: Sequence[_Moved]) -> None:
    for moved in moves:
        events.send(
            case_moved,
            case_id=moved.case_id,
            action=moved.action,
            from_state=moved.from_state,
            to_state=moved.to_state,
        )
        if moved.photo_ids:
            events.send(
                case_photos_added,
                case_id=moved.case_id,
                photo_ids=moved.photo_ids,
                kind=moved.photo_kind,
            )


def _prepare(raw: MoveArgs | Mapping | None, action: str) -> MoveArgs:
    if isinstance(raw, MoveArgs):
        args = raw
    else:
        raw = dict(raw or {})
        photos = raw.pop("photos", ())
        args = MoveArgs(**raw)
        args.photos = photos
    try:
        default_kind = ACTION_PHOTO_KIND.get(Action(action))
    except ValueError:
        default_kind = None
    args.photos = unique_photo_refs(args.photos, default_kind)
    return args


def move_case(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    case_id: uuid.UUID,
    action: str,
    args: MoveArgs | Mapping | None = None,
    *,
    policy: CasePolicy = CasePolicy(),
    task: Task | None = None,
) -> Case:
    """Apply one workflow move to a case the user may see (POST /cases/{id}/actions).

    Refused moves change nothing: wrong state 409, wrong role 403, missing evidence 422,
    each with the workflow's reason. ``args``: opinion, department_id or shop_id
    (dispatch: to a handling department, or to a shop's merchant to rectify), category_id
    (register), inspector_id (send_verify / send_check), result, photos.
    """
    args = _prepare(args, action)
    case = get_case(session, user, case_id)
    _decide(action, case.state, user.role, _evidence(session, case, action, args))
    if task is None:
        task = _task_for_move(session, case, user, action)
    if action == Action.DISPATCH:
        _check_dispatch_target(session, args)
    _register_photos(session, media, user, args.photos)
    calendar = get_calendar(session)
    now = utcnow()
    with _moving(session):
        moved = [
            _apply(
                session,
                case,
                user,
                device_id,
                action,
                args,
                calendar=calendar,
                policy=policy,
                now=now,
                task=task,
            )
        ]
    _announce(moved)
    return case


def move_on_task(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    task: Task,
    actions: Sequence[str],
    args: MoveArgs,
    *,
    policy: CasePolicy = CasePolicy(),
) -> Case:
    """Apply the moves a task's progress means, in one transaction (used by tasks)."""
    case = session.get(Case, task.case_id)
    args = _prepare(args, actions[-1])
    state = case.state
    for index, action in enumerate(actions):
        step = args if index == len(actions) - 1 else MoveArgs()
        state = _decide(action, state, user.role, _evidence(session, case, action, step))
    _register_photos(session, media, user, args.photos)
    calendar = get_calendar(session)
    now = utcnow()
    moved = []
    with _moving(session):
        for index, action in enumerate(actions):
            last = index == len(actions) - 1
            step = args if last else MoveArgs()
            moved.append(
                _apply(
                    session,
                    case,
                    user,
                    device_id,
                    action,
                    step,
                    calendar=calendar,
                    policy=policy,
                    now=now,
                    task=task,
                )
            )
    _announce(moved)
    return case


def attach_photos(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    case_id: uuid.UUID,
    photos: Iterable,
) -> list[uuid.UUID]:
    """Add photos to a case the user may see (the ``photo.attach`` path); ids newly added.

    Idempotent: a photo already on the case is not added twice. Each photo keeps the kind
    the phone gave it; the flow log records who added what.
    """
    case = get_case(session, user, case_id)
    refs = unique_photo_refs(photos, None)
    if not refs:
        raise ValidationFailed("no photos given", {"photos": ["at least one"]})
    _register_photos(session, media, user, refs)
    now = utcnow()
    with _moving(session):
        added = _attach(session, case, user, refs, now)
        if added:
            case.updated_at = now
            append_flow(
                session,
                case,
                user,
                device_id,
                "attach_photos",
                case.state,
                photo_ids=added,
                data={"kinds": sorted({ref.kind for ref in refs})},
                now=now,
            )
    by_kind: dict[str, list[uuid.UUID]] = {}
    for ref in refs:
        if ref.photo_id in added:
            by_kind.setdefault(ref.kind, []).append(ref.photo_id)
    for kind, ids in by_kind.items():
        events.send(case_photos_added, case_id=case.id, photo_ids=ids, kind=kind)
    return added


def default_extension(session: Session, case: Case) -> float:
    """An extension asked for without an amount: one more of the case's limit."""
    return _case_limit(session, case, get_calendar(session)).amount


@contextlib.contextmanager
def _task_step(
    session: Session, user: User, device_id: str | None, task: Task, action: str
) -> Iterator[tuple[Case, dt.datetime, dict]]:
    """One step on a task (no workflow move): stamp task and case, log it in the flow.
    The caller changes the task inside the block and may add to the logged data."""
    case = session.get(Case, task.case_id)
    now = utcnow()
    data = {"task_id": str(task.id), "kind": task.kind}
    with _moving(session):
        yield case, now, data
        task.updated_at = now
        case.updated_at = now
        append_flow(session, case, user, device_id, action, case.state, data=data, now=now)


def accept_task(session: Session, user: User, device_id: str | None, task: Task) -> Task:
    """An inspector takes a verify or check task (no workflow move; logged in the flow)."""
    with _task_step(session, user, device_id, task, "accept_task") as (_case, now, _data):
        task.state = "accepted"
        task.accepted_at = now
        task.assignee_id = task.assignee_id or user.id
    return task


def replace_task(
    session: Session, user: User, device_id: str | None, task: Task, assignee_id: int
) -> Task:
    """Reassign: the old task is ``reassigned`` and points at its replacement."""
    with _task_step(session, user, device_id, task, "reassign_task") as (case, now, data):
        replacement = _new_task(
            session,
            case,
            task.kind,
            user,
            task.deadline,
            now,
            assignee_id=assignee_id,
            department_id=task.department_id,
        )
        session.flush()
        task.state = "reassigned"
        task.replaced_by_id = replacement.id
        data.update(replaced_by=str(replacement.id), to=assignee_id)
        data["from"] = task.assignee_id
    return replacement


def cancel_task(session: Session, user: User, device_id: str | None, task: Task) -> Task:
    with _task_step(session, user, device_id, task, "cancel_task"):
        task.state = "cancelled"
    return task


# ---------------------------------------------------------------------------------------------
# Requests


def create_request(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    case_id: uuid.UUID,
    *,
    kind: str,
    reason: str | None = None,
    extension_amount: float | None = None,
    photos: Iterable = (),
) -> CaseRequest:
    """Ask a dispatcher for a return, extension, suspension, cancellation or self-handling.

    One pending request of a kind per case (a second is a 409). A handler asks only for
    their department's case, a merchant only for a case sent to them to rectify (a return:
    "not my frontage"); a self-handling request carries the after-photo.
    """
    case = get_case(session, user, case_id)
    try:
        request_kind = workflow.RequestKind(kind)
    except ValueError:
        raise ValidationFailed(f"no such request {kind!r}", {"kind": ["unknown"]}) from None
    refs = unique_photo_refs(photos, REQUEST_PHOTO_KIND.get(request_kind))
    evidence: set[Evidence] = set()
    if _opinion(reason):
        evidence.add(Evidence.OPINION)
    if any(ref.kind == "closure" for ref in refs):
        evidence.add(Evidence.CLOSURE_PHOTO)
    _may_request(kind, case.state, user.role, evidence)
    if user.role == Role.HANDLER and case.department_id != user.org_unit_id:
        raise Forbidden(f"case {case.number} is not your department's")
    if user.role == Role.MERCHANT:
        _rectify_task(session, case, user)
    if request_kind == workflow.RequestKind.SELF_HANDLE and case.reporter_id != user.id:
        raise Forbidden("only the reporter fixes a case on the spot")
    if request_kind == workflow.RequestKind.EXTENSION:
        if extension_amount is None or not extension_amount > 0:
            raise ValidationFailed(
                "an extension asks for a positive amount in the limit's unit",
                {"extension_amount": ["required, > 0"]},
            )
    else:
        extension_amount = None
    _pending_conflict(session, case, kind)
    _register_photos(session, media, user, refs)
    now = utcnow()
    with _moving(session):
        _pending_conflict(session, case, kind)
        request = CaseRequest(
            id=uuid.uuid4(),
            case_id=case.id,
            kind=kind,
            status="pending",
            requested_by=user.id,
            reason=_opinion(reason),
            extension_amount=extension_amount,
            photo_ids=[str(ref.photo_id) for ref in refs],
            created_at=now,
        )
        session.add(request)
        attached = _attach(session, case, user, refs, now)
        case.updated_at = now  # bumps the version: two racing requests cannot both land
        append_flow(
            session,
            case,
            user,
            device_id,
            f"request_{kind}",
            case.state,
            opinion=request.reason,
            photo_ids=[ref.photo_id for ref in refs],
            data={"request_id": str(request.id), "extension_amount": extension_amount},
            now=now,
        )
    if attached:
        events.send(case_photos_added, case_id=case.id, photo_ids=attached, kind=refs[0].kind)
    return request


def ask_self_handling(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    case_id: uuid.UUID,
    *,
    note: str | None = None,
    photos: Iterable = (),
) -> tuple[CaseRequest, bool]:
    """Fixed on the spot (自处理): a ``self_handle`` request with its after-photos; the
    request and whether it was a repeat.

    The same move made twice — the reporter's two phones, each queueing it offline — is
    applied once (API.md, conflict rule 1): while the user's own self-handling request is
    pending or approved, a second one adds its after-photos to the case as evidence and
    returns that request (``True``). Anything else goes through ``create_request``.
    """
    case = get_case(session, user, case_id)
    earlier = session.scalar(
        sa.select(CaseRequest)
        .where(
            CaseRequest.case_id == case.id,
            CaseRequest.kind == workflow.RequestKind.SELF_HANDLE,
            CaseRequest.requested_by == user.id,
            CaseRequest.status.in_(("pending", "approved")),
        )
        .order_by(CaseRequest.created_at.desc())
        .limit(1)
    )
    if earlier is None:
        request = create_request(
            session,
            media,
            user,
            device_id,
            case.id,
            kind=workflow.RequestKind.SELF_HANDLE,
            reason=note,
            photos=photos,
        )
        return request, False
    refs = unique_photo_refs(photos, REQUEST_PHOTO_KIND[workflow.RequestKind.SELF_HANDLE])
    if refs:
        attach_photos(session, media, user, device_id, case.id, refs)
    return earlier, True


def _pending_conflict(session: Session, case: Case, kind: str) -> None:
    pending = session.scalar(
        sa.select(CaseRequest.id).where(
            CaseRequest.case_id == case.id,
            CaseRequest.kind == kind,
            CaseRequest.status == "pending",
        )
    )
    if pending is not None:
        raise Conflict(
            f"case {case.number} already has a pending {kind} request",
            {"reason": "pending_request", "request_id": str(pending)},
        )


def requests_query(status: str | None = None, kind: str | None = None) -> sa.Select:
    stmt = sa.select(CaseRequest)
    if status:
        stmt = stmt.where(CaseRequest.status == status)
    if kind:
        stmt = stmt.where(CaseRequest.kind == kind)
    return stmt.order_by(CaseRequest.created_at, CaseRequest.id)


def decide_request(
    session: Session,
    user: User,
    device_id: str | None,
    request_id: uuid.UUID,
    *,
    approve: bool,
    opinion: str | None = None,
    policy: CasePolicy = CasePolicy(),
) -> CaseRequest:
    """A dispatcher approves (the request's move is applied) or refuses a request."""
    request = session.get(CaseRequest, request_id)
    if request is None:
        raise NotFound(f"request {request_id} does not exist")
    if request.status != "pending":
        raise Conflict(
            f"request {request_id} was already {request.status}", {"reason": "already_decided"}
        )
    case = session.get(Case, request.case_id)
    rule = workflow.REQUESTS[workflow.RequestKind(request.kind)]
    args = MoveArgs(
        opinion=_opinion(opinion) or request.reason,
        extension_amount=request.extension_amount,
        request_id=request.id,
    )
    if approve:
        _decide(rule.approve, case.state, user.role, _evidence(session, case, rule.approve, args))
    calendar = get_calendar(session)
    now = utcnow()
    moved = []
    with _moving(session):
        request.status = "approved" if approve else "refused"
        request.decided_by = user.id
        request.decided_at = now
        request.decision_opinion = _opinion(opinion)
        if approve:
            moved.append(
                _apply(
                    session,
                    case,
                    user,
                    device_id,
                    rule.approve,
                    args,
                    calendar=calendar,
                    policy=policy,
                    now=now,
                )
            )
        else:
            case.updated_at = now
            append_flow(
                session,
                case,
                user,
                device_id,
                f"refuse_{request.kind}",
                case.state,
                opinion=_opinion(opinion),
                data={"request_id": str(request.id)},
                now=now,
            )
    _announce(moved)
    return request


# ---------------------------------------------------------------------------------------------
# Merging


def merge_case(
    session: Session,
    user: User,
    device_id: str | None,
    case_id: uuid.UUID,
    into: uuid.UUID,
    opinion: str | None = None,
) -> Case:
    """Merge a duplicate into another open case (合并): the source ends ``rejected``; the
    target keeps every photo and reporter of both. Returns the target."""
    source = get_case(session, user, case_id)
    target = get_case(session, user, into)
    if source.id == target.id:
        raise ValidationFailed("a case cannot be merged into itself", {"into": ["same case"]})
    if target.state not in queries.OPEN or target.merged_into_id is not None:
        raise Conflict(f"case {target.number} is {target.state}", {"reason": "target_closed"})
    _decide(Action.MERGE, source.state, user.role, ())
    calendar = get_calendar(session)
    now = utcnow()
    with _moving(session):
        moved = _apply(
            session,
            source,
            user,
            device_id,
            Action.MERGE,
            MoveArgs(opinion=opinion),
            calendar=calendar,
            policy=CasePolicy(),
            now=now,
        )
        source.merged_into_id = target.id
        entry = session.scalar(
            sa.select(FlowEntry)
            .where(FlowEntry.case_id == source.id)
            .order_by(FlowEntry.seq.desc())
            .limit(1)
        )
        entry.data = {**entry.data, "into": str(target.id), "into_number": target.number}
        have_photos = set(
            session.scalars(sa.select(CasePhoto.photo_id).where(CasePhoto.case_id == target.id))
        )
        copied = []
        for photo in session.scalars(sa.select(CasePhoto).where(CasePhoto.case_id == source.id)):
            if photo.photo_id not in have_photos:
                session.add(
                    CasePhoto(
                        case_id=target.id,
                        photo_id=photo.photo_id,
                        kind=photo.kind,
                        added_by=photo.added_by,
                        added_at=now,
                    )
                )
                copied.append(photo.photo_id)
        have_reporters = set(
            session.scalars(
                sa.select(CaseReporter.user_id).where(CaseReporter.case_id == target.id)
            )
        )
        for reporter in session.scalars(
            sa.select(CaseReporter).where(CaseReporter.case_id == source.id)
        ):
            if reporter.user_id not in have_reporters:
                session.add(
                    CaseReporter(
                        case_id=target.id,
                        user_id=reporter.user_id,
                        original_case_id=reporter.original_case_id,
                    )
                )
        for candidate in session.scalars(
            sa.select(DuplicateCandidate).where(
                sa.or_(
                    DuplicateCandidate.case_id == source.id,
                    DuplicateCandidate.other_case_id == source.id,
                )
            )
        ):
            pair = {candidate.case_id, candidate.other_case_id}
            candidate.status = "merged" if pair == {source.id, target.id} else "dismissed"
        target.updated_at = now
        append_flow(
            session,
            target,
            user,
            device_id,
            "merge_in",
            target.state,
            opinion=_opinion(opinion),
            photo_ids=copied,
            data={"from": str(source.id), "from_number": source.number},
            now=now,
        )
    _announce([moved])
    if copied:
        events.send(case_photos_added, case_id=target.id, photo_ids=copied, kind=None)
    return target


# ---------------------------------------------------------------------------------------------
# Reading


def _pauses(session: Session, case_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list]:
    found: dict[uuid.UUID, list] = {case_id: [] for case_id in case_ids}
    if case_ids:
        for pause in session.scalars(sa.select(CasePause).where(CasePause.case_id.in_(case_ids))):
            found[pause.case_id].append((pause.started_at, pause.ended_at))
    return found


def _light(case: Case, category: Category, calendar, pauses, now) -> str | None:
    if case.state not in workflow.CLOCK_RUNNING and case.state != State.SUSPENDED:
        return None
    limit = deadlines.case_limit(category.time_limit, category.limit_type, case.urgency, calendar)
    return deadlines.light(
        case.limit_started_at, now, case.deadline, limit.limit_type, calendar, pauses
    )


def summaries(session: Session, cases: Sequence[Case], now: dt.datetime | None = None) -> list:
    """List rows of cases with their category and traffic light."""
    now = now or utcnow()
    calendar = get_calendar(session)
    pauses = _pauses(session, [case.id for case in cases])
    ids = {case.category_id for case in cases}
    categories = (
        {c.id: c for c in session.scalars(sa.select(Category).where(Category.id.in_(ids)))}
        if ids
        else {}
    )
    return [
        _summary(case, categories[case.category_id], calendar, pauses[case.id], now)
        for case in cases
    ]


def _summary(case: Case, category: Category, calendar, pauses, now) -> dict:
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
        "department_id": case.department_id,
        "reporter_id": case.reporter_id,
        "deadline": case.deadline,
        "limit_started_at": case.limit_started_at,
        "traffic_light": _light(case, category, calendar, pauses, now),
        "overdue": bool(
            case.deadline is not None
            and case.state in workflow.CLOCK_RUNNING
            and case.deadline < now
        ),
        "rework_count": case.rework_count,
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


@add_visibility_rule
def case_photo_visible(session: Session, user: User, photo: Photo) -> bool:
    """A photo attached to a case may be seen by whoever may see that case."""
    return (
        session.scalar(
            sa.select(sa.literal(1))
            .select_from(CasePhoto)
            .join(Case, Case.id == CasePhoto.case_id)
            .where(CasePhoto.photo_id == photo.id, queries.visible_to(user))
            .limit(1)
        )
        is not None
    )
