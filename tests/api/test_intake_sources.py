"""Sources first-class and 门前三包 done properly, through HTTP: a dispatcher's leader
(领导批示) and referral (部门转办) cases with what each needs; which sources count in 监督举报率
and 漏报率; a report in a shop's frontage bound to that shop whoever reports it; a merchant's
report far from their shop flagged; a self-check with an issue opening a case; the street's
daily self-check record."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from app.assessment.queries import Window, filings
from app.cases.models import Case
from app.merchants.services import create_shop
from app.orgunits import services as orgunits
from tests import case_factories as cf
from tests import factories, grid_data

CASES = "/api/v1/cases"
RECORD = "/api/v1/merchants/selfcheck-record"


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def frontage_shop(session, cw):
    """The world's merchant's shop at cell (1, 1), with its frontage zone drawn around it."""
    lat, lon = grid_data.cell_centre(1, 1)
    shop = create_shop(
        session,
        name="好运来小吃店",
        address="中山路 5 号",
        community_id=cw.world.community.id,
        lat=lat,
        lon=lon,
        merchant_id=cw.users["merchant"].id,
        frontage=cf.square_zone(lat, lon),
    )
    session.commit()
    return shop


def dispatcher_case(client, auth, cw, expect=201, **overrides) -> dict:
    return cf.report(client, auth("dispatcher"), cw.category, expect=expect, **overrides)


# -- leader and referral ------------------------------------------------------------------------


def test_a_leader_case_needs_the_leader_and_the_instruction(client, auth, cw, session):
    missing = dispatcher_case(client, auth, cw, expect=422, source="leader")
    assert set(missing["errors"]["origin"]) == {"leader_name", "instruction"}
    blank = dispatcher_case(
        client,
        auth,
        cw,
        expect=422,
        source="leader",
        origin={"leader_name": "王区长", "instruction": "   "},
    )
    assert set(blank["errors"]["origin"]) == {"instruction"}
    made = dispatcher_case(
        client,
        auth,
        cw,
        source="leader",
        origin={
            "leader_name": "王区长",
            "instruction": "请尽快清理",
            "reference": "批示〔2026〕3号",
        },
    )
    assert made["source"] == "leader"
    assert made["origin"]["leader_name"] == "王区长"
    assert made["origin"]["instruction"] == "请尽快清理"
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1


def test_a_referral_names_an_existing_department(client, auth, cw, session):
    dispatcher_case(client, auth, cw, expect=422, source="referral")
    unknown = dispatcher_case(
        client, auth, cw, expect=422, source="referral", origin={"referring_department_id": 99999}
    )
    assert "referring_department_id" in str(unknown["errors"])
    street = dispatcher_case(
        client,
        auth,
        cw,
        expect=422,
        source="referral",
        origin={"referring_department_id": cw.world.street.id},
    )
    assert "not a department" in str(street["errors"])
    made = dispatcher_case(
        client,
        auth,
        cw,
        source="referral",
        origin={"referring_department_id": cw.world.department.id},
    )
    assert made["origin"]["referring_department_id"] == cw.world.department.id
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1


def test_origin_only_for_leader_and_referral_and_only_dispatchers_choose(client, auth, cw):
    wrong = dispatcher_case(
        client, auth, cw, expect=422, source="public", origin={"leader_name": "x"}
    )
    assert "origin" in wrong["errors"]
    inspector = cf.report(client, auth("inspector"), cw.category, expect=422, source="leader")
    assert "source" in inspector["errors"]
    bad_type = dispatcher_case(
        client,
        auth,
        cw,
        expect=422,
        source="referral",
        origin={"referring_department_id": "D-SZ"},
    )
    assert "origin" in bad_type["errors"]["json"]


@pytest.mark.parametrize(
    ("source", "public", "missed"),
    [
        ("public", True, True),
        ("hotline", True, True),
        ("video", False, True),
        ("leader", False, True),
        ("referral", False, True),
        ("dispatcher", False, False),
    ],
)
def test_sources_feed_public_report_and_missed_report_rates(
    client, auth, cw, session, source, public, missed
):
    origin = {
        "leader": {"leader_name": "王区长", "instruction": "请处理"},
        "referral": {"referring_department_id": cw.world.department.id},
    }.get(source)
    made = dispatcher_case(
        client, auth, cw, source=source, **({"origin": origin} if origin else {})
    )
    cf.act(client, auth("dispatcher"), made["id"], "register", category_id=cw.category.id)
    case = session.get(Case, uuid.UUID(made["id"]))
    # Reported in grid 001, walked by the world's inspector.
    assert case.missed_by_id == (cw.users["inspector"].id if missed else None)
    now = dt.datetime.now(dt.UTC)
    window = Window(now - dt.timedelta(days=1), now + dt.timedelta(days=1))
    rows = session.execute(filings(window)).all()
    assert sum(row.filed for row in rows) == 1
    assert sum(row.public_filed for row in rows) == (1 if public else 0)
    assert sum(row.missed for row in rows) == (1 if missed else 0)


# -- frontage binding -----------------------------------------------------------------------------


def test_an_inspectors_report_in_a_frontage_lands_on_that_shops_merchant(
    client, auth, cw, frontage_shop, session
):
    lat, lon = grid_data.cell_centre(1, 1)
    made = cf.report(
        client, auth("inspector"), cw.category, location={"lat": lat + 0.0001, "lon": lon}
    )
    assert made["shop_id"] == frontage_shop.id and made["frontage_flag"] is None
    mine = client.get(CASES, headers=auth("merchant")).get_json()
    assert made["id"] in {case["id"] for case in mine}
    # Dispatched to the shop: the merchant gets the rectify task.
    cf.act(client, auth("dispatcher"), made["id"], "register", category_id=cw.category.id)
    cf.act(client, auth("dispatcher"), made["id"], "dispatch", shop_id=frontage_shop.id)
    tasks = client.get("/api/v1/tasks", headers=auth("merchant")).get_json()
    assert [t["kind"] for t in tasks if t["case"]["id"] == made["id"]] == ["rectify"]


def test_a_report_outside_every_frontage_is_not_bound(client, auth, cw, frontage_shop):
    made = cf.report(client, auth("inspector"), cw.category, location=cf.cell(0, 0))
    assert made["shop_id"] is None


def test_a_merchants_report_far_from_their_shop_is_flagged_not_bound(
    client, auth, cw, frontage_shop, session
):
    near = grid_data.cell_centre(1, 1)
    close = cf.report(
        client,
        auth("merchant"),
        cw.category,
        location={"lat": near[0] + 0.0005, "lon": near[1]},  # ~55 m from the zone
    )
    assert close["shop_id"] == frontage_shop.id and close["frontage_flag"] is None
    far = cf.report(client, auth("merchant"), cw.category, location=cf.cell(2, 2))
    assert far["shop_id"] is None
    assert far["frontage_flag"] == "far_from_own_shop"
    report_step = far["flow"][0]
    assert report_step["data"]["frontage_flag"] == "far_from_own_shop"
    assert report_step["data"]["own_shop_distance_m"] > 100


def test_a_merchants_report_in_anothers_frontage_is_bound_to_that_shop(
    client, auth, cw, frontage_shop, session
):
    merchant = cf.make_merchant(session, cw.world)
    cf.make_shop(session, cw.world, merchant, row=2, col=2, name="隔壁")
    headers = factories.login_headers(client, merchant.username)
    lat, lon = grid_data.cell_centre(1, 1)
    made = cf.report(client, headers, cw.category, location={"lat": lat, "lon": lon})
    assert made["shop_id"] == frontage_shop.id and made["frontage_flag"] is None


# -- self-check with a problem --------------------------------------------------------------------


def test_a_selfcheck_with_an_issue_opens_a_case_on_the_frontage(
    client, auth, cw, frontage_shop, session
):
    check = {
        "id": str(uuid.uuid4()),
        "sanitation": "ok",
        "order": "issue",
        "greenery": "ok",
        "note": "门口堆放杂物",
    }
    response = client.post("/api/v1/selfchecks", json=check, headers=auth("merchant"))
    assert response.status_code == 201, response.get_json()
    case = session.scalar(sa.select(Case))
    assert case is not None
    assert (case.source, case.state, case.shop_id) == ("merchant", "reported", frontage_shop.id)
    assert case.reporter_id == cw.users["merchant"].id
    assert "门口堆放杂物" in case.description and "秩序" in case.description
    # The same check again: no second case.
    again = client.post("/api/v1/selfchecks", json=check, headers=auth("merchant"))
    assert again.status_code == 200
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1
    clean = {**check, "id": str(uuid.uuid4()), "order": "ok"}
    assert (
        client.post("/api/v1/selfchecks", json=clean, headers=auth("merchant")).status_code == 201
    )
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1


# -- the street's daily self-check record ---------------------------------------------------------


@pytest.fixture
def two_shops(session, cw, frontage_shop):
    merchant = cf.make_merchant(session, cw.world)
    other = cf.make_shop(session, cw.world, merchant, row=2, col=2, name="隔壁水果店")
    return frontage_shop, other


def _checked(client, auth, **marks) -> None:
    body = {"id": str(uuid.uuid4()), "sanitation": "ok", "order": "ok", "greenery": "ok", **marks}
    assert client.post("/api/v1/selfchecks", json=body, headers=auth("merchant")).status_code == 201


def test_the_record_says_who_checked_today_and_who_has_not(client, auth, cw, two_shops):
    checked_shop, idle_shop = two_shops
    _checked(client, auth)
    street = cw.world.street.id
    rows = client.get(f"{RECORD}?street_id={street}", headers=auth("dispatcher"))
    assert rows.status_code == 200, rows.get_json()
    assert rows.headers["X-Pagination"]
    by_shop = {row["shop_id"]: row for row in rows.get_json()}
    assert by_shop[checked_shop.id]["checked"] is True
    assert by_shop[checked_shop.id]["checks"] == 1
    assert by_shop[checked_shop.id]["days_without_check"] == 0
    assert by_shop[checked_shop.id]["merchant_name"]
    assert by_shop[idle_shop.id]["checked"] is False
    assert by_shop[idle_shop.id]["last_checked_on"] is None
    missing = client.get(
        f"{RECORD}?street_id={street}&missing_days=3", headers=auth("street_chief")
    ).get_json()
    assert [row["shop_id"] for row in missing] == [idle_shop.id]
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    later = client.get(
        f"{RECORD}?street_id={street}&date={tomorrow}&missing_days=1", headers=auth("admin")
    ).get_json()
    assert {row["shop_id"] for row in later} == {checked_shop.id, idle_shop.id}
    paged = client.get(f"{RECORD}?street_id={street}&page_size=1", headers=auth("dispatcher"))
    assert len(paged.get_json()) == 1


def test_the_record_permissions_and_bad_queries(client, auth, cw, two_shops, session):
    street = cw.world.street.id
    for role in ("inspector", "merchant", "handler", "road_chief"):
        assert client.get(f"{RECORD}?street_id={street}", headers=auth(role)).status_code == 403
    assert client.get(f"{RECORD}?street_id={street}").status_code == 401
    other_street = orgunits.add_org_unit(session, "street", "350203002", "鹭江街道", "350203")
    session.commit()
    refused = client.get(f"{RECORD}?street_id={other_street.id}", headers=auth("street_chief"))
    assert refused.status_code == 403
    dispatcher = auth("dispatcher")
    assert client.get(f"{RECORD}?street_id=99999", headers=dispatcher).status_code == 404
    community = cw.world.community.id
    assert client.get(f"{RECORD}?street_id={community}", headers=dispatcher).status_code == 404
    for bad in (
        "",
        "street_id=x",
        f"street_id={street}&missing_days=0",
        f"street_id={street}&date=x",
    ):
        assert client.get(f"{RECORD}?{bad}", headers=dispatcher).status_code == 422, bad
