"""考评 publishing (每月通报), weights, who may read what, bad input and the XLSX download
(docs/assessment.md)."""

from __future__ import annotations

import io
import zipfile

import pytest
import sqlalchemy as sa

from app.cases.models import Case
from app.orgunits import services as orgunits
from tests.api.test_assessment import MONTH, figures, get, row_of, scenario
from tests.assessment_builder import Builder, local
from tests.case_factories import make_case_world

pytestmark = pytest.mark.usefixtures("app")


@pytest.fixture
def cw(session, world):
    return make_case_world(session, world)


@pytest.fixture
def ids(session, cw):
    return scenario(session, Builder(session, cw), cw)


def publish(client, auth, period=MONTH, expect=201, role="admin"):
    response = client.post(
        "/api/v1/assessment/publish", json={"period": period}, headers=auth(role)
    )
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def put_weights(client, auth, weights, expect=200, role="admin"):
    response = client.put(
        "/api/v1/assessment/weights", json={"weights": weights}, headers=auth(role)
    )
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def close_b_on_time(session, ids):
    """An edit of an old case: B closed on 14 March after all, on time."""
    session.execute(
        sa.update(Case)
        .where(Case.id == ids["B"])
        .values(closed_at=local(2025, 3, 14), closed_on_time=True)
    )
    session.commit()


# ---------------------------------------------------------------------------------------------
# Publishing


def test_publish_freezes_the_month_and_recompute_shows_the_difference(
    client, auth, session, cw, ids
):
    street = cw.world.street.code
    before = row_of(get(client, auth("dispatcher"), "street"), street)
    assert get(client, auth("dispatcher"), "street")["published"] is False

    published = publish(client, auth)
    assert published["period"] == MONTH
    assert published["levels"]["street"] == 1 and published["levels"]["grid"] == 9
    assert published["weights"]["inspector"]["valid_report_rate"] == 0.4

    close_b_on_time(session, ids)
    frozen = get(client, auth("dispatcher"), "street")
    assert frozen["published"] is True and frozen["published_at"] is not None
    assert row_of(frozen, street) == before  # figures, score, rank and changes as published

    current = get(client, auth("dispatcher"), "street", recompute="true")
    assert current["published"] is True
    row = row_of(current, street)
    assert figures(row)["closure_rate"] == (4, 5, 80.0)
    diff = row["published_diff"]
    assert diff["formulas"]["closure_rate"] == {"numerator": 1, "denominator": 0, "rate": 20.0}
    assert diff["formulas"]["rework_rate"] == {"numerator": 0, "denominator": 0, "rate": 0.0}
    assert diff["score"] == 16.0  # 0.3 × 0.2 + 0.5 × 0.2: 64 → 80
    assert diff["rank"] == 0

    publish(client, auth, expect=409)


def test_every_level_is_published_at_once(client, auth, ids):
    publish(client, auth)
    for level in ("district", "street", "community", "grid", "department", "inspector"):
        assert get(client, auth("dispatcher"), level)["published"] is True
    assert get(client, auth("dispatcher"), "dispatcher")["published"] is True
    assert get(client, auth("dispatcher"), "street", "2025-04")["published"] is False


def test_weights_are_frozen_with_the_month(client, auth, cw, ids):
    street = cw.world.street.code
    publish(client, auth)
    put_weights(client, auth, {"region": {"public_report_rate": 1.0}})
    frozen = get(client, auth("dispatcher"), "street")
    assert row_of(frozen, street)["score"] == 64.0
    assert frozen["weights"]["region"]["public_report_rate"] == 0.0
    current = row_of(get(client, auth("dispatcher"), "street", recompute="true"), street)
    # (0.64 + 1.0 × (1 − 0.2)) / 2.0 = 0.72
    assert current["score"] == 72.0
    assert current["published_diff"]["score"] == 8.0


def test_the_change_is_against_the_published_previous_month(client, auth, session, cw, ids):
    street = cw.world.street.code
    publish(client, auth, "2025-02")  # February: 1 of 2 closed, score 60
    # A February case entered late, closed on time in February and due in no other month:
    # live February is now 2 of 3, March is unchanged.
    Builder(session, cw).case(
        registered_at=local(2025, 2, 1), deadline=local(2025, 2, 10), closed_at=local(2025, 2, 9)
    )
    session.commit()
    live_february = row_of(
        get(client, auth("dispatcher"), "street", "2025-02", recompute=1), street
    )
    assert figures(live_february)["closure_rate"] == (2, 3, 66.67)
    march = row_of(get(client, auth("dispatcher"), "street"), street)
    assert figures(march)["closure_rate"] == (3, 5, 60.0)
    assert march["formulas"]["closure_rate"]["change"] == 10.0  # 60 − 50 as published
    assert march["score_change"] == 4.0


@pytest.mark.parametrize(
    ("period", "reason"),
    [("2026-12", "not over"), ("2099-01", "in the future"), ("2025-3", "expected YYYY-MM")],
)
def test_publishing_needs_a_month_that_is_over(client, auth, ids, period, reason):
    answer = publish(client, auth, period, expect=422)
    assert answer["errors"]["period"] == [reason]


def test_only_an_admin_publishes(client, auth, ids):
    for role in ("dispatcher", "street_chief", "handler", "inspector", "merchant"):
        publish(client, auth, expect=403, role=role)


# ---------------------------------------------------------------------------------------------
# Weights


