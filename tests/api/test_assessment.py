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
