"""Account use cases: users, login and logout per device, device revocation."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from app.accounts import token_cache
from app.accounts.models import (
    DUTY_VALUES,
    ROLE_ORG_KINDS,
    ROLE_VALUES,
    Device,
    LoginAttempt,
    Role,
    User,
)
from app.accounts.passwords import hash_password, needs_rehash, verify_password
from app.accounts.tokens import new_token, token_digest
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import Conflict, NotFound, TooManyRequests, Unauthorized, ValidationFailed
from app.orgunits.services import get_org_unit

MIN_PASSWORD_LENGTH = 10


@dataclasses.dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    max_failures_per_ip: int = 30
    window: dt.timedelta = dt.timedelta(minutes=15)
    token_ttl: dt.timedelta = dt.timedelta(days=180)

    @classmethod
    def from_config(cls, config: Mapping) -> LoginPolicy:
        """The policy the app's settings give (LOGIN_* and TOKEN_TTL_DAYS): the API's login
        and the console's sign-in throttle alike."""
        return cls(
            max_failures=config["LOGIN_MAX_FAILURES"],
            max_failures_per_ip=config["LOGIN_MAX_FAILURES_PER_IP"],
            window=dt.timedelta(seconds=config["LOGIN_FAILURE_WINDOW_SECONDS"]),
            token_ttl=dt.timedelta(days=config["TOKEN_TTL_DAYS"]),
        )


@dataclasses.dataclass(frozen=True)
class Login:
    token: str
    user: User
    device: Device


def _check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"a password has at least {MIN_PASSWORD_LENGTH} characters",
            {"password": [f"shorter than {MIN_PASSWORD_LENGTH} characters"]},
        )


def _check_ties(session: Session, role: str, org_unit_id: int | None, road_id: int | None) -> None:
    if role not in ROLE_VALUES:
        raise ValidationFailed(
            f"unknown role {role!r}", {"role": [f"one of {', '.join(ROLE_VALUES)}"]}
        )
    kinds = ROLE_ORG_KINDS[Role(role)]
    if kinds is None:
        if org_unit_id is not None:
            raise ValidationFailed(
                "an admin belongs to no org unit", {"org_unit_id": ["not allowed"]}
            )
    else:
        if org_unit_id is None:
            raise ValidationFailed(
                f"a {role} belongs to a {' or '.join(kinds)}", {"org_unit_id": ["required"]}
            )
        unit = get_org_unit(session, org_unit_id)
        if unit.kind not in kinds:
            raise ValidationFailed(
                f"a {role} belongs to a {' or '.join(kinds)}, not a {unit.kind}",
                {"org_unit_id": [f"org unit {org_unit_id} is a {unit.kind}"]},
            )
    if role == Role.ROAD_CHIEF:
        if road_id is None:
            raise ValidationFailed("a road chief is tied to a road", {"road_id": ["required"]})
        exists = session.scalar(sa.text("SELECT 1 FROM roads WHERE id = :id"), {"id": road_id})
        if not exists:
            raise NotFound(f"road {road_id} does not exist")
    elif road_id is not None:
        raise ValidationFailed("only a road chief is tied to a road", {"road_id": ["not allowed"]})


def _check_duty(role: str, duty: str | None) -> None:
    """A desk duty belongs to a dispatcher only, and is one of ``Duty``."""
    if duty is None:
        return
    if duty not in DUTY_VALUES:
        raise ValidationFailed(
            f"unknown duty {duty!r}", {"duty": [f"one of {', '.join(DUTY_VALUES)}"]}
        )
    if role != Role.DISPATCHER:
        raise ValidationFailed(
            f"only a dispatcher has a desk duty, not a {role}", {"duty": ["dispatchers only"]}
        )


def add_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str | None = None,
    phone: str | None = None,
    **ties: int | str | None,
) -> User:
    """Add a user inside the caller's transaction. ``ties``: ``org_unit_id`` and
    ``road_id`` as the role needs them, and a dispatcher's desk ``duty``."""
    org_unit_id, road_id, duty = (
        ties.pop(name, None) for name in ("org_unit_id", "road_id", "duty")
    )
    if ties:
        raise TypeError(f"add_user() got unexpected ties {sorted(ties)}")
    _check_password_strength(password)
    _check_ties(session, role, org_unit_id, road_id)
    _check_duty(role, duty)
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user name {username!r} is taken", {"username": ["taken"]})
    user = User(
        username=username,
        display_name=display_name or username,
        role=role,
        org_unit_id=org_unit_id,
        road_id=road_id,
        phone=phone,
        duty=duty,
        password_hash=hash_password(password),
    )
    session.add(user)
    session.flush()
    return user


