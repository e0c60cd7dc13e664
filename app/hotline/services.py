"""The 12345 bridge's use cases: take a signed work order in as a case, read orders (masked
or in full), forget callers after the retention.

An order becomes a case from source ``hotline`` through the cases intake (``report_case``),
filed by the bridge's dispatcher account, under a case id derived from the order number:
the intake's own idempotency (same id, same content) means a retry never makes a second
case, even after a crash between the case and the order row. Without a point the case gets
the configured default point and is routed ``needs_confirmation``: the dispatcher places it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.accounts.services import service_account
from app.cases.intake import report_case
from app.cases.models import Case
from app.cases.reports import NewReport
from app.categories.models import Category
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from app.hotline import signing
from app.hotline.masking import mask_name, mask_phone
from app.hotline.models import HotlineOrder, HotlineSignature
from app.photos.backends import Media

log = logging.getLogger(__name__)
ORDER_NAMESPACE = uuid.UUID("6f1c2a52-8d1e-4f57-9a36-12345a0b0c0d")
ANONYMISED = "已匿名"


@dataclasses.dataclass(frozen=True)
class BridgeSettings:
    secret: str
    window_seconds: int = 300
    reporter: str = "hotline-12345"
    default_lat: float = 0.0
    default_lon: float = 0.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BridgeSettings:
        return cls(
            secret=config.get("HOTLINE_SECRET", ""),
            window_seconds=int(config.get("HOTLINE_REPLAY_WINDOW_SECONDS", 300)),
            reporter=config.get("HOTLINE_REPORTER", "hotline-12345"),
            default_lat=float(config.get("HOTLINE_DEFAULT_LAT", 0.0)),
            default_lon=float(config.get("HOTLINE_DEFAULT_LON", 0.0)),
        )


@dataclasses.dataclass(frozen=True)
class Filed:
    order: HotlineOrder
    case: Case
    created: bool


# -- the signature and the replay window -------------------------------------------------


def accept_request(
    session: Session,
    settings: BridgeSettings,
    timestamp: str | None,
    given: str | None,
    body: bytes,
) -> None:
    """Refuse (401) an unsigned, wrongly signed, stale or replayed request; remember the
    signature of an accepted one for the window."""
    if not settings.secret:
        raise Unauthorized("the hotline bridge has no shared secret configured")
    now = utcnow()
    try:
        seen = signing.check(
            settings.secret, timestamp, given, body, now.timestamp(), settings.window_seconds
        )
    except signing.BadSignature as error:
        log.warning("hotline request refused: %s", error.reason)
        raise Unauthorized(str(error), {"reason": error.reason}) from None
    window = dt.timedelta(seconds=2 * settings.window_seconds)
    try:
        with transaction(session):
            session.execute(
                sa.delete(HotlineSignature).where(HotlineSignature.seen_at < now - window)
            )
            session.add(HotlineSignature(signature=seen, seen_at=now))
    except sa.exc.IntegrityError:
        log.warning("hotline request refused: replayed")
        raise Unauthorized("this request was already received", {"reason": "replayed"}) from None


# -- filing an order ---------------------------------------------------------------------


def content_hash(order: Mapping[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(dict(order), sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()


def bridge_user(session: Session, settings: BridgeSettings) -> User:
    """The dispatcher account orders are filed as; made (unable to log in) at first use."""
    return service_account(session, settings.reporter, "12345 热线")


def _category(session: Session, hint: str | None) -> int:
    """The category the hint names (code or name), else the first one in use: the
    dispatcher corrects it when registering the case."""
    active = sa.select(Category.id).where(Category.active.is_(True))
    if hint:
        found = session.scalar(
            active.where(sa.or_(Category.code == hint, Category.name == hint)).limit(1)
        )
        if found is not None:
            return found
    found = session.scalar(active.order_by(Category.id).limit(1))
    if found is None:
        raise ValidationFailed("no category is in use to file the order under")
    return found


def _replayed_order(existing: HotlineOrder, digest: str) -> None:
    if existing.content_hash != digest:
        raise Conflict(
            f"order {existing.order_number} was received with other content",
            {"order_number": ["already used"]},
        )


def file_order(
    session: Session, media: Media, settings: BridgeSettings, order: Mapping[str, Any]
) -> Filed:
    """A case for the work order, or the one it already made (``created`` False); 409 for
    the same order number with other content."""
    digest = content_hash(order)
    number = order["order_number"]
    existing = session.scalar(sa.select(HotlineOrder).where(HotlineOrder.order_number == number))
    if existing is not None:
        _replayed_order(existing, digest)
        return Filed(existing, session.get(Case, existing.case_id), False)
    has_point = order.get("lat") is not None and order.get("lon") is not None
    point = (
        (order["lat"], order["lon"]) if has_point else (settings.default_lat, settings.default_lon)
    )
    report = NewReport(
        case_id=uuid.uuid5(ORDER_NAMESPACE, number),
        category=_category(session, order.get("category_hint")),
        description=order["content"],
        location={"lat": point[0], "lon": point[1], "crs": order.get("crs") or "wgs84"},
        address=order.get("location_text") or "",
        urgency=order.get("urgency") or "normal",
    )
    user = bridge_user(session, settings)
    reported = report_case(session, media, user, None, report, source="hotline")
    try:
        with transaction(session):
            case = reported.case
            if not has_point:
                case.routing = "needs_confirmation"
            row = HotlineOrder(
                order_number=number,
                case_id=case.id,
                content_hash=digest,
                caller_name=order.get("caller_name"),
                caller_phone=order.get("caller_phone"),
                content=order["content"],
                location_text=order.get("location_text") or "",
                category_hint=order.get("category_hint"),
                urgency=report.urgency,
                has_point=has_point,
                received_at=utcnow(),
            )
            session.add(row)
    except sa.exc.IntegrityError:
        # A concurrent twin of this order won the number: answer as its retry.
        existing = session.scalar(
            sa.select(HotlineOrder).where(HotlineOrder.order_number == number)
        )
        if existing is None:
            raise
        _replayed_order(existing, digest)
        return Filed(existing, session.get(Case, existing.case_id), False)
    log.info(
        "hotline order %s filed as case %s (caller %s, %s)",
        number,
        case.number,
        mask_name(row.caller_name),
        mask_phone(row.caller_phone),
    )
    return Filed(row, case, True)


# -- reading -----------------------------------------------------------------------------


def order_view(order: HotlineOrder, case: Case | None, *, full: bool) -> dict:
    """The order as the API shows it: the caller masked unless ``full``."""
    return {
        "order_number": order.order_number,
        "case_id": order.case_id,
        "case_number": case.number if case else None,
        "case_state": case.state if case else None,
        "caller_name": order.caller_name if full else mask_name(order.caller_name),
        "caller_phone": order.caller_phone if full else mask_phone(order.caller_phone),
        "content": order.content,
        "location_text": order.location_text,
        "category_hint": order.category_hint,
        "urgency": order.urgency,
        "has_point": order.has_point,
        "received_at": order.received_at,
        "anonymised": order.anonymised_at is not None,
    }


def orders_query() -> sa.Select:
    return sa.select(HotlineOrder).order_by(HotlineOrder.received_at.desc(), HotlineOrder.id.desc())


def order_views(session: Session, orders: list[HotlineOrder], *, full: bool) -> list[dict]:
    cases = {
        case.id: case
        for case in session.scalars(sa.select(Case).where(Case.id.in_([o.case_id for o in orders])))
    }
    return [order_view(order, cases.get(order.case_id), full=full) for order in orders]


def find_order(session: Session, ref: str) -> HotlineOrder:
    """An order by its case's id or by its 12345 order number."""
    stmt = sa.select(HotlineOrder)
    try:
        stmt = stmt.where(HotlineOrder.case_id == uuid.UUID(ref))
    except ValueError:
        stmt = stmt.where(HotlineOrder.order_number == ref)
    order = session.scalar(stmt)
    if order is None:
        raise NotFound(f"no hotline order {ref}")
    return order


def order_of_case(session: Session, case_id: uuid.UUID) -> HotlineOrder | None:
    return session.scalar(sa.select(HotlineOrder).where(HotlineOrder.case_id == case_id))


# -- retention ---------------------------------------------------------------------------


def anonymise(session: Session, retention_days: int, now: dt.datetime | None = None) -> int:
    """Clear the caller's name and phone of the orders received more than
    ``retention_days`` ago; how many were cleared."""
    now = now or utcnow()
    with transaction(session):
        result = session.execute(
            sa.update(HotlineOrder)
            .where(
                HotlineOrder.received_at < now - dt.timedelta(days=retention_days),
                HotlineOrder.anonymised_at.is_(None),
            )
            .values(caller_name=ANONYMISED, caller_phone=None, anonymised_at=now)
            .execution_options(synchronize_session=False)
        )
    return result.rowcount
