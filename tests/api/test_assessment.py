"""考评 figures by hand-computed fixtures (docs/assessment.md): each formula at each level,
the published Tianmen figures reproduced from cases, ties, the previous month's change."""

from __future__ import annotations

import pytest

from tests.assessment_builder import Builder, local
from tests.case_factories import make_case_world

pytestmark = pytest.mark.usefixtures("app")

MONTH = "2025-03"


@pytest.fixture
def cw(session, world):
    return make_case_world(session, world)


@pytest.fixture
def build(session, cw):
    return Builder(session, cw)


def get(client, headers, level, period=MONTH, expect=200, **params):
    response = client.get(
        "/api/v1/assessment",
        query_string={"period": period, "level": level, **params},
        headers=headers,
    )
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def row_of(answer, code, subject=None):
    rows = [
        row
        for row in answer["rows"]
        if row["code"] == code and (subject is None or row["subject"] == subject)
    ]
    assert len(rows) == 1, answer["rows"]
    return rows[0]


def test_tianmen_published_figures_from_cases(client, auth, session, build, cw):
    """Tianmen: 972 due, 911 closed, 737 on time → 93.72 % and 75.82 %."""
    department = cw.world.department
    on_time = dict(deadline=local(2025, 3, 20), closed_at=local(2025, 3, 15))
    late = dict(deadline=local(2025, 3, 10), closed_at=local(2025, 3, 12))
    still_open = dict(deadline=local(2025, 3, 25))
    rows = (
        [build.case_row(department=department, **on_time) for _ in range(737)]
        + [build.case_row(department=department, **late) for _ in range(911 - 737)]
        + [build.case_row(department=department, **still_open) for _ in range(972 - 911)]
    )
    build.cases(rows)
    session.commit()

    answer = get(client, auth("dispatcher"), "street")
    street = row_of(answer, cw.world.street.code)
    assert street["formulas"]["closure_rate"] == {
        "numerator": 911,
        "denominator": 972,
        "rate": 93.72,
        "change": None,
    }
    assert street["formulas"]["on_time_closure_rate"]["numerator"] == 737
    assert street["formulas"]["on_time_closure_rate"]["rate"] == 75.82
    district = row_of(get(client, auth("dispatcher"), "district"), cw.world.district.code)
    assert district["formulas"]["closure_rate"]["rate"] == 93.72


# ---------------------------------------------------------------------------------------------
# One month by hand: March 2025 (February and April around it)


