"""A camera's AI event becomes a case (视频智能识别 → 案卷).

``receive_event`` takes one event: the snapshot goes through the same blob store and image
checks as a phone's photo (bytes that are not a sound image are refused, nothing stored);
the event is claimed once per (system, event id), so the same event again gets the stored
answer and never a second case. Then, by the category's setting:

- below its minimum confidence: kept as ``ignored_low_confidence``, no case;
- a case of the same camera and category still open, opened by an event within the
  window: the snapshot is attached to it (``attached``);
- otherwise a new case from source ``video`` (``case_opened``): in ``verify`` mode sent to
  the grid's inspector to confirm (``verifying``); in ``dispatch`` mode filed and
  dispatched to the setting's department at once (the five-minute loop). The moves are
  made by the system user through the same services a dispatcher's go through.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import math
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cameras.models import Camera, CameraCategorySetting, CameraEvent, CameraSystem
from app.cameras.services import EventDefaults, setting_for, system_actor
from app.cases import workflow
from app.cases.intake import report_case
from app.cases.models import Case
from app.cases.moves import move_case
from app.cases.reports import NewReport
from app.cases.services import CasePolicy, attach_photos, resolve_category
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import DomainError, ValidationFailed
from app.photos.backends import Media
from app.photos.models import PhotoKind
from app.photos.services import receive_blob, register_photo

MAX_EVENT_ID = 128
OPEN_STATES = tuple(s.value for s in workflow.State if s not in workflow.TERMINAL)


@dataclasses.dataclass(frozen=True)
class NewEvent:
    """One event as the camera system sends it; ``snapshot`` the image's bytes."""

    event_id: str
    camera_code: str
    category: str
    category_kind: str | None
    confidence: float
    detected_at: dt.datetime
    snapshot: bytes


@dataclasses.dataclass(frozen=True)
class Received:
    event: CameraEvent
    created: bool


def _check(event: NewEvent) -> None:
    errors: dict[str, list[str]] = {}
    if not event.event_id or len(event.event_id) > MAX_EVENT_ID:
        errors["event_id"] = [f"1 to {MAX_EVENT_ID} characters"]
    if not (math.isfinite(event.confidence) and 0 <= event.confidence <= 1):
        errors["confidence"] = ["between 0 and 1"]
    if not event.snapshot:
        errors["snapshot"] = ["required: the image of the event"]
    if errors:
        raise ValidationFailed("the event is not valid", errors)


def _camera(session: Session, code: str) -> Camera:
    camera = session.scalar(sa.select(Camera).where(Camera.code == code))
    if camera is None or not camera.active:
        raise ValidationFailed(f"unknown or inactive camera {code!r}", {"camera_id": ["unknown"]})
    return camera


def _stored(session: Session, system: CameraSystem, event_id: str) -> CameraEvent | None:
    return session.scalar(
        sa.select(CameraEvent).where(
            CameraEvent.system_id == system.id, CameraEvent.event_id == event_id
        )
    )


def receive_event(
    session: Session,
    media: Media,
    system: CameraSystem,
    event: NewEvent,
    *,
    policy: CasePolicy = CasePolicy(),
    defaults: EventDefaults = EventDefaults(),
) -> Received:
    """Take in one event (see the module docstring); ``created`` False for a repeat."""
    received_at = utcnow()
    _check(event)
    existing = _stored(session, system, event.event_id)
    if existing is not None:
        return Received(existing, False)
    camera = _camera(session, event.camera_code)
    category = resolve_category(session, {"code": event.category, "kind": event.category_kind})
    setting = setting_for(session, category.id, defaults)
    actor = system_actor(session)
    photo_id = _store_snapshot(session, media, actor, camera, event)
    claimed = _claim(session, system, camera, category.id, event, photo_id, received_at)
    if claimed is None:  # a concurrent twin claimed it first
        return Received(_stored(session, system, event.event_id), False)
    if event.confidence < setting.min_confidence:
        _settle(session, claimed, "ignored_low_confidence", None)
        return Received(claimed, True)
    _open_or_attach(session, media, actor, claimed, camera, setting, policy)
    return Received(claimed, True)