#: No password hash matches this: a service account never signs in.
NO_PASSWORD = "!"


def service_account(session: Session, username: str, display_name: str) -> User:
    """The account a system files its cases as (the cameras, the 12345 bridge): a
    dispatcher that cannot sign in (inactive, no password hash matches), made the first
    time it is asked for; a concurrent twin's insert wins and is returned."""
    found = sa.select(User).where(User.username == username)
    user = session.scalar(found)
    if user is not None:
        return user
    try:
        with transaction(session):
            user = User(
                username=username,
                display_name=display_name,
                role=Role.DISPATCHER,
                password_hash=NO_PASSWORD,
                is_active=False,
            )
            session.add(user)
    except sa.exc.IntegrityError:
        user = session.scalar(found)
    return user


def create_user(session: Session, **fields) -> User:
    """Create a user with a role tied to the right kind of org unit."""
    with transaction(session):
        return add_user(session, **fields)


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def update_user(session: Session, user_id: int, changes: dict) -> User:
    """Change a user's name, ties, activity or password. Deactivating revokes every device."""
    with transaction(session):
        user = get_user(session, user_id)
        role = changes.get("role", user.role)
        org_unit_id = changes.get("org_unit_id", user.org_unit_id)
        road_id = changes.get("road_id", user.road_id)
        _check_ties(session, role, org_unit_id, road_id)
        # A user who stops being a dispatcher leaves their desk duty behind.
        duty = changes.get("duty", user.duty if role == Role.DISPATCHER else None)
        _check_duty(role, duty)
        user.role, user.org_unit_id, user.road_id = role, org_unit_id, road_id
        user.duty = duty
        for name in ("display_name", "phone"):
            if name in changes:
                setattr(user, name, changes[name])
        if "password" in changes:
            _check_password_strength(changes["password"])
            user.password_hash = hash_password(changes["password"])
            _revoke_all(session, user)
        if changes.get("is_active") is False:
            user.is_active = False
            _revoke_all(session, user)
        elif changes.get("is_active") is True:
            user.is_active = True
        return user


def users_query(
    role: str | None = None, org_unit_id: int | None = None, q: str | None = None
) -> sa.Select:
    stmt = sa.select(User).order_by(User.id)
    if role:
        stmt = stmt.where(User.role == role)
    if org_unit_id is not None:
        stmt = stmt.where(User.org_unit_id == org_unit_id)
    if q:
        pattern = f"%{q}%"
        stmt = stmt.where(sa.or_(User.username.ilike(pattern), User.display_name.ilike(pattern)))
    return stmt


def _revoke_all(session: Session, user: User) -> None:
    now = utcnow()
    for device in session.scalars(sa.select(Device).where(Device.user_id == user.id)):
        if device.revoked_at is None:
            device.revoked_at = now
        device.token_hash = None


def _known_phone(session: Session, user: User | None, device_id: str) -> bool:
    """Whether this user has logged in on this phone before (OWASP's "device cookie"):
    a password sprayer does not know the phones' ids, so their users are not slowed."""
    if user is None:
        return False
    return (
        session.scalar(
            sa.select(Device.id).where(Device.user_id == user.id, Device.device_id == device_id)
        )
        is not None
    )


