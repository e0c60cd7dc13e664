"""门前三包 bindings of many reports at once (``frontage.bind_reports``, a push's reports)
are each what ``bind_report`` says of the point alone: zones that overlap, points in no
zone, a merchant's own shop near and far, more points than one query takes."""

from __future__ import annotations

import random

from app.accounts.models import Role
from app.cases import frontage
from app.merchants.services import add_shop
from tests import case_factories as cf
from tests import factories

LAT, LON = 24.46, 118.08
STEP = 0.0006  # about 60 m between shops along a street


def test_many_points_are_bound_as_each_alone(session, world):
    merchant = factories.make_user(session, Role.MERCHANT, world.community)
    for index in range(12):
        lat, lon = LAT, LON + index * STEP
        # Zones of 80 m across: neighbours 60 m apart overlap; every third has none.
        zone = None if index % 3 == 2 else cf.square_zone(lat, lon, 0.0004)
        add_shop(
            session,
            name=f"店{index}",
            address=f"中山路 {index} 号",
            community_id=world.community.id,
            lat=lat,
            lon=lon,
            merchant_id=merchant.id if index in (2, 5) else None,
            frontage=zone,
        )
    session.commit()
    rng = random.Random(3)
    points = [
        (LAT + rng.uniform(-0.002, 0.002), LON + rng.uniform(-0.001, 12 * STEP + 0.001))
        for _ in range(230)
    ]
    for user in (world.users["inspector"], merchant):
        alone = [frontage.bind_report(session, user, lat, lon, 150.0) for lat, lon in points]
        many = frontage.bind_reports(session, user, points, 150.0)
        assert many == alone
        bound = [binding.shop_id for binding in many if binding.shop_id]
        assert len(bound) > 20 and len(set(bound)) > 4
    flags = [b.flag for b in frontage.bind_reports(session, merchant, points, 150.0)]
    assert "far_from_own_shop" in flags
    assert frontage.bind_reports(session, merchant, [], 150.0) == []