def test_weights_change_scores(client, auth, cw, ids):
    weights = client.get("/api/v1/assessment/weights", headers=auth("handler")).get_json()
    assert weights["weights"]["inspector"] == {
        "valid_report_rate": 0.4,
        "missed_report_rate": 0.2,
        "on_time_verification_rate": 0.2,
        "on_time_check_rate": 0.2,
    }
    changed = put_weights(
        client, auth, {"inspector": {"valid_report_rate": 0, "on_time_check_rate": 0}}
    )
    assert changed["weights"]["inspector"]["missed_report_rate"] == 0.2  # kept
    mine = row_of(get(client, auth("dispatcher"), "inspector"), cw.users["inspector"].username)
    # (0.2 × 1 + 0.2 × 0.5) / 0.4 = 0.75
    assert mine["score"] == 75.0
    assert (
        get(client, auth("dispatcher"), "inspector")["weights"]["inspector"]["valid_report_rate"]
        == 0.0
    )


@pytest.mark.parametrize(
    ("weights", "field"),
    [
        ({"city": {"closure_rate": 1}}, "city"),
        ({"region": {"handling_rate": 1}}, "region.handling_rate"),
        ({"region": {"closure_rate": -0.1}}, "region.closure_rate"),
        ({"region": {"closure_rate": 1e9}}, "region.closure_rate"),
        (
            {"dispatcher": {"on_time_dispatch_rate": 0, "accurate_dispatch_rate": 0}},
            "dispatcher",
        ),
    ],
)
def test_bad_weights_change_nothing(client, auth, weights, field):
    answer = put_weights(client, auth, weights, expect=422)
    assert field in answer["errors"]
    stored = client.get("/api/v1/assessment/weights", headers=auth("admin")).get_json()
    assert stored["weights"]["region"]["closure_rate"] == 0.3
    assert stored["weights"]["dispatcher"]["on_time_dispatch_rate"] == 0.5


def test_only_an_admin_sets_weights(client, auth):
    for role in ("dispatcher", "street_chief", "handler", "inspector"):
        put_weights(client, auth, {"region": {"closure_rate": 1}}, expect=403, role=role)
    for role in ("road_chief", "merchant"):
        response = client.get("/api/v1/assessment/weights", headers=auth(role))
        assert response.status_code == 403


# ---------------------------------------------------------------------------------------------
# Who may read what


ALL_LEVELS = ("district", "street", "community", "grid", "department", "inspector", "dispatcher")
ALLOWED = {
    "dispatcher": set(ALL_LEVELS),
    "admin": set(ALL_LEVELS),
    "street_chief": {"street", "community", "grid"},
    "handler": {"department"},
    "inspector": {"inspector"},
    "road_chief": set(),
    "merchant": set(),
}


@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_permission_matrix(client, auth, role):
    for level in ALL_LEVELS:
        expect = 200 if level in ALLOWED[role] else 403
        get(client, auth(role), level, expect=expect)


def test_a_street_chief_sees_every_street_and_their_own_street_below(
    client, auth, session, cw, ids
):
    other_street = orgunits.add_org_unit(session, "street", "350203002", "鼓浪屿街道", "350203")
    orgunits.add_org_unit(session, "community", "350203002001", "龙头社区", "350203002")
    session.commit()
    chief = auth("street_chief")
    streets = get(client, chief, "street")["rows"]
    assert {row["code"] for row in streets} == {cw.world.street.code, other_street.code}
    communities = get(client, chief, "community")["rows"]
    assert [row["code"] for row in communities] == [cw.world.community.code]
    grids = get(client, chief, "grid")["rows"]
    assert len(grids) == 9 and {row["street_id"] for row in grids} == {cw.world.street.id}
    everything = get(client, auth("dispatcher"), "community")["rows"]
    assert len(everything) == 2


def test_a_handler_sees_the_department_ranking(client, auth, cw, ids):
    rows = get(client, auth("handler"), "department")["rows"]
    assert {row["code"] for row in rows} == {cw.world.department.code, "D-HW"}


def test_an_inspector_sees_their_own_row(client, auth, cw, ids):
    rows = get(client, auth("inspector"), "inspector")["rows"]
    assert [(row["code"], row["rank"]) for row in rows] == [(cw.users["inspector"].username, 1)]


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    "params",
    [
        {"period": "2025-13", "level": "street"},
        {"period": "2025-3", "level": "street"},
        {"period": "March", "level": "street"},
        {"period": "2099-01", "level": "street"},
        {"period": "2025-03", "level": "city"},
        {"period": "2025-03", "level": "street", "format": "pdf"},
        {"period": "2025-03", "level": "street", "recompute": "maybe"},
        {"level": "street"},
        {"period": "2025-03"},
    ],
)
def test_bad_input_is_a_422(client, auth, params):
    response = client.get("/api/v1/assessment", query_string=params, headers=auth("admin"))
    assert response.status_code == 422, response.get_json()


def test_no_token_is_a_401(client):
    response = client.get("/api/v1/assessment", query_string={"period": MONTH, "level": "street"})
    assert response.status_code == 401


# ---------------------------------------------------------------------------------------------
# XLSX


def test_xlsx_download(client, auth, cw, ids):
    response = client.get(
        "/api/v1/assessment",
        query_string={"period": MONTH, "level": "dispatcher", "format": "xlsx"},
        headers=auth("dispatcher"),
    )
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert "assessment-dispatcher-2025-03.xlsx" in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.data)) as book:
        names = book.namelist()
        assert "xl/worksheets/sheet1.xml" in names and "xl/worksheets/sheet2.xml" in names
        strings = book.read("xl/sharedStrings.xml").decode()
    assert "2025-03 考评 · 指挥中心 · 值班长 (未通报)" in strings
    assert "按时派遣率 dispatched_on_time" in strings
    assert cw.users["dispatcher"].display_name in strings


def test_xlsx_download_needs_the_same_right(client, auth):
    response = client.get(
        "/api/v1/assessment",
        query_string={"period": MONTH, "level": "district", "format": "xlsx"},
        headers=auth("handler"),
    )
    assert response.status_code == 403