def _throttle(session: Session, attempt: LoginAttempt, known: bool, policy: LoginPolicy) -> None:
    """Refuse an attempt already recorded past a limit. The attempt is committed before the
    counts are taken, so the k-th of any number of concurrent attempts counts at least k:
    no more than the limit are ever checked, however many arrive at once."""
    since = attempt.at - policy.window
    by_name = session.scalar(
        sa.select(sa.func.count()).where(
            LoginAttempt.username == attempt.username, LoginAttempt.at >= since
        )
    )
    by_addr = 0
    if not known:
        # Per address, only for phones a user has not logged in on before: a sprayer
        # behind a shared address (a carrier's NAT) does not lock the city out.
        by_addr = session.scalar(
            sa.select(sa.func.count()).where(
                LoginAttempt.remote_addr == attempt.remote_addr, LoginAttempt.at >= since
            )
        )
    if by_name > policy.max_failures or by_addr > policy.max_failures_per_ip:
        retry = int(policy.window.total_seconds())
        raise TooManyRequests(
            "too many failed logins; try again later", headers={"Retry-After": str(retry)}
        )


def login(
    session: Session,
    *,
    username: str,
    password: str,
    device_id: str,
    device_name: str,
    remote_addr: str,
    policy: LoginPolicy = LoginPolicy(),
) -> Login:
    """Log a user in on one device and return a new bearer token for that device only."""
    now = utcnow()
    user = session.scalar(sa.select(User).where(User.username == username))
    known = _known_phone(session, user, device_id)
    with transaction(session):
        # Counted as failed until the password proves right.
        attempt = LoginAttempt(username=username, remote_addr=remote_addr, at=now)
        session.add(attempt)
    _throttle(session, attempt, known, policy)
    if not verify_password(user.password_hash if user else None, password) or not user.is_active:
        raise Unauthorized("wrong user name or password")
    token = new_token()
    with transaction(session):
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        session.execute(sa.delete(LoginAttempt).where(LoginAttempt.username == username))
        device = session.scalar(
            sa.select(Device).where(Device.user_id == user.id, Device.device_id == device_id)
        )
        if device is None:
            device = Device(user_id=user.id, device_id=device_id, name=device_name, created_at=now)
            session.add(device)
        device.name = device_name
        device.token_hash = token_digest(token)
        device.last_login_at = now
        device.last_seen_at = now
        device.expires_at = now + policy.token_ttl
        device.revoked_at = None
    return Login(token=token, user=user, device=device)


def authenticate(session: Session, token: str) -> tuple[User, Device]:
    """Resolve a bearer token to its user and device; 401 if unknown, revoked or expired.

    A token resolved in the last few seconds is answered from memory (``token_cache``)."""
    digest = token_digest(token)
    now = utcnow()
    known = token_cache.recall(session, digest)
    if known is not None and (known[1].expires_at is None or known[1].expires_at > now):
        return known
    # One query for the device and its user (not a second lazy load).
    device = session.scalar(
        sa.select(Device).options(joinedload(Device.user)).where(Device.token_hash == digest)
    )
    if device is None or device.revoked_at is not None:
        raise Unauthorized("the token is unknown or revoked; log in again")
    if device.expires_at is not None and device.expires_at <= now:
        raise Unauthorized("the token has expired; log in again")
    user = device.user
    if not user.is_active:
        raise Unauthorized("the account is deactivated")
    # Written at most once a minute, to keep reads cheap.
    if device.last_seen_at is None or now - device.last_seen_at > dt.timedelta(minutes=1):
        with transaction(session):
            device.last_seen_at = now
    token_cache.remember(digest, user, device)
    return user, device


def logout(session: Session, device: Device) -> None:
    """Revoke the calling device's token; the user's other devices stay logged in."""
    with transaction(session):
        device.token_hash = None
        device.revoked_at = utcnow()


def revoke_device(session: Session, device_pk: int) -> Device:
    """An admin revokes one device's token (a lost or stolen phone)."""
    with transaction(session):
        device = session.get(Device, device_pk)
        if device is None:
            raise NotFound(f"device {device_pk} does not exist")
        device.token_hash = None
        if device.revoked_at is None:
            device.revoked_at = utcnow()
        return device


def devices_query(user_id: int | None = None, active: bool | None = None) -> sa.Select:
    stmt = sa.select(Device).order_by(Device.id)
    if user_id is not None:
        stmt = stmt.where(Device.user_id == user_id)
    if active is True:
        stmt = stmt.where(Device.token_hash.is_not(None), Device.revoked_at.is_(None))
    elif active is False:
        stmt = stmt.where(sa.or_(Device.token_hash.is_(None), Device.revoked_at.is_not(None)))
    return stmt
