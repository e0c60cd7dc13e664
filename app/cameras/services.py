"""Cameras' administration: camera systems and their API keys, cameras, the per-category
settings of AI events, the events list; and who a camera system acts as in the case flow.

A camera system authenticates with an API key (``X-Api-Key``): 32 random bytes, shown once
when the admin creates the system, stored only as its SHA-256, revocable. Every case move a
camera event makes is made by one system user (``SYSTEM_USERNAME``, a dispatcher who cannot
log in), so the flow log says honestly that no person filed or dispatched it.
"""

from __future__ import annotations

import dataclasses
import hmac

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.accounts.services import service_account
from app.accounts.tokens import new_token, token_digest
from app.cameras.models import MODES, Camera, CameraCategorySetting, CameraEvent, CameraSystem
from app.cases.services import resolve_category
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from app.grids.geo import check_point
from app.grids.models import UnitGrid
from app.orgunits.models import OrgUnit

SYSTEM_USERNAME = "system.cameras"
SYSTEM_DISPLAY_NAME = "视频智能识别(系统)"
KEY_PREFIX_LENGTH = 8


@dataclasses.dataclass(frozen=True)
class IssuedKey:
    """A new system and its key in clear: the only time the key is seen."""

    system: CameraSystem
    api_key: str


@dataclasses.dataclass(frozen=True)
class EventDefaults:
    """The settings of a category nobody configured (app config ``CAMERA_*``)."""

    min_confidence: float = 0.6
    window_minutes: int = 30


# -- systems and keys -------------------------------------------------------------------------


def create_system(session: Session, name: str) -> IssuedKey:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("name the camera system", {"name": ["required"]})
    key = "cam_" + new_token()
    with transaction(session):
        system = CameraSystem(
            name=name, key_hash=token_digest(key), key_prefix=key[:KEY_PREFIX_LENGTH]
        )
        session.add(system)
    return IssuedKey(system, key)


def revoke_system(session: Session, system_id: int) -> CameraSystem:
    system = session.get(CameraSystem, system_id)
    if system is None:
        raise NotFound(f"camera system {system_id} does not exist")
    with transaction(session):
        system.revoked_at = system.revoked_at or utcnow()
    return system


def authenticate(session: Session, api_key: str | None) -> CameraSystem:
    """The active system whose key this is (401 for a missing, unknown or revoked key)."""
    if not api_key:
        raise Unauthorized("send the camera system's key in X-Api-Key")
    digest = token_digest(api_key)
    system = session.scalar(sa.select(CameraSystem).where(CameraSystem.key_hash == digest))
    if system is None or not hmac.compare_digest(system.key_hash, digest):
        raise Unauthorized("unknown camera system key")
    if system.revoked_at is not None:
        raise Unauthorized("this camera system key was revoked")
    return system


def system_actor(session: Session) -> User:
    """The system user camera events act as; made the first time it is needed."""
    return service_account(session, SYSTEM_USERNAME, SYSTEM_DISPLAY_NAME)


# -- cameras ----------------------------------------------------------------------------------


def _check_camera_fields(session: Session, fields: dict) -> None:
    if "lat" in fields or "lon" in fields:
        try:
            check_point(fields["lat"], fields["lon"])
        except (KeyError, ValueError) as error:
            raise ValidationFailed(str(error), {"lat": [str(error)]}) from None
    grid_id = fields.get("grid_id")
    if grid_id is not None and session.get(UnitGrid, grid_id) is None:
        raise ValidationFailed(f"unknown unit grid {grid_id}", {"grid_id": ["unknown"]})


def create_camera(session: Session, **fields) -> Camera:
    _check_camera_fields(session, fields)
    if session.scalar(sa.select(Camera.id).where(Camera.code == fields["code"])) is not None:
        raise Conflict(f"camera {fields['code']} exists", {"code": ["already used"]})
    with transaction(session):
        camera = Camera(**fields)
        session.add(camera)
    return camera


def update_camera(session: Session, camera_id: int, **fields) -> Camera:
    camera = get_camera(session, camera_id)
    merged = {"lat": camera.lat, "lon": camera.lon, **fields}
    _check_camera_fields(session, merged)
    with transaction(session):
        for name, value in fields.items():
            setattr(camera, name, value)
    return camera


def get_camera(session: Session, camera_id: int) -> Camera:
    camera = session.get(Camera, camera_id)
    if camera is None:
        raise NotFound(f"camera {camera_id} does not exist")
    return camera


# -- per-category settings --------------------------------------------------------------------


def put_setting(
    session: Session,
    category: int | dict,
    *,
    min_confidence: float,
    mode: str,
    window_minutes: int,
    department_id: int | None = None,
) -> CameraCategorySetting:
    """Set how a category's events are taken; ``dispatch`` needs a handling department."""
    found = resolve_category(session, category)
    errors: dict[str, list[str]] = {}
    if not 0 <= min_confidence <= 1:
        errors["min_confidence"] = ["between 0 and 1"]
    if mode not in MODES:
        errors["mode"] = [f"one of {', '.join(MODES)}"]
    if window_minutes < 0:
        errors["window_minutes"] = ["at least 0"]
    if mode == "dispatch" and department_id is None:
        errors["department_id"] = ["required when mode is dispatch"]
    if department_id is not None:
        unit = session.get(OrgUnit, department_id)
        if unit is None or unit.kind != "department":
            errors["department_id"] = ["not a handling department"]
    if errors:
        raise ValidationFailed("the setting is not valid", errors)
    values = {
        "min_confidence": min_confidence,
        "mode": mode,
        "window_minutes": window_minutes,
        "department_id": department_id,
    }
    with transaction(session):
        setting = session.get(CameraCategorySetting, found.id)
        if setting is None:
            setting = CameraCategorySetting(category_id=found.id, **values)
            session.add(setting)
        else:
            for name, value in values.items():
                setattr(setting, name, value)
    return setting


def setting_for(
    session: Session, category_id: int, defaults: EventDefaults
) -> CameraCategorySetting:
    """The category's setting, or the defaults (verify) for a category nobody set."""
    setting = session.get(CameraCategorySetting, category_id)
    if setting is not None:
        return setting
    return CameraCategorySetting(
        category_id=category_id,
        min_confidence=defaults.min_confidence,
        mode="verify",
        window_minutes=defaults.window_minutes,
    )


# -- lists ------------------------------------------------------------------------------------


def systems_query() -> sa.Select:
    return sa.select(CameraSystem).order_by(CameraSystem.id)


def cameras_query() -> sa.Select:
    return sa.select(Camera).order_by(Camera.id)


def settings_query() -> sa.Select:
    return sa.select(CameraCategorySetting).order_by(CameraCategorySetting.category_id)


def events_query(
    status: str | None = None, camera_id: int | None = None, system_id: int | None = None
) -> sa.Select:
    stmt = sa.select(CameraEvent)
    if status is not None:
        stmt = stmt.where(CameraEvent.status == status)
    if camera_id is not None:
        stmt = stmt.where(CameraEvent.camera_id == camera_id)
    if system_id is not None:
        stmt = stmt.where(CameraEvent.system_id == system_id)
    return stmt.order_by(CameraEvent.received_at.desc(), CameraEvent.id.desc())
