"""Many reports at once: the push's fast path for a run of new ``report.create``.

A walk uploaded after hours offline is mostly new reports, one after another. Taken in one
by one (``intake.report_case``), each costs about thirty statements and a savepoint;
``report_cases`` takes in a run of them with set-wise statements: one query each for the
ids already used, the blobs already here, the grids and roads around the points and the
duplicate candidates, one counter update per district for the case numbers, and one
``INSERT`` executemany per table.

It makes the same checks as ``report_case`` and writes the rows ``reports.report_rows``
builds for it, the very builder ``report_case`` writes through the ORM; it stops before
the first report that is not a plain new one — an id already used (a replay, or a 409),
anything ``report_case`` would refuse, a photo id already known. The caller takes that
report, and what follows it, the one-by-one way, which answers it as it always has.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases import queries
from app.cases.duplicates import distance_m, duplicate_row
from app.cases.events import case_reported
from app.cases.frontage import Binding, bind_reports
from app.cases.intake import case_number_prefix, reserve_case_numbers
from app.cases.models import (
    Case,
    CasePhoto,
    CaseReporter,
    DuplicateCandidate,
    FlowEntry,
    RoutingGap,
)
from app.cases.reports import (
    CheckedReport,
    Intake,
    NewReport,
    check_report,
    check_reporter,
    report_rows,
    report_source,
)
from app.cases.services import CasePolicy, PhotoRef, resolve_category
from app.categories.models import Category
from app.core import events
from app.core.clock import utcnow
from app.core.errors import DomainError
from app.feed import capture
from app.grids import geo
from app.grids.services import GeometryIndex, located, to_wgs84
from app.photos.backends import Media
from app.photos.models import BlobHolder, Photo, PhotoStatus
from app.photos.services import KIND_ROLES
from app.workcalendar.services import get_calendar
from media.errors import MediaError
from media.storage import validate_sha256


@dataclasses.dataclass(frozen=True)
class Taken:
    """A case ``report_cases`` made: its id and version, as a push answers them."""

    case_id: uuid.UUID
    version: int


@dataclasses.dataclass
class _Ready:
    """A report checked in Python, before anything is asked of the database."""

    checked: CheckedReport
    wgs: tuple[float, float]
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
    if not reports:
        return []
    try:
        check_reporter(user)
        source = report_source(user, None)
    except DomainError:
        return []
    ready = _unused(session, _checked(session, user, reports))
    if not ready:
        return []
    now = utcnow()
    buffer = policy.boundary_buffer_m
    index = GeometryIndex.around(session, [r.wgs for r in ready], buffer)
    where = [
        located(session, index.place(*r.wgs, buffer), _point(r.checked), buffer, people=False)
        for r in ready
    ]
    day = get_calendar(session).local_date(now)
    numbers = reserve_case_numbers(
        session, [case_number_prefix(session, place, user, day) for place in where]
    )
    near_m = policy.merchant_near_m
    bindings = bind_reports(session, user, [(place.lat, place.lon) for place in where], near_m)
    shas = {ref.sha256.lower() for r in ready for ref in r.checked.refs}
    available = available_hashes(session, media, user, shas)

    rows: dict[str, list[dict]] = {name: [] for name in _TABLES}
    for item, place, number, binding in zip(ready, where, numbers, bindings, strict=True):
        intake = Intake(user, source, item.category.id, place)
        _add_rows(rows, item.checked, intake, number, binding, device_id, available, now)
    rows["case_duplicates"] = _duplicates(session, rows["cases"], policy, now)

    connection = session.connection()
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
    """The prefix that passes every check ``report_case`` makes before it reads a row
    (and ``register_photo``'s: a problem photo is the reporter's to take, its hash sound)."""
    ready: list[_Ready] = []
    categories: dict[object, Category] = {}
    may_take_problem = user.role in KIND_ROLES["problem"]
    for report in reports:
        try:
            checked = check_report(report)
            wgs = to_wgs84(checked.lat, checked.lon, checked.crs)
            if checked.refs and not may_take_problem:
                break
            for ref in checked.refs:
                validate_sha256(ref.sha256.lower())
            key = _category_key(report)
            if key not in categories:
                categories[key] = resolve_category(session, report.category)
        except (DomainError, MediaError, ValueError):
            break
        ready.append(_Ready(checked, wgs, categories[key]))
    return ready


def _category_key(report: NewReport) -> object:
    category = report.category
    return category if isinstance(category, int) else tuple(sorted(category.items()))


def _point(checked: CheckedReport) -> tuple[float, float, str]:
    return checked.lat, checked.lon, checked.crs


def _unused(session: Session, ready: list[_Ready]) -> list[_Ready]:
    """The prefix whose case and photo ids are new: not in the database, not twice in the
    run (a repeat is ``report_case``'s replay or 409, and a photo already known is
    registered its own way)."""
    if not ready:
        return ready
    case_ids = [r.checked.report.case_id for r in ready]
    photo_ids = [ref.photo_id for r in ready for ref in r.checked.refs]
    used_cases = set(session.scalars(sa.select(Case.id).where(Case.id.in_(case_ids))))
    used_photos = (
        set(session.scalars(sa.select(Photo.id).where(Photo.id.in_(photo_ids))))
        if photo_ids
        else set()
    )
    for position, item in enumerate(ready):
        case_id, photos = item.checked.report.case_id, [ref.photo_id for ref in item.checked.refs]
        if case_id in used_cases or any(photo in used_photos for photo in photos):
            return ready[:position]
        used_cases.add(case_id)
        used_photos.update(photos)
    return ready


def available_hashes(session: Session, media: Media, user: User, shas: set[str]) -> set[str]:
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


def _add_rows(
    rows: dict[str, list[dict]],
    checked: CheckedReport,
    intake: Intake,
    number: str,
    binding: Binding,
    device_id: str | None,
    available: set[str],
    now: dt.datetime,
) -> None:
    """The rows ``report_case`` writes for one report, and its photos' own rows as
    ``register_photo`` writes them for photos not known yet."""
    written = report_rows(
        checked, intake, number=number, binding=binding, device_id=device_id, now=now
    )
    rows["photos"].extend(photo_row(ref, intake.reporter, available, now) for ref in checked.refs)
    rows["cases"].append(written.case)
    rows["case_reporters"].append(written.reporter)
    rows["case_photos"].extend(written.photos)
    if written.routing_gap is not None:
        rows["routing_gaps"].append(written.routing_gap)
    rows["case_flow"].append(written.flow)


def photo_row(ref: PhotoRef, owner: User, available: set[str], now: dt.datetime) -> dict:
    sha256 = ref.sha256.lower()
    here = sha256 in available
    return {
        "id": ref.photo_id,
        "sha256": sha256,
        "kind": ref.kind,
        "owner_id": owner.id,
        "status": PhotoStatus.AVAILABLE if here else PhotoStatus.PENDING,
        "client_taken_at": ref.taken_at,
        "client_lat": ref.lat,
        "client_lon": ref.lon,
        "created_at": now,
        "available_at": now if here else None,
    }


def _duplicates(
    session: Session, cases: list[dict], policy: CasePolicy, now: dt.datetime
) -> list[dict]:
    """``duplicates.find_duplicates`` for each new case in turn: open cases of its category
    nearby and recent, among them the run's earlier cases (as the one-by-one path has them
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
                found.append(duplicate_row(case["id"], other_id, distance, now))
        # Open and recent by construction: the next cases of the run may duplicate it.
        bisect.insort(candidates, (case["lat"], case["lon"], case["id"]), key=_by_lat)
    return found


def _by_lat(candidate: tuple) -> float:
    return candidate[0]