def scenario(session, build: Builder, cw) -> dict:
    """The cases of docs/assessment.md's definitions, each there for one rule (see the
    figures each test expects, worked out beside them)."""
    dept = cw.world.department
    inspector, other = cw.users["inspector"], cw.other_inspector
    d = local
    ids = {}
    # Due in March, closed on time in March.
    ids["A"] = build.case(
        registered_at=d(2025, 3, 1), deadline=d(2025, 3, 5), handled_at=d(2025, 3, 4, 9),
        closed_at=d(2025, 3, 4), department=dept,
    )  # fmt: skip
    # Due in March, handled late, closed in April: due and not closed in March.
    ids["B"] = build.case(
        registered_at=d(2025, 3, 10), deadline=d(2025, 3, 15), handled_at=d(2025, 3, 16),
        closed_at=d(2025, 4, 2), department=dept,
    )  # fmt: skip
    # Carried over (结转): due in February, still open.
    ids["C"] = build.case(registered_at=d(2025, 2, 15), deadline=d(2025, 2, 20), department=dept)
    # Closed in March before its April deadline: due in March only.
    ids["D"] = build.case(
        registered_at=d(2025, 3, 20), deadline=d(2025, 4, 10), handled_at=d(2025, 3, 28, 9),
        closed_at=d(2025, 3, 28), department=dept,
    )  # fmt: skip
    # Closed in February before its March deadline: due in February only.
    ids["E"] = build.case(
        registered_at=d(2025, 2, 1), deadline=d(2025, 3, 3), handled_at=d(2025, 2, 25, 9),
        closed_at=d(2025, 2, 25), department=dept,
    )  # fmt: skip
    # Cancelled and merged away: not due; the cancelled one was filed.
    ids["F"] = build.case(
        registered_at=d(2025, 3, 2), deadline=d(2025, 3, 6), state="cancelled", department=dept
    )
    ids["G"] = build.case(
        registered_at=d(2025, 3, 2), deadline=d(2025, 3, 7), merged_into_id=ids["A"],
        state="rejected",
    )  # fmt: skip
    # Rejected (不予受理): not valid.
    ids["H"] = build.case(reported_at=d(2025, 3, 3), valid=False, state="rejected")
    # A hotline report in the other inspector's grid 4, confirmed: 监督举报 and their 漏报.
    ids["I"] = build.case(
        grid=4, registered_at=d(2025, 3, 5), deadline=d(2025, 3, 9),
        handled_at=d(2025, 3, 8, 9), closed_at=d(2025, 3, 8), department=dept,
        source="hotline", reporter_id=cw.users["dispatcher"].id, missed_by_id=other.id,
    )  # fmt: skip
    # 返工: A failed one check in March.
    build.flow(ids["A"], "check_fail", d(2025, 3, 3), actor=inspector, actor_role="inspector")
    # Tasks of the world's inspector.
    build.task(ids["A"], "verify", inspector, d(2025, 3, 10), completed_at=d(2025, 3, 9))
    build.task(ids["B"], "verify", inspector, d(2025, 3, 12), completed_at=d(2025, 3, 13))
    build.task(ids["B"], "verify", inspector, d(2025, 3, 15), state="cancelled")
    build.task(ids["A"], "check", inspector, d(2025, 3, 20))
    build.task(ids["D"], "check", inspector, d(2025, 3, 21), d(2025, 3, 20), state="reassigned")
    build.task(ids["D"], "check", inspector, d(2025, 4, 1), completed_at=d(2025, 3, 31))
    session.commit()
    return ids


def desk_steps(session, build: Builder, cw, ids: dict, factories) -> object:
    """The world's dispatcher (no duty: the three desk duties) and a second one with duty
    dispatcher, whose dispatch figures tie with the first's."""
    d, me = local, cw.users["dispatcher"]
    other = factories.make_user(session, "dispatcher", cw.world.district)
    other.duty = "dispatcher"
    session.commit()
    build.flow(ids["A"], "register", d(2025, 3, 1), me, "shift_leader", overdue=False)
    build.flow(ids["F"], "register", d(2025, 3, 2), me, "shift_leader", overdue=True)
    build.flow(ids["B"], "register", d(2025, 3, 10), me)  # no duty or clock recorded
    build.flow(ids["A"], "dispatch", d(2025, 3, 1, 11), me, "dispatcher", overdue=False)
    build.flow(ids["B"], "dispatch", d(2025, 3, 10, 11), me, "dispatcher", overdue=True)
    build.flow(ids["B"], "approve_return", d(2025, 3, 10, 15), me, "dispatcher")
    build.flow(ids["B"], "dispatch", d(2025, 3, 10, 16), me, "dispatcher", overdue=False)
    build.flow(ids["A"], "close", d(2025, 3, 4, 11), me, "shift_leader", overdue=False)
    build.flow(ids["D"], "dispatch", d(2025, 3, 20, 11), other, "dispatcher", overdue=False)
    build.flow(ids["I"], "dispatch", d(2025, 3, 5, 11), other, "dispatcher", overdue=True)
    build.flow(ids["C"], "dispatch", d(2025, 3, 1, 9), other, "dispatcher", overdue=False)
    build.flow(ids["C"], "approve_return", d(2025, 3, 1, 10), other, "dispatcher")
    # A return after the month's end does not make March's dispatch wrong.
    build.flow(ids["D"], "approve_return", d(2025, 4, 1, 10), other, "dispatcher")
    session.commit()
    return other


def figures(row) -> dict:
    return {
        key: (value["numerator"], value["denominator"], value["rate"])
        for key, value in row["formulas"].items()
    }


