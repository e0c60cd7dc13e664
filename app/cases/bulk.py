"""Many reports at once: the push's fast path for a run of new ``report.create``.

A walk uploaded after hours offline is mostly new reports, one after another. Taken in one
by one (``services.report_case``), each costs about thirty statements and a savepoint;
``report_cases`` takes in a run of them with set-wise statements: one query each for the
ids already used, the blobs already here, the grids and roads around the points and the
duplicate candidates, one counter update per district for the case numbers, and one
``INSERT`` executemany per table.

It writes exactly the rows ``report_case`` would write for the same reports in the same
order (a test holds the two paths to that), and stops before the first report that is not
a plain new one — an id already used (a replay, or a 409), anything ``report_case`` would
refuse, a photo id already known. The caller takes that report, and what follows it, the
one-by-one way, which answers it as it always has.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.cases import queries
from app.cases.events import case_reported
from app.cases.models import (
    Case,
    CaseNumberCounter,
    CasePhoto,
    CaseReporter,
    DuplicateCandidate,
    FlowEntry,
    RoutingGap,
)
from app.cases.services import (
    REPORTER_ROLES,
    URGENCIES,
    CasePolicy,
    PhotoRef,
    State,
    check_location,
    distance_m,
    district_code,
    report_source,
    resolve_category,
    routing_of,
    unique_photo_refs,
)
from app.categories.models import Category
from app.core import events
from app.core.clock import utcnow
from app.core.errors import DomainError
from app.feed import capture
from app.grids import geo
from app.grids.services import GeometryIndex, LocateResult, located, to_wgs84
from app.merchants.models import Shop
from app.photos.backends import Media
from app.photos.models import BlobHolder, Photo, PhotoStatus
from app.photos.services import KIND_ROLES
from app.workcalendar.services import get_calendar
from media.errors import MediaError
from media.storage import validate_sha256


@dataclasses.dataclass(frozen=True)
class NewReport:
    """One report as ``report_case`` takes it (``category`` is ``{kind, edition, code}``)."""

    case_id: uuid.UUID
    category: Mapping[str, Any]
    description: str
    location: Mapping[str, Any]
    address: str = ""
    urgency: str = "normal"
    photos: Sequence[Mapping[str, Any]] = ()
    client_ts: dt.datetime | None = None

    def as_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``report_case`` for this report."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


@dataclasses.dataclass(frozen=True)
class Taken:
    case_id: uuid.UUID
    version: int


@dataclasses.dataclass
class _Ready:
    """A report checked in Python, before anything is asked of the database."""

    report: NewReport
    description: str
    lat: float
    lon: float
    crs: str
    wgs: tuple[float, float]
    refs: list[PhotoRef]
    category: Category


def report_cases(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    reports: Sequence[NewReport],
    policy: CasePolicy = CasePolicy(),
) -> list[Taken]:
    """Take in the longest prefix of ``reports`` that are plain new reports; the cases
    made, in order (possibly none: the caller goes one by one from there).

    Writes with Core in the session's transaction and commits nothing. Nothing it checks
    raises: a report it cannot take ends the prefix. A database error (a concurrent twin
    of a case id, say) propagates, and the caller rolls the prefix back.
    """
    if user.role not in REPORTER_ROLES or not reports:
        return []
    try:
        source = report_source(user, None)
    except DomainError:
        return []
    ready = _checked(session, user, reports)
    ready = _unused(session, ready)
    if not ready:
        return []
    now = utcnow()
    connection = session.connection()
    buffer = policy.boundary_buffer_m
    index = GeometryIndex.around(session, [r.wgs for r in ready], buffer)
    where = [
        located(session, index.place(*r.wgs, buffer), (r.lat, r.lon, r.crs), buffer, people=False)
        for r in ready
    ]
    numbers = _numbers(session, user, where, now)
    shops = _shops(session, user)
    shas = {ref.sha256.lower() for r in ready for ref in r.refs}
    available = _available(session, media, user, shas)

    rows: dict[str, list[dict]] = {name: [] for name in _TABLES}
    for item, place, number in zip(ready, where, numbers, strict=True):
        _rows_of(rows, user, device_id, source, item, place, number, shops, available, now)
    rows["case_duplicates"] = _duplicates(session, rows["cases"], policy, now)

    for name, model in _TABLES.items():
        if rows[name]:
            connection.execute(sa.insert(model.__table__), rows[name])
    for model in (Photo, Case, CaseReporter, CasePhoto):
        capture.inserted(connection, model, rows[_NAME_OF[model]])
    for case in rows["cases"]:
        events.send(case_reported, case_id=case["id"])
    # ``case_photos_added`` is not sent: it makes the evidence checks compare a case's
    # closure and check photos with its problem photos, and a case reported a moment ago
    # has none of those.
    return [Taken(case["id"], case["version"]) for case in rows["cases"]]


_TABLES: dict[str, type] = {
    "photos": Photo,
    "cases": Case,
    "case_reporters": CaseReporter,
    "case_photos": CasePhoto,
    "routing_gaps": RoutingGap,
    "case_flow": FlowEntry,
    "case_duplicates": DuplicateCandidate,
}
_NAME_OF = {model: name for name, model in _TABLES.items()}


def _checked(session: Session, user: User, reports: Sequence[NewReport]) -> list[_Ready]:
    """The prefix that passes every check ``report_case`` makes before it reads a row."""
    ready: list[_Ready] = []
    categories: dict[tuple, Category] = {}
    may_take_problem = user.role in KIND_ROLES["problem"]
    for report in reports:
        try:
            if report.urgency not in URGENCIES:
                break
            description = (report.description or "").strip()
            if not description:
                break
            lat, lon, crs = check_location(report.location)
            wgs = to_wgs84(lat, lon, crs)
            refs = unique_photo_refs(report.photos, "problem")
            if any(ref.kind != "problem" for ref in refs) or (refs and not may_take_problem):
                break
            for ref in refs:
                validate_sha256(ref.sha256.lower())
            key = tuple(sorted(report.category.items()))
            if key not in categories:
                categories[key] = resolve_category(session, report.category)
        except (DomainError, MediaError, ValueError):
            break
        ready.append(_Ready(report, description, lat, lon, crs, wgs, refs, categories[key]))
    return ready


def _unused(session: Session, ready: list[_Ready]) -> list[_Ready]:
    """The prefix whose case and photo ids are new: not in the database, not twice in the
    run (a repeat is ``report_case``'s replay or 409, and a photo already known is
    registered its own way)."""
    if not ready:
        return ready
    case_ids = [r.report.case_id for r in ready]
    photo_ids = [ref.photo_id for r in ready for ref in r.refs]
    used_cases = set(session.scalars(sa.select(Case.id).where(Case.id.in_(case_ids))))
    used_photos = (
        set(session.scalars(sa.select(Photo.id).where(Photo.id.in_(photo_ids))))
        if photo_ids
        else set()
    )
    for position, item in enumerate(ready):
        case_id, photos = item.report.case_id, [ref.photo_id for ref in item.refs]
        if case_id in used_cases or any(photo in used_photos for photo in photos):
            return ready[:position]
        used_cases.add(case_id)
        used_photos.update(photos)
    return ready


def _numbers(
    session: Session, user: User, located: list[LocateResult], now: dt.datetime
) -> list[str]:
    """Case numbers in report order: one counter update per district for the whole run."""
    day = get_calendar(session).local_date(now)
    prefixes = [f"{district_code(session, place, user)}{day:%Y%m%d}" for place in located]
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


def _shops(session: Session, user: User) -> list[Shop]:
    if user.role != Role.MERCHANT:
        return []
    return list(session.scalars(sa.select(Shop).where(Shop.merchant_id == user.id)))


def _available(session: Session, media: Media, user: User, shas: set[str]) -> set[str]:
    """The hashes whose bytes ``user`` has sent already (``register_photo``'s test for
    many): knowing a hash is not possession."""
    if not shas:
        return set()
    known = session.scalars(
        sa.select(BlobHolder.sha256).where(
            BlobHolder.user_id == user.id, BlobHolder.sha256.in_(sorted(shas))
        )
    )
    return {sha for sha in known if media.store.exists(sha)}


def _rows_of(
    rows: dict[str, list[dict]],
    user: User,
    device_id: str | None,
    source: str,
    item: _Ready,
    located: LocateResult,
    number: str,
    shops: list[Shop],
    available: set[str],
    now: dt.datetime,
) -> None:
    """The rows ``report_case`` writes for one report."""
    report = item.report
    case_id = report.case_id
    for ref in item.refs:
        sha256 = ref.sha256.lower()
        here = sha256 in available
        rows["photos"].append(
            {
                "id": ref.photo_id,
                "sha256": sha256,
                "kind": ref.kind,
                "owner_id": user.id,
                "status": PhotoStatus.AVAILABLE if here else PhotoStatus.PENDING,
                "client_taken_at": ref.taken_at,
                "client_lat": ref.lat,
                "client_lon": ref.lon,
                "created_at": now,
                "available_at": now if here else None,
            }
        )
        rows["case_photos"].append(
            {
                "case_id": case_id,
                "photo_id": ref.photo_id,
                "kind": ref.kind,
                "added_by": user.id,
                "added_at": now,
            }
        )
    shop = min(
        shops,
        key=lambda s: (s.lat - located.lat) ** 2 + (s.lon - located.lon) ** 2,
        default=None,
    )
    rows["cases"].append(
        {
            "id": case_id,
            "number": number,
            "reporter_id": user.id,
            "category_id": item.category.id,
            "description": item.description,
            "address": report.address or "",
            "urgency": report.urgency,
            "source": source,
            "input_crs": item.crs,
            "lat": located.lat,
            "lon": located.lon,
            **routing_of(located),
            "shop_id": shop.id if shop is not None else None,
            "state": State.REPORTED,
            "version": 1,
            "client_ts": report.client_ts,
            "reported_at": now,
            "updated_at": now,
        }
    )
    rows["case_reporters"].append(
        {"case_id": case_id, "user_id": user.id, "original_case_id": case_id}
    )
    if located.status != "inside":
        rows["routing_gaps"].append(
            {
                "case_id": case_id,
                "lat": located.lat,
                "lon": located.lon,
                "locate_status": located.status,
                "candidates": [
                    {"grid_code": c.grid.code, "distance_m": c.distance_m, "contains": c.contains}
                    for c in located.candidates
                ],
                "created_at": now,
            }
        )
    rows["case_flow"].append(
        {
            "case_id": case_id,
            "seq": 1,
            "action": "report",
            "from_state": None,
            "to_state": State.REPORTED,
            "actor_id": user.id,
            "actor_role": user.role,
            "device_id": device_id,
            "opinion": None,
            "photo_ids": [str(ref.photo_id) for ref in item.refs],
            "data": {"locate_status": located.status, "input": located.input},
            "at": now,
        }
    )


def _duplicates(
    session: Session, cases: list[dict], policy: CasePolicy, now: dt.datetime
) -> list[dict]:
    """``_find_duplicates`` for each new case in turn: open cases of its category nearby
    and recent, among them the run's earlier cases (as the one-by-one path has them
    already written when it reaches a later one)."""
    if not cases:
        return []
    radius = policy.duplicate_radius_m
    since = now - dt.timedelta(hours=policy.duplicate_window_hours)
    boxes = {case["id"]: geo.bounds_around(case["lat"], case["lon"], radius) for case in cases}
    stored = session.execute(
        sa.select(Case.id, Case.category_id, Case.lat, Case.lon).where(
            Case.category_id.in_({case["category_id"] for case in cases}),
            Case.state.in_(queries.OPEN),
            Case.reported_at >= since,
            Case.lat.between(min(b[1] for b in boxes.values()), max(b[3] for b in boxes.values())),
            Case.lon.between(min(b[0] for b in boxes.values()), max(b[2] for b in boxes.values())),
        )
    ).all()
    # Per category, the candidates sorted by latitude: a case looks only at its own band.
    by_category: dict[int, list[tuple[float, float, uuid.UUID]]] = {}
    for row in stored:
        by_category.setdefault(row.category_id, []).append((row.lat, row.lon, row.id))
    for candidates in by_category.values():
        candidates.sort(key=_by_lat)
    found = []
    for case in cases:
        min_lon, min_lat, max_lon, max_lat = boxes[case["id"]]
        candidates = by_category.setdefault(case["category_id"], [])
        start = bisect.bisect_left(candidates, min_lat, key=_by_lat)
        end = bisect.bisect_right(candidates, max_lat, key=_by_lat)
        for lat, lon, other_id in candidates[start:end]:
            if other_id == case["id"] or not min_lon <= lon <= max_lon:
                continue
            distance = distance_m(case["lat"], case["lon"], lat, lon)
            if distance <= radius:
                found.append(
                    {
                        "case_id": case["id"],
                        "other_case_id": other_id,
                        "distance_m": round(distance, 2),
                        "status": "open",
                        "found_at": now,
                    }
                )
        # Open and recent by construction: the next cases of the run may duplicate it.
        bisect.insort(candidates, (case["lat"], case["lon"], case["id"]), key=_by_lat)
    return found


def _by_lat(candidate: tuple) -> float:
    return candidate[0]
