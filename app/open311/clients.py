"""Open311 client systems: an admin creates one (its ``api_key`` shown once, only its
SHA-256 stored), lists and revokes them; every keyed call is checked and counted against
the client's own per-minute limit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Duty, Role, User
from app.accounts.passwords import hash_password
from app.accounts.tokens import new_token, token_digest
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import Conflict, Forbidden, NotFound, TooManyRequests, ValidationFailed
from app.open311.models import Open311Call, Open311Client
from app.orgunits.models import OrgKind, OrgUnit

WINDOW = dt.timedelta(minutes=1)


@dataclasses.dataclass(frozen=True)
class CreatedClient:
    client: Open311Client
    api_key: str  # shown once


def clients_query() -> sa.Select:
    return sa.select(Open311Client).order_by(Open311Client.id)


def create_client(
    session: Session,
    admin: User | None,
    name: str,
    rate_limit_per_minute: int,
    *,
    api_key: str | None = None,
) -> CreatedClient:
    """A new client system with a fresh key (``api_key``: a given one, for the demo),
    filing as its own service account: a dispatcher of the intake desk that cannot sign
    in (inactive, unknown password)."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("name the client system", {"name": ["required"]})
    if rate_limit_per_minute < 1:
        raise ValidationFailed("the rate limit is at least 1", {"rate_limit_per_minute": [">= 1"]})
    if session.scalar(sa.select(Open311Client.id).where(Open311Client.name == name)):
        raise Conflict(f"an Open311 client {name!r} exists", {"name": ["taken"]})
    api_key = api_key or new_token()
    district = session.scalar(
        sa.select(OrgUnit.id).where(OrgUnit.kind == OrgKind.DISTRICT).order_by(OrgUnit.id)
    )
    with transaction(session):
        account = User(
            username=f"open311:{secrets.token_hex(6)}",
            display_name=f"Open311 {name}"[:128],
            role=Role.DISPATCHER,
            duty=Duty.INTAKE_CLERK,
            org_unit_id=district,
            password_hash=hash_password(secrets.token_urlsafe(32)),
            is_active=False,
        )
        session.add(account)
        session.flush()
        client = Open311Client(
            name=name,
            key_hash=token_digest(api_key),
            key_prefix=api_key[:8],
            rate_limit_per_minute=rate_limit_per_minute,
            user_id=account.id,
            created_by=admin.id if admin is not None else None,
            created_at=utcnow(),
        )
        session.add(client)
    return CreatedClient(client, api_key)


def find_client(session: Session, name: str) -> Open311Client | None:
    return session.scalar(sa.select(Open311Client).where(Open311Client.name == name))


def revoke_client(session: Session, client_id: int) -> Open311Client:
    """The client's key stops working at once; its filed requests stay readable."""
    client = session.get(Open311Client, client_id)
    if client is None:
        raise NotFound(f"Open311 client {client_id} does not exist")
    if client.revoked_at is None:
        with transaction(session):
            client.revoked_at = utcnow()
    return client


def authenticate(session: Session, api_key: str | None) -> Open311Client:
    """The client of ``api_key``: a missing, unknown or revoked key is a 403 (the
    specification's answer to a bad key); past the client's rate limit a 429. Counts the
    call."""
    if not api_key:
        raise Forbidden("api_key is required")
    client = session.scalar(
        sa.select(Open311Client).where(Open311Client.key_hash == token_digest(api_key))
    )
    if client is None or client.revoked_at is not None:
        raise Forbidden("api_key is not valid")
    count_call(session, client)
    return client


def count_call(session: Session, client: Open311Client) -> None:
    """One more call of ``client`` in the last minute; a 429 (nothing counted) past its
    limit. Calls older than the window are dropped as it slides."""
    now = utcnow()
    with transaction(session):
        session.execute(
            sa.delete(Open311Call).where(
                Open311Call.client_id == client.id, Open311Call.at <= now - WINDOW
            )
        )
        recent = session.scalar(
            sa.select(sa.func.count()).where(Open311Call.client_id == client.id)
        )
        if recent >= client.rate_limit_per_minute:
            retry = 60
            raise TooManyRequests(
                f"over the limit of {client.rate_limit_per_minute} calls a minute",
                headers={"Retry-After": str(retry)},
            )
        session.add(Open311Call(client_id=client.id, at=now))