def test_region_levels(client, auth, session, build, cw):
    scenario(session, build, cw)
    # Street, community and district: due A B C D I; closed A D I, all on time; one rework;
    # filed A B D F I, one of them public (I).
    expected = {
        "closure_rate": (3, 5, 60.0),
        "on_time_closure_rate": (3, 5, 60.0),
        "rework_rate": (1, 5, 20.0),
        "public_report_rate": (1, 5, 20.0),
        "selfcheck_rate": (0, 0, None),
    }
    for level, code in (
        ("street", cw.world.street.code),
        ("community", cw.world.community.code),
        ("district", cw.world.district.code),
    ):
        row = row_of(get(client, auth("dispatcher"), level), code)
        assert figures(row) == expected, level
        # 0.3 × 0.6 + 0.5 × 0.6 + 0.2 × (1 − 0.2) = 0.64
        assert (row["score"], row["rank"]) == (64.0, 1)
    grids = get(client, auth("dispatcher"), "grid")
    assert len(grids["rows"]) == 9
    grid1 = row_of(grids, f"{cw.world.community.code}001")
    assert figures(grid1) == {
        "closure_rate": (2, 4, 50.0),
        "on_time_closure_rate": (2, 4, 50.0),
        "rework_rate": (1, 4, 25.0),
        "public_report_rate": (0, 4, 0.0),
    }
    grid4 = row_of(grids, f"{cw.world.community.code}004")
    assert figures(grid4)["public_report_rate"] == (1, 1, 100.0)
    # Grid 1: 0.15 + 0.25 + 0.15 = 0.55; grid 4: 1.0; the others have nothing due.
    assert [(row["code"][-3:], row["score"], row["rank"]) for row in grids["rows"][:3]] == [
        ("004", 100.0, 1),
        ("001", 55.0, 2),
        ("002", None, None),
    ]


def test_the_months_around(client, auth, session, build, cw):
    scenario(session, build, cw)
    street = cw.world.street.code
    # February: C (due, open) and E (closed in February before its March deadline).
    february = row_of(get(client, auth("dispatcher"), "street", "2025-02"), street)
    assert figures(february)["closure_rate"] == (1, 2, 50.0)
    assert february["score"] == 60.0  # 0.15 + 0.25 + 0.2
    # April: B (closed late on 2 April) and C (still open); D closed in March.
    april = row_of(get(client, auth("dispatcher"), "street", "2025-04"), street)
    assert figures(april)["closure_rate"] == (1, 2, 50.0)
    assert figures(april)["on_time_closure_rate"] == (0, 2, 0.0)
    # March against February.
    march = row_of(get(client, auth("dispatcher"), "street"), street)
    assert march["formulas"]["closure_rate"]["change"] == 10.0
    assert march["formulas"]["rework_rate"]["change"] == 20.0
    assert (march["score_change"], march["rank_change"]) == (4.0, 0)
    assert february["score_change"] is None  # January has nothing due: no score


def test_department_level(client, auth, session, build, cw):
    scenario(session, build, cw)
    answer = get(client, auth("dispatcher"), "department")
    row = row_of(answer, cw.world.department.code)
    # Due A B C D I; handled A B D I, on time A D I (B after its deadline); one rework.
    assert figures(row) == {
        "handling_rate": (4, 5, 80.0),
        "on_time_handling_rate": (3, 5, 60.0),
        "rework_rate": (1, 5, 20.0),
    }
    assert (row["score"], row["rank"]) == (70.0, 1)  # 0.24 + 0.30 + 0.16
    other = row_of(answer, "D-HW")
    assert (other["score"], other["rank"]) == (None, None)


