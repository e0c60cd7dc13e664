"""Merchants' daily frontage self-checks (门前三包 自查), REST and ``selfcheck.create``.

A merchant checks their shop's frontage every day: sanitation, order and greenery, each
``ok`` or ``issue``, with a note and photos. A check with an ``issue`` is announced
(``selfcheck_issue_found``): the cases domain opens a case on the shop's frontage from it
(app/cases/subscribers.py), so the problem is on record until someone rectifies it.

Who sees which checks follows who sees which shops' cases: a merchant their own shops';
an inspector, street chief or road chief the shops of communities in their org unit (their
community, or the communities of their street or district); the command centre all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.core import events, outbox
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.merchants.events import selfcheck_issue_found
from app.merchants.models import SELFCHECK_MARKS, SelfCheck, Shop
from app.merchants.topics import SELFCHECK_ISSUE
from app.orgunits.models import OrgUnit
from app.photos.backends import Media
from app.photos.models import Photo, PhotoKind
from app.photos.services import add_visibility_rule, register_photo

SEE_ALL = frozenset({Role.DISPATCHER, Role.ADMIN})
AREA_ROLES = frozenset({Role.INSPECTOR, Role.STREET_CHIEF, Role.ROAD_CHIEF})
MAX_NOTE = 2000


@dataclasses.dataclass(frozen=True)
class SelfChecked:
    selfcheck: SelfCheck
    created: bool


# One keyword per field of the self-check, as the route's body and the push's mutation name
# them; a parameter class would be filled field by field in both, so it would add a type and
# save nothing.
def create_selfcheck(  # noqa: PLR0913
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    *,
    selfcheck_id: uuid.UUID | None = None,
    shop_id: int | None = None,
    sanitation: str,
    order: str,
    greenery: str,
    note: str | None = None,
    photos: Iterable[Mapping] = (),
    client_ts: dt.datetime | None = None,
) -> SelfChecked:
    """Record a merchant's self-check of their own shop's frontage.

    Only a merchant (403 ``wrong_role``), only for a shop they are responsible for (403
    ``not_in_scope``; an unknown shop 404). ``shop_id`` may be left out by a merchant with
    exactly one shop; otherwise it is a 422 ``shop_required``. Photos are
    ``{photo_id, sha256, kind: selfcheck, taken_at, lat, lon}``, registered as pending
    until their bytes arrive. Idempotent by ``selfcheck_id`` (the phone's UUID): the same
    check again returns the stored one (``created`` False); the same UUID with other
    content is a 409 without a reason (the sync push answers ``id_reused``). A new check
    with an ``issue`` is announced once committed (``selfcheck_issue_found``).
    """
    if user.role != Role.MERCHANT:
        raise Forbidden("only a merchant checks a frontage", {"reason": "wrong_role"})
    shop = _own_shop(session, user, shop_id)
    marks = {"sanitation": sanitation, "order": order, "greenery": greenery}
    wrong = {
        name: [f"one of {', '.join(SELFCHECK_MARKS)}"]
        for name, mark in marks.items()
        if mark not in SELFCHECK_MARKS
    }
    if wrong:
        raise ValidationFailed("each result is ok or issue", wrong)
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise ValidationFailed("the note is too long", {"note": [f"at most {MAX_NOTE}"]})
    refs = _photo_refs(photos)
    selfcheck_id = selfcheck_id or uuid.uuid4()
    fields = {
        "shop_id": shop.id,
        "merchant_id": user.id,
        **marks,
        "note": note,
        "photo_ids": [str(ref["photo_id"]) for ref in refs],
    }
    existing = session.get(SelfCheck, selfcheck_id)
    if existing is not None:
        return _replayed(existing, fields)
    for ref in refs:
        register_photo(session, media, user, **ref)
    selfcheck = SelfCheck(
        id=selfcheck_id, **fields, device_id=device_id, client_ts=client_ts, created_at=utcnow()
    )
    try:
        with transaction(session):
            session.add(selfcheck)
            if selfcheck.has_issue:  # its case must not be lost: an outbox row
                outbox.publish(session, SELFCHECK_ISSUE, {"selfcheck_id": str(selfcheck.id)})
    except sa.exc.IntegrityError:
        # The same check from another phone won the primary key: answer as its retry.
        existing = session.get(SelfCheck, selfcheck_id)
        if existing is None:
            raise
        return _replayed(existing, fields)
    if selfcheck.has_issue:
        events.send(selfcheck_issue_found, selfcheck_id=selfcheck.id)
    return SelfChecked(selfcheck, True)


def _own_shop(session: Session, user: User, shop_id: int | None) -> Shop:
    if shop_id is None:
        shops = list(session.scalars(sa.select(Shop).where(Shop.merchant_id == user.id).limit(2)))
        if len(shops) != 1:
            raise ValidationFailed(
                "say which shop was checked"
                if shops
                else "you are responsible for no shop; ask the command centre to register it",
                {"reason": "shop_required", "shop_id": ["required"]},
            )
        return shops[0]
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise NotFound(f"shop {shop_id} does not exist")
    if shop.merchant_id != user.id:
        raise Forbidden(f"shop {shop.name} is not yours", {"reason": "not_in_scope"})
    return shop


def _photo_refs(photos: Iterable[Mapping]) -> list[dict]:
    refs: dict[uuid.UUID, dict] = {}
    for photo in photos or ():
        kind = photo.get("kind") or PhotoKind.SELFCHECK
        if kind != PhotoKind.SELFCHECK:
            raise ValidationFailed(
                "a self-check carries selfcheck photos", {"photos": ["kind: selfcheck"]}
            )
        photo_id = uuid.UUID(str(photo["photo_id"]))
        refs.setdefault(
            photo_id,
            {
                "photo_id": photo_id,
                "sha256": photo["sha256"],
                "kind": PhotoKind.SELFCHECK.value,
                "taken_at": photo.get("taken_at"),
                "lat": photo.get("lat"),
                "lon": photo.get("lon"),
            },
        )
    return list(refs.values())


def _replayed(selfcheck: SelfCheck, fields: dict) -> SelfChecked:
    stored = {name: getattr(selfcheck, name) for name in fields}
    if {**stored, "photo_ids": sorted(stored["photo_ids"])} != {
        **fields,
        "photo_ids": sorted(fields["photo_ids"]),
    }:
        raise Conflict(
            f"self-check {selfcheck.id} exists with other content", {"id": ["already used"]}
        )
    return SelfChecked(selfcheck, False)


def visible_to(user: User) -> sa.ColumnElement[bool]:
    """Which self-checks ``user`` may see (see the module docstring)."""
    if user.role in SEE_ALL:
        return sa.true()
    if user.role == Role.MERCHANT:
        own = sa.select(Shop.id).where(Shop.merchant_id == user.id)
        return sa.or_(SelfCheck.merchant_id == user.id, SelfCheck.shop_id.in_(own))
    if user.role in AREA_ROLES and user.org_unit_id is not None:
        unit = user.org_unit_id
        below = sa.select(OrgUnit.id).where(OrgUnit.parent_id == unit)
        communities = sa.select(OrgUnit.id).where(
            sa.or_(OrgUnit.id == unit, OrgUnit.parent_id == unit, OrgUnit.parent_id.in_(below))
        )
        shops = sa.select(Shop.id).where(Shop.community_id.in_(communities))
        return SelfCheck.shop_id.in_(shops)
    return sa.false()


def selfchecks_query(
    user: User, shop_id: int | None = None, has_issue: bool | None = None
) -> sa.Select:
    """The self-checks ``user`` may see, newest first; by shop, or those with an issue."""
    stmt = sa.select(SelfCheck).where(visible_to(user))
    if shop_id is not None:
        stmt = stmt.where(SelfCheck.shop_id == shop_id)
    if has_issue is not None:
        issue = sa.or_(
            SelfCheck.sanitation == "issue",
            SelfCheck.order == "issue",
            SelfCheck.greenery == "issue",
        )
        stmt = stmt.where(issue if has_issue else sa.not_(issue))
    return stmt.order_by(SelfCheck.created_at.desc(), SelfCheck.id)


def get_selfcheck(session: Session, user: User, selfcheck_id: uuid.UUID) -> SelfCheck:
    """A self-check ``user`` may see; any other does not exist for them."""
    found = session.scalar(
        sa.select(SelfCheck).where(SelfCheck.id == selfcheck_id, visible_to(user))
    )
    if found is None:
        raise NotFound(f"self-check {selfcheck_id} does not exist")
    return found


def register() -> None:
    """Lend the photos domain the rule that the readers of a self-check may see its photos."""
    add_visibility_rule(selfcheck_photo_visible)


def selfcheck_photo_visible(session: Session, user: User, photo: Photo) -> bool:
    """A self-check's photo may be seen by whoever may see the self-check."""
    if photo.kind != PhotoKind.SELFCHECK:
        return False
    return (
        session.scalar(
            sa.select(sa.literal(1))
            .where(
                # photo_ids is a JSON list of UUID strings: a UUID is found only as itself.
                sa.cast(SelfCheck.photo_ids, sa.Text).contains(str(photo.id)),
                visible_to(user),
            )
            .limit(1)
        )
        is not None
    )
