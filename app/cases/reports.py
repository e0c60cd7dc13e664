"""A report (上报) as the phone sends it, the checks that need no database, and the rows a
new one writes.

Both ways in build their rows here — ``intake.report_case`` one report at a time through
the ORM, ``bulk_intake.report_cases`` a run of them with Core executemany — so they write
the same case, first flow entry, reporter link, photo links and routing gap, and cannot
drift apart. No database: the caller brings what it asked of it (``Intake``, the case
number, the merchant's shops).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from app.accounts.models import Role, User
from app.cases import workflow
from app.cases.frontage import Binding
from app.cases.models import SOURCE_FIELDS, SOURCES, URGENCIES
from app.cases.routing import routing_gap_row, routing_of
from app.cases.services import PhotoRef, Stamp, case_photo_row, flow_row, unique_photo_refs
from app.core.errors import Forbidden, ValidationFailed
from app.grids import geo
from app.grids.services import LocateResult

REPORTER_ROLES = frozenset(workflow.REPORTERS)
# What the reporter said, as stored: a report sent again must match these to be a repeat.
REPORTED_COLUMNS = (
    "reporter_id",
    "category_id",
    "description",
    "address",
    "urgency",
    "source",
    "input_crs",
    "lat",
    "lon",
)


@dataclasses.dataclass(frozen=True)
class NewReport:
    """One report as ``report_case`` takes it. ``category`` is an id or ``{kind, edition,
    code}``; ``location`` is ``{lat, lon, crs}`` (wgs84, gcj02, bd09); ``photos`` are
    ``{photo_id, sha256, kind: problem, taken_at, lat, lon}``."""

    case_id: uuid.UUID
    category: int | Mapping[str, Any]
    description: str
    location: Mapping[str, Any]
    address: str = ""
    urgency: str = "normal"
    photos: Sequence[Mapping[str, Any]] = ()
    client_ts: dt.datetime | None = None
    # What sources leader and referral need (``SOURCE_FIELDS``), e.g. ``{leader_name,
    # instruction}``; nothing for the other sources.
    origin: Mapping[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class CheckedReport:
    """A report past every check that needs no database: its description stripped, its
    point read (``crs`` as sent), its photos unique and all of kind problem."""

    report: NewReport
    description: str
    lat: float
    lon: float
    crs: str
    refs: list[PhotoRef]


@dataclasses.dataclass(frozen=True)
class Intake:
    """What the server made of a checked report: who reported it as which source, its
    category, where its point lies."""

    reporter: User
    source: str
    category_id: int
    located: LocateResult


@dataclasses.dataclass(frozen=True)
class ReportRows:
    """The column values of everything a new report writes but its photos' own rows
    (``register_photo``'s business)."""

    case: dict
    reporter: dict
    photos: list[dict]
    flow: dict
    routing_gap: dict | None


def check_reporter(user: User) -> None:
    """Only field users, merchants and dispatchers report (403 for anyone else)."""
    if user.role not in REPORTER_ROLES:
        raise Forbidden(f"a {user.role} does not report cases")


def report_source(user: User, source: str | None) -> str:
    """Where the report comes from: the reporter's role, or what a dispatcher says."""
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


def check_origin(source: str, origin: Mapping[str, Any] | None) -> dict | None:
    """The origin row's values a source needs (422 for a missing one, or an origin given
    for a source that has none)."""
    needed = SOURCE_FIELDS.get(source)
    if needed is None:
        if origin:
            raise ValidationFailed(
                f"a {source} case has no origin", {"origin": ["only for leader or referral"]}
            )
        return None
    origin = dict(origin or {})
    missing = {
        name: ["required"]
        for name in needed
        if origin.get(name) is None or (isinstance(origin[name], str) and not origin[name].strip())
    }
    if missing:
        raise ValidationFailed(f"a {source} case needs {', '.join(needed)}", {"origin": missing})
    fields = ("leader_name", "instruction", "referring_department_id", "reference")
    return {name: origin.get(name) for name in fields}


def check_location(location: Mapping) -> tuple[float, float, str]:
    """``{lat, lon, crs}`` as (lat, lon, crs) once it is a point on the map (422 if not)."""
    try:
        lat, lon = float(location["lat"]), float(location["lon"])
    except (KeyError, TypeError, ValueError):
        raise ValidationFailed("location needs lat and lon", {"location": ["lat, lon"]}) from None
    try:
        geo.check_point(lat, lon)
    except ValueError as error:
        raise ValidationFailed(str(error), {"location": [str(error)]}) from None
    return lat, lon, location.get("crs") or "wgs84"


def check_report(report: NewReport) -> CheckedReport:
    """The checks of a report that need no database, in the order the API answers them:
    urgency, description, location, photos."""
    if report.urgency not in URGENCIES:
        raise ValidationFailed(f"unknown urgency {report.urgency!r}", {"urgency": list(URGENCIES)})
    description = (report.description or "").strip()
    if not description:
        raise ValidationFailed("describe the problem", {"description": ["required"]})
    lat, lon, crs = check_location(report.location)
    refs = unique_photo_refs(report.photos, "problem")
    if any(ref.kind != "problem" for ref in refs):
        raise ValidationFailed("a report carries problem photos", {"photos": ["kind: problem"]})
    return CheckedReport(report, description, lat, lon, crs, refs)


def reported_columns(checked: CheckedReport, intake: Intake) -> dict:
    """The case's columns that say what was reported (``REPORTED_COLUMNS``)."""
    return {
        "reporter_id": intake.reporter.id,
        "category_id": intake.category_id,
        "description": checked.description,
        "address": checked.report.address or "",
        "urgency": checked.report.urgency,
        "source": intake.source,
        "input_crs": checked.crs,
        "lat": intake.located.lat,
        "lon": intake.located.lon,
    }


def report_rows(
    checked: CheckedReport,
    intake: Intake,
    *,
    number: str,
    binding: Binding,
    device_id: str | None,
    now: dt.datetime,
) -> ReportRows:
    """The rows of a new case taken in at ``now`` as ``number`` (``binding``: the shop whose
    frontage it is about, ``app.cases.frontage``)."""
    case_id = checked.report.case_id
    located = intake.located
    stamp = Stamp(intake.reporter, device_id, now)
    case = {
        "id": case_id,
        "number": number,
        **reported_columns(checked, intake),
        **routing_of(located),
        "shop_id": binding.shop_id,
        "frontage_flag": binding.flag,
        "state": workflow.State.REPORTED,
        "version": 1,
        "client_ts": checked.report.client_ts,
        "reported_at": now,
        "updated_at": now,
    }
    flow = flow_row(
        case_id,
        stamp,
        "report",
        None,
        workflow.State.REPORTED,
        photo_ids=[ref.photo_id for ref in checked.refs],
        data={"locate_status": located.status, "input": located.input, **binding.flow_data()},
    )
    return ReportRows(
        case=case,
        reporter={"case_id": case_id, "user_id": intake.reporter.id, "original_case_id": case_id},
        photos=[case_photo_row(case_id, ref, intake.reporter, now) for ref in checked.refs],
        flow={**flow, "seq": 1},
        routing_gap=routing_gap_row(case_id, located, now),
    )
