"""Shop use cases: register a shop with its frontage zone and responsible merchant."""

from __future__ import annotations

import json

import sqlalchemy as sa
from shapely.geometry import shape
from shapely.validation import explain_validity
from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.accounts.services import get_user
from app.core.db import transaction
from app.core.errors import NotFound, ValidationFailed
from app.merchants.models import Shop
from app.orgunits.services import get_org_unit


def _frontage_text(frontage: dict | None) -> str | None:
    if frontage is None:
        return None
    try:
        polygon = shape(frontage)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise ValidationFailed("the frontage is not GeoJSON", {"frontage": [str(error)]}) from None
    if polygon.geom_type != "Polygon":
        raise ValidationFailed(
            "the frontage is a Polygon", {"frontage": [f"got {polygon.geom_type}"]}
        )
    if not polygon.is_valid:
        raise ValidationFailed(
            "the frontage polygon is invalid", {"frontage": [explain_validity(polygon)]}
        )
    return json.dumps(frontage)


# One keyword per column of the shop, as the admin's body and the demo district name them;
# a parameter class would only repeat the columns.
def add_shop(  # noqa: PLR0913
    session: Session,
    *,
    name: str,
    address: str,
    community_id: int,
    lat: float,
    lon: float,
    merchant_id: int | None = None,
    frontage: dict | None = None,
    pledge_signed_on=None,
) -> Shop:
    """Add a shop inside the caller's transaction."""
    community = get_org_unit(session, community_id)
    if community.kind != "community":
        raise ValidationFailed(
            "a shop lies in a community", {"community_id": [f"is a {community.kind}"]}
        )
    if merchant_id is not None and get_user(session, merchant_id).role != Role.MERCHANT:
        raise ValidationFailed(
            "the responsible person must be a merchant user", {"merchant_id": ["not a merchant"]}
        )
    shop = Shop(
        name=name,
        address=address,
        community_id=community_id,
        lat=lat,
        lon=lon,
        merchant_id=merchant_id,
        frontage=_frontage_text(frontage),
        pledge_signed_on=pledge_signed_on,
    )
    session.add(shop)
    session.flush()
    return shop


def create_shop(session: Session, **fields) -> Shop:
    """Register a shop under 门前三包."""
    with transaction(session):
        return add_shop(session, **fields)


def get_shop(session: Session, shop_id: int) -> Shop:
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise NotFound(f"shop {shop_id} does not exist")
    return shop


def shops_query(merchant_id: int | None = None, community_id: int | None = None) -> sa.Select:
    stmt = sa.select(Shop).order_by(Shop.id)
    if merchant_id is not None:
        stmt = stmt.where(Shop.merchant_id == merchant_id)
    if community_id is not None:
        stmt = stmt.where(Shop.community_id == community_id)
    return stmt