def _store_snapshot(
    session: Session, media: Media, actor: User, camera: Camera, event: NewEvent
) -> uuid.UUID:
    """The snapshot as a problem photo of the system user: checked and stored like a
    phone's (a MediaError leaves nothing stored)."""
    sha256 = hashlib.sha256(event.snapshot).hexdigest()
    receive_blob(session, media, actor, io.BytesIO(event.snapshot), sha256)
    photo_id = uuid.uuid5(uuid.NAMESPACE_URL, f"camera-event:{sha256}:{event.event_id}")
    register_photo(
        session,
        media,
        actor,
        photo_id=photo_id,
        sha256=sha256,
        kind=PhotoKind.PROBLEM.value,
        taken_at=event.detected_at,
        lat=camera.lat,
        lon=camera.lon,
    )
    return photo_id


def _claim(
    session: Session,
    system: CameraSystem,
    camera: Camera,
    category_id: int,
    event: NewEvent,
    photo_id: uuid.UUID,
    received_at: dt.datetime,
) -> CameraEvent | None:
    row = CameraEvent(
        system_id=system.id,
        event_id=event.event_id,
        camera_id=camera.id,
        category_id=category_id,
        confidence=event.confidence,
        detected_at=event.detected_at,
        snapshot_sha256=hashlib.sha256(event.snapshot).hexdigest(),
        photo_id=photo_id,
        status="received",
        received_at=received_at,
    )
    try:
        with transaction(session):
            session.add(row)
    except sa.exc.IntegrityError:
        return None
    return row


def _settle(session: Session, row: CameraEvent, status: str, case_id: uuid.UUID | None) -> None:
    with transaction(session):
        row.status = status
        row.case_id = case_id


def _open_case(session: Session, camera: Camera, row: CameraEvent, minutes: int) -> Case | None:
    """The open case an event of this camera and category opened within the window."""
    return session.scalar(
        sa.select(Case)
        .join(CameraEvent, CameraEvent.case_id == Case.id)
        .where(
            CameraEvent.camera_id == camera.id,
            CameraEvent.category_id == row.category_id,
            CameraEvent.id != row.id,
            CameraEvent.detected_at >= row.detected_at - dt.timedelta(minutes=minutes),
            Case.state.in_(OPEN_STATES),
        )
        .order_by(CameraEvent.detected_at.desc())
        .limit(1)
    )


def _open_or_attach(
    session: Session,
    media: Media,
    actor: User,
    row: CameraEvent,
    camera: Camera,
    setting: CameraCategorySetting,
    policy: CasePolicy,
) -> None:
    photo = {"photo_id": row.photo_id, "sha256": row.snapshot_sha256, "kind": "problem"}
    minutes = setting.window_minutes
    open_case = _open_case(session, camera, row, minutes) if minutes else None
    if open_case is not None:
        attach_photos(session, media, actor, None, open_case.id, [photo])
        _settle(session, row, "attached", open_case.id)
        return
    try:
        reported = report_case(
            session,
            media,
            actor,
            None,
            NewReport(
                case_id=uuid.uuid5(uuid.NAMESPACE_URL, f"camera-case:{row.id}"),
                category=row.category_id,
                description=f"视频智能识别: {camera.name} ({camera.code}), "
                f"置信度 {row.confidence:.2f}, 事件 {row.event_id}",
                location={"lat": camera.lat, "lon": camera.lon, "crs": "wgs84"},
                address=camera.name,
                photos=[photo],
                client_ts=row.detected_at,
            ),
            source="video",
            policy=policy,
        )
    except BaseException:
        with transaction(session):
            session.delete(row)  # unclaimed: the camera system may send it again
        raise
    _settle(session, row, "case_opened", reported.case.id)
    _first_moves(session, media, actor, reported.case, setting, policy)


def _first_moves(
    session: Session,
    media: Media,
    actor: User,
    case: Case,
    setting: CameraCategorySetting,
    policy: CasePolicy,
) -> None:
    """verify: to the grid's inspector; dispatch: filed and sent to the department. A move
    that cannot be made (no inspector for the grid) leaves the case for a dispatcher."""
    opinion = "视频智能识别: 按类别设置自动处理"
    steps = (
        [("send_verify", {})]
        if setting.mode == "verify"
        else [
            ("register", {"opinion": opinion}),
            ("dispatch", {"opinion": opinion, "department_id": setting.department_id}),
        ]
    )
    for action, args in steps:
        try:
            move_case(session, media, actor, None, case.id, action, args, policy=policy)
        except DomainError:
            return