def test_inspector_level(client, auth, session, build, cw):
    scenario(session, build, cw)
    answer = get(client, auth("dispatcher"), "inspector")
    mine = row_of(answer, cw.users["inspector"].username)
    # Reports A B D F G H, all but H valid; no 漏报 of the 4 filed in grids 1–3 (A B D F);
    # verify tasks: one on time, one late (the cancelled one not counted); check tasks:
    # one open past its deadline (the reassigned one and April's not counted).
    assert figures(mine) == {
        "valid_report_rate": (5, 6, 83.33),
        "missed_report_rate": (0, 4, 0.0),
        "on_time_verification_rate": (1, 2, 50.0),
        "on_time_check_rate": (0, 1, 0.0),
    }
    assert mine["score"] == 63.33  # 0.4 × 5/6 + 0.2 × 1 + 0.2 × 0.5 + 0.2 × 0
    other = row_of(answer, cw.other_inspector.username)
    assert figures(other)["missed_report_rate"] == (1, 1, 100.0)
    assert figures(other)["valid_report_rate"] == (0, 0, None)
    assert other["score"] == 0.0
    assert [row["rank"] for row in answer["rows"]] == [1, 2]


def test_dispatcher_level(client, auth, session, build, cw):
    from tests import factories

    ids = scenario(session, build, cw)
    other = desk_steps(session, build, cw, ids, factories)
    answer = get(client, auth("dispatcher"), "dispatcher")
    me = cw.users["dispatcher"].username
    leader = row_of(answer, me, "shift_leader")
    # Filed A F B: on time A only (B recorded no clock), F cancelled since; closed A on time.
    assert figures(leader) == {
        "on_time_filing_rate": (1, 3, 33.33),
        "accurate_filing_rate": (2, 3, 66.67),
        "on_time_closing_rate": (1, 1, 100.0),
    }
    assert leader["score"] == 66.67
    desk = row_of(answer, me, "dispatcher")
    # Dispatched A, B (then returned: wrong), B again; B's first one late.
    assert figures(desk) == {
        "on_time_dispatch_rate": (2, 3, 66.67),
        "accurate_dispatch_rate": (2, 3, 66.67),
    }
    tied = row_of(answer, other.username, "dispatcher")
    assert figures(tied) == figures(desk)
    assert (desk["rank"], tied["rank"]) == (1, 1)
    # The second dispatcher's duty is dispatcher only: no shift-leader row.
    assert [row["code"] for row in answer["rows"] if row["subject"] == "shift_leader"] == [me]


def test_selfcheck_days_per_community_street_and_district(client, auth, session, build, cw):
    """门前三包: shop 1 owes all 31 days of March and was checked on 1–10 (twice on the
    1st) and late on the 31st; shop 2's pledge was signed on the 17th: it owes 15 days and
    its check of the 16th does not count. A shop without a merchant owes nothing."""
    import uuid

    from app.merchants.models import SelfCheck
    from tests.case_factories import make_merchant, make_shop

    merchant = cw.users["merchant"]
    first = make_shop(session, cw.world, merchant)
    second = make_shop(session, cw.world, make_merchant(session, cw.world), 1, 1, "二号店")
    nobody = make_shop(session, cw.world, None, 2, 2, "空店")
    for shop in (first, second, nobody):
        shop.created_at = local(2025, 1, 10)
    second.pledge_signed_on = local(2025, 3, 17).date()
    session.commit()

    def check(shop, at):
        session.add(
            SelfCheck(
                id=uuid.uuid4(),
                shop_id=shop.id,
                merchant_id=shop.merchant_id or merchant.id,
                sanitation="ok",
                order="ok",
                greenery="ok",
                created_at=at,
            )
        )

    for day in range(1, 11):
        check(first, local(2025, 3, day, 9))
    check(first, local(2025, 3, 1, 18))
    check(first, local(2025, 3, 31, 23, 30))  # 15:30 UTC: still the 31st locally
    check(first, local(2025, 4, 1, 0, 30))  # April
    check(second, local(2025, 3, 16))
    check(second, local(2025, 3, 17))
    check(nobody, local(2025, 3, 17))
    session.commit()

    for level, code in (
        ("community", cw.world.community.code),
        ("street", cw.world.street.code),
        ("district", cw.world.district.code),
    ):
        row = row_of(get(client, auth("dispatcher"), level), code)
        assert figures(row)["selfcheck_rate"] == (12, 46, 26.09), level
    grid = get(client, auth("dispatcher"), "grid")["rows"][0]
    assert "selfcheck_rate" not in grid["formulas"]
