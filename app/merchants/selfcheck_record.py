"""门前三包 daily self-check record of a street, for its street office and the assessment:
each shop of the street's communities, whether it was checked on the day, when it was last
checked, and — with ``missing_days`` N — only the shops not checked in the N days ending on
the day. Days are the work calendar's local days.

Who reads it: the command centre (dispatchers, admins) any street; a street chief their own
street (403 ``not_in_scope`` for another).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.core.errors import Forbidden, NotFound
from app.merchants.models import SelfCheck, Shop
from app.orgunits.models import OrgUnit
from app.workcalendar.services import get_calendar

MAX_MISSING_DAYS = 366


@dataclasses.dataclass(frozen=True)
class RecordWindow:
    """The day (UTC instants of its local start and end) and where the missing run starts."""

    day: dt.date
    start: dt.datetime
    end: dt.datetime
    missing_from: dt.datetime | None


def record_window(session: Session, day: dt.date, missing_days: int | None) -> RecordWindow:
    zone = get_calendar(session).zone

    def start_of(local: dt.date) -> dt.datetime:
        return dt.datetime.combine(local, dt.time(), zone).astimezone(dt.UTC)

    end = start_of(day + dt.timedelta(days=1))
    missing = start_of(day - dt.timedelta(days=missing_days - 1)) if missing_days else None
    return RecordWindow(day, start_of(day), end, missing)


def check_street(session: Session, user: User, street_id: int) -> OrgUnit:
    street = session.get(OrgUnit, street_id)
    if street is None or street.kind != "street":
        raise NotFound(f"street {street_id} does not exist")
    if user.role == Role.STREET_CHIEF and user.org_unit_id != street.id:
        raise Forbidden(
            "a street chief reads their own street's record", {"reason": "not_in_scope"}
        )
    return street


def record_query(street_id: int, window: RecordWindow) -> sa.Select:
    """The street's shops (of its communities), those not checked in the run when asked."""
    communities = sa.select(OrgUnit.id).where(OrgUnit.parent_id == street_id)
    stmt = sa.select(Shop).where(Shop.community_id.in_(communities))
    if window.missing_from is not None:
        checked = sa.select(SelfCheck.id).where(
            SelfCheck.shop_id == Shop.id,
            SelfCheck.created_at >= window.missing_from,
            SelfCheck.created_at < window.end,
        )
        stmt = stmt.where(~checked.exists())
    return stmt.order_by(Shop.community_id, Shop.id)


def record_rows(session: Session, shops: list[Shop], window: RecordWindow) -> list[dict]:
    """One row per shop: checked on the day (and with an issue), last check up to the day."""
    ids = [shop.id for shop in shops]
    last = dict(
        session.execute(
            sa.select(SelfCheck.shop_id, sa.func.max(SelfCheck.created_at))
            .where(SelfCheck.shop_id.in_(ids), SelfCheck.created_at < window.end)
            .group_by(SelfCheck.shop_id)
        ).all()
    )
    today: dict[int, list[SelfCheck]] = {}
    for check in session.scalars(
        sa.select(SelfCheck).where(
            SelfCheck.shop_id.in_(ids),
            SelfCheck.created_at >= window.start,
            SelfCheck.created_at < window.end,
        )
    ):
        today.setdefault(check.shop_id, []).append(check)
    merchants = {
        user.id: user
        for user in session.scalars(
            sa.select(User).where(User.id.in_({s.merchant_id for s in shops if s.merchant_id}))
        )
    }
    calendar = get_calendar(session)
    rows = []
    for shop in shops:
        last_at = last.get(shop.id)
        last_day = calendar.local_date(_aware(last_at)) if last_at else None
        merchant = merchants.get(shop.merchant_id)
        rows.append(
            {
                "shop_id": shop.id,
                "shop_name": shop.name,
                "community_id": shop.community_id,
                "merchant_id": shop.merchant_id,
                "merchant_name": merchant.display_name if merchant else None,
                "checked": shop.id in today,
                "checks": len(today.get(shop.id, [])),
                "has_issue": any(check.has_issue for check in today.get(shop.id, [])),
                "last_checked_on": last_day,
                "days_without_check": (window.day - last_day).days if last_day else None,
            }
        )
    return rows


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
