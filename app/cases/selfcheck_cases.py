"""门前三包: a merchant's self-check marked with a problem opens a case on the frontage.

The case is the merchant's report (source ``merchant``) at their shop, bound to it, in
``reported`` for the command centre to dispatch to the shop (a rectify task) or to a
department; its category is the one configured for the first mark with an ``issue``
(``SELFCHECK_ISSUE_CATEGORIES``). The case id follows from the self-check's, so a
self-check opens one case however often it is announced.

``register`` subscribes it to the merchants' outbox topic ``merchants.selfcheck_issue``,
written in the self-check's transaction: the case is opened after the commit, retried if
it fails, and by the relay if the process died in between. ``create_app`` calls it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from flask import current_app
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases.intake import Reported, report_case
from app.cases.reports import NewReport
from app.cases.services import CasePolicy
from app.core import outbox
from app.merchants.models import SelfCheck, Shop
from app.merchants.topics import SELFCHECK_ISSUE
from app.photos.backends import Media, media

MARKS = ("sanitation", "order", "greenery")
MARK_NAMES = {"sanitation": "市容环境卫生", "order": "秩序", "greenery": "绿化"}


def selfcheck_case_id(selfcheck_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"selfcheck-case:{selfcheck_id}")


def open_selfcheck_case(
    session: Session,
    media: Media,
    selfcheck_id: uuid.UUID,
    categories: Mapping[str, Mapping],
    policy: CasePolicy = CasePolicy(),
) -> Reported | None:
    """The case of a self-check with an issue (None for a check without one)."""
    check = session.get(SelfCheck, selfcheck_id)
    if check is None or not check.has_issue:
        return None
    shop = session.get(Shop, check.shop_id)
    merchant = session.get(User, check.merchant_id)
    issues = [mark for mark in MARKS if getattr(check, mark) == "issue"]
    names = "、".join(MARK_NAMES[mark] for mark in issues)
    description = f"门前三包自查发现问题({names}): {check.note or '无说明'}"
    return report_case(
        session,
        media,
        merchant,
        check.device_id,
        NewReport(
            case_id=selfcheck_case_id(check.id),
            category=dict(categories[issues[0]]),
            description=description[:4000],
            location={"lat": shop.lat, "lon": shop.lon, "crs": "wgs84"},
            address=shop.address,
            client_ts=check.client_ts,
        ),
        source="merchant",
        policy=policy,
    )


def on_selfcheck_issue(session: Session, payload: dict) -> None:
    """The outbox handler of ``merchants.selfcheck_issue``: raises, so its row is retried."""
    config = current_app.config
    open_selfcheck_case(
        session,
        media(),
        uuid.UUID(payload["selfcheck_id"]),
        config["SELFCHECK_ISSUE_CATEGORIES"],
        CasePolicy.from_config(config),
    )


def register() -> None:
    outbox.subscribe(SELFCHECK_ISSUE, "cases.selfcheck_case", on_selfcheck_issue)
