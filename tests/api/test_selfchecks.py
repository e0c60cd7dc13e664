"""Merchants' daily frontage self-checks (门前三包 自查), over REST and as the offline
``selfcheck.create``: only a merchant, only for their own shop, append-only by UUID; read by
whoever sees the shop's area."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import sqlalchemy as sa

from app.cases.models import Case
from app.merchants.models import SelfCheck
from app.orgunits import services as orgunits
from app.photos.models import Photo
from tests import case_factories as cf
from tests import factories
from tests import push_factories as pf
from tests.media import photos as pictures

URL = "/api/v1/selfchecks"


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def shop(session, cw):
    """The world's merchant's one shop."""
    return cf.make_shop(session, cw.world, cw.users["merchant"])


@pytest.fixture
def other_merchant(session, cw):
    merchant = cf.make_merchant(session, cw.world)
    other_shop = cf.make_shop(session, cw.world, merchant, row=1, col=1, name="隔壁水果店")
    return merchant, other_shop


def body(**overrides) -> dict:
    check = {
        "id": str(uuid.uuid4()),
        "sanitation": "ok",
        "order": "ok",
        "greenery": "issue",
        "note": "绿化带有枯枝",
        "photos": [cf.photo("selfcheck")],
    }
    check.update(overrides)
    return check


def post(client, headers, expect: int = 201, **overrides) -> dict:
    response = client.post(URL, json=body(**overrides), headers=headers)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def stored(session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(SelfCheck))


def test_a_merchant_with_one_shop_records_a_check_without_naming_it(
    client, auth, cw, shop, session
):
    sent = body()
    response = client.post(URL, json=sent, headers=auth("merchant"))
    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert made["id"] == sent["id"]
    assert (made["shop_id"], made["merchant_id"]) == (shop.id, cw.users["merchant"].id)
    assert (made["sanitation"], made["order"], made["greenery"]) == ("ok", "ok", "issue")
    assert made["has_issue"] is True
    assert made["note"] == "绿化带有枯枝"
    assert made["photo_ids"] == [sent["photos"][0]["photo_id"]]
    assert made["device_id"] == "test-phone"
    photo = session.get(Photo, uuid.UUID(sent["photos"][0]["photo_id"]))
    assert (photo.kind, photo.status, photo.owner_id) == (
        "selfcheck",
        "pending",
        cw.users["merchant"].id,
    )
    read = client.get(f"{URL}/{made['id']}", headers=auth("merchant"))
    assert read.get_json() == made


def test_a_check_with_an_issue_opens_one_case_on_the_shop(client, auth, shop, session):
    post(client, auth("merchant"), sanitation="issue", order="issue", greenery="issue")
    case = session.scalar(sa.select(Case))
    assert (case.source, case.state, case.shop_id) == ("merchant", "reported", shop.id)
    post(client, auth("merchant"))  # greenery only: a second check, a second case
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 2


def test_the_same_check_again_is_stored_once_other_content_is_409(client, auth, shop, session):
    sent = body()
    first = post(client, auth("merchant"), **sent)
    again = post(client, auth("merchant"), expect=200, **sent)
    assert again == first
    post(client, auth("merchant"), expect=409, **{**sent, "greenery": "ok"})
    post(client, auth("merchant"), expect=409, **{**sent, "photos": [cf.photo("selfcheck")]})
    assert stored(session) == 1


def test_a_merchant_of_several_shops_must_name_one(client, auth, cw, shop, session):
    second = cf.make_shop(session, cw.world, cw.users["merchant"], row=2, col=2, name="二号店")
    refused = post(client, auth("merchant"), expect=422)
    assert refused["errors"]["reason"] == "shop_required"
    made = post(client, auth("merchant"), shop_id=second.id)
    assert made["shop_id"] == second.id
    assert stored(session) == 1


def test_a_merchant_without_a_shop_is_told_so(client, auth, cw, session):
    refused = post(client, auth("merchant"), expect=422)
    assert refused["errors"]["reason"] == "shop_required"
    assert stored(session) == 0


def test_another_merchants_shop_is_403_and_an_unknown_one_404(
    client, auth, shop, other_merchant, session
):
    _merchant, their_shop = other_merchant
    refused = post(client, auth("merchant"), expect=403, shop_id=their_shop.id)
    assert refused["errors"]["reason"] == "not_in_scope"
    post(client, auth("merchant"), expect=404, shop_id=999999)
    assert stored(session) == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"sanitation": "fine"},
        {"order": None},
        {"greenery": 1},
        {"photos": [cf.photo("problem")]},
        {"photos": [{"photo_id": str(uuid.uuid4()), "sha256": "abc"}]},
        {"note": "x" * 2001},
        {"shop_id": "1"},
        {"id": "not-a-uuid"},
        {"merchant_id": 1},
    ],
)
def test_a_bad_check_is_422_and_stores_nothing(client, auth, shop, session, overrides):
    post(client, auth("merchant"), expect=422, **overrides)
    assert stored(session) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(Photo)) == 0


def test_a_check_missing_a_result_is_422(client, auth, shop, session):
    sent = body()
    del sent["greenery"]
    response = client.post(URL, json=sent, headers=auth("merchant"))
    assert response.status_code == 422
    assert "greenery" in response.get_json()["errors"]["json"]


def test_the_photos_bytes_may_come_after_the_check(client, auth, shop, session):
    data = pictures.encode(pictures.scene(200, 150, seed=11), "JPEG")
    sha = hashlib.sha256(data).hexdigest()
    ref = {"photo_id": str(uuid.uuid4()), "sha256": sha, "kind": "selfcheck"}
    post(client, auth("merchant"), photos=[ref])
    assert session.get(Photo, uuid.UUID(ref["photo_id"])).status == "pending"
    uploaded = client.put(f"/api/v1/blobs/{sha}", data=data, headers=auth("merchant"))
    assert uploaded.status_code == 201
    session.expire_all()
    assert session.get(Photo, uuid.UUID(ref["photo_id"])).status == "available"


# -- who reads which checks -------------------------------------------------------------------


@pytest.fixture
def elsewhere(session, cw):
    """A street chief and an inspector of another street, with a shop of their own there."""
    street = orgunits.add_org_unit(session, "street", "350203002", "鹭江街道", "350203")
    community = orgunits.add_org_unit(session, "community", "350203002001", "鹭江社区", "350203002")
    chief = factories.make_user(session, "street_chief", street)
    inspector = factories.make_user(session, "inspector", community)
    session.commit()
    return chief, inspector


def _ids(client, headers, query: str = "") -> set[str]:
    response = client.get(f"{URL}{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return {check["id"] for check in response.get_json()}


def test_who_reads_which_checks(client, auth, cw, shop, other_merchant, elsewhere):
    merchant, their_shop = other_merchant
    their_headers = factories.login_headers(client, merchant.username)
    mine = post(client, auth("merchant"))["id"]
    theirs = post(client, their_headers, shop_id=their_shop.id, greenery="ok")["id"]
    both = {mine, theirs}
    assert _ids(client, auth("merchant")) == {mine}
    assert _ids(client, their_headers) == {theirs}
    for role in ("street_chief", "road_chief", "inspector", "dispatcher", "admin"):
        assert _ids(client, auth(role)) == both, role
    chief, inspector = elsewhere
    for user in (chief, inspector):
        headers = factories.login_headers(client, user.username)
        assert _ids(client, headers) == set()
        assert client.get(f"{URL}/{mine}", headers=headers).status_code == 404
    assert client.get(f"{URL}/{theirs}", headers=auth("merchant")).status_code == 404
    assert client.get(f"{URL}/{uuid.uuid4()}", headers=auth("dispatcher")).status_code == 404
    assert client.get(URL, headers=auth("handler")).status_code == 403


def test_checks_filter_by_shop_and_issue_newest_first(client, auth, shop, other_merchant):
    merchant, their_shop = other_merchant
    their_headers = factories.login_headers(client, merchant.username)
    first = post(client, auth("merchant"))["id"]
    clean = post(client, auth("merchant"), greenery="ok")["id"]
    theirs = post(client, their_headers, shop_id=their_shop.id)["id"]
    listed = client.get(f"{URL}?shop_id={shop.id}", headers=auth("dispatcher")).get_json()
    assert [check["id"] for check in listed] == [clean, first]
    assert _ids(client, auth("dispatcher"), "?has_issue=true") == {first, theirs}
    assert _ids(client, auth("dispatcher"), "?has_issue=false") == {clean}
    page = client.get(f"{URL}?page=1&page_size=1", headers=auth("dispatcher"))
    assert '"total": 3' in page.headers["X-Pagination"]


def test_whoever_reads_a_check_may_see_its_photos(client, auth, shop, elsewhere):
    ref = cf.photo("selfcheck")
    post(client, auth("merchant"), photos=[ref])
    url = f"/api/v1/photos/{ref['photo_id']}"
    assert client.get(url, headers=auth("street_chief")).status_code == 200
    chief, _inspector = elsewhere
    outsider = factories.login_headers(client, chief.username)
    assert client.get(url, headers=outsider).status_code == 404


# -- selfcheck.create through the sync push -----------------------------------------------


@pytest.fixture
def phone(client, cw):
    device = "phone-merchant"
    headers = factories.login_headers(client, cw.users["merchant"].username, device_id=device)
    return headers, device


def args(**overrides) -> dict:
    check = {"sanitation": "ok", "order": "issue", "greenery": "ok", "note": "门口有占道"}
    check.update(overrides)
    return check


def test_a_pushed_check_is_applied(client, auth, phone, shop, session):
    headers, device = phone
    check_id = uuid.uuid4()
    photo = cf.photo("selfcheck")
    answer = pf.push(
        client,
        headers,
        device,
        pf.mutation(1, "selfcheck.create", check_id, args(photos=[photo])),
    )
    [result] = answer["results"]
    assert (result["status"], result["entity_type"], result["entity_id"]) == (
        "applied",
        "selfcheck",
        str(check_id),
    )
    made = client.get(f"{URL}/{check_id}", headers=auth("dispatcher")).get_json()
    assert (made["shop_id"], made["order"], made["device_id"]) == (shop.id, "issue", device)
    assert made["photo_ids"] == [photo["photo_id"]]
    assert made["client_ts"] == "2026-11-22T00:01:00+00:00"


def test_a_check_sent_again_under_new_mids_is_stored_once(client, phone, shop, session):
    headers, device = phone
    check_id = uuid.uuid4()
    sent = args(shop_id=shop.id, photos=[cf.photo("selfcheck")])
    answer = pf.push(
        client,
        headers,
        device,
        pf.mutation(1, "selfcheck.create", check_id, sent),
        pf.mutation(2, "selfcheck.create", check_id, sent),
        pf.mutation(3, "selfcheck.create", check_id, {**sent, "greenery": "issue"}),
    )
    assert pf.outcomes(answer) == [("applied", None), ("applied", None), ("rejected", "id_reused")]
    assert stored(session) == 1
    assert session.get(SelfCheck, check_id).greenery == "ok"


def test_pushed_checks_refused_by_scope_or_shop_are_rejected_with_their_reason(
    client, cw, phone, shop, other_merchant, session
):
    headers, device = phone
    _merchant, their_shop = other_merchant
    second = cf.make_shop(session, cw.world, cw.users["merchant"], row=2, col=2, name="二号店")
    answer = pf.push(
        client,
        headers,
        device,
        pf.mutation(1, "selfcheck.create", uuid.uuid4(), args(shop_id=their_shop.id)),
        pf.mutation(2, "selfcheck.create", uuid.uuid4(), args()),
        pf.mutation(3, "selfcheck.create", uuid.uuid4(), args(shop_id=999999)),
        pf.mutation(4, "selfcheck.create", uuid.uuid4(), args(shop_id=second.id)),
    )
    assert pf.outcomes(answer) == [
        ("rejected", "not_in_scope"),
        ("rejected", "shop_required"),
        ("rejected", "not_found"),
        ("applied", None),
    ]
    assert stored(session) == 1


def test_a_check_pushed_by_someone_not_a_merchant_is_rejected_wrong_role(client, cw, shop, session):
    device = "phone-inspector"
    headers = factories.login_headers(client, cw.users["inspector"].username, device_id=device)
    answer = pf.push(
        client,
        headers,
        device,
        pf.mutation(1, "selfcheck.create", uuid.uuid4(), args(shop_id=shop.id)),
    )
    assert pf.outcomes(answer) == [("rejected", "wrong_role")]
    assert stored(session) == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"sanitation": "fine"},
        {"order": None},
        {"shop_id": "1"},
        {"shop_id": 0},
        {"photos": [cf.photo("problem")]},
        {"photos": "none"},
        {"merchant_id": 1},
    ],
)
def test_a_malformed_pushed_check_is_rejected_validation(client, phone, shop, session, overrides):
    headers, device = phone
    sent = pf.mutation(1, "selfcheck.create", uuid.uuid4(), args(**overrides))
    answer = pf.push(client, headers, device, sent)
    assert pf.outcomes(answer) == [("rejected", "validation")]
    assert stored(session) == 0
